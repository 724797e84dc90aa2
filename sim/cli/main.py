"""The `slotsim` parser, the dispatch to a command, and the mapping of errors to exit statuses.

Each command module defines add_parsers(subparsers), which adds its subcommands and sets
`func` on each; they are imported here like any module, so an import that fails fails
`slotsim` itself instead of quietly dropping a command.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

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


# Signals that stop a command the way Ctrl-C does (sim/parallel.py then stops its workers).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[list[int]]:
    """While inside: SIGTERM and SIGHUP raise KeyboardInterrupt, like Ctrl-C; yields the signals received.

    Why: their default action ends the process on the spot, so no `finally` runs:
    the worker processes would be left to notice on their own, a batch would not
    say how to resume. As KeyboardInterrupt they take the path Ctrl-C takes (the
    pool terminated, the checkpoints kept, "interrupted", exit 128 + the signal:
    143 for SIGTERM, 129 for SIGHUP, as a shell reports a process the signal
    killed; 130 stays Ctrl-C's). A signal set to be ignored (nohup) stays ignored,
    and outside the main thread (where Python cannot set handlers) nothing changes.
    """
    received: list[int] = []

    def interrupt(signum: int, frame) -> None:
        received.append(signum)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) == signal.SIG_DFL:
                previous[sig] = signal.signal(sig, interrupt)
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv[:1] == ["bench"]:  # its options are the benchmark's own: passed through untouched
        args = argparse.Namespace(func=bench.cmd_bench, bench_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    with stop_signals_interrupt() as received:
        try:
            status = args.func(args)
        except SlotsimError as e:  # a problem of the input, not a bug: its messages, no traceback
            print(str(e), file=sys.stderr)
            status = EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            status = EXIT_INTERRUPTED
    if status == EXIT_INTERRUPTED and received:  # stopped by SIGTERM or SIGHUP, not Ctrl-C
        return 128 + received[0]
    return status
