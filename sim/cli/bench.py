"""`slotsim bench`: a thin call; benchmarks/bench.py does the measuring (its own options and --help)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..errors import InputError

# The benchmark lives in the checkout, outside the package users import: `slotsim bench` calls it.
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def cmd_bench(args) -> int:
    """A thin call: benchmarks/bench.py does the measuring (its own options and --help)."""
    if not BENCHMARK.is_file():
        raise InputError(
            f"slotsim bench needs a source checkout: {BENCHMARK} not found "
            "(git clone the repository and pip install -e it)"
        )
    sys.path.insert(0, str(BENCHMARK.parent))
    bench = importlib.import_module("bench")
    return bench.main(args.bench_args, prog="slotsim bench")


def add_parsers(sub) -> None:
    # main() hands everything after `bench` to the benchmark untouched; this entry is for `slotsim --help`.
    p = sub.add_parser(
        "bench",
        add_help=False,
        help="measure the engine's speed against bare SimPy "
        "(benchmarks/bench.py; slotsim bench --help for its options)",
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
