"""`slotsim compare`: several schemes on the same demand, side by side (sim/compare.py does the work)."""

from __future__ import annotations

import json
import math

from ..compare import build_variants, compare, summarise, table
from ..errors import InputError
from ..fileio import check_file_target, write_csv
from ..presets import PRESETS
from ..runner import fit_jobs
from . import types
from .limits import add_limit_args, limits_of
from .run import add_set_arg
from .status import EXIT_OK


def cmd_compare(args) -> int:
    presets = list(PRESETS) if args.all_presets else [p for s in args.presets for p in s.split(",") if p]
    variants = build_variants(args.files, args.base, presets, args.overrides)
    limits = limits_of(args)
    n_runs = len(variants) * args.replications
    fit_jobs(list(variants.values()), limits, n_runs, args.jobs)  # before any output folder is made
    if args.out is not None and not args.out.strip():
        raise InputError("--out: an empty path")
    if args.out and (msg := check_file_target(args.out, "--out")):
        raise InputError(msg)  # before simulating: a folder given as the file, an unwritable folder
    seed = args.seed if args.seed is not None else next(iter(variants.values())).run.seed
    runs = compare(variants, seed, args.replications, args.jobs, limits=limits)
    if args.out:
        write_csv(args.out, runs)
    if args.json:
        summary = summarise(runs)
        print(
            json.dumps(
                {v: {m: (None if math.isnan(x) else x) for m, x in summary[(v, "mean")].items()} for v in variants}
            )
        )
    else:
        print(table(runs))
    return EXIT_OK


def add_parsers(sub) -> None:
    p = sub.add_parser("compare", help="run several schemes on the same demand and print them side by side")
    p.add_argument("files", nargs="*", help="scenario files to compare (each is a column)")
    p.add_argument("--base", help="base scenario for --presets")
    p.add_argument(
        "--presets",
        action="append",
        default=[],
        metavar="A,B,...",
        help=f"scheme presets applied to --base: {', '.join(PRESETS)}",
    )
    p.add_argument("--all-presets", action="store_true", help="every preset, on --base")
    p.add_argument("--seed", type=types.seed, default=None, help="master seed (default: the first scenario's)")
    add_set_arg(p, help="override a field in every scenario compared")
    p.add_argument(
        "--replications", type=types.replications, default=1, help="replications per scheme (default 1, at most 10,000)"
    )
    p.add_argument("--jobs", type=types.count, default=None, help="worker processes (default: all cores)")
    add_limit_args(p)
    p.add_argument("--json", action="store_true", help="print the means as one JSON object")
    p.add_argument("--out", metavar="FILE.csv", help="write per-replication metrics to this CSV file")
    p.set_defaults(func=cmd_compare)
