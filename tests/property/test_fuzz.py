"""Fuzzing every input a user controls: a bad one is a clean refusal, never a crash (issue 12, item 9).

Hypothesis generates malformed scenarios (a valid one with leaves replaced, keys inserted or
removed, list items appended or repeated, by values of every YAML type: wrong types, huge,
negative and non-finite numbers, dates, text, nested lists and mappings, None, booleans),
arbitrary text and bytes as a YAML file, `--set` values, experiment files and command lines.
Each must end in one of two ways:

- accepted: a valid Scenario (then only `sim.resources.estimate` / `check` run on it: nothing
  fuzzed is simulated), or exit status 0;
- refused: a ScenarioError (or exit status 2) whose every message starts with the file and
  names a field path (or "(top level)", "(yaml)", "(file)"), related to what was changed;
  no traceback, and nothing written.

Anything else (another exception, a traceback, another exit status, a file written on refusal)
fails. The command-line fuzz runs small things only: the simulation is never started for a
fuzzed scenario; commands that would run get the tiny scenario of the template, their plans
are cut at MAX_RUNS runs (counted as accepted), and they run in this process.

Budget: the default run stays well under 90 s on a loaded 2-core machine (about 30-45 s);
HYPOTHESIS_PROFILE=slow multiplies the examples by 10, and the `slow`-marked test (left out of
the default run: `pytest -m slow`) applies longer sequences of changes. No example database is
written (database=None).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TINY_SCENARIO_YAML
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sim
import sim.parallel
import sim.runner
from sim import resources
from sim.cli.main import main
from sim.errors import InputError, ScenarioError
from sim.presets import PRESETS
from sim.runner import RunPlan
from sim.scenario import field_name
from sim.yamlsafe import MalformedYaml, parse_yaml

os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "scenarios" / "baseline_fcfs.yaml"
NO_BOTS = REPO / "scenarios" / "no_bots_fcfs.yaml"
SCHEMES = REPO / "scenarios" / "experiments" / "schemes_compare.yaml"
BASE = sim.load_scenario(BASELINE).to_dict()
MARKERS = ("(top level)", "(yaml)", "(file)")
# Messages about the file itself (sim.scenario.read_yaml), not about a field.
FILE_LEVEL = ("not UTF-8 text", "file not found", "is a folder", "not a regular file", "cannot read")
MAX_RUNS = 8  # a command-line plan larger than this is cut (and counted as accepted)

SLOW = os.environ.get("HYPOTHESIS_PROFILE") == "slow"
SCALE = 10 if SLOW else 1


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --------------------------------------------------------------------------- values


def leaf_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into `data`: the root, each mapping key and list index, recursively."""
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += leaf_paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += leaf_paths(v, (*prefix, i))
    return out


def renderings(part: Any) -> set[str]:
    """How a message may write a path part: as sim.scenario.field_name does (odd keys quoted), as
    text, or (pydantic's location of a boolean key in an experiment or suite file) as 0 or 1."""
    return {field_name(part), str(part)} | ({str(int(part))} if isinstance(part, bool) else set())


def dotted(path: tuple) -> str:
    return ".".join(field_name(p) for p in path)


FIELD_PATHS = sorted({dotted(p) for p in leaf_paths(BASE) if p})
FIELD_NAMES = sorted({str(p[-1]) for p in leaf_paths(BASE) if p and isinstance(p[-1], str)})

SPECIAL_TEXT = [
    "12:30",
    "NO",
    "yes",
    "off",
    "~",
    "null",
    "",
    " ",
    ".inf",
    "-.inf",
    ".nan",
    "1e999",
    "2024-13-45",
    "2024-02-30",
    "9999-12-31",
    "0x1F",
    "0o17",
    "1_000",
    "-0",
    "first_come",
    "random_allocation",
    "speculative",
    "first_time",
    "*a",
    "&a x",
    "!!int x",
    "!!python/object/apply:os.system ['true']",
    "{",
    "[",
    "'",
    '"',
    "# comment",
    "- ",
    ": ",
    "\t",
    "\x00",
    "\x1b",
    "\u2028",
    "\ufeff",
    "é",
    "\U0001f4a5",
    "../../etc/passwd",
    "/dev/zero",
    "x" * 3000,
]
HUGE_INTS = [-1, 0, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**100 - 1, 10**100, -(10**200)]

keys = st.one_of(st.text(max_size=12), st.sampled_from(FIELD_NAMES), st.integers(-3, 3), st.booleans(), st.none())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(SPECIAL_TEXT),
    st.dates(),
    st.datetimes(),
)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=4), max_leaves=12)


def get(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


@st.composite
def mutated(
    draw: st.DrawFn,
    start: dict,
    extra_values: st.SearchStrategy = values,
    new_keys: st.SearchStrategy = keys,
    most: int = 3,
) -> tuple:
    """(`start` changed 1 to `most` times: a value replaced, a key inserted or deleted, a list item
    appended or repeated; the paths changed)."""
    data = copy.deepcopy(start)
    changed: list[tuple] = []
    for _ in range(draw(st.integers(1, most))):
        paths = leaf_paths(data)
        mappings = [p for p in paths if isinstance(get(data, p), dict)]
        lists = [p for p in paths if isinstance(get(data, p), list)]
        ops = ["replace", "insert", "delete"] + (["append", "repeat"] if lists else [])
        op = draw(st.sampled_from(ops))
        inner = [p for p in paths if p]
        if op in ("replace", "delete") and not inner:
            op = "insert"
        if op == "replace":
            path = draw(st.sampled_from(inner))
            get(data, path[:-1])[path[-1]] = draw(extra_values)
        elif op == "delete":
            path = draw(st.sampled_from(inner))
            del get(data, path[:-1])[path[-1]]
        elif op == "insert":
            at = draw(st.sampled_from(mappings))
            key = draw(new_keys)
            get(data, at)[key] = draw(extra_values)
            path = (*at, key)
        else:
            at = draw(st.sampled_from(lists))
            items = get(data, at)
            items.append(
                draw(extra_values) if op == "append" or not items else items[draw(st.integers(0, len(items) - 1))]
            )
            path = (*at, len(items) - 1)
        changed.append(path)
    return data, changed


# --------------------------------------------------------------------------- checks


def lines_of(text: str) -> list[str]:
    """Lines split at newlines only: a message may hold other line-breaking characters (\\x1e,
    \\u2028...) taken from a key, which str.splitlines would split at."""
    return text.rstrip("\n").split("\n") if text.strip() else []


def names_a_field(message: str, data: Any) -> bool:
    """The message (without its file prefix) starts with a marker, or a path into `data`."""
    if message.startswith(MARKERS) or message.startswith(FILE_LEVEL):
        return True
    if "must be a finite number, got" in message or "a whole number of more than" in message:
        return True  # the dotted path of the value, from sim.yamlsafe
    top = [x for k in data for x in renderings(k)] if isinstance(data, dict) else []
    return any(message.startswith(f"{k}:") or message.startswith(f"{k}.") for k in top)


def about(message: str, paths: list[tuple]) -> bool:
    """The message names one of `paths`, one of their ancestors or descendants, or the whole file."""
    if message.startswith(MARKERS):
        return True
    for path in paths:
        heads = [""]
        for part in path:
            heads = [f"{h}.{r}" if h else r for h in heads for r in renderings(part)]
            if any(message.startswith(f"{h}:") or message.startswith(f"{h}.") for h in heads):
                return True
    return False


def check_refusal(err: ScenarioError, source: str, data: Any, changed: list[tuple] | None = None) -> None:
    assert err.messages, "a refusal with no message"
    assert str(err) == "\n".join(f"{source}: {m}" for m in err.messages)
    for m in err.messages:
        assert names_a_field(m, data), (m, data if not isinstance(data, dict) else list(data))
    if changed is not None:
        assert any(about(m, changed) for m in err.messages), (err.messages, changed)


def check_accepted(sc: sim.Scenario) -> None:
    """A valid scenario: it round-trips, and its size is known before any run."""
    assert sim.parse_scenario(sc.to_dict()) == sc
    est = resources.estimate(sc)
    assert est.applicants >= 0 and est.slots >= 0 and est.events >= 0 and est.memory_mb > 0
    try:
        resources.check(sc)
    except InputError as e:
        assert all(m.startswith(f"{sc.name}: ") for m in e.messages), e.messages
        assert "too large to simulate" in str(e)


@contextlib.contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="slotsim-fuzz-") as d:
        yield Path(d)


def load(path: Path) -> tuple[sim.Scenario | None, ScenarioError | None]:
    try:
        return sim.load_scenario(path), None
    except ScenarioError as e:
        return None, e


# --------------------------------------------------------------------------- (a) scenarios


def scenario_case(data: dict, changed: list[tuple]) -> None:
    with folder() as d:
        path = d / "fuzz.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        sc, err = load(path)
    if err is not None:
        check_refusal(err, str(path), data, changed)
    else:
        assert sc is not None
        check_accepted(sc)


@fuzz(200)
@given(case=mutated(BASE))
def test_a_changed_scenario_is_valid_or_refused_by_field(case):
    scenario_case(*case)


@pytest.mark.slow
@fuzz(50)
@given(case=mutated(BASE, most=8))
def test_many_changes_to_a_scenario(case):
    scenario_case(*case)


# --------------------------------------------------------------------------- (b) any text or bytes

FRAGMENTS = [
    "run:",
    "centre:",
    "resellers:",
    "name: ",
    "days: ",
    "capacity_per_day: ",
    "\n",
    "  ",
    "- ",
    ": ",
    ", ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "*b",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!set ",
    "!!omap ",
    "!!pairs ",
    "!!binary ",
    "!!str ",
    "!!null ",
    "!!map ",
    "!!seq ",
    "!!python/object/apply:os.system ",
    "!local ",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2024:\n",
    "<<: ",
    "|\n",
    ">-\n",
    "'",
    '"',
    "\\",
    "#",
    "\t",
    ".inf",
    "-.nan",
    "12:30",
    "1:2:3:4:5:6",
    "1e5",
    "0x",
    "0b101",
    "~",
    "null",
    "true",
    "NO",
    "2024-13-45",
    "2024-05-01",
    "2024-05-01T25:00:00",
    "9" * 60,
    "\x00",
    "\x07",
    "\ufeff",
    "\x85",
    "é",
]
yamlish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)


def parsed(text: str) -> Any:
    try:
        return parse_yaml(text, "x")
    except ScenarioError:
        return None


@fuzz(300)
@given(text=st.one_of(st.text(max_size=200), yamlish))
@example("a: !!bool maybe")  # KeyError from PyYAML's constructor
@example("a: !!timestamp noon")  # AttributeError
@example("a: !!int 0x")  # ValueError
@example("a: !!float")  # IndexError
@example("a: !!set [1]")  # TypeError
@example("a: \x00")  # ReaderError, raised before parsing started
@example("a: " + ":".join(["59"] * 3000))  # an integer past Python's 4,300 printable digits
@example("a: !!omap [{b: .inf}]")  # a non-finite number inside a tuple
@example("a: !!set {.nan}")  # ... inside a set
@example("---\n")  # a null document
def test_parse_yaml_raises_only_scenario_errors(text):
    try:
        data = parse_yaml(text, "fuzz.yaml")
    except MalformedYaml as e:
        assert all(m.startswith("(yaml) ") for m in e.messages), e.messages
    except ScenarioError as e:
        assert e.messages and all(line.startswith("fuzz.yaml: ") for line in lines_of(str(e)))
        assert all(names_a_field(m, None) for m in e.messages), e.messages
    else:
        assert data is not None
    try:  # a --set value: anything that is not YAML is taken as text
        parse_yaml(text, allow_empty=True)
    except MalformedYaml:
        pass
    except ScenarioError as e:
        assert all(names_a_field(m, None) for m in e.messages), e.messages


@fuzz(150)
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300), yamlish))
def test_any_file_is_a_scenario_or_refused(content):
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    data = parsed(text)
    with folder() as d:
        path = d / "fuzz.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        sc, err = load(path)
    if isinstance(data, dict) and "extends" in data:
        return  # its messages may name the file it extends (the catalogue covers extends)
    if err is not None:
        check_refusal(err, str(path), data)
    else:
        assert sc is not None
        check_accepted(sc)


# --------------------------------------------------------------------------- (c) --set


def cli(argv: list[str]) -> tuple[int | str | None, str, str]:
    """`slotsim ARGV` in this process: (exit status, stdout, stderr); argparse's SystemExit counts."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | str | None = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


set_keys = st.one_of(
    st.sampled_from(FIELD_PATHS),
    st.tuples(st.sampled_from(FIELD_PATHS), st.sampled_from([".x", ".0", ".99", "..", ".-1", "."])).map("".join),
    st.text(alphabet=string.ascii_lowercase + string.digits + "._- ", max_size=24),
)


def flow(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True, allow_unicode=True).removesuffix("\n...\n").strip()


set_values = st.one_of(values.map(flow), st.text(max_size=30), st.sampled_from(SPECIAL_TEXT), yamlish)
set_items = st.one_of(
    st.tuples(set_keys, set_values).map(lambda kv: f"{kv[0]}={kv[1]}"),
    set_keys,  # no "=" at all
)


def about_set(message: str, items: list[str]) -> bool:
    """The message names an item (`--set 'ITEM'`), its path, or an ancestor or descendant of it."""
    for item in items:
        if message.startswith(f"--set {item!r}"):
            return True
        key = item.split("=", 1)[0].strip()
        if about(message, [tuple(key.split("."))]):
            return True
    return message.startswith(MARKERS)


@fuzz(200)
@given(items=st.lists(set_items, min_size=1, max_size=3))
def test_set_values_are_accepted_or_refused_by_path(items):
    argv = ["validate", str(BASELINE), *(f"--set={item}" for item in items)]  # = : an item may start with "-"
    code, out, err = cli(argv)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 0:
        assert f"{BASELINE}: ok (scenario " in out
        return
    lines = lines_of(err)
    assert lines, "exit 2 with nothing on stderr"
    prefix = f"{BASELINE}: "
    assert all(line.startswith(prefix) for line in lines), lines
    for line in lines:
        assert about_set(line.removeprefix(prefix), items), (line, items)


# --------------------------------------------------------------------------- (d) experiment files

EXPERIMENT = yaml.safe_load(SCHEMES.read_text())
EXPERIMENT["base"] = str(BASELINE)
EXPERIMENT_KEYS = ["name", "base", "overrides", "variants", "sweep", "labels", "replications", "target", "seed"]
EXPERIMENT_KEYS += ["reference", "preset", "scenario", "metrics", "half_width", "relative", "min_replications"]
experiment_values = st.one_of(
    values,
    st.sampled_from([*PRESETS, "nope", "first-come"]).map(lambda p: {"preset": p}),
    st.dictionaries(st.sampled_from(FIELD_PATHS) | keys, values, max_size=2).map(lambda o: {"overrides": o}),
    st.dictionaries(st.sampled_from(FIELD_PATHS), st.lists(scalars, max_size=3), min_size=1, max_size=2),
    st.fixed_dictionaries(
        {"metrics": st.lists(st.sampled_from(["wait_days_mean", "abandon_rate", "speed", ""]), max_size=2)},
        optional={"half_width": scalars, "min_replications": scalars, "max_replications": scalars},
    ),
    st.sampled_from(["nowhere.yaml", "/dev/zero", str(REPO / "scenarios"), str(NO_BOTS)]),
)


@fuzz(100)
@given(case=mutated(EXPERIMENT, experiment_values, keys | st.sampled_from(EXPERIMENT_KEYS)))
def test_a_changed_experiment_file_is_valid_or_refused(case):
    data, changed = case
    with folder() as d:
        path = d / "exp.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        code, out, err = cli(["validate", str(path)])
    assert code in (0, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 0:
        assert f"{path}: ok (" in out
        return
    lines = lines_of(err)
    assert lines and all(line.startswith(f"{path}: ") for line in lines), lines
    keys_here = [r for k in data for r in renderings(k)] + ["sweep point", "(checked as"]
    for line in lines:
        message = line.removeprefix(f"{path}: ")
        named = any(message.startswith(k) for k in keys_here) or about(message, changed)  # a deleted key too
        assert named, (message, changed)


# --------------------------------------------------------------------------- (e) command lines

SMALL = TINY_SCENARIO_YAML
EXP = """\
name: exp
base: small.yaml
variants: {a: {preset: first_come}, b: {preset: random_allocation}}
replications: 2
"""
SUITE = "root: '.'\nreplications: 2\nentries:\n  - {name: small, scenario: small.yaml}\n"
TEMPLATE = {
    "small.yaml": SMALL,
    "bad.yaml": "extends: small.yaml\ncentre: {capacity_per_day: 0}\n",
    "exp.yaml": EXP,
    "bad_exp.yaml": EXP.replace("replications: 2", "replications: 0"),
    "suite.yaml": SUITE,
    "bad_suite.yaml": SUITE.replace("replications: 2", "replications: 1"),
    "folder/notes.txt": "a folder with a file in it\n",
    "folder/other_results/manifest.json": "{}",
}

NUMBERS = ["-1", "0", "1", "2", "1.5", "x", "", " 2", "1e3", "0x10", "-0", "99999999999999999999"]
FILES = ["small.yaml", "bad.yaml", "missing.yaml", "folder", "small.yaml/x.yaml", "/dev/null", "/dev/zero", ""]
OUTPUTS = ["out.json", "out.csv", "folder", "small.yaml", "small.yaml/out.json", "folder/out.csv", "new/sub/o", ""]
OUTPUTS += ["/dev/null"]
LIMITS = ["0", "-1", "1", "10", "nan", "inf", "x", "", "1e12"]
SETS = ["run.days=0", "centre.capacity_per_day=x", "run.days=5", "run.days=10", "centre.foo=1", "run.days", "=1"]


def opt(flag: str, choices: list[str]) -> st.SearchStrategy:
    return st.sampled_from(choices).map(lambda v: [flag, v])


def flag(name: str) -> st.SearchStrategy:
    return st.just([name])


COMMANDS = {
    "run": (
        st.sampled_from(FILES).map(lambda f: [f]),
        [
            opt("--seed", NUMBERS),
            opt("--set", SETS),
            opt("--out", OUTPUTS),
            opt("--timeseries", OUTPUTS),
            opt("--records", OUTPUTS),
            opt("--max-events", LIMITS),
            opt("--max-memory-mb", LIMITS),
            flag("--json"),
        ],
    ),
    "compare": (
        st.lists(st.sampled_from(FILES), max_size=2),
        [
            opt("--base", FILES),
            opt("--presets", [*PRESETS, "nope", "first_come,nope", ","]),
            flag("--all-presets"),
            opt("--seed", NUMBERS),
            opt("--set", SETS),
            opt("--replications", NUMBERS),
            opt("--jobs", NUMBERS),
            opt("--max-events", LIMITS),
            opt("--out", OUTPUTS),
            flag("--json"),
        ],
    ),
    "batch": (
        st.sampled_from(["exp.yaml", "bad_exp.yaml", "small.yaml", "missing.yaml", "folder", "/dev/zero"]).map(
            lambda f: [f]
        ),
        [
            opt("--jobs", NUMBERS),
            opt("--scheduler", ["localhost", "", "tcp//x:1", "8786", "tcp://127.0.0.1:1"]),  # nobody at port 1
            opt("--dask-local", NUMBERS),
            opt("--max-memory-mb", LIMITS),
            opt("--out", OUTPUTS),
            flag("--fresh"),
            flag("--dry-run"),
            flag("--no-progress"),
        ],
    ),
    "report": (
        st.sampled_from(["missing", "small.yaml", "folder", "folder/other_results", "/dev/null"]).map(lambda f: [f]),
        [opt("--out", OUTPUTS)],
    ),
    "regress": (
        st.builds(
            lambda s, b: ["--suite", s, "--baselines", b],
            st.sampled_from(["suite.yaml", "bad_suite.yaml", "missing.yaml", "folder", "small.yaml"]),
            st.sampled_from(["baselines", "folder", "small.yaml", "small.yaml/b", "/dev/null"]),
        ),
        [
            flag("--update"),
            opt("--only", ["small", "nope", ""]),
            opt("--jobs", NUMBERS),
            opt("--set", SETS),
            flag("--progress"),
            flag("--no-progress"),
        ],
    ),
}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    positional, options = COMMANDS[command]
    argv = [command, *draw(positional)]
    for chosen in draw(st.lists(st.sampled_from(options), max_size=4)):
        argv += draw(chosen)
    return argv


class Cut(BaseException):
    """A plan larger than MAX_RUNS: the arguments were accepted; not run here."""


@contextlib.contextmanager
def small_runs_only() -> Iterator[None]:
    execute, order = sim.runner.execute, RunPlan.order

    def in_process(fn: Any, tasks: Any, **kw: Any) -> Any:
        return execute(fn, tasks, **{**kw, "jobs": 1, "scheduler": None, "dask_workers": None})

    def bounded(self: RunPlan, by_replication: bool = True) -> list[tuple[int, int]]:
        if sum(self.count(i) for i in range(len(self.cells))) > MAX_RUNS:
            raise Cut()
        return order(self, by_replication)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim.runner, "execute", in_process)
        mp.setattr(RunPlan, "order", bounded)
        mp.setattr(sim.parallel, "SCHEDULER_TIMEOUT_S", 0.5)
        yield


def snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    out: dict[str, tuple[int, int] | None] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st_ = p.lstat()
            out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns) if p.is_file() else None
    return out


@fuzz(80)
@given(argv=command_lines())
def test_command_lines_exit_0_or_2_and_write_nothing_when_refused(argv):
    with folder() as d:
        for name, text in TEMPLATE.items():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
            (d / name).write_text(text)
        before = snapshot(d)
        with contextlib.chdir(d), small_runs_only():
            try:
                code, out, err = cli(argv)
            except Cut:
                return  # accepted: a plan of more than MAX_RUNS runs
        after = snapshot(d)
        shutil.rmtree(d / "folder", ignore_errors=True)
    assert code in (0, 2), (code, err[-2000:])
    assert "Traceback" not in out + err
    if code == 2:
        assert err.strip(), "exit 2 with nothing on stderr"
        assert after == before, sorted(set(after.items()) ^ set(before.items()))
