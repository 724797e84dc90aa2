"""Recording a run: the day's counters, the daily series, and the typed records at the end.

The mechanisms keep their state in columns; at the end of a run `collect_records`
turns those columns into the frames of `sim.records.Records`, the only thing the
metrics and everything downstream read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..records import OUTCOMES, POOLS, STATUSES, TAKERS, Records, labels
from ..scenario import SEGMENTS

if TYPE_CHECKING:
    from .model import Model


@dataclass
class DailyCounters:
    """What happened since the start of the day (reset by the day clock)."""

    released: int = 0
    booked_human: int = 0
    booked_bot: int = 0
    allocated_draw: int = 0
    sales: int = 0
    sales_eur: float = 0.0
    bot_attempts: int = 0
    reassignments: int = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]  # in place: the mechanisms hold this object


class DailyRecorder:
    """One row of the daily series at the end of each day."""

    def __init__(self, model: "Model"):
        self.model = model
        self.rows: list[dict] = []

    def record(self, day: int) -> None:
        """Day `day` starts: record day - 1 and reset the day's counters."""
        if day == 0:
            return
        m = self.model
        c = m.counters
        resellers = m.resellers.resellers
        bots = sum(int(r.bots) for r in resellers)
        requests = m.resellers.requests_seen()
        requests += c.bot_attempts
        prices = [r.price for r in resellers if r.active]
        self.rows.append(
            dict(
                day=day - 1,
                date=m.calendar.date(day - 1).isoformat(),
                released=c.released,
                booked_human=c.booked_human,
                booked_bot=c.booked_bot,
                allocated_draw=c.allocated_draw,
                sales=c.sales,
                sales_eur=c.sales_eur,
                bot_attempts=c.bot_attempts,
                bot_requests=requests,
                bots=bots,
                reseller_price_eur=float(np.mean(prices)) if prices else math.nan,
                searching=len(m.first_come.pool),
                registered=len(m.draw.registry),
                backlog=m.applicants.backlog(),
                reassignments=c.reassignments,
            )
        )
        c.reset()


def applicant_frame(m: "Model") -> pd.DataFrame:

    a, fc = m.applicants, m.first_come
    p = a.pop
    habits = list(m.sc.humans.habits)
    slot = a.appt_slot
    has = slot >= 0
    s_day = m.slots.day
    appt_day = np.where(has, np.asarray(s_day, dtype=float)[np.where(has, slot, 0)] if len(s_day) else np.nan, np.nan)
    return pd.DataFrame(
        {
            "arrival_day": p.arrival,
            "segment": pd.Categorical.from_codes(p.segment, SEGMENTS),
            "habit": pd.Categorical.from_codes(p.habit, habits),
            "checks_per_day": p.check_rate,
            "latest_day": p.latest_day,
            "status": labels(STATUSES, a.st_np),
            "slot": slot,
            "appointment_day": appt_day,
            # appointments are at midday of their day
            "wait_days": appt_day + 0.5 - p.arrival,
            "served_at_day": a.served_t,
            "reseller": a.reseller_of,
            "price_paid_eur": a.price_paid,
            "site_checks": p.check_rate * fc.search_days,
            "attempts": fc.attempts,
            "failed_attempts": fc.failed,
            "defence_minutes": fc.defence_days * 1440.0,
        }
    )


def slot_frame(m: "Model") -> pd.DataFrame:
    s = m.slots
    return pd.DataFrame(
        {
            "day": np.asarray(s.day, dtype=np.int64),
            "pool": labels(POOLS, s.pool),
            "released_at_day": np.asarray(s.release_t, dtype=float),
            "first_taken_by": labels(TAKERS, s.taken_by),
            "booked_at_day": np.asarray(s.booked_t, dtype=float),
            "holder": np.asarray(s.holder, dtype=np.int64),
            "reseller": np.asarray(s.reseller, dtype=np.int64),
            "prepaid": np.asarray(s.prepaid, dtype=bool),
            "offers": np.asarray(s.offers, dtype=np.int64),
            "outcome": labels(OUTCOMES, s.outcome),
        }
    )


def reseller_frame(m: "Model") -> pd.DataFrame:
    rows = [
        dict(
            reseller=r.p.name,
            mode=r.mode,
            bots_end=r.bots,
            price_end_eur=r.price,
            revenue_eur=r.revenue,
            cost_eur=r.cost,
            attempts=r.attempts,
            mode_switch_day=r.mode_switch_day,
        )
        for r in m.resellers
    ]
    cols = ["reseller", "mode", "bots_end", "price_end_eur", "revenue_eur", "cost_eur", "attempts", "mode_switch_day"]
    return pd.DataFrame(rows, columns=cols)


def collect_records(m: "Model") -> Records:
    return Records(
        scenario=m.sc,
        seed=m.seed,
        replication=m.replication,
        applicants=applicant_frame(m),
        slots=slot_frame(m),
        daily=pd.DataFrame(m.recorder.rows),
        reviews=pd.DataFrame(m.resellers.reviews),
        draws=pd.DataFrame(m.draw.draws),
        resellers=reseller_frame(m),
        events_processed=int(m.env.events_processed),
        habits=tuple(m.sc.humans.habits),
    )
