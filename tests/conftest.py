"""Shared test helpers: shortened versions of the shipped scenarios and a cache of their runs.

A full baseline run takes ~6 s; a tenth of the centre over 60 days keeps the same
demand/capacity ratio and runs in ~0.3 s, so most tests use these shortened forms.
Runs are cached per (scenario, overrides, seed, replication) for the whole session:
tests must treat a cached RunResult as read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sim

os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[1]
SCENARIO_FILES = {
    "baseline": REPO / "scenarios" / "baseline_fcfs.yaml",
    "no_bots": REPO / "scenarios" / "no_bots_fcfs.yaml",
}

# A tenth of the baseline centre and demand, 60 days of which 20 are warm-up.
# A scenario that validates and runs in well under a second (bad-input catalogue and fuzz suite).
TINY_SCENARIO_YAML = f"""\
extends: {REPO / "scenarios" / "no_bots_fcfs.yaml"}
name: small
run: {{days: 20, warmup_days: 2}}
demand: {{applicants_per_year: 2000.0}}
centre: {{capacity_per_day: 10}}
"""
SHORT = ("run.days=60", "run.warmup_days=20", "demand.applicants_per_year=22000", "centre.capacity_per_day=80")

# The baseline fleets scaled like the centre: bots then take part of the slots, not all.
SCALED_FLEETS = ("resellers.0.bots=15", "resellers.1.bots=10", "resellers.2.bots=8", "resellers.3.bots=4")


# The daily series' columns, in order (README's --timeseries list; the recorder writes them).
DAILY_COLUMNS = [
    "day",
    "date",
    "released",
    "booked_human",
    "booked_bot",
    "allocated_draw",
    "sales",
    "sales_eur",
    "bot_attempts",
    "bot_requests",
    "bots",
    "reseller_price_eur",
    "searching",
    "registered",
    "backlog",
    "reassignments",
]


def scenario_path(name: str) -> Path:
    """Path of a shipped scenario by short name ("baseline", "no_bots") or a path as given."""
    return SCENARIO_FILES.get(name, Path(name))


def short_scenario(name: str, *overrides: str) -> sim.Scenario:
    """A shipped scenario shortened with SHORT; later overrides win."""
    return sim.load_scenario(scenario_path(name), [*SHORT, *overrides])


_RUNS: dict[tuple, sim.RunResult] = {}


def run_short(name: str, *overrides: str, seed: int = 1, replication: int = 0) -> sim.RunResult:
    """Run (once per session) a shortened scenario; the result is shared: do not modify it."""
    key = (name, overrides, seed, replication)
    if key not in _RUNS:
        _RUNS[key] = sim.run(short_scenario(name, *overrides), seed=seed, replication=replication)
    return _RUNS[key]


@pytest.fixture
def write_yaml(tmp_path):
    """Write YAML text to a fresh file and return its path."""
    counter = iter(range(1_000_000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"scenario_{next(counter)}.yaml")
        path.write_text(text, encoding="utf-8")
        return path

    return write
