"""A catalogue of bad inputs, each of which must be a clean refusal (issue 12, item 9).

Every case is one concrete bad input, grouped in classes (`yaml`, `files`, `types`, `bounds`,
`structure`, `set`, `cli`, `experiment`, `regress`, `report`, `resources`, `api`), and runs
in-process through `sim.cli.main.main(argv)` (or the Python API) in a fresh working folder, a
copy of a small template (a tiny scenario, an experiment, a regression suite with its baseline,
a `slotsim batch` results folder). A clean refusal is:

- exit status 2 (argparse's SystemExit(2) counts), or for the API a domain error
  (`sim.SlotsimError`; TypeError for a change to an immutable scenario);
- a message on stderr (or in the error) that names the offending field, flag or file;
- no traceback;
- nothing written: the working folder is the same, file by file, before and after (an existing
  `.slotsim.lock` may be rewritten: `slotsim report` reads a results folder under its lock).

No case simulates. `sim.model.simulate` is replaced by a tripwire, so an input that is not
refused fails its case at once instead of running; plans of more than MAX_RUNS runs and local
worker pools are cut the same way (runs happen in this process), and a Dask scheduler that
does not answer is given up after a second instead of ten.

A case that is not a clean refusal yet is kept, marked `xfail(strict=True)` with the reason and
the file at fault, so that nothing is a silent gap and the mark must go when it is fixed.

`python tests/e2e/test_bad_inputs.py` runs every case and prints, per class, the number of
cases and of clean refusals, then every case that is not one and why (`-v`: every message too).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TINY_SCENARIO_YAML

import sim
import sim.model
import sim.parallel
import sim.runner
from sim.cli.main import main
from sim.errors import SlotsimError
from sim.experiments import known_metrics
from sim.runner import RunPlan
from sim.yamlsafe import MAX_BYTES, MAX_DEPTH, MAX_NODES

os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "scenarios" / "baseline_fcfs.yaml"
MAX_RUNS = 10_000  # an experiment file's own bound on replications per cell
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# The template every case starts from (copied into the case's working folder).
SMALL = TINY_SCENARIO_YAML
EXPERIMENT = """\
name: exp
base: small.yaml
variants:
  fcfs: {preset: first_come}
  draw: {preset: random_allocation}
replications: 2
seed: 1
"""
SUITE = """\
root: "."
replications: 2
entries:
  - name: small
    scenario: small.yaml
"""
# A reseller that validates: reseller field cases change one of its fields.
RESELLER = {"name": "r", "bots": 2, "max_bots": 4}


class Simulated(BaseException):
    """Raised by the tripwires: the input was not refused before a simulation (or a huge plan)."""


@lru_cache(maxsize=1)
def template() -> Path:
    """The template folder, made once per process: its baseline and results come from real runs."""
    folder = Path(tempfile.mkdtemp(prefix="slotsim-bad-inputs-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "small.yaml").write_text(SMALL)
    (folder / "exp.yaml").write_text(EXPERIMENT)
    (folder / "suite.yaml").write_text(SUITE)
    quiet = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        made = [
            main(["regress", "--suite", "suite.yaml", "--baselines", "baselines", "--update", "--jobs", "1"]),
            main(["batch", "exp.yaml", "--out", "results", "--jobs", "1", "--no-progress"]),
        ]
    assert made == [0, 0], quiet.getvalue()
    known_metrics()  # experiment files check target metrics against a tiny run: made before the tripwires
    return folder


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    id: str  # "class/description"
    build: Callable[[Path], Any]  # (working folder) -> argv, or a function making the API call
    expect: tuple[str, ...]  # every one must appear in the message
    xfail: str | None = None  # why it is not a clean refusal yet, and the file at fault
    raises: tuple[type[BaseException], ...] = (SlotsimError,)  # API cases: the refusal's type
    env: tuple[tuple[str, str], ...] = ()
    needs_non_root: bool = False

    @property
    def klass(self) -> str:
        return self.id.split("/", 1)[0]


CASES: list[Case] = []


def case(id: str, build: Callable[[Path], Any], *expect: str, **kw) -> None:
    assert "/" in id and id not in {c.id for c in CASES}, id
    CASES.append(Case(id, build, expect, **kw))


def write(tmp: Path, name: str, content: str | bytes) -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return name


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def nested(path: str, value: str) -> str:
    """`a.b.c` and the YAML text of a value as nested block mappings."""
    parts = path.split(".")
    lines = [f"{'  ' * i}{p}:" for i, p in enumerate(parts[:-1])]
    return "\n".join([*lines, f"{'  ' * (len(parts) - 1)}{parts[-1]}: {value}"]) + "\n"


def run_file(content: str | bytes, *args: str, name: str = "bad.yaml") -> Callable[[Path], list[str]]:
    """`slotsim run` of a file holding exactly `content`."""
    return lambda tmp: ["run", write(tmp, name, content), "--out", "out.json", *args]


def run_over(body: str, *args: str) -> Callable[[Path], list[str]]:
    """`slotsim run` of the small scenario changed by `body` (YAML)."""
    return run_file("extends: small.yaml\n" + body, *args)


def run_small(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["run", "small.yaml", "--out", "out.json", *args]


def sets(*items: str) -> Callable[[Path], list[str]]:
    return run_small(*(a for item in items for a in ("--set", item)))


def field(klass: str, path: str, value: str, *expect: str, **kw) -> None:
    """One field of the small scenario set to `value` (YAML text): refused, naming the field."""
    case(f"{klass}/{path}: {value}"[:120], run_over(nested(path, value)), path, *expect, **kw)


def reseller(klass: str, name: str, value: Any, *expect: str, **kw) -> None:
    body = dump({"resellers": [{**RESELLER, name: value}]})
    case(f"{klass}/resellers.0.{name}: {value!r}", run_over(body), f"resellers.0.{name}", *expect, **kw)


def api(id: str, call: Callable[[Path], Any], *expect: str, **kw) -> None:
    """A call of the Python API, refused with a domain error naming the argument."""
    case(id, lambda tmp: lambda: call(tmp), *expect, **kw)


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- yaml: syntax and limits

case("yaml/alias bomb (billion laughs)", run_file(billion_laughs()), f"more than {MAX_NODES:,} values")
case("yaml/alias to itself", run_file("name: &a [*a]\n"), "(yaml) line 1", "refused")
case("yaml/deep flow nesting", run_file("name: " + "[" * 900 + "]" * 900 + "\n"), f"deeper than {MAX_DEPTH}")
case("yaml/very deep flow nesting", run_file("name: " + "[" * 100_000 + "]" * 100_000 + "\n"), "deeper than")
case(
    "yaml/deep block nesting",
    run_file("".join(f"{'  ' * i}k{i}:\n" for i in range(60)) + "  " * 60 + "v: 1\n"),
    f"deeper than {MAX_DEPTH}",
)
case("yaml/duplicate top-level key", run_file("name: a\nname: b\n"), "duplicate key 'name'", "line 2")
case(
    "yaml/duplicate nested key",
    run_over("centre:\n  capacity_per_day: 5\n  capacity_per_day: 6\n"),
    "duplicate key 'capacity_per_day'",
)
case("yaml/empty file", run_file(""), "bad.yaml", "(file): empty")
case("yaml/only a comment", run_file("# nothing here\n"), "(file): empty")
case("yaml/only a document marker", run_file("---\n...\n"), "(file): empty")
case("yaml/only null", run_file("~\n"), "(file): empty")
case("yaml/binary bytes", run_file(bytes(range(256)) * 4), "bad.yaml", "not UTF-8")
case("yaml/UTF-16 text", run_file("name: x\n".encode("utf-16")), "not UTF-8")
case("yaml/Latin-1 text", run_file("name: caf\xe9\n".encode("latin-1")), "not UTF-8")
case("yaml/NUL character", run_file("name: a\x00b\n"), "(yaml) line 1", "not allowed")
case("yaml/escape character on line 3", run_file("name: a\n\ndescription: \x1b[31m\n"), "(yaml) line 3")
case("yaml/file over the size limit", run_file("name: x\n" + "#" * MAX_BYTES + "\n"), f"larger than {MAX_BYTES:,}")
case("yaml/tab indentation", run_over("centre:\n\tcapacity_per_day: 5\n"), "(yaml) line 3", "'\\t'")
case("yaml/unclosed bracket", run_over("demand:\n  seasonality: [1, 2\n"), "(yaml)", "malformed YAML")
case("yaml/unclosed quote", run_file('name: "small\n'), "(yaml)", "malformed YAML")
case("yaml/two documents", run_file("name: a\n---\nname: b\n"), "(yaml)", "another document")
case("yaml/YAML 2.0 directive", run_file("%YAML 2.0\n---\nname: x\n"), "(yaml)", "incompatible YAML document")
case(
    "yaml/python object tag",
    run_file('!!python/object/apply:os.system ["touch pwned"]\n'),  # run, it would write ./pwned
    "(yaml)",
    "could not determine a constructor",
)
case("yaml/python name tag", run_file("name: !!python/name:os.system\n"), "(yaml)", "python/name")
case("yaml/unknown local tag", run_file("name: !secret x\n"), "(yaml)", "!secret")
case("yaml/merge key", run_over("<<: {name: x}\n"), "(yaml)", "merge")
case("yaml/!!int on text", run_over("run: {days: !!int abc}\n"), "(yaml) line 2", "cannot read 'abc' as 'int'")
case("yaml/!!float with no value", run_over("centre: {service_fee_eur: !!float }\n"), "(yaml)", "as 'float'")
case("yaml/!!bool maybe", run_over("policy: {defences: {captcha: {enabled: !!bool maybe}}}\n"), "as 'bool'")
case("yaml/!!set on a list", run_over("centre: {working_weekdays: !!set [1, 2]}\n"), "(yaml)", "mapping node")
case("yaml/!!timestamp noon", run_over("run: {start_date: !!timestamp noon}\n"), "cannot read 'noon'")
case("yaml/!!binary not base64", run_file("name: !!binary '@@@'\n"), "name", "(bytes)")
case(
    "yaml/base-60 number of 3000 digits",
    run_over("run:\n  days: " + ":".join(["59"] * 3000) + "\n"),
    "run.days",
    "more than 100 digits",
)
case("yaml/integer of 5000 digits", run_over("run:\n  days: " + "9" * 5000 + "\n"), "(yaml) line 3", "5,000 characters")
case("yaml/a list at top level", run_file("- name: a\n- name: b\n"), "(top level)", "mapping")
case("yaml/a scalar at top level", run_file("just text\n"), "(top level)", "mapping")
case("yaml/unhashable key", run_file("? [1, 2]\n: x\n"), "(yaml)", "unhashable key")
case("yaml/undefined alias", run_file("name: *nowhere\n"), "(yaml)", "undefined alias")


# --------------------------------------------------------------------------- files


def fifo(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "pipe.yaml")
    return ["run", "pipe.yaml", "--out", "out.json"]


def symlink_loop(tmp: Path) -> list[str]:
    os.symlink("b.yaml", tmp / "a.yaml")
    os.symlink("a.yaml", tmp / "b.yaml")
    return ["run", "a.yaml", "--out", "out.json"]


def dangling(tmp: Path) -> list[str]:
    os.symlink("gone.yaml", tmp / "link.yaml")
    return ["run", "link.yaml", "--out", "out.json"]


def unreadable(tmp: Path) -> list[str]:
    write(tmp, "secret.yaml", SMALL)
    (tmp / "secret.yaml").chmod(0)
    return ["run", "secret.yaml", "--out", "out.json"]


def extends(target: str, extra: dict[str, str] | None = None) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        for name, content in (extra or {}).items():
            write(tmp, name, content)
        return ["run", write(tmp, "bad.yaml", f"extends: {target}\nname: child\n"), "--out", "out.json"]

    return build


case("files/validate a folder with no YAML", lambda tmp: ["validate", "baselines"], "baselines", "no YAML files")
case(
    "files/validate a folder holding a bad file",
    lambda tmp: ["validate", write(tmp, "more/bad.yaml", "centre: 3\n").split("/")[0]],
    "more/bad.yaml",
    "centre",
)
case("files/missing file", lambda tmp: ["run", "nowhere.yaml", "--out", "out.json"], "nowhere.yaml", "not found")
case("files/a folder", lambda tmp: ["run", "baselines", "--out", "out.json"], "baselines", "is a folder")
case("files/a named pipe", fifo, "pipe.yaml", "not a regular file")
case("files//dev/zero", lambda tmp: ["run", "/dev/zero", "--out", "out.json"], "/dev/zero", "not a regular file")
case("files//dev/null", lambda tmp: ["run", "/dev/null", "--out", "out.json"], "/dev/null", "not a regular file")
case("files/symlink loop", symlink_loop, "a.yaml", "symbolic links")
case("files/dangling symlink", dangling, "link.yaml", "not found")
case("files/name too long", lambda tmp: ["run", "x" * 300 + ".yaml", "--out", "out.json"], "File name too long")
case("files/path too long", lambda tmp: ["run", "/".join(["d" * 200] * 30), "--out", "out.json"], "too long")
case("files/a path through a file", lambda tmp: ["run", "small.yaml/x.yaml", "--out", "out.json"], "small.yaml/x.yaml")
case("files/unreadable file", unreadable, "secret.yaml", "Permission denied", needs_non_root=True)
case("files/extends a missing file", extends("nowhere.yaml"), "nowhere.yaml", "not found")
case("files/extends a folder", extends("baselines"), "baselines", "is a folder")
case("files/extends /dev/zero", extends("/dev/zero"), "/dev/zero", "not a regular file")
case("files/extends itself", extends("bad.yaml"), "bad.yaml", "cycle")
case(
    "files/extends in a cycle of two",
    extends("other.yaml", {"other.yaml": "extends: bad.yaml\n"}),
    "cycle",
)
case("files/extends an empty file", extends("empty.yaml", {"empty.yaml": ""}), "empty.yaml", "(file): empty")
case("files/extends a broken file", extends("broken.yaml", {"broken.yaml": "name: [\n"}), "broken.yaml", "(yaml)")
case("files/extends a binary file", extends("bin.yaml", {"bin.yaml": "\x00"}), "bin.yaml", "not allowed")
case(
    "files/extends a list",
    extends("list.yaml", {"list.yaml": "- 1\n- 2\n"}),
    "extends",
    "list.yaml",
)
case(
    "files/extends a scalar",
    extends("text.yaml", {"text.yaml": "just text\n"}),
    "extends",
    "text.yaml",
)
case("files/extends a number", run_file("extends: 3\nname: x\n"), "extends", "must be the path")
case("files/extends a list of files", run_file("extends: [small.yaml]\n"), "extends", "must be the path")
case("files/extends null", run_file("extends: null\nname: x\n"), "extends", "must be the path")
case("files/extends an empty name", run_file("extends: ''\nname: x\n"), "is a folder")


# --------------------------------------------------------------------------- types

field("types", "centre.capacity_per_day", "'800'", "valid integer", "'800' (str)")
field("types", "centre.service_fee_eur", "'25'", "valid number")
field("types", "centre.release_hour", "12:30", "750")  # YAML 1.1 base 60: 12*60+30
field("types", "centre.capacity_per_day", "NO", "got False")  # YAML 1.1 boolean
field("types", "name", "NO", "valid string, got False")
field("types", "description", "yes", "valid string, got True")
field("types", "centre.capacity_per_day", "[800]", "valid integer")
field("types", "centre.capacity_per_day", "{a: 1}", "valid integer")
field("types", "centre", "800", "valid dictionary")
field("types", "resellers", "3", "valid tuple")
field("types", "centre.capacity_per_day", "true", "valid integer, got True")
field("types", "centre.capacity_per_day", "800.5", "valid integer")
field("types", "run.days", "20.0", "valid integer")
field("types", "policy.defences.captcha.enabled", "'yes'", "valid boolean")
field("types", "policy.defences.captcha.enabled", "1", "valid boolean")
field("types", "run.start_date", "2024-05-01T10:00:00", "zero time")
field("types", "run.start_date", "20240501", "20240501")
field("types", "run.start_date", "May 1st", "valid date")
field("types", "policy.scheme.kind", "fcfs", "first_come")
field("types", "demand.segment_shares", "{first_time: 0.5, renewal: 0.35, tourists: 0.15}", "tourists")
field("types", "name", "!!binary aGVsbG8=", "bytes")
field("types", "centre.working_weekdays", "!!set {1, 2}", "valid tuple")
field("types", "demand.seasonality", "[high, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "demand.seasonality.0")
field("types", "centre.working_weekdays", "[Mon, Tue]", "centre.working_weekdays.0")
field("types", "humans.habits", "[hourly, daily]", "valid dictionary")
field("types", "timeline", "{day: 3}", "valid tuple")
field(
    "types",
    "humans.habits",
    "{1: {share: 1.0, checks_per_day: 1.0}}",
    "humans.habits: key 1 is read by YAML as a number",
)
field("types", "policy.scheme.draw_capacity_share", "half", "valid number")
field("types", "name", "42", "valid string, got 42")
field("types", "policy.scheme.enrolled_segments", "first_time", "valid tuple")
reseller("types", "mode", "on_demand", "speculative")
reseller("types", "bots", "many", "valid integer")
reseller("types", "adaptive", "sometimes", "valid boolean")


# --------------------------------------------------------------------------- bounds

for path, value, rule in [
    ("centre.capacity_per_day", "0", "greater than or equal to 1"),
    ("centre.capacity_per_day", "-1", "greater than or equal to 1"),
    ("centre.capacity_per_day", "20001", "less than or equal to 20000"),
    ("centre.capacity_per_day", "1000000000", "less than or equal to 20000"),
    ("centre.release_days_ahead", "0", "greater than or equal to 1"),
    ("centre.release_days_ahead", "181", "less than or equal to 180"),
    ("centre.release_hour", "24", "less than 24"),
    ("centre.release_hour", "-0.5", "greater than or equal to 0"),
    ("centre.service_fee_eur", "-1", "greater than or equal to 0"),
    ("centre.no_show_prob", "1.5", "less than or equal to 1"),
    ("centre.no_show_prob", "-0.1", "greater than or equal to 0"),
    ("demand.applicants_per_year", "-1", "greater than or equal to 0"),
    ("demand.applicants_per_year", "100000000", "less than or equal to 10000000"),
    ("demand.latest_useful_days_median", "0", "greater than 0"),
    ("demand.seasonality", "[13, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "less than or equal to 12"),
    ("demand.seasonality", "[-1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "greater than or equal to 0"),
    ("humans.booking_minutes_median", "0", "greater than 0"),
    ("humans.willingness_to_pay_sigma", "6", "less than or equal to 5"),
    ("humans.pay_deadline_prob", "2", "less than or equal to 1"),
    ("humans.habits.daily.checks_per_day", "0", "greater than 0"),
    ("humans.habits.daily.checks_per_day", "1441", "less than or equal to 1440"),
    ("run.days", "0", "greater than or equal to 1"),
    ("run.days", "3651", "less than or equal to 3650"),
    ("run.warmup_days", "-1", "greater than or equal to 0"),
    ("run.seed", "-1", "greater than or equal to 0"),
    ("run.seed", "9223372036854775808", "less than or equal to 9223372036854775807"),
    ("centre.working_weekdays", "[0, 1, 2, 3, 4, 5, 6, 0]", "at most 7"),
    ("name", "''", "at least 1 character"),
    ("name", "x" * 101, "at most 100 characters"),
    ("description", "d" * 2001, "at most 2000 characters"),
    ("policy.scheme.batches_per_day", "0", "greater than or equal to 1"),
    ("policy.scheme.window_hours", "25", "less than or equal to 24"),
    ("policy.scheme.draw_capacity_share", "1.5", "less than or equal to 1"),
    ("policy.scheme.payment_deadline_hours", "0", "greater than 0"),
    ("policy.scheme.registration_valid_days", "0", "greater than 0"),
    ("policy.defences.captcha.human_fail_prob", "2", "less than or equal to 1"),
    ("policy.defences.otp.accounts_per_bot", "0", "greater than 0"),
    ("policy.defences.ip_blocking.proxy_ips", "0", "greater than or equal to 1"),
    ("policy.defences.identity_binding.detection_prob", "-1", "greater than or equal to 0"),
    ("centre.no_show_prob", ".inf", "must be a finite number, got inf"),
    ("centre.service_fee_eur", "-.inf", "must be a finite number, got -inf"),
    ("demand.applicants_per_year", ".nan", "must be a finite number, got nan"),
    ("run.start_date", "2024-02-30", "valid date"),
    ("run.start_date", "2024-13-45", "valid date"),
    ("run.start_date", "0000-01-01", "greater than or equal to 1900-01-01"),
]:
    field("bounds", path, value, rule)
# Rules on a whole section name the section, then the field: "demand: seasonality must ..."
for path, value, rule in [
    ("demand.seasonality", "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "12 monthly values, got 11"),
    ("demand.seasonality", "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]", "all zero"),
    ("centre.working_weekdays", "[7]", "weekdays 0 (Monday) to 6"),
    ("centre.working_weekdays", "[0, 0]", "must not repeat"),
    ("centre.working_weekdays", "[]", "weekdays 0 (Monday) to 6"),
]:
    section, name = path.split(".")
    case(f"bounds/{path}: {value}", run_over(nested(path, value)), f"{section}: {name}", rule)
case(
    "bounds/demand.seasonality: nan in the list",
    run_over("demand:\n  seasonality: [1, 1, .nan, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"),
    "demand.seasonality.2: must be a finite number",
)
case(
    "bounds/run.start_date: 9999-12-25 (the run passes the last date)",
    run_over("run:\n  start_date: 9999-12-25\n"),
    "run.start_date",
)
reseller("bounds", "bots", -1, "greater than or equal to 0")
reseller("bounds", "bots", 100_001, "less than or equal to 100000")
reseller("bounds", "poll_interval_s", 0, "greater than or equal to 0.001")
reseller("bounds", "price_eur", 0, "greater than 0")
reseller("bounds", "price_max_eur", 1e9, "less than or equal to 100000")
reseller("bounds", "review_days", 0, "greater than or equal to 1")
reseller("bounds", "reaction_s", float("inf"), "must be a finite number")
reseller("bounds", "name", "n" * 101, "at most 100 characters")
case(
    "bounds/51 resellers",
    run_over(dump({"resellers": [{**RESELLER, "name": f"r{i}"} for i in range(51)]})),
    "resellers",
    "at most 50",
)
case(
    "bounds/101 policy switches",
    run_over(dump({"run": {"days": 3000}, "timeline": [{"day": d} for d in range(1, 102)]})),
    "timeline",
    "at most 100",
)
case(
    "bounds/21 habits",
    run_over(dump({"humans": {"habits": {f"h{i}": {"share": 0.05, "checks_per_day": 1.0} for i in range(21)}}})),
    "humans.habits",
    "at most 20",
)
case("bounds/timeline day 0", run_over("timeline:\n  - {day: 0}\n"), "timeline.0.day", "greater than or equal to 1")


# --------------------------------------------------------------------------- structure

case("structure/unknown top-level key", run_over("colour: blue\n"), "colour", "unknown key")
case(
    "structure/a key with a line break",
    run_over('"colour\\nred": 1\n'),
    "'colour\\nred'",
    "unknown key",
)
case(
    "yaml/an infinity under a key with a line break",
    run_over('"colour\\nred": .inf\n'),
    "'colour\\nred': must be a finite number",
)
case(
    "yaml/an infinity under an escape sequence",
    run_over('"\\e[2J": .inf\n'),
    "'\\x1b[2J': must be a finite number",
)
case(
    "structure/a key that YAML reads as false",
    run_over("no: 1\n"),
    "False",
    "read by YAML as a boolean",
)
case("structure/misspelt field", run_over("centre: {capcity_per_day: 5}\n"), "centre.capcity_per_day", "unknown key")
case(
    "structure/unknown key in a reseller",
    run_over(dump({"resellers": [{**RESELLER, "speed": 3}]})),
    "resellers.0.speed",
    "unknown key",
)
case(
    "structure/unknown key in a habit",
    run_over("humans:\n  habits:\n    daily: {share: 1.0, checks_per_day: 1.0, mood: 3}\n"),
    "humans.habits.daily.mood",
    "unknown key",
)
case("structure/unknown defence", run_over("policy: {defences: {firewall: {}}}\n"), "policy.defences.firewall")
case("structure/unknown key in a switch", run_over("timeline:\n  - {day: 3, colour: red}\n"), "timeline.0.colour")
case(
    "structure/timeline out of order",
    run_over("timeline:\n  - {day: 10}\n  - {day: 5}\n"),
    "timeline days must be strictly increasing",
)
case(
    "structure/timeline day repeated",
    run_over("timeline:\n  - {day: 5}\n  - {day: 5}\n"),
    "timeline days must be strictly increasing",
)
case("structure/timeline after the run", run_over("timeline:\n  - {day: 20}\n"), "timeline day 20", "end of the run")
case(
    "structure/segment shares summing to 0.9",
    run_over("demand:\n  segment_shares: {first_time: 0.5, renewal: 0.3, circulation: 0.1}\n"),
    "demand",
    "segment_shares must sum to 1",
)
case(
    "structure/a segment missing",
    run_file("demand:\n  segment_shares: {first_time: 0.5, renewal: 0.5}\n"),  # no extends: nothing merged
    "demand",
    "segment_shares must give all",
)
case(
    "structure/habit shares summing to 2",
    run_over(
        "humans:\n  habits:\n    a: {share: 1.0, checks_per_day: 1.0}\n    b: {share: 1.0, checks_per_day: 2.0}\n"
    ),
    "humans",
    "habits shares must sum to 1",
)
case("structure/no habits", run_over("humans: {habits: {}}\n"), "humans", "at least one checking habit")
case("structure/warm-up as long as the run", run_over("run: {days: 20, warmup_days: 20}\n"), "run", "warmup_days")
case("structure/warm-up longer than the run", run_over("run: {days: 20, warmup_days: 30}\n"), "run", "warmup_days")
case(
    "structure/two resellers of one name",
    run_over(dump({"resellers": [RESELLER, RESELLER]})),
    "resellers must have distinct names",
)
case(
    "structure/price outside its range",
    run_over(dump({"resellers": [{**RESELLER, "price_eur": 5.0}]})),
    "resellers.0",
    "price_eur must lie between",
)
case(
    "structure/random allocation for no segment",
    run_over("policy:\n  scheme: {kind: random_allocation, enrolled_segments: []}\n"),
    "policy.scheme",
    "enrolled_segments",
)
case(
    "structure/a reseller without a name",
    run_over(dump({"resellers": [{"bots": 2}]})),
    "resellers.0.name",
    "Field required",
)
case(
    "structure/a switch without a day",
    run_over("timeline:\n  - {scheme: {kind: random_allocation}}\n"),
    "timeline.0.day",
    "Field required",
)


# --------------------------------------------------------------------------- --set

case("set/no equals sign", sets("run.days"), "--set 'run.days'", "expected dotted.path=value")
case("set/empty path", sets("=3"), "--set '=3'", "empty name")
case("set/empty name inside the path", sets("run..days=3"), "run..days", "empty name")
case("set/path ending in a dot", sets("run.=3"), "'run.=3'", "empty name")
case("set/path starting with a dot", sets(".run=3"), "'.run=3'", "empty name")
case("set/a path through a value", sets("run.days.x=3"), "run.days.x", "run.days is a value")
case("set/index out of range", sets("resellers.0.bots=3"), "resellers.0.bots", "resellers has no item '0'")
case("set/list index past the end", sets("centre.working_weekdays.9=1"), "centre.working_weekdays.9", "no list item")
case("set/a name as a list index", sets("demand.seasonality.x=1"), "demand.seasonality.x", "no list item 'x'")
case("set/a negative list index", sets("demand.seasonality.-1=1"), "demand.seasonality.-1", "no list item '-1'")
case("set/an unknown field", sets("centre.foo=1"), "centre.foo", "unknown key")
case("set/text for a number", sets("run.days=abc"), "run.days", "valid integer")
case("set/infinity", sets("centre.no_show_prob=.inf"), "centre.no_show_prob", "finite number")
case("set/out of bounds", sets("centre.capacity_per_day=0"), "centre.capacity_per_day", "greater than or equal to 1")
case(
    "set/an alias bomb as the value",
    sets("name=" + billion_laughs().replace("\n", ", ").join("{}")),
    "name",
    "more than",
)
case("set/a deeply nested value", sets("name=" + "[" * 200 + "]" * 200), "name", "deeper than")
case("set/a value with a duplicate key", sets("centre={a: 1, a: 2}"), "centre", "duplicate key 'a'")
case("set/a value for a section", sets("run=5"), "run", "valid dictionary")
case("set/an empty value for the name", sets("name="), "name", "at least 1 character")
case("set/a broken list as a number", sets("run.days=[1"), "run.days", "valid integer")
case(
    "set/two bad values at once", sets("run.days=0", "centre.capacity_per_day=x"), "run.days", "centre.capacity_per_day"
)
case("set/no value after --set", run_small("--set"), "--set", "expected one argument")
case(
    "set/--set=--",
    run_small("--set=--"),
    "--set",
    "small.yaml",
)
case(
    "set/validate a suite entry with a bad value",
    lambda tmp: ["validate", "suite.yaml", "--set", "run.days=0"],
    "entry small",
    "run.days",
)
case(
    "set/compare with a bad value",
    lambda tmp: ["compare", "small.yaml", "--jobs", "1", "--set", "run.days=-3"],
    "run.days",
)
case(
    "set/regress with a bad value",
    lambda tmp: ["regress", "--suite", "suite.yaml", "--baselines", "baselines", "--set", "centre.foo=1"],
    "centre.foo",
)


# --------------------------------------------------------------------------- cli options

case("cli/run --seed -1", run_small("--seed", "-1"), "seed", "-1")
case("cli/run --seed 1.5", run_small("--seed", "1.5"), "--seed", "1.5")
case("cli/run --seed text", run_small("--seed", "one"), "--seed", "one")
case("cli/run --seed 2**64", run_small("--seed", str(2**64)), "seed", str(2**64))
case("cli/run --seed without a value", run_small("--seed"), "--seed", "expected one argument")
case("cli/run --max-events 0", run_small("--max-events", "0"), "--max-events")
case("cli/run --max-events text", run_small("--max-events", "lots"), "--max-events")
case("cli/run --max-events nan", run_small("--max-events", "nan"), "--max-events")
case("cli/run --max-memory-mb -5", run_small("--max-memory-mb", "-5"), "--max-memory-mb")
case("cli/run without a file", lambda tmp: ["run"], "file", "required")
case("cli/run two files", lambda tmp: ["run", "small.yaml", "small.yaml"], "unrecognized arguments")
case("cli/run an unknown option", run_small("--fast"), "unrecognized arguments: --fast")
case("cli/an unknown command", lambda tmp: ["simulate", "small.yaml"], "invalid choice: 'simulate'")
case("cli/no command", lambda tmp: [], "required: COMMAND")
case("cli/run --out a folder", lambda tmp: ["run", "small.yaml", "--out", "baselines"], "--out baselines")
case("cli/run --out under a file", lambda tmp: ["run", "small.yaml", "--out", "small.yaml/m.json"], "--out")
case("cli/run --out a device", lambda tmp: ["run", "small.yaml", "--out", "/dev/full"], "--out /dev/full")
case("cli/run --timeseries a folder", lambda tmp: ["run", "small.yaml", "--timeseries", "results"], "--timeseries")
case(
    "cli/run --records a file",
    lambda tmp: ["run", "small.yaml", "--records", "small.yaml"],
    "--records",
    "not a folder",
)
case(
    "cli/run --out and --timeseries the same file",
    lambda tmp: ["run", "small.yaml", "--out", "x.csv", "--timeseries", "x.csv"],
    "name different files",
)
case(
    "cli/run --out and --records the same name",
    lambda tmp: ["run", "small.yaml", "--out", "x", "--records", "x"],
    "--out",
    "--records",
)
case(
    "cli/run --timeseries and --records the same name",
    lambda tmp: ["run", "small.yaml", "--timeseries", "x", "--records", "x"],
    "--timeseries",
    "--records",
)
case(
    "cli/run --out empty",
    lambda tmp: ["run", "small.yaml", "--out", ""],
    "--out",
)
SMALL_COMPARE = ("compare", "small.yaml", "--jobs", "1")
case("cli/compare --replications 0", lambda tmp: [*SMALL_COMPARE, "--replications", "0"], "--replications")
case("cli/compare --replications -1", lambda tmp: [*SMALL_COMPARE, "--replications", "-1"], "--replications")
case("cli/compare --replications 1.5", lambda tmp: [*SMALL_COMPARE, "--replications", "1.5"], "--replications")
case(
    "cli/compare --replications 10**9",
    lambda tmp: [*SMALL_COMPARE, "--replications", str(10**9)],
    "--replications",
)
case("cli/compare --jobs 0", lambda tmp: ["compare", "small.yaml", "--jobs", "0"], "--jobs")
case("cli/compare --jobs -1", lambda tmp: ["compare", "small.yaml", "--jobs", "-1"], "--jobs")
case("cli/compare --max-memory-mb 0", lambda tmp: [*SMALL_COMPARE, "--max-memory-mb", "0"], "--max-memory-mb")
case("cli/compare --seed -1", lambda tmp: [*SMALL_COMPARE, "--seed", "-1"], "seed", "-1")
case("cli/compare an unknown preset", lambda tmp: ["compare", "--base", "small.yaml", "--presets", "nope"], "nope")
case("cli/compare --presets without --base", lambda tmp: ["compare", "--presets", "first_come"], "--base")
case("cli/compare nothing", lambda tmp: ["compare"], "give scenario files")
case("cli/compare a missing file", lambda tmp: ["compare", "small.yaml", "nowhere.yaml"], "nowhere.yaml", "not found")
case("cli/compare --out a folder", lambda tmp: [*SMALL_COMPARE, "--out", "results"], "--out")
case("cli/compare --out under a file", lambda tmp: [*SMALL_COMPARE, "--out", "small.yaml/x.csv"], "--out")
BATCH = ("batch", "exp.yaml", "--out", "new")
case("cli/batch --max-events -1", lambda tmp: [*BATCH, "--max-events", "-1"], "--max-events")
case("cli/batch --jobs 0", lambda tmp: [*BATCH, "--jobs", "0"], "--jobs")
case("cli/batch --jobs -1", lambda tmp: [*BATCH, "--jobs", "-1"], "--jobs")
case("cli/batch --dask-local 0", lambda tmp: [*BATCH, "--dask-local", "0"], "--dask-local")
case("cli/batch --scheduler without a scheme", lambda tmp: [*BATCH, "--scheduler", "localhost"], "--scheduler")
case(
    "cli/batch --scheduler and --dask-local",
    lambda tmp: [*BATCH, "--scheduler", "tcp://h:1", "--dask-local", "2"],
    "--scheduler and --dask-local",
)
case(
    "cli/batch --scheduler nobody answers",
    lambda tmp: [*BATCH, "--scheduler", "tcp://127.0.0.1:1"],
    "--scheduler tcp://127.0.0.1:1",
)
case("cli/batch --out a file", lambda tmp: ["batch", "exp.yaml", "--out", "small.yaml"], "--out")
case("cli/batch --out under a file", lambda tmp: ["batch", "exp.yaml", "--out", "small.yaml/res"], "--out")
case("cli/batch a missing file", lambda tmp: ["batch", "nowhere.yaml"], "nowhere.yaml", "not found")
case("cli/batch --jobs text", lambda tmp: [*BATCH, "--jobs", "two"], "--jobs", "two")
case("cli/regress --jobs 0", lambda tmp: ["regress", "--suite", "suite.yaml", "--jobs", "0"], "--jobs")
case("cli/regress --jobs -1", lambda tmp: ["regress", "--suite", "suite.yaml", "--jobs", "-1"], "--jobs")
case(
    "cli/regress --only an unknown entry",
    lambda tmp: ["regress", "--suite", "suite.yaml", "--baselines", "baselines", "--only", "nope"],
    "--only nope",
)
case(
    "cli/regress --update with --set",
    lambda tmp: ["regress", "--suite", "suite.yaml", "--baselines", "new", "--update", "--set", "run.days=30"],
    "--set",
    "--update",
)
case(
    "cli/regress --update into a file",
    lambda tmp: ["regress", "--suite", "suite.yaml", "--baselines", "small.yaml", "--update"],
    "small.yaml",
)
case("cli/regress --progress with a value", lambda tmp: ["regress", "--progress", "yes"], "unrecognized arguments")
case("cli/bench --reps 0", lambda tmp: ["bench", "--reps", "0"], "--reps")
case("cli/bench --reps text", lambda tmp: ["bench", "--reps", "x"], "--reps")
case("cli/bench --parts unknown", lambda tmp: ["bench", "--parts", "nope"], "--parts")
case("cli/bench --scenario missing", lambda tmp: ["bench", "--scenario", "nowhere.yaml"], "nowhere.yaml")


# --------------------------------------------------------------------------- experiment files


def experiment(change: Callable[[dict], Any], extra: dict[str, str] | None = None) -> Callable[[Path], list[str]]:
    """`slotsim batch` of the template experiment changed by `change` (which edits the dict)."""

    def build(tmp: Path) -> list[str]:
        data = yaml.safe_load(EXPERIMENT)
        change(data)
        for name, content in (extra or {}).items():
            write(tmp, name, content)
        return ["batch", write(tmp, "bad_exp.yaml", dump(data)), "--out", "res", "--jobs", "1"]

    return build


def setter(**values: Any) -> Callable[[dict], None]:
    return lambda d: d.update(values)


TARGET = {"metrics": ["wait_days_mean"], "half_width": 0.1}
for desc, change, expect in [
    ("unknown metric in a target", setter(replications=None, target={**TARGET, "metrics": ["speed"]}), "speed"),
    ("target max below min", setter(replications=None, target={**TARGET, "max_replications": 3}), "max_replications"),
    ("target half-width 0", setter(replications=None, target={**TARGET, "half_width": 0}), "target.half_width"),
    ("target min_replications 2", setter(replications=None, target={**TARGET, "min_replications": 2}), "min_rep"),
    ("unknown preset", lambda d: d["variants"].update(x={"preset": "nope"}), "preset 'nope' unknown"),
    ("preset and scenario", lambda d: d["variants"].update(x={"preset": "first_come", "scenario": "s"}), "not both"),
    ("variant scenario missing", lambda d: d["variants"].update(x={"scenario": "nowhere.yaml"}), "nowhere.yaml"),
    ("variant override unknown", lambda d: d["variants"].update(x={"overrides": {"centre.foo": 1}}), "centre.foo"),
    ("variant override out of bounds", lambda d: d["variants"].update(x={"overrides": {"run.days": 0}}), "run.days"),
    ("variant override through a value", lambda d: d["variants"].update(x={"overrides": {"name.x": 1}}), "name.x"),
    ("variant key unknown", lambda d: d["variants"].update(x={"colour": "red"}), "variants.x.colour"),
    ("variants as a list", setter(variants=["first_come"]), "variants"),
    ("variant name with a slash", lambda d: d["variants"].update({"a/b": {}}), "variants"),
    ("sweep of an unknown field", setter(sweep={"centre.foo": [1, 2]}), "centre.foo"),
    ("sweep with no value", setter(sweep={"run.days": []}), "needs at least one value"),
    ("sweep with a value twice", setter(sweep={"run.days": [10, 10]}), "distinct"),
    ("sweep value out of bounds", setter(sweep={"run.days": [10, 0]}), "sweep point run.days=0"),
    ("sweep path with an empty name", setter(sweep={"run..days": [10]}), "sweep"),
    ("sweep of a value that is not a list", setter(sweep={"run.days": 10}), "sweep.run.days"),
    ("reference not a variant", setter(reference="nope"), "reference 'nope'"),
    ("replications and target", setter(target=TARGET), "either replications or target"),
    ("neither replications nor target", lambda d: d.pop("replications"), "either replications or target"),
    ("replications 0", setter(replications=0), "replications"),
    ("replications 10001", setter(replications=10_001), "replications"),
    ("replications as text", setter(replications="many"), "replications"),
    ("name with a slash", setter(name="../escape"), "name"),
    ("empty name", setter(name=""), "name"),
    (
        "no name",
        lambda d: d.pop("name"),
        "name",
    ),
    ("base missing", setter(base="nowhere.yaml"), "nowhere.yaml"),
    ("base a folder", setter(base="results"), "is a folder"),
    ("base empty", setter(base=""), "base"),
    ("overrides of an unknown field", setter(overrides={"centre.foo": 1}), "centre.foo"),
    ("overrides index out of range", setter(overrides={"resellers.3.bots": 1}), "resellers has no item '3'"),
    ("overrides path with a space", setter(overrides={"run days": 1}), "run days"),
    ("seed -1", setter(seed=-1), "seed"),
    ("unknown top-level key", setter(colour="red"), "colour"),
]:
    case(f"experiment/{desc}", experiment(change), expect)
case(
    "experiment/seed 2**64",
    experiment(setter(seed=2**64)),
    "seed",
)
case("experiment/a list", lambda tmp: ["batch", write(tmp, "bad_exp.yaml", "- a\n- b\n")], "(top level)")
case(
    "experiment/base a list",
    experiment(setter(base="list.yaml"), {"list.yaml": "- 1\n"}),
    "base",
    "must be a mapping",
)
case(
    "experiment/validate an unknown metric",
    lambda tmp: [
        "validate",
        write(tmp, "bad_exp.yaml", EXPERIMENT.replace("replications: 2", "target: {metrics: [speed], half_width: 1}")),
    ],
    "speed",
    "experiment file",
)
case(
    "experiment/a million runs",
    experiment(setter(replications=10_000, sweep={"demand.applicants_per_year": [1000.0 + i for i in range(50)]})),
    "replications",
)


# --------------------------------------------------------------------------- regression suites and baselines


def suite(change: Callable[[dict], Any], *extra: str) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        data = yaml.safe_load(SUITE)
        change(data)
        name = write(tmp, "bad_suite.yaml", dump(data))
        return ["regress", "--suite", name, "--baselines", "baselines", *extra]

    return build


def entry(**values: Any) -> Callable[[dict], None]:
    return lambda d: d["entries"][0].update(values)


for desc, change, expect in [
    ("unknown key", setter(colour="red"), "colour"),
    ("no entries", setter(entries=[]), "entries"),
    ("entries missing", lambda d: d.pop("entries"), "entries"),
    ("entry scenario missing", entry(scenario="nowhere.yaml"), "nowhere.yaml"),
    ("entry override bad", entry(overrides=["run.days=0"]), "run.days"),
    ("entry override without =", entry(overrides=["run.days"]), "run.days"),
    ("entry overrides as a mapping", entry(overrides={"run.days": 3}), "entries.0.overrides"),
    ("two entries of one name", lambda d: d["entries"].append(dict(d["entries"][0])), "names must be distinct"),
    ("entry name with a slash", entry(name="../x"), "entries.0.name"),
    ("entry replications 1", entry(replications=1), "entries.0.replications"),
    ("replications 201", setter(replications=201), "replications"),
    ("alpha 0", setter(tolerance={"alpha": 0}), "tolerance.alpha"),
    ("alpha 1", setter(tolerance={"alpha": 1.0}), "tolerance.alpha"),
    ("negative floor", setter(tolerance={"rel_floor": -0.1}), "tolerance.rel_floor"),
    ("informational unknown metric", setter(tolerance={"informational": ["speed"]}), "speed"),
    ("seed -1", setter(seed=-1), "seed"),
    ("seed 2**64", setter(seed=2**64), "seed"),
    ("entry seed 2**64", entry(seed=2**64), "seed"),
]:
    case(f"regress/suite {desc}", suite(change), expect)
case("regress/suite a list", lambda tmp: ["regress", "--suite", write(tmp, "s.yaml", "- 1\n")], "(top level)")
case("regress/suite missing", lambda tmp: ["regress", "--suite", "nowhere.yaml"], "nowhere.yaml", "not found")
case("regress/suite a folder", lambda tmp: ["regress", "--suite", "results"], "results", "is a folder")


def baseline(change: Callable[[Path], Any]) -> Callable[[Path], list[str]]:
    """`slotsim regress` against the template's baseline, changed by `change(folder of the entry)`."""

    def build(tmp: Path) -> list[str]:
        change(tmp / "baselines" / "small")
        return ["regress", "--suite", "suite.yaml", "--baselines", "baselines"]

    return build


def edit_csv(edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / "metrics.csv"
        path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")

    return change


def cell(row: int, col: int, value: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        cells = lines[row].split(",")
        cells[col] = value
        lines[row] = ",".join(cells)
        return lines

    return edit


for desc, change, expect in [
    ("baselines folder missing", lambda f: shutil.rmtree(f.parent), "baselines"),
    ("entry folder missing", lambda f: shutil.rmtree(f), "small"),
    ("metrics.csv missing", lambda f: (f / "metrics.csv").unlink(), "metrics.csv"),
    ("manifest.json missing", lambda f: (f / "manifest.json").unlink(), "manifest.json"),
    ("manifest.json not JSON", lambda f: (f / "manifest.json").write_text("{not json"), "manifest.json"),
    ("manifest.json a list", lambda f: (f / "manifest.json").write_text("[]"), "manifest.json"),
    ("metrics.csv empty", lambda f: (f / "metrics.csv").write_text(""), "metrics.csv"),
    ("an infinite value", edit_csv(cell(1, 1, "inf")), "applicants_arrived"),
    ("a value as text", edit_csv(cell(1, 1, "lots")), "applicants_arrived"),
    ("an empty cell", edit_csv(cell(1, 1, "")), "applicants_arrived"),
    ("a replication number as text", edit_csv(cell(1, 0, "first")), "replication 'first'"),
    ("a row missing", edit_csv(lambda lines: lines[:-1]), "metrics.csv"),
    ("a row too many", edit_csv(lambda lines: [*lines, lines[-1]]), "metrics.csv"),
    ("a column missing", edit_csv(lambda lines: [",".join(x.split(",")[1:]) for x in lines]), "metrics.csv"),
    ("metrics.csv binary", lambda f: (f / "metrics.csv").write_bytes(bytes(range(256))), "metrics.csv"),
]:
    case(f"regress/baseline {desc}", baseline(change), expect)


# --------------------------------------------------------------------------- report


def results(change: Callable[[Path], Any], *extra: str) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        change(tmp / "results")
        return ["report", "results", *extra]

    return build


case("report/a missing folder", lambda tmp: ["report", "nowhere"], "nowhere", "not a folder")
case("report/a file", lambda tmp: ["report", "small.yaml"], "small.yaml", "not a folder")


def empty_folder(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["report", "empty"]


case("report/an empty folder", empty_folder, "empty", "manifest.json")
case("report/a folder of other files", lambda tmp: ["report", "baselines"], "baselines", "manifest.json")
case(
    "report/a results file changed",
    results(lambda f: (f / "summary.csv").write_text("variant\nx\n")),
    "summary.csv",
)
case("report/a results file missing", results(lambda f: (f / "replications.parquet").unlink()), "replications.parquet")
case("report/manifest.json not JSON", results(lambda f: (f / "manifest.json").write_text("{")), "manifest.json")
case(
    "report/a folder with another manifest.json",
    lambda tmp: ["report", write(tmp, "other/manifest.json", "{}").split("/")[0]],
    "other",
    "manifest",
)
case("report/--out a file", results(lambda f: None, "--out", "small.yaml"), "small.yaml")
case("report/--out under a file", results(lambda f: None, "--out", "small.yaml/rep"), "small.yaml")


# --------------------------------------------------------------------------- resources

HUGE = ("demand.applicants_per_year=10000000", "run.days=3650")
case("resources/run ten years of ten million a year", sets(*HUGE), "too large to simulate", "events")
case(
    "resources/run the largest centre for ten years",
    sets("centre.capacity_per_day=20000", "run.days=3650", "demand.applicants_per_year=10000000"),
    "too large to simulate",
)
case(
    "resources/compare a scenario too large",
    lambda tmp: [*SMALL_COMPARE, *(a for s in HUGE for a in ("--set", s))],
    "too large to simulate",
)
case(
    "resources/two large runs at once",
    lambda tmp: [
        "compare",
        "small.yaml",
        "small.yaml",
        "--jobs",
        "2",
        "--set",
        "demand.applicants_per_year=5000000",
        "--set",
        "run.days=290",
    ],
    "for 2 replications at once",
    "--jobs",
)
case(
    "resources/batch a sweep point too large",
    experiment(setter(sweep={"demand.applicants_per_year": [2000.0, 10_000_000.0]}, overrides={"run.days": 3650})),
    "too large to simulate",
)
case(
    "resources/regress an entry too large",
    suite(entry(overrides=list(HUGE)), "--update"),
    "too large to simulate",
)
case(
    "resources/a run above --max-events",
    run_small("--max-events", "10"),
    "too large to simulate",
    "--max-events",
)
case(
    "resources/a run too large, its --out in a new folder",
    lambda tmp: ["run", "small.yaml", "--out", "new/m.json", "--max-events", "10"],
    "too large to simulate",
)
case(
    "resources/a comparison too large, its --out in a new folder",
    lambda tmp: [*SMALL_COMPARE, "--out", "new/c.csv", "--max-events", "10"],
    "too large to simulate",
)
case(
    "resources/a batch above --max-memory-mb",
    lambda tmp: [*BATCH, "--max-memory-mb", "1"],
    "too large to simulate",
    "--max-memory-mb",
)
case(
    "resources/SLOTSIM_MAX_EVENTS not a number",
    run_small(),
    "SLOTSIM_MAX_EVENTS",
    env=(("SLOTSIM_MAX_EVENTS", "many"),),
)
case("resources/SLOTSIM_MAX_EVENTS 0", run_small(), "SLOTSIM_MAX_EVENTS", env=(("SLOTSIM_MAX_EVENTS", "0"),))
case(
    "resources/SLOTSIM_MAX_MEMORY_MB negative",
    run_small(),
    "SLOTSIM_MAX_MEMORY_MB",
    env=(("SLOTSIM_MAX_MEMORY_MB", "-5"),),
)
case(
    "resources/a run above a lowered limit",
    run_small(),
    "too large to simulate",
    "SLOTSIM_MAX_EVENTS",
    env=(("SLOTSIM_MAX_EVENTS", "10"),),
)


# --------------------------------------------------------------------------- Python API


# The API under its own name, untyped: these calls break its signatures on purpose.
API: Any = sim


def small() -> Any:
    return sim.load_scenario("small.yaml")


def set_item(mapping: Any, key: str, value: Any) -> None:
    mapping[key] = value


api("api/sim.run seed 1.5", lambda tmp: API.run(small(), seed=1.5), "seed", "whole number")
api("api/sim.run seed True", lambda tmp: API.run(small(), seed=True), "seed", "whole number")
api("api/sim.run seed -1", lambda tmp: API.run(small(), seed=-1), "seed", "between 0 and")
api("api/sim.run seed as text", lambda tmp: API.run(small(), seed="1"), "seed", "whole number")
api("api/sim.run replication -1", lambda tmp: API.run(small(), replication=-1), "replication", "between 0 and")
api("api/sim.run replication 0.5", lambda tmp: API.run(small(), replication=0.5), "replication", "whole number")
api("api/sim.run a dict", lambda tmp: API.run({"run": {"days": 20}}), "scenario", "must be a Scenario")
api("api/sim.run None", lambda tmp: API.run(None), "scenario", "must be a Scenario")
api(
    "api/sim.run limits as text",
    lambda tmp: API.run(small(), limits="big"),
    "limits",
)
api("api/sim.Limits events 0", lambda tmp: API.Limits(events=0), "limits.events", "positive")
api("api/sim.Limits memory nan", lambda tmp: API.Limits(memory_mb=float("nan")), "limits.memory_mb", "positive")
api(
    "api/load_scenario overrides as one string",
    lambda tmp: API.load_scenario("small.yaml", "run.days=30"),
    "overrides",
    "wrap it in a list",
)
api("api/load_scenario an override that is a number", lambda tmp: API.load_scenario("small.yaml", [3]), "overrides")
api("api/load_scenario a number as the path", lambda tmp: API.load_scenario(3), "path", "str or Path")
api("api/load_scenario an override without =", lambda tmp: API.load_scenario("small.yaml", ["run.days"]), "run.days")
api("api/parse_scenario text", lambda tmp: API.parse_scenario("run: {days: 3}"), "(top level)", "mapping")
api("api/parse_scenario a list", lambda tmp: API.parse_scenario([1, 2]), "(top level)", "mapping")
api("api/parse_scenario infinity", lambda tmp: API.parse_scenario({"centre": {"no_show_prob": float("inf")}}), "finite")
api(
    "api/parse_scenario a 5000-digit integer",
    lambda tmp: API.parse_scenario({"run": {"days": 10**5000}}),
    "run.days",
)
api(
    "api/a habit added to a scenario",
    lambda tmp: set_item(small().humans.habits, "new", None),
    "immutable",
    raises=(TypeError,),
)
api("api/a habit removed", lambda tmp: small().humans.habits.pop("daily"), "immutable", raises=(TypeError,))
api(
    "api/segment shares changed",
    lambda tmp: small().demand.segment_shares.update(first_time=1.0),
    "immutable",
    raises=(TypeError,),
)
api("api/a field assigned", lambda tmp: setattr(small().run, "days", 5), "frozen", raises=(ValueError,))
api(
    "api/sim.experiment an unknown preset",
    lambda tmp: API.experiment({"base": "small.yaml", "variants": {"x": "nope"}, "jobs": 1}),
    "preset 'nope' unknown",
)
api(
    "api/sim.experiment replications 0",
    lambda tmp: API.experiment({"base": "small.yaml", "replications": 0, "jobs": 1}),
    "replications",
)
api(
    "api/sim.experiment a missing base",
    lambda tmp: API.experiment({"base": "nowhere.yaml", "jobs": 1}),
    "nowhere.yaml",
)
api(
    "api/sim.experiment not a dict",
    lambda tmp: API.experiment("small.yaml"),
    "spec",
)
api(
    "api/sim.experiment jobs 0",
    lambda tmp: API.experiment({"base": "small.yaml", "jobs": 0}),
    "jobs",
)


# --------------------------------------------------------------------------- running a case


def tripwires(mp: pytest.MonkeyPatch) -> None:
    """No simulation, no worker pool, no huge plan, a scheduler given up after one second."""

    def simulate(*args: Any, **kwargs: Any) -> None:
        raise Simulated("a simulation started: the input was not refused")

    execute = sim.runner.execute

    def in_process(fn: Any, tasks: Any, *, jobs: Any = None, scheduler: Any = None, **kw: Any) -> Any:
        if scheduler:  # the real path to a cluster (refused: none answers)
            return execute(fn, tasks, jobs=jobs, scheduler=scheduler, **kw)
        return execute(fn, tasks, **{**kw, "jobs": 1, "dask_workers": None})

    order = RunPlan.order

    def bounded(self: RunPlan, by_replication: bool = True) -> list[tuple[int, int]]:
        n = sum(self.count(i) for i in range(len(self.cells)))
        if n > MAX_RUNS:
            raise Simulated(f"a plan of {n:,} runs was accepted")
        return order(self, by_replication)

    mp.setattr(sim.model, "simulate", simulate)
    mp.setattr(sim.runner, "execute", in_process)
    mp.setattr(RunPlan, "order", bounded)
    mp.setattr(sim.parallel, "SCHEDULER_TIMEOUT_S", 1.0)


def snapshot(folder: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under `folder`: (size, mtime) for a file, None for anything else."""
    out: dict[str, tuple[int, int] | None] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns) if p.is_file() else None
    return out


LOCK = ".slotsim.lock"  # sim.fileio.folder_lock's file: a folder read under its lock has it rewritten


def changes(before: dict, after: dict) -> list[str]:
    """What was written, removed or changed; an existing lock file may be rewritten (report reads
    a results folder under its lock), a new one counts as written."""
    out = [f"written: {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"removed: {p}" for p in sorted(before.keys() - after.keys())]
    changed = (p for p in sorted(before.keys() & after.keys()) if before[p] != after[p] and Path(p).name != LOCK)
    return out + [f"changed: {p}" for p in changed]


def attempt(c: Case, tmp: Path) -> tuple[list[str], str]:
    """Run `c` in the working folder `tmp`: why it is not a clean refusal (empty: it is one), and its message."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = None
    problems: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        for key, value in c.env:
            mp.setenv(key, value)
        spec = c.build(tmp)
        before = snapshot(tmp)
        tripwires(mp)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                if callable(spec):
                    try:
                        spec()
                        code = 0
                    except c.raises as e:
                        code = 2
                        print(f"{type(e).__name__}: {e}", file=err)
                else:
                    code = main(spec)
        except SystemExit as e:
            code = e.code
        except Simulated as e:
            problems.append(f"not refused: {e}")
        except BaseException as e:
            problems.append(f"{type(e).__name__} escaped: {e}\n{traceback.format_exc()}")
        after = snapshot(tmp)
    message = err.getvalue()
    if code is not None and code != 2:
        problems.append(f"exit status {code}, not 2")
    if code == 2:
        problems += [f"the message does not name {x!r}" for x in c.expect if x not in message]
        if not message.strip():
            problems.append("no message on stderr")
    if "Traceback" in message + out.getvalue():
        problems.append("a traceback was printed")
    problems += changes(before, after)
    if problems:
        problems.append(f"stderr: {message.strip()[-1500:]!r}")
    return problems, message


def refusal_problems(c: Case, tmp: Path) -> list[str]:
    return attempt(c, tmp)[0]


@contextlib.contextmanager
def workdir() -> Any:
    with tempfile.TemporaryDirectory(prefix="slotsim-case-") as d:
        tmp = Path(d) / "work"
        shutil.copytree(template(), tmp, symlinks=True)
        try:
            yield tmp
        finally:  # an unreadable file made by a case must not stop the clean-up
            for root, dirs, files in os.walk(tmp):
                for name in dirs + files:
                    with contextlib.suppress(OSError):
                        (Path(root) / name).chmod(0o700)


def params() -> list[Any]:
    out = []
    for c in CASES:
        marks = []
        if c.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=c.xfail))
        if c.needs_non_root:
            marks.append(pytest.mark.skipif(IS_ROOT, reason="root reads any file"))
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


@pytest.mark.slow  # 400 cases, ~20 s: CI runs them after the default run; the script prints the counts
@pytest.mark.parametrize("c", params())
def test_bad_input_is_a_clean_refusal(c: Case) -> None:
    with workdir() as tmp:
        problems = refusal_problems(c, tmp)
    assert not problems, "\n".join(problems)


def test_the_catalogue_covers_every_class_with_100_cases() -> None:
    classes = {c.klass for c in CASES}
    assert classes == {
        "yaml",
        "files",
        "types",
        "bounds",
        "structure",
        "set",
        "cli",
        "experiment",
        "regress",
        "report",
        "resources",
        "api",
    }
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_tripwire_stops_an_accepted_input() -> None:
    """The catalogue's guard itself: a good input is not refused, it reaches the simulation and is caught there."""
    good = Case("cli/a good run", run_small(), ())
    with workdir() as tmp:
        problems = refusal_problems(good, tmp)
    assert problems and problems[0] == "not refused: a simulation started: the input was not refused"


# --------------------------------------------------------------------------- the closing note's table


def report(verbose: bool = False) -> int:
    """Run every case; print per class the cases and the clean refusals, then each one that is not
    (with --verbose, every case's message first)."""
    rows: dict[str, list[int]] = {}
    failures: list[tuple[Case, list[str]]] = []
    skipped: list[Case] = []
    for c in CASES:
        row = rows.setdefault(c.klass, [0, 0, 0])
        if c.needs_non_root and IS_ROOT:
            row[2] += 1
            skipped.append(c)
            continue
        with workdir() as tmp:
            problems, message = attempt(c, tmp)
        if verbose:
            print(f"{c.id}\n    " + "\n    ".join(message.strip().splitlines()[-4:]))
        row[0] += 1
        if problems:
            failures.append((c, problems))
        else:
            row[1] += 1
    print(f"{'class':<12} {'cases':>5} {'clean refusals':>15} {'skipped':>8}")
    for klass, (n, ok, skip) in rows.items():
        print(f"{klass:<12} {n:>5} {ok:>15} {skip:>8}")
    total, clean, skip = (sum(r[i] for r in rows.values()) for i in range(3))
    print(f"{'total':<12} {total:>5} {clean:>15} {skip:>8}")
    for c in skipped:
        print(f"\nskipped: {c.id} (running as root, which reads any file)")
    for c, problems in failures:
        print(f"\nNOT CLEAN: {c.id}" + (f"\n  known: {c.xfail}" if c.xfail else ""))
        print("\n".join(f"  {line}" for p in problems for line in p.splitlines()[:6]))
    return 0 if all(c.xfail for c, _ in failures) else 1


if __name__ == "__main__":
    sys.exit(report(verbose="-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]))
