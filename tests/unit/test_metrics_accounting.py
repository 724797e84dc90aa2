"""sim.metrics.compute_metrics on small hand-built Records, every figure computed by hand.

The run: 10 days, release 2 days ahead, service fee EUR 25. Slots count if their day is in
[warmup, 10); applicants if they arrived in [warmup, 8); sales if paid from the warm-up on.

    slot day outcome                 holder reseller prepaid first taken by
    S0   1   attended_direct         A0     -        no      human
    S1   2   attended_via_reseller   A1     0        no      bot
    S2   3   attended_via_reseller   A2     1        yes     bot
    S3   4   wasted_no_show          A3     0        yes     bot
    S4   5   wasted_unsold           -      0        no      bot
    S5   6   wasted_unbooked         -      -        no      nobody
    S6   7   attended_direct         A5     -        no      human
    S7   8   wasted_unpaid           -      -        no      draw
    S8   9   attended_via_reseller   A7     1        no      bot
    S9   11  pending (after the run) -      -        no      nobody

    applicant arrives status               slot price paid served at
    A0        0.0     served_direct        S0   -          0.2
    A1        0.5     served_via_reseller  S1   100        0.9
    A2        1.0     served_via_reseller  S2   60         1.5
    A3        1.5     served_via_reseller  S3   20         2.0
    A4        2.0     abandoned            -    -          -
    A5        3.0     served_direct        S6   -          4.0
    A6        4.0     waiting              -    -          -
    A7        8.5     served_via_reseller  S8   300        8.8   (arrived after the window)
    A8        9.0     abandoned            -    -          -     (arrived after the window)

Resellers' costs over the run: EUR 50 and 30.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import run_short, scenario_path

import sim
from sim.metrics import CONTRACT, compute_metrics
from sim.records import Records
from sim.scenario import SEGMENTS

FEE = 25.0
SLOTS = [  # (day, outcome, holder, reseller, prepaid, first_taken_by)
    (1, "attended_direct", 0, -1, False, "human"),
    (2, "attended_via_reseller", 1, 0, False, "bot"),
    (3, "attended_via_reseller", 2, 1, True, "bot"),
    (4, "wasted_no_show", 3, 0, True, "bot"),
    (5, "wasted_unsold", -1, 0, False, "bot"),
    (6, "wasted_unbooked", -1, -1, False, "nobody"),
    (7, "attended_direct", 5, -1, False, "human"),
    (8, "wasted_unpaid", -1, -1, False, "draw"),
    (9, "attended_via_reseller", 7, 1, False, "bot"),
    (11, "pending", -1, -1, False, "nobody"),
]
APPLICANTS = [  # (arrival, status, slot, reseller, price, served_at, site_checks)
    (0.0, "served_direct", 0, -1, 0.0, 0.2, 3.0),
    (0.5, "served_via_reseller", 1, 0, 100.0, 0.9, 10.0),
    (1.0, "served_via_reseller", 2, 1, 60.0, 1.5, 5.0),
    (1.5, "served_via_reseller", 3, 0, 20.0, 2.0, 0.0),
    (2.0, "abandoned", -1, -1, 0.0, math.nan, 7.0),
    (3.0, "served_direct", 6, -1, 0.0, 4.0, 1.0),
    (4.0, "waiting", -1, -1, 0.0, math.nan, 2.0),
    (8.5, "served_via_reseller", 8, 1, 300.0, 8.8, 4.0),
    (9.0, "abandoned", -1, -1, 0.0, math.nan, 100.0),
]
RESELLER_COSTS = [50.0, 30.0]
BOT_REQUESTS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # days 0..9


def scenario(warmup: int) -> sim.Scenario:
    sc = sim.load_scenario(
        scenario_path("baseline"), ["run.days=10", f"run.warmup_days={warmup}", "centre.release_days_ahead=2"]
    )
    assert sc.centre.service_fee_eur == FEE
    return sc


def slot_frame() -> pd.DataFrame:
    rows = [
        dict(
            day=day,
            pool="draw" if taker == "draw" else "first_come",
            released_at_day=max(day - 2, 0) + 0.375,
            first_taken_by=taker,
            booked_at_day=math.nan,
            holder=holder,
            reseller=reseller,
            prepaid=prepaid,
            offers=1 if outcome == "wasted_unpaid" else 0,
            outcome=outcome,
        )
        for day, outcome, holder, reseller, prepaid, taker in SLOTS
    ]
    df = pd.DataFrame(rows)
    return df.astype(
        {
            "day": np.int64,
            "holder": np.int64,
            "reseller": np.int64,
            "prepaid": bool,
            "offers": np.int64,
            "pool": "str",
            "first_taken_by": "str",
            "outcome": "str",
        }
    )


def applicant_frame(sc: sim.Scenario) -> pd.DataFrame:
    habits = list(sc.humans.habits)
    slot_day = {k: row[0] for k, row in enumerate(SLOTS)}
    rows = []
    for k, (arrival, status, slot, reseller, price, served_at, checks) in enumerate(APPLICANTS):
        appt = float(slot_day[slot]) if slot >= 0 else math.nan
        rows.append(
            dict(
                arrival_day=arrival,
                segment=SEGMENTS[k % 3],
                habit=habits[k % len(habits)],
                checks_per_day=1.0,
                latest_day=int(arrival) + 20,
                status=status,
                slot=slot,
                appointment_day=appt,
                wait_days=appt + 0.5 - arrival,
                served_at_day=served_at,
                reseller=reseller,
                price_paid_eur=price,
                site_checks=checks,
                attempts=1,
                failed_attempts=0,
                defence_minutes=0.0,
            )
        )
    df = pd.DataFrame(rows)
    df["segment"] = pd.Categorical(df.segment, SEGMENTS)
    df["habit"] = pd.Categorical(df.habit, habits)
    return df.astype(
        {"slot": np.int64, "reseller": np.int16, "status": "str", "attempts": np.int32, "failed_attempts": np.int32}
    )


def daily_frame() -> pd.DataFrame:
    n = len(BOT_REQUESTS)
    return pd.DataFrame(
        dict(
            day=np.arange(n),
            date=[f"2024-05-{d + 1:02d}" for d in range(n)],
            released=0,
            booked_human=0,
            booked_bot=0,
            allocated_draw=0,
            sales=0,
            sales_eur=0.0,
            bot_attempts=0,
            bot_requests=BOT_REQUESTS,
            bots=0,
            reseller_price_eur=math.nan,
            searching=0,
            registered=0,
            backlog=0,
            reassignments=[0] * 9 + [2],
        )
    )


def reseller_frame() -> pd.DataFrame:
    return pd.DataFrame(
        dict(
            reseller=["r0", "r1"],
            mode=["speculative", "to_order"],
            bots_end=[12.0, 3.0],
            price_end_eur=[200.0, 150.0],
            revenue_eur=[120.0, 360.0],
            cost_eur=RESELLER_COSTS,
            attempts=[40, 10],
            mode_switch_day=[None, None],
        )
    )


def records(warmup: int = 0, slots: pd.DataFrame | None = None) -> Records:
    sc = scenario(warmup)
    return Records(
        scenario=sc,
        seed=1,
        replication=0,
        applicants=applicant_frame(sc),
        slots=slot_frame() if slots is None else slots,
        daily=daily_frame(),
        reviews=pd.DataFrame(),
        draws=pd.DataFrame(),
        resellers=reseller_frame(),
        events_processed=1234,
        habits=tuple(sc.humans.habits),
    )


# --------------------------------------------------------------------------- no warm-up


@pytest.fixture(scope="module")
def m0() -> dict:
    return compute_metrics(records(warmup=0))


def test_every_contract_metric_is_present(m0):
    assert set(CONTRACT) <= set(m0)
    assert m0["events_processed"] == 1234


def test_slot_counts(m0):
    assert m0["slots_released"] == 9  # S9 (day 11) is after the run
    assert m0["slots_attended_direct"] == 2  # S0, S6
    assert m0["slots_attended_via_reseller"] == 3  # S1, S2, S8
    assert m0["slots_wasted"] == 4  # S3, S4, S5, S7
    assert (
        m0["slots_wasted_no_show"],
        m0["slots_wasted_unsold"],
        m0["slots_wasted_unbooked"],
        m0["slots_wasted_unpaid"],
    ) == (1, 1, 1, 1)
    assert m0["share_via_reseller"] == pytest.approx(3 / 5)
    assert m0["share_captured_by_bots"] == pytest.approx(5 / 9)  # S1-S4, S8 first taken by a bot


def test_applicant_counts_and_abandon_rate(m0):
    # window: arrivals in [0, 8): A0-A6; A7 and A8 arrived too late to count
    assert m0["applicants_arrived"] == 7
    assert m0["applicants_served"] == 5  # A0, A1, A2, A3, A5
    assert m0["applicants_abandoned"] == 1  # A4 (A8 is outside the window)
    assert m0["applicants_unresolved"] == 1  # A6
    assert m0["abandon_rate"] == pytest.approx(1 / 6)  # abandoned / resolved, not / arrived (1/7)
    # appointments at midday: waits 1.5, 2.0, 2.5, 3.0, 4.5
    assert m0["wait_days_mean"] == pytest.approx(13.5 / 5)
    assert m0["wait_days_p50"] == pytest.approx(2.5)
    assert m0["human_checks_per_appointment"] == pytest.approx((3 + 10 + 5 + 0 + 7 + 1 + 2) / 5)


def test_reseller_money(m0):
    # sales: A1 100, A2 60, A3 20, A7 300 (a sale counts by when it was paid, not by arrival)
    assert m0["reseller_revenue_eur"] == pytest.approx(480.0)
    assert m0["reseller_price_mean_eur"] == pytest.approx(120.0)
    # rent: price minus the fee where the slot was prepaid (S2, S3), clipped at 0:
    # 100 + (60 - 25) + max(20 - 25, 0) + 300. Fee taken from the unprepaid ones: 430; no clip: 430.
    assert m0["rent_paid_above_fee_eur"] == pytest.approx(435.0)
    # no warm-up: the whole cost counts
    assert m0["reseller_profit_eur"] == pytest.approx(480.0 - 80.0)
    assert m0["bots_end"] == 15.0


def test_daily_figures(m0):
    assert m0["bot_requests_per_day_mean"] == pytest.approx(55.0)
    assert m0["reassignments"] == 2


# --------------------------------------------------------------------------- with a warm-up


@pytest.fixture(scope="module")
def m4() -> dict:
    return compute_metrics(records(warmup=4))


def test_warmup_leaves_early_slots_and_sales_out(m4):
    # slots of days [4, 10): S3-S8
    assert m4["slots_released"] == 6
    assert (m4["slots_attended_direct"], m4["slots_attended_via_reseller"], m4["slots_wasted"]) == (1, 1, 4)
    assert m4["share_via_reseller"] == pytest.approx(1 / 2)
    # sales paid from day 4 on: only A7's (its arrival, 8.5, is outside the applicant window)
    assert m4["reseller_revenue_eur"] == pytest.approx(300.0)
    assert m4["rent_paid_above_fee_eur"] == pytest.approx(300.0)
    # costs over the run scaled to the window: 80 x (10 - 4) / 10
    assert m4["reseller_profit_eur"] == pytest.approx(300.0 - 48.0)
    assert m4["bot_requests_per_day_mean"] == pytest.approx(np.mean(BOT_REQUESTS[4:]))


def test_warmup_applicant_window_without_resolved_people(m4):
    # arrivals in [4, 8): only A6, still waiting
    assert m4["applicants_arrived"] == 1
    assert m4["applicants_served"] == 0
    assert math.isnan(m4["abandon_rate"])  # nobody resolved: undefined, not 0
    assert math.isnan(m4["wait_days_mean"])


def test_a_slot_of_the_window_without_outcome_is_refused():
    slots = slot_frame()
    slots.loc[5, "outcome"] = "pending"  # S5, day 6
    with pytest.raises(AssertionError, match="no outcome"):
        compute_metrics(records(slots=slots))


def test_hand_built_frames_have_the_columns_a_run_records():
    """The synthetic records stay faithful to what the recorder writes (sim/model/recording.py)."""
    real = run_short("baseline").records
    mine = records()
    for name in ("applicants", "slots", "daily", "resellers"):
        assert list(getattr(mine, name).columns) == list(getattr(real, name).columns), name
