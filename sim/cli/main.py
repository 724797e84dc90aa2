"""The `slotsim` parser, the dispatch to a command, and the mapping of errors to exit statuses.

Each command module defines add_parsers(subparsers), which adds its subcommands and sets
`func` on each; they are imported here like any module, so an import that fails fails
`slotsim` itself instead of quietly dropping a command.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import SlotsimError
from . import batch, bench, compare, regress, report, run, validate
from .status import EXIT_BAD_INPUT, EXIT_INTERRUPTED

# The command modules, in the order of `slotsim --help`.
COMMANDS = (run, validate, bench, compare, batch, report, regress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slotsim", description="Simulate visa appointment allocation with bots and resellers."
    )
    parser.add_argument("--version", action="version", version=f"slotsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv[:1] == ["bench"]:  # its options are the benchmark's own: passed through untouched
        args = argparse.Namespace(func=bench.cmd_bench, bench_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SlotsimError as e:  # a problem of the input, not a bug: its messages, no traceback
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
