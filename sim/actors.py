"""Runtime state of the actors: the pool of searching people and the resellers.

Parameters stay in the frozen scenario; what changes during a run lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .scenario import Reseller


class SearchPool:
    """People looking for a first-come slot, grouped by checking habit.

    Checks are a Poisson stream per person, so the next check of anyone is one
    exponential draw with the summed rate and the checker is picked by weight:
    futile checks are never simulated, only counted from rates and durations.
    """

    def __init__(self, rates: list[float]):
        self.rates = rates
        self.members: list[list[int]] = [[] for _ in rates]
        self.where: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self.where)

    def __contains__(self, i: int) -> bool:
        return i in self.where

    def add(self, i: int, habit: int) -> None:
        lst = self.members[habit]
        self.where[i] = (habit, len(lst))
        lst.append(i)

    def remove(self, i: int) -> bool:
        loc = self.where.pop(i, None)
        if loc is None:
            return False
        habit, k = loc
        lst = self.members[habit]
        last = lst.pop()
        if last != i:
            lst[k] = last
            self.where[last] = (habit, k)
        return True

    def total_rate(self) -> float:
        return sum(len(m) * r for m, r in zip(self.members, self.rates))

    def pick(self, rng: np.random.Generator) -> int:
        weights = [len(m) * r for m, r in zip(self.members, self.rates)]
        x = rng.random() * sum(weights)
        for m, w in zip(self.members, weights):
            if x < w and m:
                return m[int(rng.random() * len(m))]
            x -= w
        m = next(m for m in reversed(self.members) if m)
        return m[-1]

    def everyone(self) -> list[int]:
        return [i for m in self.members for i in m]


class Registry:
    """Registrations for a draw: uniform sampling, O(1) add and remove."""

    def __init__(self):
        self.items: list[int] = []
        self.pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, i: int) -> bool:
        return i in self.pos

    def add(self, i: int) -> None:
        if i not in self.pos:
            self.pos[i] = len(self.items)
            self.items.append(i)

    def remove(self, i: int) -> bool:
        k = self.pos.pop(i, None)
        if k is None:
            return False
        last = self.items.pop()
        if last != i:
            self.items[k] = last
            self.pos[last] = k
        return True


@dataclass
class ResellerState:
    """One reseller and its bot fleet, as it evolves during a run."""
    index: int
    p: Reseller
    mode: str
    bots: float
    price: float
    inventory: dict[int, list] = field(default_factory=lambda: {0: [], 1: []})  # pool -> heap (day, slot)
    orders: list[int] = field(default_factory=list)  # to_order clients waiting, FIFO
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
