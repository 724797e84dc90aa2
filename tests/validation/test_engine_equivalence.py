"""The faster engine races the same way: capture shares by fleet and by people agree in distribution.

The first-come race draws its check and poll times and its attempt costs from buffered
blocks of the `race.humans` and `race.bots` streams (sim.rng.Buffered) rather than one
numpy call per draw: other numbers for a fixed seed, the same distribution. Here the
engine runs a small centre many times as shipped and with the race drawing one value per
numpy call (the engine before the change), and the share of first-come slots each fleet
and people capture must agree (Welch's t-test, alpha 0.001, and within 2 points).
The whole regression suite over 20 replications is compared the same way by
benchmarks/engine_equivalence.py (results in benchmarks/results/).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import sim
import sim.model.first_come as first_come

# A small centre (40 slots a working day) with the baseline's four fleets at a twentieth:
# each run is ~0.2 s, and a month of releases gives each share a spread of a few points.
SMALL = [
    "run.days=30",
    "run.warmup_days=5",
    "centre.capacity_per_day=40",
    "demand.applicants_per_year=11000",
    "resellers.0.bots=8",
    "resellers.1.bots=5",
    "resellers.2.bots=4",
    "resellers.3.bots=2",
]
REPS = 20


class Unbuffered:
    """The race's draws one numpy call at a time, as the engine drew them before buffering."""

    def __init__(self, gen: np.random.Generator):
        self.gen = gen

    def exp(self) -> float:
        return float(self.gen.standard_exponential())

    def uniform(self) -> float:
        return float(self.gen.random())


def capture_shares(sc, reps: int) -> np.ndarray:
    """Per replication: share of first-come slots released taken by people, then by each fleet."""
    out = []
    for k in range(reps):
        slots = sim.run(sc, seed=5, replication=k).records.slots
        fcfs = slots[slots.pool == "first_come"]
        n = len(fcfs)
        row = [float((fcfs.first_taken_by == "human").sum()) / n]
        bots = fcfs[fcfs.first_taken_by == "bot"]
        row += [float((bots.reseller == r).sum()) / n for r in range(len(sc.resellers))]
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize("scenario", ["baseline_fcfs", "captcha_otp"])
def test_buffered_race_captures_like_the_unbuffered_race(scenario, monkeypatch):
    sc = sim.load_scenario(f"scenarios/{scenario}.yaml", SMALL)
    buffered = capture_shares(sc, REPS)
    monkeypatch.setattr(first_come, "Buffered", Unbuffered)
    unbuffered = capture_shares(sc, REPS)
    labels = ["people"] + [r.name for r in sc.resellers]
    assert buffered[:, 1:].sum() > 0.3  # the fleets do race: the comparison has something to compare
    for j, label in enumerate(labels):
        a, b = buffered[:, j], unbuffered[:, j]
        p = stats.ttest_ind(a, b, equal_var=False).pvalue if a.std() + b.std() > 0 else 1.0
        assert p > 0.001, f"{label}: buffered {a.mean():.3f} vs unbuffered {b.mean():.3f}, p={p:.2g}"
        assert abs(a.mean() - b.mean()) < 0.02, label
