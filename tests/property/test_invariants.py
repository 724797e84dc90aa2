"""Invariants that hold for every valid scenario, checked on randomly generated small ones.

Hypothesis draws a small centre and run (20-45 days, 5-60 slots a day, demand 0.5-1.5 times the
capacity), a scheme among the presets, fleets of 0-15 bots per reseller, extra defences and
sometimes a policy switch, then checks the accounting any run must satisfy: every past slot has
one outcome, nobody holds two slots and no slot has two holders, exactly the served hold a
slot, waits are non-negative, and the slot counts of the metrics add up.

Profiles (applied to these tests only, never loaded globally): by default 25 examples
(~2-5 s); with HYPOTHESIS_PROFILE=slow, 200. The `slow`-marked variant runs longer scenarios
with a policy switch each: 8 examples by default, 40 with HYPOTHESIS_PROFILE=slow.
No example database is written (database=None): nothing is left in the working tree.
"""

from __future__ import annotations

import os

import pytest
from conftest import scenario_path
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sim
from sim.presets import PRESETS, apply_preset

settings.register_profile(
    "slotsim-default",
    max_examples=25,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "slotsim-slow",
    max_examples=200,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
SLOW = os.environ.get("HYPOTHESIS_PROFILE") == "slow"
PROFILE = settings.get_profile("slotsim-slow" if SLOW else "slotsim-default")

BASELINE = scenario_path("baseline")
N_RESELLERS = len(sim.load_scenario(BASELINE).resellers)
DEFENCES = ("captcha", "otp", "ip_blocking", "prepayment", "identity_binding")
FINAL = {
    "attended_direct",
    "attended_via_reseller",
    "wasted_no_show",
    "wasted_unsold",
    "wasted_unbooked",
    "wasted_unpaid",
}
HELD = ["attended_direct", "attended_via_reseller", "wasted_no_show"]
SERVED = ["served_direct", "served_via_reseller"]


def policy_of(base: sim.Scenario, preset: str, extra: frozenset) -> dict:
    """base's policy under a preset, with some more defences switched on, as a plain dict."""
    policy = apply_preset(base, preset).to_dict()["policy"]
    for d in extra:
        policy["defences"][d]["enabled"] = True
    return policy


@st.composite
def scenarios(draw, days=(20, 45), capacity=(5, 60), switch_prob=0.3):
    """A valid small scenario and a seed. Nothing here may produce an invalid scenario: the
    scenario is built without catching ScenarioError."""
    n_days = draw(st.integers(*days))
    warmup = draw(st.integers(0, min(10, n_days - 1)))
    cap = draw(st.integers(*capacity))
    load = draw(st.floats(0.5, 1.5))
    overrides = [
        f"run.days={n_days}",
        f"run.warmup_days={warmup}",
        f"centre.capacity_per_day={cap}",
        f"demand.applicants_per_year={cap * 250 * load!r}",
        f"centre.release_days_ahead={draw(st.integers(1, 10))}",
        f"humans.pay_deadline_prob={draw(st.sampled_from([0.3, 0.7, 1.0]))}",
        f"policy.scheme.registration_valid_days={draw(st.sampled_from([1.0, 5.0, 60.0]))}",
    ]
    for k in range(N_RESELLERS):
        overrides += [
            f"resellers.{k}.bots={draw(st.integers(0, 15))}",
            f"resellers.{k}.mode={draw(st.sampled_from(['speculative', 'to_order']))}",
            f"resellers.{k}.adaptive={'true' if draw(st.booleans()) else 'false'}",
        ]
    base = sim.load_scenario(BASELINE, overrides)

    preset = draw(st.sampled_from(sorted(PRESETS)))
    extra = draw(st.frozensets(st.sampled_from(DEFENCES), max_size=2))
    data = apply_preset(base, preset).to_dict()
    data["policy"] = policy_of(base, preset, extra)
    if n_days > 2 and draw(st.floats(0, 1)) < switch_prob:
        later = policy_of(
            base, draw(st.sampled_from(sorted(PRESETS))), draw(st.frozensets(st.sampled_from(DEFENCES), max_size=2))
        )
        data["timeline"] = [{"day": draw(st.integers(1, n_days - 1)), **later}]
    sc = sim.parse_scenario(data)
    return sc, draw(st.integers(0, 10**6))


def check_invariants(sc: sim.Scenario, res: sim.RunResult) -> None:
    slots, apps, m = res.slots, res.applicants, res.metrics
    days = sc.run.days

    # Every slot whose day has come has exactly one final outcome; later ones are pending.
    past = slots.day < days
    assert slots.outcome[past].isin(FINAL).all()
    assert (slots.outcome[~past] == "pending").all()

    # Nobody holds two slots.
    held = slots[slots.outcome.isin(HELD)]
    assert (held.holder >= 0).all()
    assert not held.holder.duplicated().any(), "one applicant holds two attended or missed slots"
    holders = slots.holder[slots.holder >= 0]
    assert not holders.duplicated().any(), "one applicant holds two slots"

    # No slot is held by two: each applicant's slot is theirs alone, and the slot says so.
    mine = apps.slot[apps.slot >= 0]
    assert not mine.duplicated().any(), "two applicants hold the same slot"
    assert (slots.holder.to_numpy()[mine.to_numpy()] == mine.index.to_numpy()).all()
    assert set(holders.index) == set(mine.to_numpy())

    # The served hold a slot on their appointment day, before their travel date; the others none.
    served = apps.status.isin(SERVED)
    assert (apps.slot[served] >= 0).all()
    assert (apps.slot[~served] == -1).all()
    s = apps[served]
    assert (s.appointment_day.to_numpy() == slots.day.to_numpy()[s.slot.to_numpy()]).all()
    assert (s.appointment_day <= s.latest_day).all()
    assert (s.served_at_day >= s.arrival_day).all() and (s.served_at_day < s.appointment_day).all()
    assert (s.wait_days >= 0).all()
    assert apps.wait_days[~served].isna().all()
    via = s.status == "served_via_reseller"
    assert ((s.reseller >= 0) == via).all()
    assert (slots.reseller.to_numpy()[s.slot[via].to_numpy()] == s.reseller[via].to_numpy()).all()

    # Each pool has its own takers: people and bots book first-come, tickets win draws.
    taker = slots.first_taken_by
    assert taker[slots.pool == "first_come"].isin(["nobody", "human", "bot"]).all()
    assert taker[slots.pool == "draw"].isin(["nobody", "draw", "reseller_draw"]).all()

    # A booking happens after the release and before the slot's day.
    booked = slots[slots.booked_at_day.notna()]
    assert (booked.released_at_day <= booked.booked_at_day).all()
    assert (booked.booked_at_day < booked.day).all()

    # The metrics' slot counts add up.
    assert m["slots_released"] == (m["slots_attended_direct"] + m["slots_attended_via_reseller"] + m["slots_wasted"])
    window = slots[(slots.day >= sc.run.warmup_days) & past]
    assert m["slots_released"] == len(window)


@PROFILE
@given(case=scenarios())
def test_every_run_keeps_its_books(case):
    sc, seed = case
    event(f"scheme {sc.policy.scheme.kind}" + (" with a switch" if sc.timeline else ""))
    check_invariants(sc, sim.run(sc, seed=seed))


@pytest.mark.slow
@settings(PROFILE, max_examples=40 if SLOW else 8)
@given(case=scenarios(days=(60, 120), capacity=(20, 120), switch_prob=1.0))
def test_longer_runs_with_a_switch_keep_their_books(case):
    sc, seed = case
    check_invariants(sc, sim.run(sc, seed=seed))
