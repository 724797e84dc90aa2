"""`slotsim run` (one scenario, its metrics) and `slotsim validate` (check scenario files)."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from .. import resources
from ..errors import InputError
from ..fileio import FileSet, check_file_target, check_folder_target, csv_writer, json_text, text_writer
from ..metrics import format_value
from ..scenario import load_scenario
from . import types
from .limits import add_limit_args, limits_of
from .status import EXIT_OK


def add_set_arg(
    p: argparse.ArgumentParser,
    help: str | None = "override a scenario field, e.g. --set centre.capacity_per_day=600 (repeatable)",
) -> None:
    """--set PATH=VALUE (repeatable), collected in args.overrides: one definition for every command."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE", help=help)


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=types.seed, default=None, help="master seed (default: the scenario's run.seed)")
    add_set_arg(p)
    add_limit_args(p)


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


RECORD_FILES = ("applicants.csv", "slots.csv")


def cmd_run(args) -> int:
    import sim

    sc = load_scenario(args.file, args.overrides)
    limits = limits_of(args)
    resources.check(sc, limits)  # too large: refused before any output folder is made
    # Every output checked before simulating: a folder given as a file, an unwritable folder...
    given = {"--timeseries": args.timeseries, "--out": args.out, "--records": args.records}
    problems = [f"{opt}: an empty path" for opt, f in given.items() if f is not None and not f.strip()]
    if problems:
        raise InputError(*problems)
    files = {opt: Path(f) for opt, f in given.items() if f and opt != "--records"}
    records = [Path(args.records), *(Path(args.records) / n for n in RECORD_FILES)] if args.records else []
    targets = list(files.values()) + records
    if len({os.path.abspath(t) for t in targets}) < len(targets):  # before any check makes a folder
        raise InputError("--out, --timeseries and --records: name different files")
    problems = [msg for opt, f in files.items() if (msg := check_file_target(f, opt))]
    if args.records:
        problems += [f"--records {m}" for m in check_folder_target(args.records, RECORD_FILES)]
    if problems:
        raise InputError(*problems)
    t0 = time.perf_counter()
    res = sim.run(sc, seed=args.seed, limits=limits)
    wall = time.perf_counter() - t0
    # All outputs staged first, then swapped in together: a full disk leaves every old file as it was.
    with FileSet() as fs:
        if args.timeseries:
            fs.write(args.timeseries, csv_writer(res.daily))
        if args.records:
            folder = Path(args.records)
            fs.write(folder / "applicants.csv", csv_writer(res.applicants))
            fs.write(folder / "slots.csv", csv_writer(res.slots))
        if args.out:
            fs.write(args.out, text_writer(json_text(_jsonable(res.metrics))))
        fs.commit()
    if args.json:
        print(json.dumps(_jsonable(res.metrics)))
    else:
        print_summary(sc.name, res.metrics, wall)
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
