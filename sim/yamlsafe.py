"""Reading untrusted YAML: bounded in size, alias expansion and depth, strict about what it accepts.

Scenario files, experiment files, uploads and `--set` values may come from anyone. PyYAML's
safe loader runs no code, but it expands aliases without limit (a 700-byte "billion laughs"
file grows past gigabytes), lets a duplicate key silently replace the first, turns an empty
file (or one holding only `---`, `~` or `null`) into `None`, reads `.inf`/`.nan` as floats,
reads `1:2:3:...` as a base-60 number too long for Python to print, and raises bare Python
errors (ValueError, KeyError, TypeError...) on a date such as 2024-13-45, on an explicit tag
that does not fit its value (`!!int abc`, `!!bool maybe`, `!!set [1]`) and on a control
character such as NUL. `parse_yaml` refuses each of these before any validation, with a
message that says where (line, or dotted path) and what the rule is. Limits are generous for
real scenarios (the shipped files are a few kB, a few hundred nodes, depth < 8).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from .errors import ScenarioError

MAX_BYTES = 1_000_000  # a scenario or experiment file; the shipped ones are under 10 kB
MAX_NODES = 100_000  # YAML nodes after alias expansion
MAX_DEPTH = 50  # nesting of mappings and sequences
MAX_INT_DIGITS = 100  # whole numbers: no field takes more, and Python cannot print one past 4,300 digits


class MalformedYaml(ScenarioError):
    """The text is not YAML at all (a `--set` value is then taken as plain text); every other
    refusal (size, depth, duplicate keys, non-finite numbers) is a plain ScenarioError."""


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


# What PyYAML's constructors raise, unwrapped, on a value they cannot build from its explicit tag.
_CONSTRUCTION_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and leaves an impossible date as text (the schema
    then names the field: "run.start_date: Input should be a valid date")."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """An explicit tag the value does not fit (`!!int abc`, `!!float`, `!!bool maybe`,
        `!!timestamp noon`) makes PyYAML's constructors raise plain Python errors: each becomes a
        YAML error at the value's line."""
        try:
            return super().construct_object(node, deep=deep)
        except _CONSTRUCTION_ERRORS:
            tag = node.tag.removeprefix("tag:yaml.org,2002:")
            value = node.value if isinstance(node, yaml.ScalarNode) else node.id
            shown = repr(value) if len(value) <= 40 else repr(value[:40]) + f"... ({len(value):,} characters)"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown} as {tag!r}", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # `!!set [1]`: the base constructor says what it expected
            return super().construct_mapping(node, deep=deep)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # reported by the base constructor
            if key in seen:
                raise _DuplicateKey(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _timestamp_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)


def _check_size(node: yaml.Node) -> None:
    """Walk the node graph as construction would (aliases count each time they are used)."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    while stack:
        n, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ScenarioError([f"(yaml) more than {MAX_NODES:,} values once aliases are expanded: refused"])
        if depth > MAX_DEPTH:
            raise ScenarioError(
                [f"(yaml) line {n.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels: refused"]
            )
        if isinstance(n, yaml.MappingNode):
            stack.extend((x, depth + 1) for pair in n.value for x in pair)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((x, depth + 1) for x in n.value)


_INT_LIMIT = 10**MAX_INT_DIGITS


def _shown_key(key: Any) -> str:
    """The rule of sim.scenario.field_name (which imports this module): odd keys quoted."""
    text = str(key)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def _non_finite(data: Any, path: tuple[Any, ...] = ()) -> list[str]:
    """Infinite and NaN floats, and whole numbers too long to print (`1:2:3:...` is read by YAML 1.1
    as a number in base 60: a few kB of it is past the 4,300 digits Python prints). Each is named
    by its dotted path, written as the schema's messages write theirs: a key holding a line break, a
    control character or outer spaces (or an empty one) is quoted, so that a message stays one line and
    an escape sequence never reaches the terminal."""
    where = ".".join(map(_shown_key, path)) or "(top level)"
    if isinstance(data, float) and not math.isfinite(data):
        return [f"{where}: must be a finite number, got {data}"]
    if isinstance(data, int) and not -_INT_LIMIT < data < _INT_LIMIT:
        return [f"{where}: a whole number of more than {MAX_INT_DIGITS} digits: refused"]
    if isinstance(data, dict):
        return [e for k, v in data.items() for e in _non_finite(v, (*path, k))]
    if isinstance(data, (list, tuple)):  # tuples: `!!omap` and `!!pairs` build lists of them
        return [e for i, v in enumerate(data) for e in _non_finite(v, (*path, i))]
    if isinstance(data, (set, frozenset)):  # `!!set {.nan}`
        return [e for v in data for e in _non_finite(v, path)]
    return []


def parse_yaml(text: str, source: str = "", *, allow_empty: bool = False) -> Any:
    """The YAML document in `text`, or ScenarioError naming `source` and the problem."""
    if len(text.encode("utf-8", errors="ignore")) > MAX_BYTES:
        raise ScenarioError([f"(file): larger than {MAX_BYTES:,} bytes: refused"], source)
    try:
        loader = _StrictLoader(text)  # checks every character first: NUL and most control characters are refused
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        raise MalformedYaml(
            [f"(yaml) line {line}: malformed YAML: character {e.character:#06x} is not allowed in YAML text"], source
        ) from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ScenarioError([f"(yaml) nested deeper than {MAX_DEPTH} levels: refused"], source) from None
        if node is None:
            if allow_empty:
                return None
            raise ScenarioError(["(file): empty: nothing to read"], source)
        try:
            _check_size(node)
        except ScenarioError as e:
            raise ScenarioError(e.messages, source) from None
        try:
            data = loader.construct_document(node)
        except _CONSTRUCTION_ERRORS as e:  # a collection's explicit tag that does not fit it
            raise yaml.constructor.ConstructorError(None, None, f"cannot build a value: {e}", None) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if isinstance(e, _DuplicateKey):
            raise ScenarioError([f"(yaml) {where}{problem}"], source) from None
        raise MalformedYaml([f"(yaml) {where}malformed YAML: {problem}"], source) from None
    finally:
        loader.dispose()
    if data is None and not allow_empty:  # `---`, `~` or `null` alone: an empty file in other words
        raise ScenarioError(["(file): empty: nothing to read (the document is only a null value)"], source)
    bad = _non_finite(data)
    if bad:
        raise ScenarioError(bad, source)
    return data
