"""The day clock: the centre's calendar, one SimPy process ticking at the start of each day.

At the start of day d, in this order: a policy switch due on d takes effect;
people whose last useful day has come abandon; day d's appointments are settled
(every slot of the day gets its outcome) and day d - 1 is recorded; resellers pay
for their fleets, reprice, look for buyers and review their fleets; the slots for
day d + H (H = release_days_ahead) are scheduled for release at the release hour,
to first-come booking (in batches the scheme decides) and to the draw; a draw is
scheduled when one is due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator

import simpy

if TYPE_CHECKING:
    from .model import Model

DRAW_AFTER_RELEASE = 1e-6  # a draw runs just after the release it follows (days)


class DayClock:
    def __init__(self, model: "Model"):
        self.m = model
        sc = model.sc
        self.days = sc.run.days
        self.horizon = sc.centre.release_days_ahead
        self.capacity = sc.centre.capacity_per_day
        self.no_show = (sc.centre.no_show_prob, sc.centre.no_show_prob_prepaid)
        self.switches = dict(model.timeline)
        self.rng = model.streams["releases"]

    def start(self) -> None:
        self.m.env.process(self._process())

    def _process(self) -> Generator[simpy.Event, None, None]:
        env, m = self.m.env, self.m
        for day in range(self.days):
            if day > env.now:
                yield env.timeout(day - env.now)
            if day in self.switches and day > 0:
                m.switch_policy(self.switches[day])
            m.expire_deadlines(day)
            self.settle(day)
            self._start_day(day)

    def settle(self, day: int) -> None:
        """Start of `day`: its appointments happen, then yesterday is recorded."""
        m = self.m
        m.first_come.earliest_free()  # drops past free slots from the heap
        m.slots.settle(day, *self.no_show, m.applicants.pop.u_no_show, m.resellers.unsold)
        m.recorder.record(day)

    def _start_day(self, day: int) -> None:
        m = self.m
        policy = m.policy
        target = day + self.horizon
        releases_today = m.calendar.is_working(target) and policy.draw_share < 1.0
        m.resellers.start_day(day, releases_today)
        env = m.env
        if m.calendar.is_working(target):
            n_fcfs, n_draw = policy.split(self.capacity)
            for b in policy.booking_batches(n_fcfs, self.rng):
                env.call(b.at_day, m.first_come.release, (target, b))
            if n_draw:
                env.call(policy.release_hour / 24.0, m.draw.release, (target, n_draw))
        if policy.uses_draw and day % max(1, int(round(policy.scheme.draw_interval_days))) == 0:
            env.call(policy.release_hour / 24.0 + DRAW_AFTER_RELEASE, m.draw.draw)
