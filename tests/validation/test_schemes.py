"""Schemes and defences: each moves what it should, on the same demand (common random numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import sim
from sim.cli import main
from sim.presets import PRESETS, apply_preset

# The baseline's summer peak at half scale (centre, demand and fleets), shortened to 50 measured
# days after a 25-day warm-up: the same ratios, half the events.
PEAK = [
    "run.start_date=2024-06-01",
    "run.days=75",
    "run.warmup_days=25",
    "centre.capacity_per_day=400",
    "demand.applicants_per_year=110000",
    "resellers.0.bots=75",
    "resellers.1.bots=50",
    "resellers.2.bots=40",
    "resellers.3.bots=20",
]
REPS = 2


@pytest.fixture(scope="module")
def peak():
    return sim.load_scenario("scenarios/baseline_fcfs.yaml", PEAK)


def mean_metrics(sc, reps=REPS, seed=11) -> dict:
    runs = [sim.run(sc, seed=seed, replication=k).metrics for k in range(reps)]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


@pytest.fixture(scope="module")
def results(peak):
    names = ["first_come", "captcha_otp", "ip_blocking", "prepaid_bound", "progressive_random"]
    # A pool of 100 addresses caps every fleet's all-day polling (100 x 6/min = 864k requests a day).
    peak = sim.parse_scenario(
        sim.scenario.deep_merge(peak.to_dict(), {"policy": {"defences": {"ip_blocking": {"proxy_ips": 100}}}})
    )
    return {n: mean_metrics(apply_preset(peak, n)) for n in names}


def test_captcha_and_otp_cut_bot_capture_and_cost_humans_time(results):
    base, d = results["first_come"], results["captcha_otp"]
    assert d["share_captured_by_bots"] < base["share_captured_by_bots"] - 0.05
    assert d["reseller_profit_eur"] < base["reseller_profit_eur"]
    assert base["human_defence_minutes_per_appointment"] == 0
    assert d["human_defence_minutes_per_appointment"] > 0.2  # ~13 s per solve, retries, 30 s OTP
    assert d["human_failed_attempts_per_appointment"] > base["human_failed_attempts_per_appointment"]


def test_ip_blocking_cuts_bot_traffic_not_capture_and_costs_humans_failures(results):
    """Rotating proxies make per-address blocking mostly a cost (Mi et al. 2019): the fleet's
    all-day polling is capped, its burst at an announced release is not."""
    base, d = results["first_come"], results["ip_blocking"]
    assert d["bot_requests_per_day_mean"] < 0.8 * base["bot_requests_per_day_mean"]
    assert d["human_failed_attempts_per_appointment"] > base["human_failed_attempts_per_appointment"]
    assert d["share_captured_by_bots"] < base["share_captured_by_bots"] + 0.05


def test_prepaid_and_bound_appointments_end_speculation(peak, results):
    base, d = results["first_come"], results["prepaid_bound"]
    assert d["share_via_reseller"] < base["share_via_reseller"] - 0.1
    assert d["slots_wasted_unsold"] == 0
    res = sim.run(apply_preset(peak, "prepaid_bound"), seed=11)
    last = res.reviews.groupby("reseller").tail(1)
    speculative = {r.name for r in peak.resellers if r.mode == "speculative"}
    for _, row in last[last.reseller.isin(speculative)].iterrows():
        assert row["mode"] == "to_order" or row["bots"] == 0, row.to_dict()


def test_progressive_random_opening_alone_barely_changes_capture(results):
    base, d = results["first_come"], results["progressive_random"]
    assert abs(d["share_captured_by_bots"] - base["share_captured_by_bots"]) < 0.08


def test_rate_limits_help_random_opening_only_when_they_bind_at_human_speed(peak):
    """Random batches force bots to poll all day, where a rate limit applies; it cuts capture
    only when the fleet's allowed polling is as slow as people's checking (see docs/schemes.md)."""
    prog = apply_preset(peak, "progressive_random")
    default_cap = apply_preset(peak, "progressive_random_ip")
    tight = sim.parse_scenario(
        sim.scenario.deep_merge(
            default_cap.to_dict(),
            {"policy": {"defences": {"ip_blocking": {"proxy_ips": 1, "requests_per_ip_per_minute": 0.02}}}},
        )
    )
    a, b, c = (mean_metrics(s) for s in (prog, default_cap, tight))
    assert abs(b["share_captured_by_bots"] - a["share_captured_by_bots"]) < 0.08
    assert c["share_captured_by_bots"] < a["share_captured_by_bots"] - 0.1


def small_draw(**over):
    base = sim.load_scenario(
        "scenarios/baseline_fcfs.yaml",
        [
            "run.days=60",
            "run.warmup_days=10",
            "centre.capacity_per_day=200",
            "demand.applicants_per_year=80000",
            *[f"{k}={v}" for k, v in over.items()],
        ],
    )
    return apply_preset(base, "random_allocation")


def test_random_allocation_shares_follow_registrations_whatever_the_habit():
    sc = small_draw(
        **{"resellers": "[]", "humans.pay_deadline_prob": 1.0, "policy.defences.identity_binding.detection_prob": 1.0}
    )
    draws = sim.run(sc, seed=3).records.draws
    reg = np.array(draws.registered_by_habit.tolist(), float)
    won = np.array(draws.won_by_habit.tolist(), float)
    keep = reg.sum(1) > 0
    expected = (reg[keep] / reg[keep].sum(1, keepdims=True) * won[keep].sum(1, keepdims=True)).sum(0)
    observed = won[keep].sum(0)
    assert observed.sum() > 2000
    assert stats.chisquare(observed, expected).pvalue > 0.001
    # Under first-come booking the same people do not get slots in proportion: hourly checkers win.
    fc = sim.run(apply_preset(sc, "first_come"), seed=3).applicants
    direct = fc[fc.status == "served_direct"]
    hourly_share_served = (direct.habit == "hourly").mean()
    hourly_share_all = (fc.habit == "hourly").mean()
    assert hourly_share_served > 1.3 * hourly_share_all


def test_unpaid_slots_pass_to_the_waiting_list_and_every_slot_has_one_outcome():
    sc = small_draw(**{"humans.pay_deadline_prob": 0.6})
    res = sim.run(sc, seed=5)
    m = res.metrics
    assert m["reassignments"] > 0
    assert (res.slots.outcome != "pending").all() or (res.slots.day >= sc.run.days).any()
    window = res.slots[(res.slots.day >= sc.run.warmup_days) & (res.slots.day < sc.run.days)]
    assert m["slots_released"] == len(window)
    assert m["slots_released"] == (m["slots_attended_direct"] + m["slots_attended_via_reseller"] + m["slots_wasted"])
    assert (window.offers > 1).any()


def test_policy_timeline_switches_on_its_day():
    sc = sim.load_scenario("scenarios/rabat_2024.yaml", ["run.days=80", "timeline.0.day=50"])
    res = sim.run(sc, seed=2)
    draw = res.slots[res.slots.pool == "draw"]
    assert len(draw) > 0
    assert draw.released_at_day.min() >= 50
    assert (res.slots[res.slots.released_at_day < 50].pool == "first_come").all()
    first_time = res.applicants[(res.applicants.segment == "first_time")]
    later = first_time[
        (first_time.appointment_day >= 50 + sc.centre.release_days_ahead) & (first_time.status == "served_direct")
    ]
    assert len(later) > 0


def test_rabat_bot_activity_halves_within_four_weeks_and_resale_falls():
    """TLScontact: bot activity about -50% within four weeks of the switch (-48% quoted)."""
    sc = sim.load_scenario("scenarios/rabat_2024.yaml")
    runs = [sim.run(sc, seed=s).metrics for s in (1, 2, 3)]
    ratios = [m["bot_activity_ratio_week4"] for m in runs]
    assert 0.3 <= np.mean(ratios) <= 0.7, ratios
    assert all(0.2 <= r <= 0.8 for r in ratios), ratios
    for m in runs:
        assert m["switch_day"] == 61
        assert m["share_via_reseller_after"] < m["share_via_reseller_before"]
        assert m["appointments_genuine_after_switch"] > 0


def test_compare_cli_prints_every_scheme_side_by_side(capsys):
    code = main(
        [
            "compare",
            "--base",
            "scenarios/baseline_fcfs.yaml",
            "--presets",
            "first_come,random_allocation",
            "--set",
            "run.days=40",
            "--set",
            "run.warmup_days=10",
            "--set",
            "centre.capacity_per_day=100",
            "--set",
            "demand.applicants_per_year=20000",
            "--jobs",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert "first_come" in header and "random_allocation" in header
    for key in sim.CONTRACT:
        assert any(line.startswith(key) for line in out.splitlines()), key


def test_compare_rejects_unknown_presets(capsys):
    code = main(["compare", "--base", "scenarios/baseline_fcfs.yaml", "--presets", "first_come,lotery"])
    err = capsys.readouterr().err
    assert code == 2
    assert "lotery" in err and "first_come" in err


def test_presets_switch_on_only_what_they_name(peak):
    for name in PRESETS:
        d = apply_preset(peak, name).policy.defences
        on = {k for k in ("captcha", "otp", "ip_blocking", "prepayment", "identity_binding") if getattr(d, k).enabled}
        assert on == set(PRESETS[name].get("defences", {})), name


def test_fairness_metrics_show_the_checking_race_and_its_end_under_the_draw():
    sc = small_draw(**{"humans.pay_deadline_prob": 1.0, "resellers": "[]"})  # people only: the race
    fc = sim.run(apply_preset(sc, "first_come"), seed=4).metrics
    ra = sim.run(sc, seed=4).metrics
    assert fc["served_direct_share_hourly"] > fc["served_direct_share_few_weekly"] + 0.2
    assert abs(ra["served_direct_share_hourly"] - ra["served_direct_share_few_weekly"]) < 0.05
