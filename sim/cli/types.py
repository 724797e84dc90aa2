"""Argument types shared by the commands: argparse refuses a bad value with exit 2 and a message
naming the flag ("argument --jobs: must be a whole number of at least 1, got '0'")."""

from __future__ import annotations

import argparse
import math
from typing import Callable

from ..scenario import SEED_MAX


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number in [minimum, maximum] (argparse type)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}{upper}, got {text!r}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in some messages
    return parse


def positive_number(text: str) -> float:
    """A finite number above 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


seed = whole_number(0, SEED_MAX)
count = whole_number(1)  # workers, repetitions
replications = whole_number(1, 10_000)  # per cell, as an experiment file allows
