"""`slotsim validate`: check scenario files without running them."""

from __future__ import annotations

import sys

from ..scenario import ScenarioError, load_scenario
from .run import add_set_arg
from .status import EXIT_BAD_INPUT, EXIT_OK


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


def add_parsers(sub) -> None:
    p = sub.add_parser("validate", help="check scenario files; exit 2 with every error if any is invalid")
    p.add_argument("files", nargs="+", help="scenario YAML files")
    add_set_arg(p, help=None)
    p.set_defaults(func=cmd_validate)
