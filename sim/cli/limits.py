"""--max-events / --max-memory-mb: the size a run may have (sim/resources.py), for every command that simulates."""

from __future__ import annotations

import argparse

from ..resources import DEFAULT_MAX_EVENTS, DEFAULT_MAX_MEMORY_MB, Limits
from . import types


def add_limit_args(p: argparse.ArgumentParser) -> None:
    """--max-events / --max-memory-mb: raise (or lower) the size a run may have (sim/resources.py)."""
    p.add_argument(
        "--max-events",
        type=types.count,
        metavar="N",
        help=f"refuse a run estimated above N events (default {DEFAULT_MAX_EVENTS:,}, or $SLOTSIM_MAX_EVENTS)",
    )
    p.add_argument(
        "--max-memory-mb",
        type=types.positive_number,
        metavar="MB",
        help="refuse a run whose replications running at once are estimated above MB of memory "
        f"(default {DEFAULT_MAX_MEMORY_MB:,.0f}, or $SLOTSIM_MAX_MEMORY_MB)",
    )


def limits_of(args: argparse.Namespace) -> Limits:
    """The limits asked for on the command line, the environment's or the defaults for the rest."""
    limits = Limits.default()
    return Limits(
        events=args.max_events if args.max_events is not None else limits.events,
        memory_mb=args.max_memory_mb if args.max_memory_mb is not None else limits.memory_mb,
    )
