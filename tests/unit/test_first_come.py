"""The first-come market at its edges: the last free slot, arrivals, and who counts as a buyer."""

from __future__ import annotations

import numpy as np
from conftest import short_scenario

import sim
from sim.model import Model


def test_a_centre_with_one_slot_a_day_books_its_last_free_slot():
    """With one slot a day, more people than slots and no bots, every slot but a few is booked:
    the race must run while exactly one slot is free (people already waiting check for it)."""
    sc = short_scenario(
        "no_bots", "centre.capacity_per_day=1", "demand.applicants_per_year=1500", "centre.no_show_prob=0.0"
    )
    res = sim.run(sc, seed=3)
    window = res.slots[(res.slots.day >= sc.run.warmup_days) & (res.slots.day < sc.run.days)]
    unbooked = (window.outcome == "wasted_unbooked").mean()
    assert len(window) > 20 and unbooked < 0.1, unbooked
    # booked by people already waiting, not only by someone arriving as the slot opened
    booked = res.slots[res.slots.first_taken_by == "human"]
    holders = res.applicants.loc[booked.holder]
    assert (booked.booked_at_day.to_numpy() - holders.arrival_day.to_numpy() > 0.5).mean() > 0.5


def test_arrivals_are_counted_as_they_come():
    m = Model(short_scenario("no_bots", "run.days=30", "run.warmup_days=5"), seed=1)
    m.arrivals.start()
    for t in (0.5, 3.25, 7.0):
        m.env.run(until=t)
        assert m.applicants.n_arrived == int(np.count_nonzero(m.applicants.pop.arrival <= t))


def test_buyers_are_the_waiting_past_their_patience_before_their_travel_date():
    m = Model(short_scenario("baseline", "run.days=30", "run.warmup_days=5"), seed=1)
    m.arrivals.start()
    m.env.run(until=12.0)
    p = m.applicants.pop
    n = m.applicants.n_arrived
    expected = np.flatnonzero(
        (p.arrival[:n] + p.patience_days[:n] <= 12.0) & (p.latest_day[:n] > 12.0) & (m.applicants.st_np[:n] == 0)
    )
    assert len(expected) > 0
    assert m.applicants.buyers(12.0).tolist() == expected.tolist()
