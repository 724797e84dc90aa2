"""`slotsim run` (one scenario, its metrics) and `slotsim validate` (check scenario files)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from ..errors import InputError
from ..fileio import check_writable, write_csv, write_json
from ..metrics import format_value
from ..scenario import load_scenario
from .status import EXIT_OK


def add_set_arg(
    p: argparse.ArgumentParser,
    help: str | None = "override a scenario field, e.g. --set centre.capacity_per_day=600 (repeatable)",
) -> None:
    """--set PATH=VALUE (repeatable), collected in args.overrides: one definition for every command."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE", help=help)


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="master seed (default: the scenario's run.seed)")
    add_set_arg(p)


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


def cmd_run(args) -> int:
    import sim

    sc = load_scenario(args.file, args.overrides)
    targets = [Path(f).parent for f in (args.timeseries, args.out) if f]
    targets += [Path(args.records)] if args.records else []
    problems = [msg for msg in map(check_writable, targets) if msg]
    if problems:
        raise InputError(*problems)
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


def _jsonable(m: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="run one scenario and print its metrics")
    p.add_argument("file", help="scenario YAML file")
    add_scenario_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (the metrics contract)")
    p.add_argument("--timeseries", metavar="FILE.csv", help="write the daily series to this CSV file")
    p.add_argument("--records", metavar="DIR", help="write per-applicant and per-slot CSV files here")
    p.add_argument("--out", metavar="FILE.json", help="also write the metrics to this JSON file")
    p.set_defaults(func=cmd_run)
