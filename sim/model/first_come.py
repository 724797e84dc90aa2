"""The first-come market: people's checks, fleets' polls and booking attempts race for free slots.

While free slots exist, the next check by any searching person (one exponential
draw over their summed check rates, `SearchPool`) and the next poll of each bot
fleet are scheduled. A check or poll that finds a slot starts an attempt whose
completion time is drawn from the `race.humans` or `race.bots` stream (form
filling, CAPTCHA, OTP, bot reaction): who wins a race is decided by drawn
latencies, never by SimPy's scheduling order. While no slot is free nothing is
scheduled: futile checks are counted from rates and searching time, not simulated.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import numpy as np

from ..rng import Buffered
from ..schemes import Batch, CentrePolicy
from .applicants import ATTEMPTING, GAVE_UP_SITE, IDLE, SEARCHING, WAITING
from .pools import SearchPool
from .resellers import NO_CLIENT, Reseller
from .slots import FCFS, S_FREE, TAKEN_BY_BOT, TAKEN_BY_HUMAN

if TYPE_CHECKING:
    from .model import Model


class FirstComeMarket:
    """Free first-come slots, the people searching for them and the fleets polling for them."""

    def __init__(self, model: "Model"):
        self.env = model.env
        self.policy: CentrePolicy = model.policy
        self.counters = model.counters
        self.slots = model.slots
        self.s_day, self.s_state, self.s_taken_by = model.slots.day, model.slots.state, model.slots.taken_by
        a = model.applicants
        self.st, self.mode, self.latest, self.form_days = a.st, a.mode, a.latest, a.form_days
        self.segment, self.habit = a.segment, a.habit
        n = len(a)
        self.pool = SearchPool([h.checks_per_day for h in model.sc.humans.habits.values()])
        self.free: list[tuple[int, int]] = []  # heap of (day, slot): free first-come slots
        self.free_n = 0
        self.announced = False  # the current free slots came at an announced moment
        self.human_token = 0
        self.human_pending = False
        # Buffered: one scalar numpy call costs more than the rest of a check; the values are the
        # stream's own, taken from blocks (the same distribution, other numbers than unbuffered calls)
        self.rng_h = Buffered(model.streams["race.humans"])
        self.rng_b = Buffered(model.streams["race.bots"])
        # per person: searching time (checks follow from it), attempts, effort spent on defences
        self.search_since = [0.0] * n
        self.search_days = np.zeros(n)
        self.attempts = np.zeros(n, dtype=np.int32)
        self.failed = np.zeros(n, dtype=np.int32)
        self.defence_days = np.zeros(n)

    def connect(self, model: "Model") -> None:
        self.assign = model.assign
        self.register = model.draw.register
        self.resellers = model.resellers

    # ------------------------------------------------------------------ people
    def enter(self, i: int) -> None:
        """A person with a need starts looking: visits the site at once if a slot is free."""
        if self.free_n > 0:
            self._begin_search_clock(i)
            self._human_attempt(i)
        else:
            self._join_pool(i)

    def _begin_search_clock(self, i: int) -> None:
        if self.mode[i] not in (SEARCHING, ATTEMPTING):
            self.search_since[i] = self.env.now

    def _join_pool(self, i: int) -> None:
        self._begin_search_clock(i)
        self.mode[i] = SEARCHING
        self.pool.add(i, self.habit[i])
        if self.free_n > 0:
            self._schedule_human_check(reschedule=True)

    def leave_site(self, i: int, mode: int) -> None:
        """Stop first-come searching: book-keep the searching time (checks are derived from it)."""
        if self.mode[i] in (SEARCHING, ATTEMPTING):
            self.search_days[i] += self.env.now - self.search_since[i]
        self.pool.remove(i)
        self.mode[i] = mode

    def close_searches(self) -> None:
        """End of run: the searching time of those still searching."""
        for i in self.pool.everyone():
            self.search_days[i] += self.env.now - self.search_since[i]

    def _schedule_human_check(self, reschedule: bool = False) -> None:
        if self.human_pending and not reschedule:
            return
        rate = self.pool.total_rate()
        if self.free_n <= 0 or rate <= 0:
            self.human_pending = False
            return
        self.human_token += 1
        self.human_pending = True
        self.env.call(self.rng_h.exp() / rate, self._human_check, (self.human_token,))

    def _human_check(self, token: int) -> None:
        if token != self.human_token:
            return  # superseded by a reschedule
        self.human_pending = False
        if self.free_n > 0 and len(self.pool):
            self._human_attempt(self.pool.pick(self.rng_h))
        self._schedule_human_check()

    def _human_attempt(self, i: int) -> None:
        self.pool.remove(i)
        self.mode[i] = ATTEMPTING
        att = self.policy.friction.human(self.rng_h, self.form_days[i])
        self.attempts[i] += 1
        self.defence_days[i] += att.defence_days
        self.env.call(att.duration_days, self._human_complete, (i, att.failed))

    def _human_complete(self, i: int, failed: bool) -> None:
        if self.st[i] != WAITING or self.mode[i] != ATTEMPTING:
            return
        slot = -1 if failed else self.earliest_free()
        if slot < 0:
            self.failed[i] += 1
            self._back_to_search(i)
            return
        if self.s_day[slot] > self.latest[i]:
            # Only slots after the travel date are left: the person stops checking the site.
            self.failed[i] += 1
            self.leave_site(i, GAVE_UP_SITE)
            return
        self._take_free(slot)
        self.counters.booked_human += 1
        self.s_taken_by[slot] = TAKEN_BY_HUMAN
        self.assign(slot, i, via_reseller=-1, price=0.0)

    def _back_to_search(self, i: int) -> None:
        if self.segment[i] in self.policy.enrolled:  # a switch happened during the attempt
            self.leave_site(i, IDLE)
            self.register(i)
        else:
            self.mode[i] = SEARCHING
            self.pool.add(i, self.habit[i])
            self._schedule_human_check()

    # ------------------------------------------------------------------ slots
    def earliest_free(self) -> int:
        """Earliest free first-come slot still in the future, or -1 (past ones leave the heap)."""
        free, now, state = self.free, self.env.now, self.s_state
        while free:
            day, s = free[0]
            if day > now and state[s] == S_FREE:
                return s
            heapq.heappop(free)
            if state[s] == S_FREE:
                self.free_n -= 1
        return -1

    def _take_free(self, s: int) -> None:
        heapq.heappop(self.free)  # s is the heap top (just returned by earliest_free)
        self.free_n -= 1
        if self.free_n == 0:
            self.announced = False

    def release(self, day: int, batch: Batch) -> None:
        """A batch of slots for `day` opens to first-come booking: people and fleets are told."""
        if self.free_n == 0:
            self.announced = batch.announced
        for s in self.slots.new(day, FCFS, batch.slots):
            heapq.heappush(self.free, (day, s))
        self.free_n += batch.slots
        self._schedule_human_check(reschedule=True)
        for r in self.resellers:
            self.schedule_fleet(r)

    # ------------------------------------------------------------------ bot fleets
    def schedule_fleet(self, r: Reseller) -> None:
        """The fleet's next successful poll, while there are free slots it may still book."""
        if r.pending_detection or not r.active:
            return
        if self.free_n <= r.inflight or r.quota(self.policy.friction) <= r.inflight:
            return
        r.pending_detection = True
        r.token += 1
        rate = r.poll_rate(self.policy.friction, burst=self.announced)
        self.env.call(self.rng_b.exp() / rate, self._fleet_detect, (r, r.token))

    def _fleet_detect(self, r: Reseller, token: int) -> None:
        if token != r.token:
            return
        r.pending_detection = False
        friction = self.policy.friction
        if self.free_n > r.inflight and r.quota(friction) > r.inflight and r.active:
            r.inflight += 1
            att = friction.bot(self.rng_b, r.p.reaction_s, r.p.cost_per_attempt_eur)
            self.env.call(att.duration_days, self._fleet_complete, (r, att.cost_eur))
        self.schedule_fleet(r)

    def _fleet_complete(self, r: Reseller, cost: float) -> None:
        r.inflight -= 1
        r.attempts += 1
        self.counters.bot_attempts += 1
        r.charge(cost)
        s = self.earliest_free()
        if s >= 0:
            client = r.strategy.client_for(self.resellers, r, self.s_day[s])
            if client != NO_CLIENT:
                self._take_free(s)
                self.s_taken_by[s] = TAKEN_BY_BOT
                self.counters.booked_bot += 1
                self.resellers.books(r, s, client)
        self.schedule_fleet(r)
