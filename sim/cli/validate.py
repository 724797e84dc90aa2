"""`slotsim validate`: check scenario, experiment and regression-suite files, or folders of them,
without running anything.

A file's kind is read from its top-level keys. Each kind has keys no other kind has (KEYS):
a regression suite `entries`, `root`, `tolerance`; an experiment `base`, `variants`, `sweep`,
`labels`, `target`, `reference`; a scenario `extends` and its sections `run`, `centre`, `demand`,
`humans`, `resellers`, `policy`, `timeline`. A file is checked as the kind it has the most such
keys of; a file with none (or as many of two kinds) is checked as a scenario, the common case, so
its errors are a scenario's. An error of a suite or an experiment file ends with a line saying
which kind it was checked as, and why.

Each is checked as the command that reads it would: a scenario as `slotsim run` loads it
(following `extends:`); an experiment as `slotsim batch` does (every cell's scenario resolved);
a suite as `slotsim regress` does (every entry's scenario loaded with its overrides; the
baselines are not read).

A folder stands for every *.yaml and *.yml file inside it, recursively, in sorted order; hidden
files and folders (a name starting with a dot) are left out. A folder with no such file is an
error.

--set applies where the command that reads the file applies it: to a scenario file (`slotsim
run --set`) and to every entry of a suite, after the entry's overrides (`slotsim regress
--set`). `slotsim batch` has no --set: an experiment file is checked as written, and a note
on stderr says that --set was not applied to it.

Output: one line per good file on stdout, `PATH: ok (scenario NAME)`, `PATH: ok (experiment
NAME, N variants[, M sweep points])` or `PATH: ok (regression suite, N entries)`; every error
on stderr, one line each, starting with the file's path. Exit 2 when any file (or folder) is
bad, 0 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import ScenarioError, SlotsimError
from ..experiments import Experiment
from ..experiments import resolve as resolve_experiment
from ..experiments import validate as validate_experiment
from ..regress import Suite, parse_suite
from ..regress import resolve as resolve_suite
from ..scenario import Scenario, load_scenario, read_yaml
from .run import add_set_arg
from .status import EXIT_BAD_INPUT, EXIT_OK

SCENARIO, EXPERIMENT, SUITE = "scenario", "experiment", "regression suite"
YAML_SUFFIXES = (".yaml", ".yml")


def _own_keys() -> dict[str, frozenset[str]]:
    """Each kind's top-level keys that no other kind has."""
    fields = {
        SCENARIO: set(Scenario.model_fields) | {"extends"},
        EXPERIMENT: set(Experiment.model_fields),
        SUITE: set(Suite.model_fields),
    }
    return {
        kind: frozenset(keys - set().union(*(other for k, other in fields.items() if k != kind)))
        for kind, keys in fields.items()
    }


KEYS = _own_keys()


def kind_of(data: Any) -> str:
    """SCENARIO, EXPERIMENT or SUITE: the kind whose own keys (KEYS) the file has most of;
    SCENARIO when it has none, or as many of two kinds, or is not a mapping."""
    if not isinstance(data, dict):
        return SCENARIO
    votes = {kind: len(keys & data.keys()) for kind, keys in KEYS.items()}
    best = max(votes.values())
    winners = [kind for kind, n in votes.items() if n == best]
    return winners[0] if best and len(winners) == 1 else SCENARIO


def yaml_files(folder: Path) -> list[Path]:
    """Every *.yaml / *.yml file under `folder`, recursively, sorted, hidden files and folders left out."""
    found = (
        p
        for p in folder.rglob("*")
        if p.suffix in YAML_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def check_file(path: Path, overrides: list[str]) -> tuple[str, list[str]]:
    """(what the ok line says, notes) for a good file; ScenarioError (or another SlotsimError)
    naming the file and every bad field otherwise."""
    shown = str(path)
    data = read_yaml(path)
    kind = kind_of(data)
    if kind == SCENARIO:
        sc = load_scenario(path, overrides)
        return f"scenario {sc.name}", []
    why = f"(checked as {'an' if kind == EXPERIMENT else 'a'} {kind} file: it has the keys {_keys(data, kind)})"
    try:
        if kind == SUITE:
            suite = parse_suite(data, shown)
            resolve_suite(suite, path, [], overrides)
            return f"{SUITE}, {len(suite.entries)} entries", []
        plan = resolve_experiment(validate_experiment(data, shown), path)
    except ScenarioError as e:
        raise ScenarioError([*e.messages, why], shown) from None
    exp = plan.experiment
    what = f"{EXPERIMENT} {exp.name}, {_count(len(plan.variants), 'variant')}"
    if plan.points and exp.sweep:
        what += f", {_count(len(plan.points), 'sweep point')}"
    notes = ["note: --set not applied: an experiment file is checked as written (slotsim batch has no --set)"]
    return what, notes if overrides else []


def _keys(data: dict, kind: str) -> str:
    return ", ".join(k for k in data if k in KEYS[kind])


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _is_folder(path: Path) -> bool:
    """A folder to walk; anything else (including a path that cannot be looked at: a symlink loop,
    a name too long) is handed to the file reader, which says why it cannot be read."""
    try:
        return path.is_dir()
    except OSError:
        return False


def cmd_validate(args) -> int:
    bad = 0
    for arg in args.paths:
        path = Path(arg)
        if _is_folder(path):
            files = yaml_files(path)
            if not files:
                bad += 1
                print(f"{path}: no YAML files (*.yaml, *.yml) in this folder", file=sys.stderr)
        else:
            files = [path]
        for f in files:
            try:
                what, notes = check_file(f, args.overrides)
            except SlotsimError as e:
                bad += 1
                print(str(e), file=sys.stderr)
                continue
            print(f"{f}: ok ({what})")
            for note in notes:
                print(f"{f}: {note}", file=sys.stderr)
    return EXIT_BAD_INPUT if bad else EXIT_OK


def add_parsers(sub) -> None:
    keys = "; ".join(f"{kind}: {', '.join(sorted(KEYS[kind]))}" for kind in (SUITE, EXPERIMENT, SCENARIO))
    p = sub.add_parser(
        "validate",
        help="check scenario, experiment and regression-suite files (or folders of them) without running them",
        description="Check scenario, experiment and regression-suite files without running them: one "
        "'PATH: ok (...)' line per good file, every error on stderr naming the file and the field; exit 2 "
        "if any file is bad, 0 otherwise. A file's kind is read from its top-level keys: it is checked as "
        f"the kind it has the most keys of ({keys}); a file with none of them, or as many of two kinds, is "
        "checked as a scenario. A folder stands for every *.yaml and *.yml file inside it, recursively, "
        "sorted, hidden ones left out; a folder without any is an error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="YAML files, or folders of them")
    add_set_arg(
        p,
        help="override a scenario field (repeatable): applied to scenario files and to every entry of a "
        "regression suite, as slotsim run and slotsim regress do; not to experiment files (slotsim batch has "
        "no --set)",
    )
    p.set_defaults(func=cmd_validate)
