"""Slots: every appointment slot released during the run, as column state, and how each day settles.

A slot is made when the centre releases it (to first-come booking or to a draw),
passes through free / booked / held as reseller stock / offered in a draw, and
gets exactly one outcome when its day comes (`settle`).
"""

from __future__ import annotations

import math
from typing import Any

from ..records import OUTCOMES, POOLS, TAKERS
from .kernel import Kernel
from .recording import DailyCounters

# codes of the labels in sim.records: pools, who first took a slot, outcomes
FCFS, DRAW = range(len(POOLS))
TAKEN_BY_NOBODY, TAKEN_BY_HUMAN, TAKEN_BY_BOT, TAKEN_BY_DRAW, TAKEN_BY_RESELLER_DRAW = range(len(TAKERS))
(PENDING, ATTENDED_DIRECT, ATTENDED_RESELLER, WASTED_NO_SHOW, WASTED_UNSOLD, WASTED_UNBOOKED, WASTED_UNPAID) = range(
    len(OUTCOMES)
)
# holding state
S_FREE, S_BOOKED, S_INVENTORY, S_OFFERED = range(4)


class Slots:
    """Column state of every slot released so far."""

    def __init__(self, env: Kernel, counters: DailyCounters):
        self.env = env
        self.counters = counters
        self.day: list[int] = []
        self.pool: list[int] = []
        self.release_t: list[float] = []
        self.state: list[int] = []
        self.holder: list[int] = []
        self.reseller: list[int] = []
        self.taken_by: list[int] = []
        self.booked_t: list[float] = []
        self.prepaid: list[bool] = []
        self.outcome: list[int] = []
        self.offers: list[int] = []
        self.by_day: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self.day)

    def new(self, day: int, pool: int, n: int) -> range:
        """Release n free slots for appointment day `day` into `pool`; returns their ids."""
        start = len(self.day)
        t = self.env.now
        columns: tuple[tuple[list[Any], Any], ...] = (
            (self.day, day),
            (self.pool, pool),
            (self.release_t, t),
            (self.state, S_FREE),
            (self.holder, -1),
            (self.reseller, -1),
            (self.taken_by, TAKEN_BY_NOBODY),
            (self.booked_t, math.nan),
            (self.prepaid, False),
            (self.outcome, PENDING),
            (self.offers, 0),
        )
        for column, value in columns:
            column.extend([value] * n)
        ids = range(start, start + n)
        self.by_day.setdefault(day, []).extend(ids)
        self.counters.released += n
        return ids

    def settle(self, day: int, no_show_prob: float, no_show_prob_prepaid: float, u_no_show, reseller_unsold) -> None:
        """Start of day `day`: its appointments happen; every slot of the day gets its outcome.

        A booked holder fails to come when their no-show uniform is below the rate of their
        kind of booking (prepaid or free); stock still held by a reseller is wasted unsold
        (`reseller_unsold(k)` tells reseller k); an offered or once-offered slot is unpaid."""
        state, holder, prepaid, reseller, outcome = self.state, self.holder, self.prepaid, self.reseller, self.outcome
        for s in self.by_day.pop(day, ()):
            st = state[s]
            if st == S_BOOKED:
                p = no_show_prob_prepaid if prepaid[s] else no_show_prob
                if u_no_show[holder[s]] < p:
                    out = WASTED_NO_SHOW
                elif reseller[s] >= 0:
                    out = ATTENDED_RESELLER
                else:
                    out = ATTENDED_DIRECT
            elif st == S_INVENTORY:
                out = WASTED_UNSOLD
                reseller_unsold(reseller[s])
            elif st == S_OFFERED or self.offers[s] > 0:
                out = WASTED_UNPAID
            else:
                out = WASTED_UNBOOKED
            outcome[s] = out
