"""Kept for code written against slotsim 0.1: the model now lives in the `sim.model` package.

`simulate` and `Model` are re-exported; new code should use `sim.run` (metrics and
records) or `sim.model.simulate`.
"""

from .model import Model, simulate

__all__ = ["Model", "simulate"]
