"""`slotsim regress`: rerun the regression suite, compare with (or rewrite) the baselines.

sim/regress.py holds the suite, the baselines and the comparison; this module runs them
and prints the verdicts. Exit 0 when every metric holds, 1 when one fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import BaselineError, InputError
from ..fileio import check_writable
from ..parallel import default_jobs
from ..regress import (
    DEFAULT_BASELINES,
    DEFAULT_SUITE,
    METRICS_FILE,
    PROVENANCE,
    Baseline,
    Resolved,
    Suite,
    check_new_baseline,
    compare_entry,
    context_notes,
    format_diff,
    format_table,
    git_state,
    load_baselines,
    load_suite,
    manifest_for,
    metrics_csv,
    previous_baselines,
    resolve,
    run_entries,
    show,
    write_baseline,
)
from . import types
from .limits import add_limit_args, limits_of
from .run import add_set_arg
from .status import EXIT_FAIL, EXIT_OK


def cmd_regress(args) -> int:
    t0 = time.perf_counter()
    suite_path = Path(args.suite)
    baselines = Path(args.baselines)
    if args.update and args.overrides:
        raise InputError(
            "--set cannot be combined with --update: put overrides in the suite file, so that the baseline records them"
        )
    suite = load_suite(suite_path)
    entries = resolve(suite, suite_path, args.only, args.overrides)
    if args.update:
        problem = check_writable(baselines)
        if problem:
            raise InputError(problem)
        old = previous_baselines(entries, baselines)
        results = run_entries(entries, args.jobs, args.progress, limits_of(args))
        return update(suite, suite_path, entries, results, old, baselines, t0, bool(args.only))
    loaded = load_baselines(entries, baselines)  # every problem at once, before any run
    results = run_entries(entries, args.jobs, args.progress, limits_of(args))
    return report(suite, entries, results, loaded, t0)


def report(suite: Suite, entries: list[Resolved], results: dict, loaded: dict, t0: float) -> int:
    """Print each entry's comparison with its baseline and the totals; EXIT_FAIL when a metric failed."""
    counts = {"same": 0, "ok": 0, "FAIL": 0, "info": 0}
    failures = []
    for r in entries:
        b = loaded[r.name]
        rows = compare_entry(r, b, results[r.name], suite.tolerance)
        bad = [x for x in rows if x.verdict == "FAIL"]
        for x in rows:
            counts[x.verdict] += 1
        status = f"FAIL: {len(bad)} of {len(rows)} metrics moved beyond tolerance" if bad else "ok"
        print(f"\n{r.name}  ({r.entry.scenario}, seed {r.seed}, {r.replications} replications)  {status}")
        for note in context_notes(r, b.manifest):
            print(f"  note: {note}")
        ignored = [m for m in b.manifest.metrics if m not in r.metrics]
        if ignored:
            print(f"  note: in the baseline but not compared: {', '.join(ignored)}")
        print(format_table(rows))
        failures += [
            f"{r.name}: {x.metric} ({format_diff(x.diff, x.base_mean)}, tolerance {x.tolerance:.4g})" for x in bad
        ]
    wall = time.perf_counter() - t0
    total = sum(counts.values())
    print(
        f"\nregress: {len(entries)} entries, {total} comparisons: {counts['same']} same, {counts['ok']} "
        f"changed within tolerance, {counts['FAIL']} failed, {counts['info']} informational; {wall:.1f} s"
    )
    if failures:
        print("FAILED:\n" + "\n".join(f"  {f}" for f in failures))
        return EXIT_FAIL
    return EXIT_OK


def update(
    suite: Suite,
    suite_path: Path,
    entries: list[Resolved],
    results: dict,
    old: dict,
    baselines: Path,
    t0: float,
    partial: bool,
) -> int:
    """Rewrite the baselines whose numbers or manifest changed, printing what moved."""
    root = (suite_path.parent / suite.root).resolve()
    commit, dirty = git_state(root)
    new = {r.name: manifest_for(r, commit, dirty) for r in entries}
    texts = {r.name: metrics_csv(results[r.name], r.metrics) for r in entries}
    errors = []
    for r in entries:  # every entry's numbers checked before any file is written
        try:
            check_new_baseline(baselines / r.name, new[r.name], texts[r.name])
        except BaselineError as e:
            errors += e.messages
    if errors:
        raise BaselineError(*errors)
    for r in entries:
        folder = baselines / r.name
        manifest, text = new[r.name], texts[r.name]
        prev = old.get(r.name)
        if isinstance(prev, Baseline):
            prev_text = (folder / METRICS_FILE).read_text(encoding="utf-8")
            keep = prev.manifest.model_dump(exclude=PROVENANCE) == manifest.model_dump(exclude=PROVENANCE)
            if keep and prev_text == text:
                print(f"{r.name}: unchanged ({show(folder)} kept)")
                continue
            notes = context_notes(r, prev.manifest)
            moved = [x for x in compare_entry(r, prev, results[r.name], suite.tolerance) if x.verdict != "same"]
            new_metrics = [m for m in r.metrics if m not in prev.values]
            status = "updated"
        else:
            notes, moved, new_metrics = [], [], []
            status = "new baseline" if prev is None else f"rewritten (the old one was unusable: {prev.messages[0]})"
        write_baseline(folder, manifest, text)
        print(f"{r.name}: {status} -> {show(folder)}")
        for n in notes:
            print(f"  note: {n}")
        if new_metrics:
            print(f"  new metrics: {', '.join(new_metrics)}")
        if moved:
            print(f"  moved ({len(moved)} metrics):")
            print(format_table(moved))
        elif status == "updated" and not new_metrics:
            print("  no metric moved (manifest only)")
    if not partial:
        names = {r.name for r in entries}
        stale = (
            sorted(p.name for p in baselines.iterdir() if p.is_dir() and p.name not in names)
            if baselines.is_dir()
            else []
        )
        for s in stale:
            print(f"note: {show(baselines / s)} belongs to no suite entry: delete it if it is obsolete")
    print(
        f"regress --update: {len(entries)} entries in {time.perf_counter() - t0:.1f} s; "
        "review the diff of the baselines before committing"
    )
    return EXIT_OK


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "regress",
        help="rerun the regression suite and compare its metrics with the committed baselines",
        description="Run every entry of the regression suite and compare each metric of the contract with "
        "its baseline. Exit 0 when all hold, 1 when a metric moved beyond its tolerance, 2 on bad input. "
        "See docs/regression.md.",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="rewrite the baselines from this run and print what moved (review the diff, commit)",
    )
    p.add_argument("--only", nargs="+", action="extend", default=[], metavar="NAME", help="run only these entries")
    p.add_argument(
        "--jobs",
        type=types.count,
        default=None,
        metavar="N",
        help=f"worker processes (default: the usable cores, here {default_jobs()})",
    )
    p.add_argument(
        "--suite",
        default=str(DEFAULT_SUITE),
        metavar="FILE",
        help="suite file (default: scenarios/regression.yaml of the repository)",
    )
    p.add_argument(
        "--baselines",
        default=str(DEFAULT_BASELINES),
        metavar="DIR",
        help="baselines folder (default: results/baselines of the repository)",
    )
    add_limit_args(p)
    add_set_arg(
        p, help="override a scenario field in every entry, e.g. to check that a change is caught (not with --update)"
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when the output is a terminal)",
    )
    p.set_defaults(func=cmd_regress)
