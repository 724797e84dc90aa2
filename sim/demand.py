"""Demand: every applicant of a run, drawn up front from the demand streams.

Drawing the whole population before the simulation starts (one source walks the
arrival times) is ~15x faster than a process per applicant, and it makes the
demand identical across schemes for the same (seed, replication): the streams
used here are read by nothing else (common random numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .rng import Streams
from .scenario import SEGMENTS, Scenario


@dataclass(frozen=True)
class Calendar:
    start: dt.date
    days: int
    working_weekdays: tuple[int, ...]

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day))

    def is_working(self, day: int) -> bool:
        return self.date(day).weekday() in self.working_weekdays

    def months(self, n_days: int) -> np.ndarray:
        """Month index (0-11) of each day from day 0 on."""
        base = np.datetime64(self.start, "D")
        dates = base + np.arange(n_days)
        return dates.astype("datetime64[M]").astype(int) % 12


@dataclass(frozen=True)
class Population:
    """Column arrays, one row per applicant, sorted by arrival time (days)."""

    arrival: np.ndarray
    segment: np.ndarray  # index into SEGMENTS
    habit: np.ndarray  # index into the scenario's habit list
    check_rate: np.ndarray  # visits per day
    latest_day: np.ndarray  # last appointment day (integer day index) still useful
    booking_days: np.ndarray  # time to fill the booking form, days
    patience_days: np.ndarray  # searching time before considering a reseller
    wtp_eur: np.ndarray  # willingness to pay a reseller
    u_no_show: np.ndarray  # uniform draws: no-show decision
    u_pay: np.ndarray  # uniform draws: pays a lottery offer in time
    u_pay_delay: np.ndarray  # uniform draws: when, within the deadline

    def __len__(self) -> int:
        return len(self.arrival)


def daily_rates(sc: Scenario, cal: Calendar) -> np.ndarray:
    season = np.asarray(sc.demand.seasonality)[cal.months(cal.days)]
    return sc.demand.applicants_per_year / 365.0 * season


def draw_population(sc: Scenario, cal: Calendar, streams: Streams) -> Population:
    d, h = sc.demand, sc.humans
    arr_rng = streams["demand.arrivals"]
    counts = arr_rng.poisson(daily_rates(sc, cal))
    n = int(counts.sum())
    arrival = np.repeat(np.arange(cal.days, dtype=float), counts) + arr_rng.random(n)
    arrival.sort(kind="stable")

    a = streams["demand.attributes"]
    shares = np.array([d.segment_shares[s] for s in SEGMENTS])
    segment = a.choice(len(SEGMENTS), size=n, p=shares / shares.sum()).astype(np.int8)
    habits = list(h.habits.values())
    hp = np.array([x.share for x in habits])
    habit = a.choice(len(habits), size=n, p=hp / hp.sum()).astype(np.int8)
    rates = np.array([x.checks_per_day for x in habits])
    delay = np.maximum(
        d.latest_useful_days_min,
        d.latest_useful_days_median * np.exp(d.latest_useful_days_sigma * a.standard_normal(n)),
    )
    latest_day = np.floor(arrival + delay).astype(np.int64)
    booking_days = h.booking_minutes_median * np.exp(h.booking_minutes_sigma * a.standard_normal(n)) / 1440.0
    patience = a.exponential(h.patience_days_median / np.log(2), size=n) if h.patience_days_median > 0 else np.zeros(n)
    wtp = h.willingness_to_pay_eur_median * np.exp(h.willingness_to_pay_sigma * a.standard_normal(n))
    u = streams["demand.uniforms"].random((3, n))
    return Population(
        arrival=arrival,
        segment=segment,
        habit=habit,
        check_rate=rates[habit],
        latest_day=latest_day,
        booking_days=booking_days,
        patience_days=patience,
        wtp_eur=wtp,
        u_no_show=u[0],
        u_pay=u[1],
        u_pay_delay=u[2],
    )
