"""The discrete-event model: one engine, the scheme in force plugged in as a policy.

Time is in days (day d is [d, d+1)). Processes and callbacks:
- arrivals: one source walks the pre-drawn arrival times (demand.py);
- the day clock: at the start of each day it settles that day's appointments,
  updates prices and fleets, applies policy switches and schedules releases
  and draws;
- the first-come market: while free slots exist, the next check by any searching
  person (one exponential draw over their summed rates) and the next poll of
  each bot fleet are scheduled; each success starts an attempt whose completion
  time is drawn (form filling, CAPTCHA, OTP, bot reaction), so who wins a race
  is decided by drawn latencies, never by SimPy's scheduling order. While no
  slot is free, nothing is scheduled: futile checks are counted, not simulated;
- the draw market: registrations, draws, payment deadlines, waiting lists;
- resellers: inventory, orders, sales, daily prices, weekly fleet reviews.
"""

from __future__ import annotations

import gc
import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import simpy

from .actors import Registry, ResellerState, SearchPool
from .demand import Calendar, Population, draw_population
from .rng import Streams
from .scenario import Scenario
from .schemes import SECONDS_PER_DAY, Batch, CentrePolicy, policy_timeline

# applicant status
WAITING, SERVED_DIRECT, SERVED_RESELLER, ABANDONED = 0, 1, 2, 3
# what a waiting applicant is doing
IDLE, SEARCHING, ATTEMPTING, REGISTERED, OFFERED, GAVE_UP_SITE = 0, 1, 2, 3, 4, 5
# slot pools
FCFS, DRAW = 0, 1
# who first took a slot
TAKEN_BY_NOBODY, TAKEN_BY_HUMAN, TAKEN_BY_BOT, TAKEN_BY_DRAW, TAKEN_BY_RESELLER_DRAW = 0, 1, 2, 3, 4
# slot outcomes
OUTCOMES = ("pending", "attended_direct", "attended_via_reseller", "wasted_no_show", "wasted_unsold",
            "wasted_unbooked", "wasted_unpaid")
(PENDING, ATTENDED_DIRECT, ATTENDED_RESELLER, WASTED_NO_SHOW, WASTED_UNSOLD, WASTED_UNBOOKED,
 WASTED_UNPAID) = range(len(OUTCOMES))
# slot holding state
S_FREE, S_BOOKED, S_INVENTORY, S_OFFERED = 0, 1, 2, 3

SWEEP_DELAY = 5.0 / 1440.0  # resellers match buyers a few minutes after stock arrives
UNSOLD_WEIGHT = 5.0         # a wasted unsold slot weighs like this many missing buyers [EST]
TARGET_UTILISATION = 0.8    # share of its booking capacity a reseller aims to use [EST]


def _fire_call(ev: "Call") -> None:
    ev.fn(*ev.args)


def schedule_call(env: simpy.Environment, delay: float, fn, args: tuple,
                  priority: int = simpy.events.NORMAL) -> None:
    """Schedule fn(*args) after `delay`: a bare (fn, args) entry in SimPy's queue, with the time,
    priority and id Environment.schedule would give an event, at the cost of one tuple (an
    Event object costs ~1 us more). Only CountingEnvironment's run and step process it."""
    heapq.heappush(env._queue, (env._now + delay, priority, next(env._eid), (fn, args)))


class Call(simpy.Event):
    """A scheduled function call: a bare event with one callback (cheaper than Timeout + lambda).

    Scheduled exactly as Environment.schedule would (same time, priority, id), without the
    method call; CountingEnvironment.run calls fn directly instead of going through callbacks."""

    def __init__(self, env: simpy.Environment, delay: float, fn, args: tuple,
                 priority: int = simpy.events.NORMAL):
        self.env = env
        self.callbacks = [_fire_call]
        self._value = None
        self._ok = True
        self.fn = fn
        self.args = args
        heapq.heappush(env._queue, (env._now + delay, priority, next(env._eid), self))


class CountingEnvironment(simpy.Environment):
    """simpy.Environment that counts processed events (the cost measure).

    run(until=number) is SimPy's own loop (Environment.run + step, simpy 4.1) with step
    inlined and fast paths for schedule_call entries and Call events: the same events in the
    same order, with less interpreter work per event (see benchmarks/README.md)."""

    def __init__(self):
        super().__init__()
        self.events_processed = 0
        self._fifos: dict[float, deque] = {}

    def schedule_fifo(self, delay: float, fn, args: tuple) -> None:
        """schedule_call for many timers of one constant delay (registration expiries).

        Their times come in the order they are scheduled, so they wait in a FIFO and only the
        next one sits in the heap: each keeps the (time, priority, id) key schedule_call would
        give it, so events run in exactly the same order, but the heap stays small (tens of
        thousands of 60-day timers made every pop several times dearer: cache misses)."""
        fifo = self._fifos.get(delay)
        if fifo is None:
            fifo = self._fifos[delay] = deque()
        entry = (self._now + delay, simpy.events.NORMAL, next(self._eid), (self._fifo_fire, (fifo, fn, args)))
        fifo.append(entry)
        if len(fifo) == 1:
            heapq.heappush(self._queue, entry)

    def _fifo_fire(self, fifo: deque, fn, args: tuple) -> None:
        fifo.popleft()  # this entry: only a FIFO's head is ever in the heap
        if fifo:
            heapq.heappush(self._queue, fifo[0])
        fn(*args)

    def step(self):
        self.events_processed += 1
        queue = self._queue
        if queue and queue[0][3].__class__ is tuple:  # a schedule_call entry
            self._now, _, _, (fn, args) = heapq.heappop(queue)
            fn(*args)
            return
        super().step()

    def run(self, until=None):
        if until is None or isinstance(until, simpy.Event):
            return super().run(until)
        at = until if isinstance(until, int) else float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = simpy.Event(self)
        stop._ok = True
        stop._value = None
        self.schedule(stop, simpy.events.URGENT, at - self._now)
        stop.callbacks.append(simpy.core.StopSimulation.callback)
        queue, pop, call, bare = self._queue, heapq.heappop, Call, tuple
        n = 0
        try:
            while True:
                try:
                    self._now, _, _, event = pop(queue)
                except IndexError:
                    raise RuntimeError(f'No scheduled events left but "until" event was not triggered: '
                                       f"{stop}") from None
                n += 1
                if event.__class__ is bare:  # schedule_call: (fn, args)
                    event[0](*event[1])
                    continue
                if event.__class__ is call:
                    event.callbacks = None
                    event.fn(*event.args)
                    continue
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for callback in callbacks:
                        callback(event)
                except simpy.core.StopSimulation:
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, simpy.events.EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except simpy.core.StopSimulation as exc:
            return exc.args[0]
        finally:
            self.events_processed += n


@dataclass
class DailyCounters:
    released: int = 0
    booked_human: int = 0
    booked_bot: int = 0
    allocated_draw: int = 0
    sales: int = 0
    sales_eur: float = 0.0
    bot_attempts: int = 0
    reassignments: int = 0

    def reset(self):
        self.__init__()


class Model:
    def __init__(self, sc: Scenario, seed: int | None = None, replication: int = 0):
        self.sc = sc
        self.seed = sc.run.seed if seed is None else int(seed)
        self.streams = Streams(self.seed, replication)
        self.cal = Calendar(sc.run.start_date, sc.run.days, tuple(sc.centre.working_weekdays))
        self.env = CountingEnvironment()
        self.timeline = policy_timeline(sc)
        self.policy: CentrePolicy = self.timeline[0][1]
        self.H = sc.centre.release_days_ahead
        self.pop: Population = draw_population(sc, self.cal, self.streams)
        self._init_applicants()
        self._init_slots()
        habits = list(sc.humans.habits.values())
        self.pool = SearchPool([h.checks_per_day for h in habits])
        self.registry = Registry()
        self.registered_at: dict[int, float] = {}  # when each person's current registration began
        self.free: list[tuple[int, int]] = []     # heap of (day, slot) free first-come slots
        self.free_n = 0
        self.announced = False                    # the current free slots came at an announced moment
        self.draw_free: list[tuple[int, int]] = []
        self.waitlist: list[tuple[int, int]] = []  # (owner, reseller) tickets, reversed: pop() is next
        self.human_token = 0
        self.human_pending = False
        self.sweep_pending = False
        self.resellers = [ResellerState(k, r, r.mode, float(r.bots), r.price_eur)
                          for k, r in enumerate(sc.resellers)]
        self.rng_h = self.streams["race.humans"]
        self.rng_b = self.streams["race.bots"]
        self.rng_d = self.streams["draws"]
        self.rng_r = self.streams["releases"]
        self.day_counters = DailyCounters()
        self.daily: list[dict] = []
        self.reviews: list[dict] = []
        self.draws: list[dict] = []  # one record per draw: tickets, offers, composition by habit

    # ------------------------------------------------------------------ state
    def _init_applicants(self):
        p = self.pop
        n = len(p)
        self.arrival = p.arrival.tolist()
        self.segment = p.segment.tolist()
        self.habit = p.habit.tolist()
        self.rate = p.check_rate.tolist()
        self.latest = p.latest_day.tolist()
        self.form_days = p.booking_days.tolist()
        self.wtp = p.wtp_eur
        self.ready_to_buy = p.arrival + p.patience_days  # when a person starts considering resellers
        # bytearray: fast scalar writes in callbacks, and a numpy view for vectorised reads
        self.st = bytearray(n)
        self.st_np = np.frombuffer(self.st, dtype=np.int8)
        self.n_arrived = 0
        self.lo = 0  # every applicant before this index is resolved
        self.mode = [IDLE] * n
        self.search_since = [0.0] * n
        self.search_days = np.zeros(n)
        self.attempts = np.zeros(n, dtype=np.int32)
        self.failed = np.zeros(n, dtype=np.int32)
        self.defence_days = np.zeros(n)
        self.appt_slot = np.full(n, -1, dtype=np.int64)
        self.served_t = np.full(n, np.nan)
        self.price_paid = np.zeros(n)
        self.reseller_of = np.full(n, -1, dtype=np.int16)
        self.ordered_from = [-1] * n
        self.end_t = np.full(n, np.nan)

    def _init_slots(self):
        self.s_day: list[int] = []
        self.s_pool: list[int] = []
        self.s_release_t: list[float] = []
        self.s_state: list[int] = []
        self.s_holder: list[int] = []
        self.s_reseller: list[int] = []
        self.s_taken_by: list[int] = []
        self.s_booked_t: list[float] = []
        self.s_prepaid: list[bool] = []
        self.s_outcome: list[int] = []
        self.s_offers: list[int] = []
        self.slots_by_day: dict[int, list[int]] = {}

    def _new_slots(self, day: int, pool: int, n: int) -> range:
        start = len(self.s_day)
        t = self.env.now
        for lst, v in ((self.s_day, day), (self.s_pool, pool), (self.s_release_t, t), (self.s_state, S_FREE),
                       (self.s_holder, -1), (self.s_reseller, -1), (self.s_taken_by, TAKEN_BY_NOBODY),
                       (self.s_booked_t, math.nan), (self.s_prepaid, False), (self.s_outcome, PENDING),
                       (self.s_offers, 0)):
            lst.extend([v] * n)
        ids = range(start, start + n)
        self.slots_by_day.setdefault(day, []).extend(ids)
        self.day_counters.released += n
        return ids

    # ------------------------------------------------------------------ helpers
    def at(self, delay: float, fn, *args) -> None:
        """Call fn(*args) after `delay` (>= 0) days."""
        schedule_call(self.env, delay, fn, args)

    def run(self) -> "Model":
        # The arrival source starts like a process would (an urgent event at time 0).
        schedule_call(self.env, 0.0, self._arrivals_start, (), simpy.events.URGENT)
        self.env.process(self._day_clock())
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
        self._expire_deadlines(self.sc.run.days)
        self._record_day(self.sc.run.days)
        self._close_searches()
        return self

    # ------------------------------------------------------------------ arrivals and applicant life
    def _arrivals_start(self):
        if self.arrival and self.arrival[0] > self.env._now:
            schedule_call(self.env, self.arrival[0] - self.env._now, self._arrive, (0,))
        elif self.arrival:
            self._arrive(0)

    def _arrive(self, i: int):
        """Arrival i is due: handle it (and any later ones at the same time), schedule the next.
        One source walking the pre-drawn times as a chain of Calls: one event per arrival,
        without a generator's resume cost."""
        env, arrival, n = self.env, self.arrival, len(self.arrival)
        while True:
            self.n_arrived = i + 1
            if self.latest[i] <= arrival[i]:
                self._finish(i, ABANDONED)
            else:
                self._start_search(i)
            i += 1
            if i >= n:
                return
            if arrival[i] > env._now:
                schedule_call(env, arrival[i] - env._now, self._arrive, (i,))
                return

    def _start_search(self, i: int):
        """Route a waiting person to the draw or to first-come booking, per the policy in force."""
        if self.segment[i] in self.policy.enrolled:
            self._register(i)
        elif self.free_n > 0:
            self._begin_search_clock(i)
            self._human_attempt(i)   # a person with a need visits the site at once
        else:
            self._join_pool(i)

    def _begin_search_clock(self, i: int):
        if self.mode[i] not in (SEARCHING, ATTEMPTING):
            self.search_since[i] = self.env.now

    def _join_pool(self, i: int):
        self._begin_search_clock(i)
        self.mode[i] = SEARCHING
        self.pool.add(i, self.habit[i])
        if self.free_n > 0:
            self._schedule_human_check(reschedule=True)

    def _leave_site(self, i: int, mode: int):
        """Stop first-come searching: book-keep the searching time (checks are derived from it)."""
        if self.mode[i] in (SEARCHING, ATTEMPTING):
            self.search_days[i] += self.env.now - self.search_since[i]
        self.pool.remove(i)
        self.mode[i] = mode

    def _expire_deadlines(self, day: int):
        """Start of `day`: people whose last useful day has come abandon (checked once a day,
        which is exact: appointments are booked for whole days)."""
        lo, hi = self.lo, self.n_arrived
        st = self.st_np[lo:hi]
        late = lo + np.flatnonzero((st == WAITING) & (self.pop.latest_day[lo:hi] <= day))
        for i in late.tolist():
            self._finish(i, ABANDONED)
        while self.lo < hi and self.st[self.lo] != WAITING:
            self.lo += 1

    def _finish(self, i: int, status: int):
        if self.mode[i] in (SEARCHING, ATTEMPTING, GAVE_UP_SITE):
            self._leave_site(i, IDLE)
        self.registry.remove(i)
        self.st[i] = status
        self.end_t[i] = self.env.now
        self.mode[i] = IDLE

    def _close_searches(self):
        for i in self.pool.everyone():
            self.search_days[i] += self.env.now - self.search_since[i]

    # ------------------------------------------------------------------ first-come market: humans
    def _schedule_human_check(self, reschedule: bool = False):
        if self.human_pending and not reschedule:
            return
        rate = self.pool.total_rate()
        if self.free_n <= 0 or rate <= 0:
            self.human_pending = False
            return
        self.human_token += 1
        self.human_pending = True
        self.at(self.rng_h.exponential(1.0 / rate), self._human_check, self.human_token)

    def _human_check(self, token: int):
        if token != self.human_token:
            return  # superseded by a reschedule
        self.human_pending = False
        if self.free_n > 0 and len(self.pool):
            i = self.pool.pick(self.rng_h)
            self._human_attempt(i)
        self._schedule_human_check()

    def _human_attempt(self, i: int):
        self.pool.remove(i)
        self.mode[i] = ATTEMPTING
        att = self.policy.friction.human(self.rng_h, self.form_days[i])
        self.attempts[i] += 1
        self.defence_days[i] += att.defence_days
        self.at(att.duration_days, self._human_complete, i, att.failed)

    def _human_complete(self, i: int, failed: bool):
        if self.st[i] != WAITING or self.mode[i] != ATTEMPTING:
            return
        slot = -1 if failed else self._earliest_free()
        if slot < 0:
            self.failed[i] += 1
            self._back_to_search(i)
            return
        if self.s_day[slot] > self.latest[i]:
            # Only slots after the travel date are left: the person stops checking the site.
            self.failed[i] += 1
            self._leave_site(i, GAVE_UP_SITE)
            return
        self._take_free(slot)
        self.day_counters.booked_human += 1
        self.s_taken_by[slot] = TAKEN_BY_HUMAN
        self._assign(slot, i, via_reseller=-1, price=0.0)

    def _back_to_search(self, i: int):
        if self.segment[i] in self.policy.enrolled:
            self._leave_site(i, IDLE)
            self._register(i)
        else:
            self.mode[i] = SEARCHING
            self.pool.add(i, self.habit[i])
            self._schedule_human_check()

    # ------------------------------------------------------------------ first-come market: slots
    def _earliest_free(self) -> int:
        """Earliest free first-come slot still in the future, or -1."""
        free, now = self.free, self.env.now
        while free:
            day, s = free[0]
            if day > now and self.s_state[s] == S_FREE:
                return s
            heapq.heappop(free)
            if self.s_state[s] == S_FREE:
                self.free_n -= 1
        return -1

    def _take_free(self, s: int):
        heapq.heappop(self.free)  # s is the heap top (just returned by _earliest_free)
        self.free_n -= 1
        if self.free_n == 0:
            self.announced = False

    def _release(self, day: int, batch: Batch):
        if self.free_n == 0:
            self.announced = batch.announced
        for s in self._new_slots(day, FCFS, batch.slots):
            heapq.heappush(self.free, (day, s))
        self.free_n += batch.slots
        self._schedule_human_check(reschedule=True)
        for r in self.resellers:
            self._schedule_fleet(r)

    def _assign(self, slot: int, i: int, via_reseller: int, price: float):
        """Slot `slot` now belongs to applicant i (directly or through reseller via_reseller)."""
        self.s_state[slot] = S_BOOKED
        self.s_holder[slot] = i
        if self.policy.friction.prepaid or self.s_pool[slot] == DRAW:
            self.s_prepaid[slot] = True  # the fee is paid to confirm: prepaid booking or a draw win
        if math.isnan(self.s_booked_t[slot]):
            self.s_booked_t[slot] = self.env.now
        self.appt_slot[i] = slot
        self.served_t[i] = self.env.now
        if via_reseller >= 0:
            self.reseller_of[i] = via_reseller
            self.price_paid[i] = price
            self._finish(i, SERVED_RESELLER)
        else:
            self._finish(i, SERVED_DIRECT)

    # ------------------------------------------------------------------ first-come market: bot fleets
    def _fleet_capacity(self, r: ResellerState) -> int:
        """Slots the fleet can book in one release day (accounts; OTP caps them)."""
        per_bot = r.p.bookings_per_bot_per_release
        cap = self.policy.friction.bot_accounts_cap
        if cap is not None:
            per_bot = min(per_bot, cap)
        return int(r.bots * per_bot)

    def _fleet_quota(self, r: ResellerState) -> int:
        quota = self._fleet_capacity(r) - r.booked_today
        if r.mode == "to_order":
            quota = min(quota, len(r.orders))
        return quota

    def _fleet_rate(self, r: ResellerState, burst: bool = False) -> float:
        """Polls per day of the whole fleet: N bots every poll_interval_s, capped by rate limits
        unless it polls in a burst at an announced opening (a token bucket lets a burst through)."""
        rate = int(r.bots) * SECONDS_PER_DAY / r.p.poll_interval_s
        cap = self.policy.friction.bot_poll_cap_per_day
        return rate if cap is None or burst else min(rate, cap)

    def _schedule_fleet(self, r: ResellerState):
        if r.pending_detection or not r.active:
            return
        if self.free_n <= r.inflight or self._fleet_quota(r) <= r.inflight:
            return
        r.pending_detection = True
        r.token += 1
        self.at(self.rng_b.exponential(1.0 / self._fleet_rate(r, burst=self.announced)), self._fleet_detect,
                r, r.token)

    def _fleet_detect(self, r: ResellerState, token: int):
        if token != r.token:
            return
        r.pending_detection = False
        if self.free_n > r.inflight and self._fleet_quota(r) > r.inflight and r.active:
            r.inflight += 1
            att = self.policy.friction.bot(self.rng_b, r.p.reaction_s, r.p.cost_per_attempt_eur)
            self.at(att.duration_days, self._fleet_complete, r, att.cost_eur)
        self._schedule_fleet(r)

    def _fleet_complete(self, r: ResellerState, cost: float):
        r.inflight -= 1
        r.attempts += 1
        self.day_counters.bot_attempts += 1
        r.charge(cost)
        s = self._earliest_free()
        client = -1
        if s >= 0 and r.mode == "to_order":
            client = self._next_order(r, self.s_day[s])
            if client < 0:
                s = -1
        if s >= 0:
            self._take_free(s)
            self.s_taken_by[s] = TAKEN_BY_BOT
            self.day_counters.booked_bot += 1
            self._reseller_books(r, s, client)
        self._schedule_fleet(r)

    def _reseller_books(self, r: ResellerState, s: int, client: int):
        """A reseller now holds slot s: for its client (to order) or as stock (speculative)."""
        r.booked_today += 1
        r.period_booked += 1
        self.s_reseller[s] = r.index
        self.s_booked_t[s] = self.env.now
        if self.policy.friction.prepaid:
            self.s_prepaid[s] = True
            r.charge(self.sc.centre.service_fee_eur)
        if client >= 0:
            self._sell(r, s, client)
        else:
            self.s_state[s] = S_INVENTORY
            heapq.heappush(r.inventory[self.s_pool[s]], (self.s_day[s], s))
            self._schedule_sweep()

    # ------------------------------------------------------------------ resellers: buyers, orders, sales
    def _pool_of(self, i: int) -> int:
        return DRAW if self.segment[i] in self.policy.enrolled else FCFS

    def _buyers(self) -> np.ndarray:
        """Waiting people past their patience, in order of arrival."""
        lo, hi, now = self.lo, self.n_arrived, self.env.now
        mask = ((self.st_np[lo:hi] == WAITING) & (self.ready_to_buy[lo:hi] <= now)
                & (self.pop.latest_day[lo:hi] > now))
        return lo + np.flatnonzero(mask)

    def _next_order(self, r: ResellerState, day: int) -> int:
        """First valid client in r's order book whose travel date allows `day`."""
        orders = r.orders
        k = 0
        while k < len(orders):
            i = orders[k]
            if self.st[i] != WAITING or self.ordered_from[i] != r.index or self.latest[i] < day:
                # Served, gone, or too late for any slot left: the client is free to look elsewhere.
                orders.pop(k)
                if self.ordered_from[i] == r.index:
                    self.ordered_from[i] = -1
                continue
            if self._pool_of(i) == FCFS:
                orders.pop(k)
                return i
            k += 1
        return -1

    def _first_stock(self, r: ResellerState, pool: int) -> int:
        inv, now = r.inventory[pool], self.env.now
        while inv:
            day, s = inv[0]
            if day > now:
                return s
            heapq.heappop(inv)  # past its day unsold: settled as wasted_unsold by the day clock
        return -1

    def _sell(self, r: ResellerState, s: int, i: int):
        price = r.price
        r.earn(price)
        r.period_sold += 1
        r.sold_yesterday += 1
        self.day_counters.sales += 1
        self.day_counters.sales_eur += price
        self._assign(s, i, via_reseller=r.index, price=price)

    def _schedule_sweep(self):
        if not self.sweep_pending:
            self.sweep_pending = True
            self.at(SWEEP_DELAY, self._sweep)

    def _sweep(self):
        """Buyers (past patience, in arrival order) go to the cheapest reseller they can afford:
        speculative stock is sold at once; a to-order reseller takes the order for its bots."""
        self.sweep_pending = False
        buyers = self._buyers()
        if not len(buyers):
            return
        sellable = self.policy.friction.speculative_sellable
        for r in sorted(self.resellers, key=lambda r: r.price):
            if not r.active:
                continue
            cand = buyers[self.wtp[buyers] >= r.price]
            if r.mode == "speculative":
                if sellable and r.held():
                    self._sell_stock(r, cand)
            else:
                self._take_orders(r, cand)

    def _sell_stock(self, r: ResellerState, cand: np.ndarray):
        for pool, inv in r.inventory.items():
            s = self._first_stock(r, pool)
            if s < 0:
                continue
            ok = cand[self.pop.latest_day[cand] >= self.s_day[s]]
            for i in ok.tolist():
                if self.st[i] != WAITING or self._pool_of(i) != pool:
                    continue
                s = self._first_stock(r, pool)
                if s < 0:
                    break
                if self.s_day[s] <= self.latest[i]:
                    heapq.heappop(inv)
                    self._sell(r, s, i)

    def _take_orders(self, r: ResellerState, cand: np.ndarray):
        room = int(r.bots * r.p.bookings_per_bot_per_release) * 7 - len(r.orders)
        horizon = self.env.now + self.H
        for i in cand.tolist():
            if room <= 0:
                break
            if self.ordered_from[i] >= 0 or self.st[i] != WAITING:
                continue
            # First-come clients must be servable by the next release; draw clients get duplicates.
            if self._pool_of(i) == DRAW or self.latest[i] >= horizon:
                self.ordered_from[i] = r.index
                r.orders.append(i)
                room -= 1
        self._schedule_fleet(r)

    def _update_prices(self):
        cap = self.sc.centre.capacity_per_day
        buyers = self._buyers()
        for r in self.resellers:
            if not r.active:
                continue
            # Raise the price while more willing buyers wait than a day's bookings can serve;
            # lower it when stock goes unsold.
            demand = int(np.count_nonzero(self.wtp[buyers] >= r.price)) if len(buyers) else 0
            demand += r.sold_yesterday  # those already served at this price wanted it too
            supply = min(self._fleet_capacity(r), cap)  # a fleet cannot book more than the centre has
            excess = (demand - supply - UNSOLD_WEIGHT * r.unsold_yesterday) / cap
            r.unsold_yesterday = r.sold_yesterday = 0
            p = r.p
            r.price = float(np.clip(r.price * (1.0 + p.price_elasticity * math.tanh(excess)),
                                    p.price_min_eur, p.price_max_eur))

    def _review(self, r: ResellerState, day: int):
        """Weekly: grow while profitable and selling, shrink while losing, exit below one bot."""
        p = r.p
        profit = r.period_revenue - r.period_cost
        before = r.bots
        if r.mode == "speculative" and not self.policy.friction.speculative_sellable:
            # Stock can no longer be renamed to a buyer: only booking for a client is left.
            r.mode = "to_order"
            r.mode_switch_day = day
            r.inventory = {0: [], 1: []}
        else:
            # Size the fleet to what it books (utilisation of its booking capacity) and, when
            # speculating, to what it sells; never move by more than growth_rate at once.
            # Without first-come releases bots have no booking to do: only fake registrations
            # in a draw (speculative) keep them busy.
            capacity = r.period_quota
            if r.mode == "speculative":
                sell_through = r.period_sold / r.period_booked if r.period_booked else 0.0
                utilisation = r.period_booked / capacity if capacity else TARGET_UTILISATION
                factor = min(utilisation / TARGET_UTILISATION, sell_through / p.target_sell_through)
            elif capacity:
                waiting = sum(1 for i in r.orders if self.st[i] == WAITING)
                factor = (r.period_booked + waiting) / (capacity * TARGET_UTILISATION)
            else:
                factor = 0.0
            if profit < 0:
                factor = min(factor, 1.0 - p.growth_rate)
            r.bots *= min(max(factor, 1.0 - p.growth_rate), 1.0 + p.growth_rate)
        r.bots = min(r.bots, float(p.max_bots))
        if r.bots < 1.0:
            r.bots = 0.0
        self.reviews.append(dict(day=day, reseller=p.name, mode=r.mode, bots_before=before, bots=r.bots,
                                 profit_eur=profit, booked=r.period_booked, sold=r.period_sold,
                                 price_eur=r.price))
        r.period_booked = r.period_sold = 0
        r.period_quota = 0.0
        r.period_revenue = r.period_cost = 0.0

    # ------------------------------------------------------------------ draw market
    def _register(self, i: int):
        if self.st[i] != WAITING or i in self.registry:
            return
        self.mode[i] = REGISTERED
        self.registry.add(i)
        self.registered_at[i] = self.env.now
        self.env.schedule_fifo(self.policy.scheme.registration_valid_days, self._registration_expires,
                               (i, self.env.now))

    def _registration_expires(self, i: int, since: float):
        if (self.st[i] != WAITING or self.mode[i] != REGISTERED or i not in self.registry
                or self.registered_at.get(i) != since):
            return  # settled, or this timer belongs to an earlier registration
        self.registry.remove(i)
        self.mode[i] = IDLE
        # The person notices at their next visit and registers again.
        self.at(self.rng_d.exponential(1.0 / self.rate[i]), self._reregister, i)

    def _reregister(self, i: int):
        if self.st[i] == WAITING and self.mode[i] == IDLE:
            self._start_search(i)

    def _draw(self):
        """Free draw slots go to registrations chosen uniformly at random; the rest wait in line."""
        now = self.env.now
        # Every free slot comes out, in (day, slot) order: one sort instead of a pop per slot.
        free, self.draw_free = sorted(self.draw_free), []
        slots = [s for day, s in free if day > now]
        if not slots:
            return
        genuine = self.registry.items
        extra: list[tuple[int, int]] = []  # reseller tickets: fakes (-1, r) and client duplicates (i, r)
        fr = self.policy.friction
        det = max(self.policy.policy.defences.identity_binding.detection_prob if fr.identity_bound else 0.0,
                  self.policy.scheme.duplicate_detection_prob)
        for r in self.resellers:
            if not r.active:
                continue
            if r.mode == "speculative":
                n_fake = self.rng_d.binomial(int(r.bots * r.p.fake_registrations_per_bot), 1.0 - det)
                extra.extend([(-1, r.index)] * int(n_fake))
            else:
                for i in r.orders:
                    if self.st[i] == WAITING and self._pool_of(i) == DRAW:
                        k = self.rng_d.poisson(r.p.duplicates_per_client * (1.0 - det))
                        extra.extend([(i, r.index)] * int(k))
        n_genuine, n_tickets = len(genuine), len(genuine) + len(extra)
        if not n_tickets:
            self.draw_free = free[len(free) - len(slots):]  # the future slots, sorted: a heap
            return
        m = min(n_tickets, int(len(slots) * (1.0 + self.policy.scheme.waiting_list_factor)) + 1)
        order = self.rng_d.choice(n_tickets, size=m, replace=False)
        drawn = [(genuine[k], -1) if k < n_genuine else extra[k - n_genuine] for k in order.tolist()]
        registered_by_habit = self._count_habits(genuine)  # before winners leave the registry
        # slots are in (day, slot) order already: the earliest go first
        k = 0
        winners = set()
        rest = []
        for owner, res in drawn:
            if owner >= 0 and (owner in winners or self.st[owner] != WAITING):
                continue
            if k < len(slots) and (owner < 0 or self.latest[owner] >= self.s_day[slots[k]]):
                if owner >= 0:
                    winners.add(owner)
                self._offer(slots[k], owner, res)
                k += 1
            else:
                rest.append((owner, res))
        # The slots not offered, still sorted (so a valid heap): the tail of `free`.
        tail = free[len(free) - len(slots) + k:]
        if self.draw_free:  # anything released meanwhile (nothing is, today)
            tail += self.draw_free
            heapq.heapify(tail)
        self.draw_free = tail
        self.waitlist = rest[::-1]
        self.draws.append(dict(day=now, slots=len(slots), offered=k, genuine_tickets=n_genuine,
                               reseller_tickets=len(extra),
                               registered_by_habit=registered_by_habit,
                               won_by_habit=self._count_habits(list(winners))))

    def _count_habits(self, people: list[int]) -> list[int]:
        idx = np.asarray(people, dtype=np.int64)
        return np.bincount(self.pop.habit[idx], minlength=len(self.pool.rates)).tolist()

    def _offer(self, s: int, owner: int, res: int):
        """Offer slot s to a drawn ticket; it is confirmed only once the fee is paid in time."""
        self.s_state[s] = S_OFFERED
        self.s_offers[s] += 1
        # The fee is due within the deadline, and in any case before the appointment day starts.
        deadline = min(self.policy.scheme.payment_deadline_hours / 24.0, self.s_day[s] - self.env.now)
        if owner >= 0:
            self.registry.remove(owner)
            self.mode[owner] = OFFERED
        if self.s_taken_by[s] == TAKEN_BY_NOBODY:
            self.s_taken_by[s] = TAKEN_BY_RESELLER_DRAW if res >= 0 else TAKEN_BY_DRAW
            self.day_counters.allocated_draw += 1
        if res >= 0:
            # A reseller pays for a client's win, or for stock it can still rename and sell.
            if owner >= 0 or self.policy.friction.speculative_sellable:
                self.at(0.0, self._paid, s, owner, res)
            else:
                self.at(deadline, self._unpaid, s, owner)
            return
        if self.pop.u_pay[owner] < self.sc.humans.pay_deadline_prob:
            # float(): a numpy scalar here would make every later event time a numpy scalar too
            # (the same values, but each heap comparison and time sum several times dearer)
            self.at(float(self.pop.u_pay_delay[owner]) * deadline, self._paid, s, owner, -1)
        else:
            self.at(deadline, self._unpaid, s, owner)

    def _paid(self, s: int, owner: int, res: int):
        if self.s_day[s] <= self.env.now:
            self._unpaid(s, owner)
            return
        if owner >= 0 and self.st[owner] != WAITING:
            self._reassign(s)  # served elsewhere meanwhile
            return
        if res >= 0:
            r = self.resellers[res]
            self._reseller_books(r, s, owner)
        else:
            self._assign(s, owner, via_reseller=-1, price=0.0)

    def _unpaid(self, s: int, owner: int):
        if owner >= 0 and self.st[owner] == WAITING:
            self.mode[owner] = IDLE  # a person who let the deadline pass is off the list
        self._reassign(s)

    def _reassign(self, s: int):
        """The slot passes at once to the next valid ticket of the last draw's waiting list."""
        self.s_state[s] = S_FREE
        day = self.s_day[s]
        if day <= self.env.now:
            return  # too late to use: settled as wasted_unpaid
        while self.waitlist:
            owner, res = self.waitlist.pop()
            if owner >= 0 and (self.st[owner] != WAITING or self.mode[owner] == OFFERED
                               or self.latest[owner] < day):
                continue
            self.day_counters.reassignments += 1
            self._offer(s, owner, res)
            return
        heapq.heappush(self.draw_free, (day, s))

    # ------------------------------------------------------------------ the day clock
    def _day_clock(self):
        env = self.env
        switches = dict(self.timeline)
        for day in range(self.sc.run.days):
            if day > env.now:
                yield env.timeout(day - env.now)
            if day in switches and day > 0:
                self._switch_policy(switches[day])
            self._expire_deadlines(day)
            self._settle_day(day)
            self._start_day(day)

    def _switch_policy(self, new: CentrePolicy):
        old = self.policy
        self.policy = new
        if new.enrolled == old.enrolled:
            return
        # Everyone waiting in a newly enrolled segment registers, including those who had given
        # up on the site; people mid-attempt are routed when their attempt ends.
        lo, hi = self.lo, self.n_arrived
        waiting = lo + np.flatnonzero(self.st_np[lo:hi] == WAITING)
        for i in waiting.tolist():
            if self.segment[i] in new.enrolled and self.mode[i] in (SEARCHING, GAVE_UP_SITE, IDLE):
                self._leave_site(i, IDLE)
                self._register(i)
        for i in list(self.registry.items):
            if self.segment[i] not in new.enrolled:
                self.registry.remove(i)
                self.mode[i] = IDLE
                self._start_search(i)

    def _settle_day(self, day: int):
        """Start of day `day`: its appointments happen; every slot of the day gets its outcome."""
        self._earliest_free()  # drops past free slots from the heap
        no_show = self.sc.centre.no_show_prob
        no_show_prepaid = self.sc.centre.no_show_prob_prepaid
        u = self.pop.u_no_show
        for s in self.slots_by_day.pop(day, ()):
            state = self.s_state[s]
            if state == S_BOOKED:
                i = self.s_holder[s]
                p = no_show_prepaid if self.s_prepaid[s] else no_show
                if u[i] < p:
                    out = WASTED_NO_SHOW
                elif self.s_reseller[s] >= 0:
                    out = ATTENDED_RESELLER
                else:
                    out = ATTENDED_DIRECT
            elif state == S_INVENTORY:
                out = WASTED_UNSOLD
                self.resellers[self.s_reseller[s]].unsold_yesterday += 1
            elif state == S_OFFERED or self.s_offers[s] > 0:
                out = WASTED_UNPAID
            else:
                out = WASTED_UNBOOKED
            self.s_outcome[s] = out
        self._record_day(day)

    def _record_day(self, day: int):
        if day == 0:
            return
        c = self.day_counters
        bots = sum(int(r.bots) for r in self.resellers)
        has_booking = self.policy.draw_share < 1.0  # bots poll only where first-come slots exist
        requests = 0.0
        for r in self.resellers:
            if r.active:
                polls = self._fleet_rate(r) if has_booking else 0.0  # requests the provider sees all day
                regs = r.bots * r.p.fake_registrations_per_bot if self.policy.uses_draw else 0.0
                requests += polls + regs
        requests += c.bot_attempts
        prices = [r.price for r in self.resellers if r.active]
        self.daily.append(dict(
            day=day - 1, date=self.cal.date(day - 1).isoformat(), released=c.released,
            booked_human=c.booked_human, booked_bot=c.booked_bot, allocated_draw=c.allocated_draw,
            sales=c.sales, sales_eur=c.sales_eur, bot_attempts=c.bot_attempts, bot_requests=requests,
            bots=bots, reseller_price_eur=float(np.mean(prices)) if prices else math.nan,
            searching=len(self.pool), registered=len(self.registry),
            backlog=int(np.count_nonzero(self.st_np[self.lo: self.n_arrived] == WAITING)),
            reassignments=c.reassignments))
        c.reset()

    def _start_day(self, day: int):
        releases_today = self.cal.is_working(day + self.H) and self.policy.draw_share < 1.0
        for r in self.resellers:
            r.booked_today = 0
            if r.active:
                r.charge(r.bots * r.p.cost_per_bot_day_eur)
                if releases_today:
                    r.period_quota += self._fleet_capacity(r)
        self._update_prices()
        self._schedule_sweep()
        if day > 0:
            for r in self.resellers:
                if r.p.adaptive and r.active and day % r.p.review_days == 0:
                    self._review(r, day)
        target = day + self.H
        pol = self.policy
        if self.cal.is_working(target):
            n_fcfs, n_draw = pol.split(self.sc.centre.capacity_per_day)
            for b in pol.booking_batches(n_fcfs, self.rng_r):
                self.at(b.at_day, self._release, target, b)
            if n_draw:
                self.at(pol.release_hour / 24.0, self._release_to_draw, target, n_draw)
        if pol.uses_draw and day % max(1, int(round(pol.scheme.draw_interval_days))) == 0:
            self.at(pol.release_hour / 24.0 + 1e-6, self._draw)

    def _release_to_draw(self, day: int, n: int):
        for s in self._new_slots(day, DRAW, n):
            heapq.heappush(self.draw_free, (day, s))


def simulate(sc: Scenario, seed: int | None = None, replication: int = 0) -> Model:
    """Run one replication; returns the finished model (records are read by metrics.py)."""
    return Model(sc, seed, replication).run()
