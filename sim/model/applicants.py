"""Applicants: the population drawn up front (demand) and where each person stands.

The population (sim/demand.py) is drawn before the run from the demand streams
alone, so every scheme sees the same people (common random numbers). Here it
becomes column state: one list or array per attribute, indexed by applicant, so
that the markets' hot paths read and write plain lists and vectorised scans
(who is overdue, who would buy from a reseller) use the numpy views.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..demand import Population
from ..records import STATUSES
from .kernel import URGENT, Kernel

# codes of sim.records.STATUSES: how a person's story ends (WAITING until it does)
WAITING, SERVED_DIRECT, SERVED_RESELLER, ABANDONED = range(len(STATUSES))
# mode: what a waiting person is doing now
IDLE, SEARCHING, ATTEMPTING, REGISTERED, OFFERED, GAVE_UP_SITE = range(6)
ON_SITE = (SEARCHING, ATTEMPTING, GAVE_UP_SITE)  # modes whose searching time is book-kept


class Applicants:
    """Column state of every applicant of the run (arrived or not yet)."""

    def __init__(self, pop: Population):
        self.pop = pop
        n = len(pop)
        self.arrival = pop.arrival.tolist()
        self.segment = pop.segment.tolist()
        self.habit = pop.habit.tolist()
        self.rate = pop.check_rate.tolist()
        self.latest = pop.latest_day.tolist()
        self.form_days = pop.booking_days.tolist()
        self.wtp = pop.wtp_eur
        self.ready_to_buy = pop.arrival + pop.patience_days  # when a person starts considering resellers
        # bytearray: fast scalar writes in callbacks, and a numpy view for vectorised reads
        self.st = bytearray(n)
        self.st_np = np.frombuffer(self.st, dtype=np.int8)
        self.n_arrived = 0
        self.lo = 0  # every applicant before this index is resolved
        self.mode = [IDLE] * n
        self.appt_slot = np.full(n, -1, dtype=np.int64)
        self.served_t = np.full(n, np.nan)
        self.price_paid = np.zeros(n)
        self.reseller_of = np.full(n, -1, dtype=np.int16)
        self.end_t = np.full(n, np.nan)

    def __len__(self) -> int:
        return len(self.arrival)

    def waiting(self) -> np.ndarray:
        """Indices of the arrived people still waiting, in order of arrival."""
        lo, hi = self.lo, self.n_arrived
        return lo + np.flatnonzero(self.st_np[lo:hi] == WAITING)

    def overdue(self, day: int) -> np.ndarray:
        """Waiting people whose last useful appointment day is `day` or earlier."""
        lo, hi = self.lo, self.n_arrived
        return lo + np.flatnonzero((self.st_np[lo:hi] == WAITING) & (self.pop.latest_day[lo:hi] <= day))

    def buyers(self, now: float) -> np.ndarray:
        """Waiting people past their patience (they now consider resellers), in order of arrival."""
        lo, hi = self.lo, self.n_arrived
        mask = (self.st_np[lo:hi] == WAITING) & (self.ready_to_buy[lo:hi] <= now) & (self.pop.latest_day[lo:hi] > now)
        return lo + np.flatnonzero(mask)

    def skip_resolved(self) -> None:
        """Move the start of every scan past the resolved people at its front."""
        hi = self.n_arrived
        while self.lo < hi and self.st[self.lo] != WAITING:
            self.lo += 1

    def backlog(self) -> int:
        return int(np.count_nonzero(self.st_np[self.lo : self.n_arrived] == WAITING))


class Arrivals:
    """One source walking the pre-drawn arrival times as a chain of scheduled calls:
    one event per distinct arrival time, without a generator's resume cost."""

    def __init__(self, env: Kernel, applicants: Applicants, arrive: Callable[[int], None]):
        self.env = env
        self.a = applicants
        self.arrive = arrive  # what happens to applicant i when they arrive

    def start(self) -> None:
        """Start like a SimPy process would: an urgent event at time 0."""
        self.env.call(0.0, self._start, (), URGENT)

    def _start(self) -> None:
        arrival = self.a.arrival
        if arrival and arrival[0] > self.env.now:
            self.env.call(arrival[0] - self.env.now, self._due, (0,))
        elif arrival:
            self._due(0)

    def _due(self, i: int) -> None:
        """Arrival i is due: handle it (and any later ones at the same time), schedule the next."""
        env, a, arrival = self.env, self.a, self.a.arrival
        n = len(arrival)
        while True:
            a.n_arrived = i + 1
            self.arrive(i)
            i += 1
            if i >= n:
                return
            if arrival[i] > env.now:
                env.call(arrival[i] - env.now, self._due, (i,))
                return
