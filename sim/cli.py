"""`slotsim` command line: one subcommand per task, each exits 2 on bad input.

Subcommands living in other modules register themselves through `add_parser`
(see EXTENSIONS), so this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from pathlib import Path

from .fileio import check_writable
from .scenario import ScenarioError, load_scenario

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2

# Modules that add subcommands: each defines add_parser(subparsers) and sets func on its parser.
EXTENSIONS = ["sim.compare", "sim.experiments", "sim.report", "sim.regress"]
# The benchmark lives in the checkout, outside the package users import: `slotsim bench` calls it.
BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


class BadInput(Exception):
    """A user error: reported as one line per message, exit status 2."""

    def __init__(self, *messages: str):
        self.messages = list(messages)
        super().__init__("\n".join(messages))


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="master seed (default: the scenario's run.seed)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field, e.g. --set centre.capacity_per_day=600 (repeatable)")


def format_value(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_summary(name: str, metrics: dict, wall_s: float) -> None:
    m = metrics
    lines = [
        f"{name}: {m['slots_released']:,} slots released, {m['applicants_arrived']:,} applicants "
        f"(measured window), {wall_s:.1f} s",
        f"  bots took {m['share_captured_by_bots']:.0%} of slots; {m['share_via_reseller']:.0%} of "
        f"appointments went through a reseller at EUR {format_value(m['reseller_price_mean_eur'])} on average",
        f"  waiting: mean {format_value(m['wait_days_mean'])} d, median {format_value(m['wait_days_p50'])} d, "
        f"90th percentile {format_value(m['wait_days_p90'])} d; {m['abandon_rate']:.0%} gave up",
        "",
    ]
    width = max(len(k) for k in m)
    lines += [f"  {k:<{width}}  {format_value(v)}" for k, v in m.items()]
    print("\n".join(lines))


def cmd_validate(args) -> int:
    bad = 0
    for f in args.files:
        try:
            sc = load_scenario(f, args.overrides)
            print(f"{f}: ok ({sc.name})")
        except ScenarioError as e:
            bad += 1
            print(str(e), file=sys.stderr)
    return EXIT_BAD_INPUT if bad else EXIT_OK


def cmd_run(args) -> int:
    import sim
    from .fileio import write_csv, write_json

    sc = load_scenario(args.file, args.overrides)
    targets = [Path(f).parent for f in (args.timeseries, args.out) if f] + ([Path(args.records)] if args.records else [])
    problems = [msg for msg in map(check_writable, targets) if msg]
    if problems:
        raise BadInput(*problems)
    t0 = time.perf_counter()
    res = sim.run(sc, seed=args.seed)
    wall = time.perf_counter() - t0
    if args.timeseries:
        write_csv(args.timeseries, res.daily)
    if args.records:
        folder = Path(args.records)
        write_csv(folder / "applicants.csv", res.applicants)
        write_csv(folder / "slots.csv", res.slots)
    if args.json:
        print(json.dumps(_jsonable(res.metrics)))
    else:
        print_summary(sc.name, res.metrics, wall)
    if args.out:
        write_json(args.out, _jsonable(res.metrics))
    return EXIT_OK


def cmd_bench(args) -> int:
    """A thin call: benchmarks/bench.py does the measuring (its own options and --help)."""
    if not BENCHMARK.is_file():
        raise BadInput(f"slotsim bench needs a source checkout: {BENCHMARK} not found "
                       "(git clone the repository and pip install -e it)")
    sys.path.insert(0, str(BENCHMARK.parent))
    bench = importlib.import_module("bench")
    return bench.main(args.bench_args, prog="slotsim bench")


def _jsonable(m: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slotsim", description="Simulate visa appointment allocation with bots and resellers.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"slotsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run one scenario and print its metrics")
    p.add_argument("file", help="scenario YAML file")
    add_scenario_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (the metrics contract)")
    p.add_argument("--timeseries", metavar="FILE.csv", help="write the daily series to this CSV file")
    p.add_argument("--records", metavar="DIR", help="write per-applicant and per-slot CSV files here")
    p.add_argument("--out", metavar="FILE.json", help="also write the metrics to this JSON file")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check scenario files; exit 2 with every error if any is invalid")
    p.add_argument("files", nargs="+", help="scenario YAML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("bench", add_help=False, help="measure the engine's speed against bare SimPy "
                       "(benchmarks/bench.py; slotsim bench --help for its options)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv[:1] == ["bench"]:  # its options are the benchmark's own: passed through untouched
        args = argparse.Namespace(func=cmd_bench, bench_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ScenarioError, BadInput) as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
