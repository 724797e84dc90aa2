"""Resellers: bot fleets that book slots and sell them on, as businesses with a strategy.

A reseller books through its bot fleet (first_come.py races the fleet's polls
against people's checks) and sells at a price that follows demand. How it turns
bookings into sales is its *strategy*:

- `Speculative`: books whatever it can as stock and renames it to a buyer later
  (possible only while identity binding is off); in a draw it enters fake
  registrations;
- `ToOrder`: takes orders from buyers first and books for a named client; in a
  draw it enters duplicate registrations for its clients.

Buyers are waiting people past their patience; a sweep a few minutes after stock
arrives (and each morning) sends them to the cheapest reseller they can afford.
Fleets are reviewed weekly: they grow while booking and selling, shrink while
losing money, and exit below one bot.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..scenario import Reseller as ResellerParams
from ..schemes import SECONDS_PER_DAY, CentrePolicy, Friction
from .applicants import WAITING
from .slots import DRAW, FCFS, S_INVENTORY

if TYPE_CHECKING:
    from .model import Model

SWEEP_DELAY = 5.0 / 1440.0  # resellers match buyers a few minutes after stock arrives
UNSOLD_WEIGHT = 5.0  # a wasted unsold slot weighs like this many missing buyers [EST]
TARGET_UTILISATION = 0.8  # share of its booking capacity a reseller aims to use [EST]
STOCK, NO_CLIENT = -1, -2  # what a strategy books a slot for, when not for a client


@dataclass(eq=False)
class Reseller:
    """One reseller and its bot fleet, as it evolves during a run (parameters stay in `p`)."""

    index: int
    p: ResellerParams
    strategy: "Strategy"
    bots: float
    price: float
    inventory: dict[int, list] = field(default_factory=lambda: {FCFS: [], DRAW: []})  # pool -> heap (day, slot)
    orders: list[int] = field(default_factory=list)  # to-order clients waiting, FIFO
    inflight: int = 0
    pending_detection: bool = False
    token: int = 0
    booked_today: int = 0
    # totals over the run
    revenue: float = 0.0
    cost: float = 0.0
    attempts: int = 0
    # the current review period
    period_booked: int = 0
    period_sold: int = 0
    period_revenue: float = 0.0
    period_cost: float = 0.0
    period_quota: float = 0.0
    unsold_yesterday: int = 0
    sold_yesterday: int = 0
    mode_switch_day: int | None = None

    @property
    def mode(self) -> str:
        return self.strategy.name

    @property
    def active(self) -> bool:
        return self.bots >= 1.0

    def held(self) -> int:
        return sum(len(h) for h in self.inventory.values())

    def charge(self, eur: float) -> None:
        self.cost += eur
        self.period_cost += eur

    def earn(self, eur: float) -> None:
        self.revenue += eur
        self.period_revenue += eur

    def capacity(self, friction: Friction) -> int:
        """Slots the fleet can book in one release day (accounts; OTP caps them)."""
        per_bot = self.p.bookings_per_bot_per_release
        cap = friction.bot_accounts_cap
        if cap is not None:
            per_bot = min(per_bot, cap)
        return int(self.bots * per_bot)

    def quota(self, friction: Friction) -> int:
        """Bookings the fleet may still make today."""
        return self.strategy.limit_quota(self, self.capacity(friction) - self.booked_today)

    def poll_rate(self, friction: Friction, burst: bool = False) -> float:
        """Polls per day of the whole fleet: N bots every poll_interval_s, capped by rate limits
        unless it polls in a burst at an announced opening (a token bucket lets a burst through)."""
        rate = int(self.bots) * SECONDS_PER_DAY / self.p.poll_interval_s
        cap = friction.bot_poll_cap_per_day
        return rate if cap is None or burst else min(rate, cap)


class Strategy:
    """How a reseller turns bookings into sales (one stateless instance per kind)."""

    name = ""

    def limit_quota(self, r: Reseller, quota: int) -> int:
        return quota

    def client_for(self, market: "ResellerMarket", r: Reseller, day: int) -> int:
        """Whom a slot on `day` is booked for: a client, STOCK, or NO_CLIENT (do not book it)."""
        raise NotImplementedError

    def serve_buyers(self, market: "ResellerMarket", r: Reseller, candidates: np.ndarray) -> None:
        """Buyers who can afford r's price are looking: sell them stock or take their orders."""
        raise NotImplementedError

    def review_factor(self, market: "ResellerMarket", r: Reseller) -> float:
        """By how much the fleet would like to change its size, before limits."""
        raise NotImplementedError

    def draw_tickets(
        self,
        market: "ResellerMarket",
        r: Reseller,
        rng: np.random.Generator,
        detection: float,
        tickets: list[tuple[int, int]],
    ) -> None:
        """Add r's tickets to a draw: (owner, reseller), owner -1 for a fake registration."""
        raise NotImplementedError


class Speculative(Strategy):
    name = "speculative"

    def client_for(self, market, r, day):
        return STOCK

    def serve_buyers(self, market, r, candidates):
        if market.policy.friction.speculative_sellable and r.held():
            market.sell_stock(r, candidates)

    def review_factor(self, market, r):
        # Size the fleet to what it books (utilisation of its booking capacity) and to what it
        # sells. Without first-come releases bots have no booking to do: only fake registrations
        # in a draw keep them busy.
        capacity = r.period_quota
        sell_through = r.period_sold / r.period_booked if r.period_booked else 0.0
        utilisation = r.period_booked / capacity if capacity else TARGET_UTILISATION
        return min(utilisation / TARGET_UTILISATION, sell_through / r.p.target_sell_through)

    def draw_tickets(self, market, r, rng, detection, tickets):
        n_fake = rng.binomial(int(r.bots * r.p.fake_registrations_per_bot), 1.0 - detection)
        tickets.extend([(-1, r.index)] * int(n_fake))


class ToOrder(Strategy):
    name = "to_order"

    def limit_quota(self, r, quota):
        return min(quota, len(r.orders))

    def client_for(self, market, r, day):
        client = market.next_order(r, day)
        return client if client >= 0 else NO_CLIENT

    def serve_buyers(self, market, r, candidates):
        market.take_orders(r, candidates)

    def review_factor(self, market, r):
        capacity = r.period_quota
        if not capacity:
            return 0.0
        waiting = sum(1 for i in r.orders if market.st[i] == WAITING)
        return (r.period_booked + waiting) / (capacity * TARGET_UTILISATION)

    def draw_tickets(self, market, r, rng, detection, tickets):
        st, pool_of = market.st, market.pool_of
        for i in r.orders:
            if st[i] == WAITING and pool_of(i) == DRAW:
                k = rng.poisson(r.p.duplicates_per_client * (1.0 - detection))
                tickets.extend([(i, r.index)] * int(k))


SPECULATIVE, TO_ORDER = Speculative(), ToOrder()
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (SPECULATIVE, TO_ORDER)}


class ResellerMarket:
    """The resellers of a run: stock, orders, sales, daily prices and weekly fleet reviews."""

    def __init__(self, model: "Model"):
        sc = model.sc
        self.env = model.env
        self.policy: CentrePolicy = model.policy
        self.capacity_per_day = sc.centre.capacity_per_day
        self.service_fee = sc.centre.service_fee_eur
        self.horizon_days = sc.centre.release_days_ahead
        self.resellers = [
            Reseller(k, r, STRATEGIES[r.mode], float(r.bots), r.price_eur) for k, r in enumerate(sc.resellers)
        ]
        self.reviews: list[dict] = []
        self.sweep_pending = False
        a = model.applicants
        self.applicants = a
        self.st, self.latest, self.segment, self.wtp = a.st, a.latest, a.segment, a.wtp
        self.ordered_from = [-1] * len(a)  # the to-order reseller each person has an order with
        self.s_day, self.s_pool, self.s_state = model.slots.day, model.slots.pool, model.slots.state
        self.s_reseller, self.s_booked_t, self.s_prepaid = (
            model.slots.reseller,
            model.slots.booked_t,
            model.slots.prepaid,
        )
        self.counters = model.counters

    def connect(self, model: "Model") -> None:
        self.assign = model.assign
        self.schedule_fleet = model.first_come.schedule_fleet

    def __iter__(self):
        return iter(self.resellers)

    def __getitem__(self, k: int) -> Reseller:
        return self.resellers[k]

    def pool_of(self, i: int) -> int:
        """The pool that can serve person i under the policy in force."""
        return DRAW if self.segment[i] in self.policy.enrolled else FCFS

    # ------------------------------------------------------------------ bookings and sales
    def books(self, r: Reseller, s: int, client: int) -> None:
        """r now holds slot s: for its client (to order) or as stock (client STOCK)."""
        r.booked_today += 1
        r.period_booked += 1
        self.s_reseller[s] = r.index
        self.s_booked_t[s] = self.env.now
        if self.policy.friction.prepaid:
            self.s_prepaid[s] = True
            r.charge(self.service_fee)
        if client >= 0:
            self.sell(r, s, client)
        else:
            self.s_state[s] = S_INVENTORY
            heapq.heappush(r.inventory[self.s_pool[s]], (self.s_day[s], s))
            self.schedule_sweep()

    def sell(self, r: Reseller, s: int, i: int) -> None:
        price = r.price
        r.earn(price)
        r.period_sold += 1
        r.sold_yesterday += 1
        self.counters.sales += 1
        self.counters.sales_eur += price
        self.assign(s, i, via_reseller=r.index, price=price)

    def next_order(self, r: Reseller, day: int) -> int:
        """First valid client in r's order book whose travel date allows `day`, or -1."""
        orders, st, ordered_from, latest = r.orders, self.st, self.ordered_from, self.latest
        k = 0
        while k < len(orders):
            i = orders[k]
            if st[i] != WAITING or ordered_from[i] != r.index or latest[i] < day:
                # Served, gone, or too late for any slot left: the client is free to look elsewhere.
                orders.pop(k)
                if ordered_from[i] == r.index:
                    ordered_from[i] = -1
                continue
            if self.pool_of(i) == FCFS:
                orders.pop(k)
                return i
            k += 1
        return -1

    def first_stock(self, r: Reseller, pool: int) -> int:
        inv, now = r.inventory[pool], self.env.now
        while inv:
            day, s = inv[0]
            if day > now:
                return s
            heapq.heappop(inv)  # past its day unsold: settled as wasted_unsold by the day clock
        return -1

    def schedule_sweep(self) -> None:
        if not self.sweep_pending:
            self.sweep_pending = True
            self.env.call(SWEEP_DELAY, self._sweep)

    def _sweep(self) -> None:
        """Buyers (past patience, in arrival order) go to the cheapest reseller they can afford."""
        self.sweep_pending = False
        buyers = self.applicants.buyers(self.env.now)
        if not len(buyers):
            return
        for r in sorted(self.resellers, key=lambda r: r.price):
            if r.active:
                r.strategy.serve_buyers(self, r, buyers[self.wtp[buyers] >= r.price])

    def sell_stock(self, r: Reseller, candidates: np.ndarray) -> None:
        latest_day = self.applicants.pop.latest_day
        for pool, inv in r.inventory.items():
            s = self.first_stock(r, pool)
            if s < 0:
                continue
            ok = candidates[latest_day[candidates] >= self.s_day[s]]
            for i in ok.tolist():
                if self.st[i] != WAITING or self.pool_of(i) != pool:
                    continue
                s = self.first_stock(r, pool)
                if s < 0:
                    break
                if self.s_day[s] <= self.latest[i]:
                    heapq.heappop(inv)
                    self.sell(r, s, i)

    def take_orders(self, r: Reseller, candidates: np.ndarray) -> None:
        room = int(r.bots * r.p.bookings_per_bot_per_release) * 7 - len(r.orders)
        horizon = self.env.now + self.horizon_days
        for i in candidates.tolist():
            if room <= 0:
                break
            if self.ordered_from[i] >= 0 or self.st[i] != WAITING:
                continue
            # First-come clients must be servable by the next release; draw clients get duplicates.
            if self.pool_of(i) == DRAW or self.latest[i] >= horizon:
                self.ordered_from[i] = r.index
                r.orders.append(i)
                room -= 1
        self.schedule_fleet(r)

    # ------------------------------------------------------------------ the draw
    def draw_tickets(self, rng: np.random.Generator, detection: float) -> list[tuple[int, int]]:
        """Every active reseller's tickets for a draw, in reseller order."""
        tickets: list[tuple[int, int]] = []
        for r in self.resellers:
            if r.active:
                r.strategy.draw_tickets(self, r, rng, detection, tickets)
        return tickets

    # ------------------------------------------------------------------ the day
    def start_day(self, day: int, releases_today: bool) -> None:
        """Morning: pay for the fleets, reprice, look for buyers, review the fleets due."""
        friction = self.policy.friction
        for r in self.resellers:
            r.booked_today = 0
            if r.active:
                r.charge(r.bots * r.p.cost_per_bot_day_eur)
                if releases_today:
                    r.period_quota += r.capacity(friction)
        self._update_prices()
        self.schedule_sweep()
        if day > 0:
            for r in self.resellers:
                if r.p.adaptive and r.active and day % r.p.review_days == 0:
                    self._review(r, day)

    def unsold(self, k: int) -> None:
        """A slot of reseller k's stock reached its day unsold (priced in tomorrow)."""
        self.resellers[k].unsold_yesterday += 1

    def requests_seen(self) -> float:
        """Requests a day the provider sees from the fleets: polls (where first-come slots exist)
        and fake registrations (where a draw runs)."""
        policy = self.policy
        has_booking = policy.draw_share < 1.0  # bots poll only where first-come slots exist
        requests = 0.0
        for r in self.resellers:
            if r.active:
                polls = r.poll_rate(policy.friction) if has_booking else 0.0
                regs = r.bots * r.p.fake_registrations_per_bot if policy.uses_draw else 0.0
                requests += polls + regs
        return requests

    def _update_prices(self) -> None:
        cap = self.capacity_per_day
        buyers = self.applicants.buyers(self.env.now)
        friction = self.policy.friction
        for r in self.resellers:
            if not r.active:
                continue
            # Raise the price while more willing buyers wait than a day's bookings can serve;
            # lower it when stock goes unsold.
            demand = int(np.count_nonzero(self.wtp[buyers] >= r.price)) if len(buyers) else 0
            demand += r.sold_yesterday  # those already served at this price wanted it too
            supply = min(r.capacity(friction), cap)  # a fleet cannot book more than the centre has
            excess = (demand - supply - UNSOLD_WEIGHT * r.unsold_yesterday) / cap
            r.unsold_yesterday = r.sold_yesterday = 0
            p = r.p
            r.price = float(
                np.clip(r.price * (1.0 + p.price_elasticity * math.tanh(excess)), p.price_min_eur, p.price_max_eur)
            )

    def _review(self, r: Reseller, day: int) -> None:
        """Weekly: grow while profitable and selling, shrink while losing, exit below one bot."""
        p = r.p
        profit = r.period_revenue - r.period_cost
        before = r.bots
        if r.strategy is SPECULATIVE and not self.policy.friction.speculative_sellable:
            # Stock can no longer be renamed to a buyer: only booking for a client is left.
            r.strategy = TO_ORDER
            r.mode_switch_day = day
            r.inventory = {FCFS: [], DRAW: []}
        else:
            # Never move by more than growth_rate at once.
            factor = r.strategy.review_factor(self, r)
            if profit < 0:
                factor = min(factor, 1.0 - p.growth_rate)
            r.bots *= min(max(factor, 1.0 - p.growth_rate), 1.0 + p.growth_rate)
        r.bots = min(r.bots, float(p.max_bots))
        if r.bots < 1.0:
            r.bots = 0.0
        self.reviews.append(
            dict(
                day=day,
                reseller=p.name,
                mode=r.mode,
                bots_before=before,
                bots=r.bots,
                profit_eur=profit,
                booked=r.period_booked,
                sold=r.period_sold,
                price_eur=r.price,
            )
        )
        r.period_booked = r.period_sold = 0
        r.period_quota = 0.0
        r.period_revenue = r.period_cost = 0.0
