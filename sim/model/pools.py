"""The two pools of waiting people the markets draw from: first-come searchers and draw registrations.

Both are sets with O(1) add, remove and random pick, kept as lists plus a position index
so that a uniform (or rate-weighted) pick costs one or two random numbers.
"""

from __future__ import annotations

from typing import Sequence

from ..schemes import UniformSource


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

    def pick(self, rng: UniformSource) -> int:
        weights = [len(m) * r for m, r in zip(self.members, self.rates)]
        x = rng.uniform() * sum(weights)
        for m, w in zip(self.members, weights):
            if x < w and m:
                return m[int(rng.uniform() * len(m))]
            x -= w
        m = next(m for m in reversed(self.members) if m)
        return m[-1]

    def everyone(self) -> list[int]:
        return [i for m in self.members for i in m]


class Registry:
    """Registrations for a draw: uniform sampling, O(1) add and remove, and a count per
    checking habit kept up to date (each draw records it; counting 40k members a draw was dear)."""

    def __init__(self, habit: Sequence[int], n_habits: int) -> None:
        self.items: list[int] = []
        self.pos: dict[int, int] = {}
        self.habit = habit  # habit of each person, by index
        self.by_habit = [0] * n_habits

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, i: int) -> bool:
        return i in self.pos

    def add(self, i: int) -> None:
        if i not in self.pos:
            self.pos[i] = len(self.items)
            self.items.append(i)
            self.by_habit[self.habit[i]] += 1

    def remove(self, i: int) -> bool:
        k = self.pos.pop(i, None)
        if k is None:
            return False
        self.by_habit[self.habit[i]] -= 1
        last = self.items.pop()
        if last != i:
            self.items[k] = last
            self.pos[last] = k
        return True
