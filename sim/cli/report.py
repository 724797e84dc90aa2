"""`slotsim report RESULTS_DIR`: figures and report.md from a `slotsim batch` folder (sim/report.py)."""

from __future__ import annotations

from .. import report
from .status import EXIT_OK


def cmd_report(args) -> int:
    path = report.make_report(args.results, args.out)
    print(f"wrote {path} and figures in {path.parent / 'figures'}")
    return EXIT_OK


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="figures (PNG, PDF) and report.md from a `slotsim batch` results folder")
    p.add_argument("results", metavar="RESULTS_DIR", help="folder written by slotsim batch")
    p.add_argument("--out", metavar="DIR", help="write report.md and figures/ here (default: RESULTS_DIR)")
    p.set_defaults(func=cmd_report)
