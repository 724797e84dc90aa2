"""The model: a thin coordinator that builds the mechanisms, routes people between them and runs.

Time is in days (day d is [d, d+1)). Each mechanism lives in its own module and
keeps its own column state; the coordinator owns only what crosses mechanisms:

- routing: a waiting person goes to the draw (enrolled segment) or to first-come
  booking (`start_search`), and is re-routed when the policy switches;
- the end of a person's story: a slot assigned (`assign`), or abandonment (`finish`);
- the policy in force, told to every mechanism when it changes.
"""

from __future__ import annotations

import gc
import math

from ..demand import Calendar, draw_population
from ..records import Records
from ..rng import Streams
from ..scenario import Scenario
from ..schemes import CentrePolicy, policy_timeline
from .applicants import (
    ABANDONED,
    GAVE_UP_SITE,
    IDLE,
    ON_SITE,
    SEARCHING,
    SERVED_DIRECT,
    SERVED_RESELLER,
    Applicants,
    Arrivals,
)
from .day_clock import DayClock
from .draw import DrawMarket
from .first_come import FirstComeMarket
from .kernel import Kernel
from .recording import DailyCounters, DailyRecorder, collect_records
from .resellers import ResellerMarket
from .slots import DRAW, S_BOOKED, Slots


class Model:
    """One replication of a scenario: `Model(sc, seed, replication).run().records()`."""

    def __init__(self, sc: Scenario, seed: int | None = None, replication: int = 0):
        self.sc = sc
        self.seed = sc.run.seed if seed is None else int(seed)
        self.replication = int(replication)
        self.streams = Streams(self.seed, self.replication)
        self.calendar = Calendar(sc.run.start_date, sc.run.days, tuple(sc.centre.working_weekdays))
        self.env = Kernel()
        self.timeline = policy_timeline(sc)
        self.policy: CentrePolicy = self.timeline[0][1]
        self.counters = DailyCounters()
        self.applicants = Applicants(draw_population(sc, self.calendar, self.streams))
        self.slots = Slots(self.env, self.counters)
        self.resellers = ResellerMarket(self)
        self.first_come = FirstComeMarket(self)
        self.draw = DrawMarket(self)
        self.recorder = DailyRecorder(self)
        self.day_clock = DayClock(self)
        self.arrivals = Arrivals(self.env, self.applicants, self.arrive)
        self.mechanisms = (self.resellers, self.first_come, self.draw)
        for mechanism in self.mechanisms:
            mechanism.connect(self)
        a = self.applicants
        self._st, self._mode, self._segment, self._latest = a.st, a.mode, a.segment, a.latest

    def run(self) -> "Model":
        self.arrivals.start()
        self.day_clock.start()
        # The event loop makes almost no cyclic garbage (~20 objects in a year), but the
        # collector's full passes over its ~200k live objects cost up to a fifth of a run:
        # reference counting frees everything, so the collector rests while events run.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            self.env.run(until=self.sc.run.days)
        finally:
            if gc_was_on:
                gc.enable()
        end = self.sc.run.days
        self.expire_deadlines(end)
        self.recorder.record(end)
        self.first_come.close_searches()
        return self

    def records(self) -> Records:
        return collect_records(self)

    # ------------------------------------------------------------------ people's routes
    def arrive(self, i: int) -> None:
        if self._latest[i] <= self.applicants.arrival[i]:
            self.finish(i, ABANDONED)  # needed a date sooner than any appointment can be
        else:
            self.start_search(i)

    def start_search(self, i: int) -> None:
        """Route a waiting person to the draw or to first-come booking, per the policy in force."""
        if self._segment[i] in self.policy.enrolled:
            self.draw.register(i)
        else:
            self.first_come.enter(i)

    def assign(self, slot: int, i: int, via_reseller: int, price: float) -> None:
        """Slot `slot` now belongs to applicant i (directly, or through reseller via_reseller)."""
        s, a, now = self.slots, self.applicants, self.env.now
        s.state[slot] = S_BOOKED
        s.holder[slot] = i
        if self.policy.friction.prepaid or s.pool[slot] == DRAW:
            s.prepaid[slot] = True  # the fee is paid to confirm: prepaid booking or a draw win
        if math.isnan(s.booked_t[slot]):
            s.booked_t[slot] = now
        a.appt_slot[i] = slot
        a.served_t[i] = now
        if via_reseller >= 0:
            a.reseller_of[i] = via_reseller
            a.price_paid[i] = price
            self.finish(i, SERVED_RESELLER)
        else:
            self.finish(i, SERVED_DIRECT)

    def finish(self, i: int, status: int) -> None:
        """Applicant i's story ends (served or abandoned): they leave every pool."""
        if self._mode[i] in ON_SITE:
            self.first_come.leave_site(i, IDLE)
        self.draw.withdraw(i)
        self._st[i] = status
        self.applicants.end_t[i] = self.env.now
        self._mode[i] = IDLE

    def expire_deadlines(self, day: int) -> None:
        """Start of `day`: people whose last useful day has come abandon (checked once a day,
        which is exact: appointments are booked for whole days)."""
        for i in self.applicants.overdue(day).tolist():
            self.finish(i, ABANDONED)
        self.applicants.skip_resolved()

    # ------------------------------------------------------------------ the policy in force
    def switch_policy(self, new: CentrePolicy) -> None:
        old = self.policy
        self.policy = new
        for mechanism in self.mechanisms:
            mechanism.policy = new
        if new.enrolled == old.enrolled:
            return
        # Everyone waiting in a newly enrolled segment registers, including those who had given
        # up on the site; people mid-attempt are routed when their attempt ends.
        for i in self.applicants.waiting().tolist():
            if self._segment[i] in new.enrolled and self._mode[i] in (SEARCHING, GAVE_UP_SITE, IDLE):
                self.first_come.leave_site(i, IDLE)
                self.draw.register(i)
        for i in list(self.draw.registry.items):
            if self._segment[i] not in new.enrolled:
                self.draw.withdraw(i)
                self._mode[i] = IDLE
                self.start_search(i)


def simulate(sc: Scenario, seed: int | None = None, replication: int = 0) -> Model:
    """Run one replication; returns the finished model (`.records()` gives its typed records)."""
    return Model(sc, seed, replication).run()
