"""The draw market: registrations, draws, payment deadlines and the waiting list.

People in an enrolled segment register (a registration is valid for a while and
renewed at their next visit). At each draw the free draw slots go, earliest
first, to tickets chosen uniformly at random among genuine registrations and
resellers' tickets (fake registrations, duplicates for clients); the tickets
drawn beyond the slots form the waiting list. An offer is confirmed when the fee
is paid before the deadline (and before the appointment day); an unpaid or
refused slot passes at once to the next valid ticket on the waiting list.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from ..schemes import CentrePolicy
from .applicants import IDLE, OFFERED, REGISTERED, WAITING
from .pools import Registry
from .slots import DRAW, S_FREE, S_OFFERED, TAKEN_BY_DRAW, TAKEN_BY_NOBODY, TAKEN_BY_RESELLER_DRAW

if TYPE_CHECKING:
    from .model import Model


class DrawMarket:
    """Draw slots, registrations and the waiting list of the last draw."""

    def __init__(self, model: "Model"):
        self.env = model.env
        self.policy: CentrePolicy = model.policy
        self.counters = model.counters
        self.slots = model.slots
        self.s_day, self.s_state, self.s_offers, self.s_taken_by = (
            model.slots.day,
            model.slots.state,
            model.slots.offers,
            model.slots.taken_by,
        )
        a = model.applicants
        self.pop = a.pop
        self.st, self.mode, self.latest, self.rate = a.st, a.mode, a.latest, a.rate
        self.n_habits = len(model.sc.humans.habits)
        self.pay_deadline_prob = model.sc.humans.pay_deadline_prob
        self.habit = a.habit
        self.registry = Registry(a.habit, self.n_habits)
        self.registered_at: dict[int, float] = {}  # when each person's current registration began
        self.free: list[tuple[int, int]] = []  # heap of (day, slot): draw slots not yet offered
        self.waitlist: list[tuple[int, int]] = []  # (owner, reseller) tickets, reversed: pop() is next
        self.rng = model.streams["draws"]
        self.draws: list[dict] = []  # one record per draw: tickets, offers, composition by habit

    def connect(self, model: "Model") -> None:
        self.assign = model.assign
        self.start_search = model.start_search
        self.resellers = model.resellers

    # ------------------------------------------------------------------ registrations
    def register(self, i: int) -> None:
        if self.st[i] != WAITING or i in self.registry:
            return
        self.mode[i] = REGISTERED
        self.registry.add(i)
        now = self.env.now
        self.registered_at[i] = now
        self.env.call_fifo(
            self.policy.scheme.registration_valid_days, self._registration_expires, (i, now), self._expiry_moot
        )

    def _expiry_moot(self, i: int, since: float) -> bool:
        """The expiry of i's registration made at `since` can no longer matter, ever: i is settled
        (served or gone), or registered again since (registration times only grow)."""
        return self.st[i] != WAITING or self.registered_at[i] > since

    def _registration_expires(self, i: int, since: float) -> None:
        if (
            self.st[i] != WAITING
            or self.mode[i] != REGISTERED
            or i not in self.registry
            or self.registered_at.get(i) != since
        ):
            return  # settled, or this timer belongs to an earlier registration
        self.registry.remove(i)
        self.mode[i] = IDLE
        # The person notices at their next visit and registers again.
        self.env.call(self.rng.exponential(1.0 / self.rate[i]), self._reregister, (i,))

    def _reregister(self, i: int) -> None:
        if self.st[i] == WAITING and self.mode[i] == IDLE:
            self.start_search(i)

    def withdraw(self, i: int) -> None:
        """i is no longer registered (served, gone, or no longer enrolled)."""
        self.registry.remove(i)

    # ------------------------------------------------------------------ draws
    def release(self, day: int, n: int) -> None:
        """n slots for `day` go to the draw."""
        for s in self.slots.new(day, DRAW, n):
            heapq.heappush(self.free, (day, s))

    def draw(self) -> None:
        """Free draw slots go to tickets chosen uniformly at random; the rest wait in line."""
        now = self.env.now
        # Every free slot comes out, in (day, slot) order: one sort instead of a pop per slot.
        free, self.free = sorted(self.free), []
        slots = [s for day, s in free if day > now]
        if not slots:
            return
        genuine = self.registry.items
        policy = self.policy
        detection = max(
            policy.policy.defences.identity_binding.detection_prob if policy.friction.identity_bound else 0.0,
            policy.scheme.duplicate_detection_prob,
        )
        # reseller tickets: fakes (-1, r) and client duplicates (i, r)
        extra = self.resellers.draw_tickets(self.rng, detection)
        n_genuine, n_tickets = len(genuine), len(genuine) + len(extra)
        if not n_tickets:
            self.free = free[len(free) - len(slots) :]  # the future slots, sorted: a heap
            return
        m = min(n_tickets, int(len(slots) * (1.0 + policy.scheme.waiting_list_factor)) + 1)
        order = self.rng.choice(n_tickets, size=m, replace=False)
        drawn = [(genuine[k], -1) if k < n_genuine else extra[k - n_genuine] for k in order.tolist()]
        registered_by_habit = list(self.registry.by_habit)  # before winners leave the registry
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
        tail = free[len(free) - len(slots) + k :]
        if self.free:  # anything released meanwhile (nothing is, today)
            tail += self.free
            heapq.heapify(tail)
        self.free = tail
        self.waitlist = rest[::-1]
        self.draws.append(
            dict(
                day=now,
                slots=len(slots),
                offered=k,
                genuine_tickets=n_genuine,
                reseller_tickets=len(extra),
                registered_by_habit=registered_by_habit,
                won_by_habit=self._count_habits(winners),
            )
        )

    def _count_habits(self, people: set[int]) -> list[int]:
        counts, habit = [0] * self.n_habits, self.habit
        for i in people:
            counts[habit[i]] += 1
        return counts

    # ------------------------------------------------------------------ offers and payment
    def _offer(self, s: int, owner: int, res: int) -> None:
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
            self.counters.allocated_draw += 1
        if res >= 0:
            # A reseller pays for a client's win, or for stock it can still rename and sell.
            if owner >= 0 or self.policy.friction.speculative_sellable:
                self.env.call(0.0, self._paid, (s, owner, res))
            else:
                self.env.call(deadline, self._unpaid, (s, owner))
            return
        if self.pop.u_pay[owner] < self.pay_deadline_prob:
            # float(): a numpy scalar here would make every later event time a numpy scalar too
            # (the same values, but each heap comparison and time sum several times dearer)
            self.env.call(float(self.pop.u_pay_delay[owner]) * deadline, self._paid, (s, owner, -1))
        else:
            self.env.call(deadline, self._unpaid, (s, owner))

    def _paid(self, s: int, owner: int, res: int) -> None:
        if self.s_day[s] <= self.env.now:
            self._unpaid(s, owner)
            return
        if owner >= 0 and self.st[owner] != WAITING:
            self._reassign(s)  # served elsewhere meanwhile
            return
        if res >= 0:
            self.resellers.books(self.resellers[res], s, owner)
        else:
            self.assign(s, owner, via_reseller=-1, price=0.0)

    def _unpaid(self, s: int, owner: int) -> None:
        if owner >= 0 and self.st[owner] == WAITING:
            self.mode[owner] = IDLE  # a person who let the deadline pass is off the list
        self._reassign(s)

    def _reassign(self, s: int) -> None:
        """The slot passes at once to the next valid ticket of the last draw's waiting list."""
        self.s_state[s] = S_FREE
        day = self.s_day[s]
        if day <= self.env.now:
            return  # too late to use: settled as wasted_unpaid
        while self.waitlist:
            owner, res = self.waitlist.pop()
            if owner >= 0 and (self.st[owner] != WAITING or self.mode[owner] == OFFERED or self.latest[owner] < day):
                continue
            self.counters.reassignments += 1
            self._offer(s, owner, res)
            return
        heapq.heappush(self.free, (day, s))
