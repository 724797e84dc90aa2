"""Reading untrusted YAML: bounded in size, alias expansion and depth, strict about what it accepts.

Scenario files, experiment files, uploads and `--set` values may come from anyone. PyYAML's
safe loader runs no code, but it expands aliases without limit (a 700-byte "billion laughs"
file grows past gigabytes), lets a duplicate key silently replace the first, turns an empty
file into `None`, reads `.inf`/`.nan` as floats and raises a bare ValueError on a date such as
2024-13-45. `parse_yaml` refuses each of these before any validation, with a message that says
where (line, or dotted path) and what the rule is. Limits are generous for real scenarios
(the shipped files are a few kB, a few hundred nodes, depth < 8).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from .errors import ScenarioError

MAX_BYTES = 1_000_000  # a scenario or experiment file; the shipped ones are under 10 kB
MAX_NODES = 100_000  # YAML nodes after alias expansion
MAX_DEPTH = 50  # nesting of mappings and sequences


class MalformedYaml(ScenarioError):
    """The text is not YAML at all (a `--set` value is then taken as plain text); every other
    refusal (size, depth, duplicate keys, non-finite numbers) is a plain ScenarioError."""


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and leaves an impossible date as text (the schema
    then names the field: "run.start_date: Input should be a valid date")."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
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


def _non_finite(data: Any, path: str = "") -> list[str]:
    if isinstance(data, float) and not math.isfinite(data):
        return [f"{path or '(top level)'}: must be a finite number, got {data}"]
    if isinstance(data, dict):
        return [e for k, v in data.items() for e in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(data, list):
        return [e for i, v in enumerate(data) for e in _non_finite(v, f"{path}.{i}" if path else str(i))]
    return []


def parse_yaml(text: str, source: str = "", *, allow_empty: bool = False) -> Any:
    """The YAML document in `text`, or ScenarioError naming `source` and the problem."""
    if len(text.encode("utf-8", errors="ignore")) > MAX_BYTES:
        raise ScenarioError([f"(file): larger than {MAX_BYTES:,} bytes: refused"], source)
    loader = _StrictLoader(text)
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
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if isinstance(e, _DuplicateKey):
            raise ScenarioError([f"(yaml) {where}{problem}"], source) from None
        raise MalformedYaml([f"(yaml) {where}malformed YAML: {problem}"], source) from None
    finally:
        loader.dispose()
    bad = _non_finite(data)
    if bad:
        raise ScenarioError(bad, source)
    return data
