"""The typed records a run returns: their columns and types, and the facts they must agree on.

Each check compares two records written by different mechanisms (the daily counters against the
slots, the applicants against the slots, the calendar against the start date), or a record
against the scenario, so that a mechanism that writes the wrong value is caught by the other."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import DAILY_COLUMNS, SCALED_FLEETS, short_scenario

import sim
from sim.presets import apply_preset
from sim.scenario import apply_overrides

APPLICANT_COLUMNS = {
    "arrival_day": "f",
    "checks_per_day": "f",
    "latest_day": "i",
    "slot": "i",
    "appointment_day": "f",
    "wait_days": "f",
    "served_at_day": "f",
    "reseller": "i",
    "price_paid_eur": "f",
    "site_checks": "f",
    "attempts": "i",
    "failed_attempts": "i",
    "defence_minutes": "f",
}
SLOT_COLUMNS = {
    "day": "i",
    "released_at_day": "f",
    "booked_at_day": "f",
    "holder": "i",
    "reseller": "i",
    "prepaid": "b",
    "offers": "i",
}
RESELLERS = ["reseller", "mode", "bots_end", "price_end_eur", "revenue_eur", "cost_eur", "attempts", "mode_switch_day"]


@pytest.fixture(scope="module")
def fcfs():
    sc = short_scenario("baseline", *SCALED_FLEETS)
    return sc, sim.run(sc, seed=4)


@pytest.fixture(scope="module")
def draw():
    sc = apply_preset(short_scenario("baseline", *SCALED_FLEETS, "humans.pay_deadline_prob=0.7"), "random_allocation")
    return sc, sim.run(sc, seed=4)


def test_frames_have_their_columns_and_types(fcfs):
    _, res = fcfs
    rec = res.records
    for frame, kinds in ((rec.applicants, APPLICANT_COLUMNS), (rec.slots, SLOT_COLUMNS)):
        for col, kind in kinds.items():
            assert frame[col].dtype.kind == kind, (col, frame[col].dtype)
    assert list(rec.daily.columns) == DAILY_COLUMNS
    assert list(rec.resellers.columns) == RESELLERS
    assert rec.resellers["mode"].tolist() == [r.mode for r in rec.scenario.resellers]
    assert {"day", "reseller", "mode", "bots_before", "bots", "profit_eur", "booked", "sold", "price_eur"} <= set(
        rec.reviews.columns
    )
    assert res.applicants is rec.applicants and res.slots is rec.slots and res.daily is rec.daily


def test_the_daily_calendar_is_the_scenario_calendar(fcfs):
    sc, res = fcfs
    d = res.daily
    assert d.day.tolist() == list(range(sc.run.days))
    expected = [(sc.run.start_date + dt.timedelta(days=k)).isoformat() for k in range(sc.run.days)]
    assert d.date.tolist() == expected


def test_daily_counters_agree_with_the_slots(fcfs):
    sc, res = fcfs
    s, d = res.slots, res.daily
    assert d.released.sum() == len(s)
    booked_on = np.floor(s.booked_at_day)
    for taker, col in (("human", "booked_human"), ("bot", "booked_bot")):
        mine = booked_on[s.first_taken_by == taker]
        per_day = mine.value_counts().reindex(range(sc.run.days), fill_value=0).to_numpy()
        assert per_day.tolist() == d[col].tolist(), col
    assert d.bot_requests.dtype.kind == "f" and (d.bot_requests > 0).all()
    assert d.sales.sum() == (res.applicants.reseller >= 0).sum()


def test_each_sale_and_each_direct_booking_is_priced_as_it_was_paid(draw):
    sc, res = draw
    a = res.applicants
    direct = a[a.status == "served_direct"]
    assert len(direct) > 0 and (direct.price_paid_eur == 0.0).all() and (direct.reseller == -1).all()
    via = a[a.status == "served_via_reseller"]
    assert len(via) > 0 and (via.price_paid_eur > 0).all() and (via.reseller >= 0).all()
    assert res.daily.sales_eur.sum() == pytest.approx(via.price_paid_eur.sum())


def test_failed_attempts_never_exceed_attempts(fcfs):
    _, res = fcfs
    a = res.applicants
    assert (a.failed_attempts <= a.attempts).all()
    # a person who booked a first-come slot themselves made one attempt that did not fail
    own = a[(a.status == "served_direct")]
    assert (own.attempts - own.failed_attempts >= 1).all()
    assert a.failed_attempts.sum() > 0


def test_a_run_without_a_seed_uses_the_scenarios_seed():
    sc = short_scenario("no_bots", "run.days=30", "run.warmup_days=5")
    a, b = sim.run(sc), sim.run(sc, seed=sc.run.seed)
    pd.testing.assert_frame_equal(a.applicants, b.applicants)
    c = sim.run(sc, seed=sc.run.seed + 1)
    assert not a.applicants.arrival_day.equals(c.applicants.arrival_day)


def test_the_waiting_list_holds_the_tickets_drawn_beyond_the_slots():
    """A draw draws min(tickets, int(slots x (1 + waiting_list_factor)) + 1) tickets (docs/model.md 4.6);
    those not offered a slot form the waiting list, so a draw passes on at most that many unpaid slots."""
    for factor in (0.0, 0.5):
        sc = apply_preset(
            short_scenario("no_bots", "humans.pay_deadline_prob=0.3", "demand.applicants_per_year=60000"),
            "random_allocation",
        )
        sc = sim.parse_scenario(apply_overrides(sc.to_dict(), [f"policy.scheme.waiting_list_factor={factor}"]))
        res = sim.run(sc, seed=2)
        d = res.records.draws
        tickets = d.genuine_tickets + d.reseller_tickets
        drawn = np.minimum(tickets, (d.slots * (1.0 + factor)).astype(int) + 1)
        bound = int((drawn - d.offered).sum())
        assert 0 < res.metrics["reassignments"] <= bound, (factor, res.metrics["reassignments"], bound)
