"""What a run will cost, known before it starts: applicants, slots, events, memory, time.

Every field of a scenario has an upper bound, but bounds alone admit runs that no machine
finishes (ten million applicants a year for ten years). So before anything is simulated the
scenario's size is estimated from its own numbers and the run is refused, with the estimate in
the message, when it is above the limits. Limits are raised deliberately: `--max-events` and
`--max-memory-mb` on the command line, `SLOTSIM_MAX_EVENTS` / `SLOTSIM_MAX_MEMORY_MB` in the
environment (the app's server), or `Limits(...)` from Python.

The estimate is a fit to measured runs (benchmarks/resources.py prints the table behind it):
applicants and slots are computed exactly in expectation from the calendar; events are about
1.1 per applicant plus 2 per slot that can be taken (a booking and an appointment), slots that
applicants or speculative fleets' quotas can fill; peak memory is the imported libraries plus
about 710 bytes per applicant and 330 per slot. On the shipped scenarios, one year of the large
centre and 8x that centre, the estimate lies within 0.8-1.2x of the measured events and peak
memory; for 20,000 speculative bots on a centre nobody else books, 1.5x the events
(tests/unit/test_resources.py holds the shipped scenarios to the 2x the issue asks for). A bot
strategy the fit has not seen can cost more: the estimate bounds the population, the calendar
and the fleets' quotas, not every behaviour.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .scenario import Scenario

EVENTS_PER_APPLICANT = 1.1  # arrival, search start, abandonment, checks that find a slot...
EVENTS_PER_TAKEN_SLOT = 2.0  # the booking and the appointment day
IMPORTS_MB = 120.0  # the process after `import sim` and one run's libraries (measured 110 MB)
RUN_OVERHEAD_MB = 30.0  # the engine's fixed structures
BYTES_PER_APPLICANT = 710.0  # population columns, engine state and the records frame
BYTES_PER_SLOT = 330.0
EVENTS_PER_S = 80_000.0  # a 2-core reference machine (bare SimPy ~0.35 M events/s): for a time hint only

DEFAULT_MAX_EVENTS = 50_000_000  # about ten minutes on the reference machine
DEFAULT_MAX_MEMORY_MB = 4096.0


@dataclass(frozen=True)
class Estimate:
    """Expected size and cost of one replication of a scenario."""

    applicants: int
    slots: int
    events: int
    memory_mb: float
    seconds: float

    def describe(self) -> str:
        return (
            f"about {self.applicants:,} applicants, {self.slots:,} slots, {self.events:,} events, "
            f"{self.memory_mb:,.0f} MB of memory and {_duration(self.seconds)} per replication"
        )


@dataclass(frozen=True)
class Limits:
    """The largest run accepted: events (time) and peak memory of the replications running at once."""

    events: float = DEFAULT_MAX_EVENTS
    memory_mb: float = DEFAULT_MAX_MEMORY_MB

    def __post_init__(self):
        for name in ("events", "memory_mb"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise InputError(f"limits.{name}: must be a positive number, got {v!r}")

    @classmethod
    def default(cls) -> Limits:
        """The defaults, or SLOTSIM_MAX_EVENTS / SLOTSIM_MAX_MEMORY_MB where the environment sets them."""
        return cls(
            events=_env_number("SLOTSIM_MAX_EVENTS", DEFAULT_MAX_EVENTS),
            memory_mb=_env_number("SLOTSIM_MAX_MEMORY_MB", DEFAULT_MAX_MEMORY_MB),
        )

    @classmethod
    def none(cls) -> Limits:
        """No limit: for runs already checked (a worker running a task its parent admitted)."""
        return cls(events=math.inf, memory_mb=math.inf)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name}: must be a number, got {raw!r}") from None
    if not value > 0:
        raise InputError(f"{name}: must be a positive number, got {raw!r}")
    return value


def estimate(sc: Scenario) -> Estimate:
    """Expected applicants and slots from the calendar; events, memory and time from the fit."""
    days = np.datetime64(sc.run.start_date, "D") + np.arange(sc.run.days)
    months = days.astype("datetime64[M]").astype(int) % 12
    season = np.asarray(sc.demand.seasonality)[months]
    applicants = float(sc.demand.applicants_per_year / 365.0 * season.sum())
    weekdays = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
    release_days = int(np.isin(weekdays, sc.centre.working_weekdays).sum())
    slots = float(sc.centre.capacity_per_day * release_days)
    # speculative fleets book slots whether or not anyone asks for them, up to their quotas
    speculation = sum(
        r.bots * r.bookings_per_bot_per_release * release_days for r in sc.resellers if r.mode == "speculative"
    )
    taken = min(slots, max(min(applicants, slots), speculation))
    events = EVENTS_PER_APPLICANT * applicants + EVENTS_PER_TAKEN_SLOT * taken
    memory = IMPORTS_MB + RUN_OVERHEAD_MB + (BYTES_PER_APPLICANT * applicants + BYTES_PER_SLOT * slots) / 2**20
    return Estimate(round(applicants), round(slots), round(events), memory, events / EVENTS_PER_S)


def check(sc: Scenario, limits: Limits | None = None, at_once: int = 1) -> Estimate:
    """The estimate, or InputError when it exceeds the limits; `at_once` replications run together
    (worker processes), each holding its own memory."""
    limits = Limits.default() if limits is None else limits
    if not isinstance(limits, Limits):
        raise InputError(f"limits: must be a sim.Limits (or None for the defaults), got {type(limits).__name__}")
    est = estimate(sc)
    memory = est.memory_mb * max(1, at_once)
    problems = []
    if est.events > limits.events:
        problems.append(
            f"{est.events:,} events expected, above the limit of {limits.events:,.0f} "
            f"(raise it with --max-events or SLOTSIM_MAX_EVENTS)"
        )
    if memory > limits.memory_mb:
        jobs = f" for {at_once} replications at once" if at_once > 1 else ""
        problems.append(
            f"{memory:,.0f} MB of memory expected{jobs}, above the limit of {limits.memory_mb:,.0f} MB "
            f"(raise it with --max-memory-mb or SLOTSIM_MAX_MEMORY_MB{', or use fewer --jobs' if jobs else ''})"
        )
    if problems:
        raise InputError(
            *(f"{sc.name}: too large to simulate: {p}" for p in problems),
            f"{sc.name}: the run would need {est.describe()}; shorten run.days or shrink "
            "demand.applicants_per_year or centre.capacity_per_day",
        )
    return est


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"~{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"~{round(seconds / 60)} min"
    return f"~{seconds / 3600:.1f} h"
