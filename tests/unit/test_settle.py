"""Slots.settle (sim/model/slots.py): every slot of the day gets exactly the outcome its state implies."""

from __future__ import annotations

import math

import pytest
from conftest import SCALED_FLEETS, run_short

from sim.model.kernel import Kernel
from sim.model.recording import DailyCounters
from sim.model.slots import DRAW, FCFS, S_BOOKED, S_FREE, S_INVENTORY, S_OFFERED, Slots
from sim.records import OUTCOMES

FREE_RATE, PREPAID_RATE = 0.3, 0.05  # no-show rates of free and prepaid bookings


class SettleCase:
    """A Slots table built by hand: one slot per call to `slot`, holders get the given uniforms."""

    def __init__(self):
        self.counters = DailyCounters()
        self.slots = Slots(Kernel(), self.counters)
        self.u_no_show: list[float] = []
        self.unsold: list[int] = []

    def slot(self, day=3, pool=FCFS, state=S_FREE, u=None, prepaid=False, reseller=-1, offers=0) -> int:
        (s,) = self.slots.new(day, pool, 1)
        self.slots.state[s] = state
        self.slots.prepaid[s] = prepaid
        self.slots.reseller[s] = reseller
        self.slots.offers[s] = offers
        if u is not None:  # a holder with this no-show uniform
            self.slots.holder[s] = len(self.u_no_show)
            self.u_no_show.append(u)
        return s

    def settle(self, day=3, free_rate=FREE_RATE, prepaid_rate=PREPAID_RATE) -> None:
        self.slots.settle(day, free_rate, prepaid_rate, self.u_no_show, self.unsold.append)

    def outcome(self, s: int) -> str:
        return OUTCOMES[self.slots.outcome[s]]


BOOKED_CASES = {
    # name: (u, prepaid, reseller, expected outcome)
    "free_below_free_rate_no_show": (0.1, False, -1, "wasted_no_show"),
    "prepaid_same_u_attends": (0.1, True, -1, "attended_direct"),  # 0.05 <= 0.1 < 0.3
    "prepaid_below_prepaid_rate_no_show": (0.01, True, -1, "wasted_no_show"),
    "free_above_rate_attends": (0.5, False, -1, "attended_direct"),
    "free_at_exactly_the_rate_attends": (FREE_RATE, False, -1, "attended_direct"),  # P(u < p) = p
    "resold_free_attends_via_reseller": (0.5, False, 2, "attended_via_reseller"),
    "resold_prepaid_attends_via_reseller": (0.1, True, 0, "attended_via_reseller"),
    "resold_free_no_show": (0.1, False, 1, "wasted_no_show"),
}


@pytest.mark.parametrize("case", BOOKED_CASES)
def test_booked_slot_outcome_follows_its_holders_uniform_and_kind_of_booking(case):
    u, prepaid, reseller, expected = BOOKED_CASES[case]
    c = SettleCase()
    s = c.slot(state=S_BOOKED, u=u, prepaid=prepaid, reseller=reseller)
    c.settle()
    assert c.outcome(s) == expected
    assert c.unsold == []


def test_all_kinds_of_slot_settled_together():
    c = SettleCase()
    no_show = c.slot(state=S_BOOKED, u=0.1)  # free booking, u < 0.3
    prepaid = c.slot(state=S_BOOKED, u=0.1, prepaid=True)  # prepaid, u >= 0.05
    resold = c.slot(state=S_BOOKED, u=0.9, reseller=1)
    stock_a = c.slot(state=S_INVENTORY, reseller=3)
    stock_b = c.slot(state=S_INVENTORY, reseller=0)
    offered = c.slot(pool=DRAW, state=S_OFFERED, offers=1)
    once_offered = c.slot(pool=DRAW, state=S_FREE, offers=2)  # back to free after refusals
    untaken = c.slot(state=S_FREE)
    untaken_draw = c.slot(pool=DRAW, state=S_FREE)
    other_day = c.slot(day=4, state=S_BOOKED, u=0.0)
    c.settle(day=3)
    assert {s: c.outcome(s) for s in range(len(c.slots))} == {
        no_show: "wasted_no_show",
        prepaid: "attended_direct",
        resold: "attended_via_reseller",
        stock_a: "wasted_unsold",
        stock_b: "wasted_unsold",
        offered: "wasted_unpaid",
        once_offered: "wasted_unpaid",
        untaken: "wasted_unbooked",
        untaken_draw: "wasted_unbooked",
        other_day: "pending",  # not its day yet
    }
    assert sorted(c.unsold) == [0, 3]  # each reseller told about its own unsold slot, once
    assert c.counters.released == 10


def test_swapping_the_two_rates_changes_the_outcomes():
    """With the rates the other way round, the same slots settle the other way round."""
    c = SettleCase()
    free = c.slot(state=S_BOOKED, u=0.1)
    prepaid = c.slot(state=S_BOOKED, u=0.1, prepaid=True)
    c.settle(free_rate=PREPAID_RATE, prepaid_rate=FREE_RATE)
    assert (c.outcome(free), c.outcome(prepaid)) == ("attended_direct", "wasted_no_show")


def test_a_day_settles_once_and_only_its_own_slots():
    c = SettleCase()
    day3 = [c.slot(day=3, state=S_BOOKED, u=0.9) for _ in range(3)]
    day5 = [c.slot(day=5, state=S_INVENTORY, reseller=1) for _ in range(2)]
    c.settle(day=3)
    assert [c.outcome(s) for s in day3] == ["attended_direct"] * 3
    assert [c.outcome(s) for s in day5] == ["pending"] * 2
    # the holder's state changing after settlement (or settling again) does not touch day 3
    c.slots.state[day3[0]] = S_INVENTORY
    c.settle(day=3)
    assert c.outcome(day3[0]) == "attended_direct" and c.unsold == []
    c.settle(day=5)
    assert [c.outcome(s) for s in day5] == ["wasted_unsold"] * 2
    assert c.unsold == [1, 1]
    c.settle(day=4)  # a day without slots
    assert c.unsold == [1, 1]


# --------------------------------------------------------------------------- in a run


def test_no_show_share_in_a_run_matches_the_free_booking_rate():
    res = run_short("baseline", *SCALED_FLEETS, "centre.no_show_prob=0.3")
    s = res.slots
    settled_booked = s.outcome.isin(["attended_direct", "attended_via_reseller", "wasted_no_show"]) & ~s.prepaid
    n = int(settled_booked.sum())
    assert n > 1000
    share = (s.outcome[settled_booked] == "wasted_no_show").mean()
    # Each holder's uniform is independent of how they got the slot: binomial, p = 0.3; 4 s.e.
    # (~0.037 for n ~ 2400: a chance failure for a given seed has probability 6e-5). The
    # default prepaid rate 0.05 or the default free rate 0.15 would be far outside.
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n), (share, n)
    # holders differ: one uniform per slot
    assert s.holder[settled_booked].is_unique


def test_no_show_share_of_prepaid_bookings_matches_the_prepaid_rate():
    res = run_short(
        "baseline",
        *SCALED_FLEETS,
        "policy.defences.prepayment.enabled=true",
        "centre.no_show_prob=0.02",
        "centre.no_show_prob_prepaid=0.25",
    )
    s = res.slots
    settled_booked = s.outcome.isin(["attended_direct", "attended_via_reseller", "wasted_no_show"])
    assert s.prepaid[settled_booked].all()  # every booking is prepaid under prepayment
    n = int(settled_booked.sum())
    assert n > 1000
    share = (s.outcome[settled_booked] == "wasted_no_show").mean()
    assert abs(share - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n), (share, n)  # binomial, 4 s.e.
