"""sim.schemes.Friction built from a scenario's defences, and the geometric `tries`.

Expectations come from the defences' parameters (as the scenario states them), never from the
code's own output. Statistical checks use a fixed seed and tolerances of 5 standard errors
(a chance failure for a given seed has probability < 1e-6).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import scenario_path
from scipy import stats

import sim
from sim.schemes import Friction, tries

DAY_S = 86_400.0
FORM_DAYS = 2.5 / 1440.0  # a person who needs 2.5 minutes for the form
N = 40_000  # attempts per statistical check


def friction(*overrides: str) -> tuple[Friction, sim.Scenario]:
    sc = sim.load_scenario(scenario_path("baseline"), list(overrides))
    return Friction(sc.policy.defences), sc


def binomial_tol(p: float, n: int, z: float = 5.0) -> float:
    return z * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------- no defences


def test_without_defences_an_attempt_costs_only_the_form_or_the_reaction():
    f, sc = friction()
    rng = np.random.default_rng(1)
    for form in (FORM_DAYS, 0.0, 1.0 / 24):
        a = f.human(rng, form)
        assert a.duration_days == form
        assert a.failed is False
        assert a.defence_days == 0.0
        assert a.cost_eur == 0.0
    b = f.bot(rng, 0.75, 0.013)
    assert b.duration_days == pytest.approx(0.75 / DAY_S, rel=1e-15)
    assert b.cost_eur == 0.013
    assert b.failed is False
    assert f.bot_poll_cap_per_day is None
    assert f.bot_accounts_cap is None
    assert f.prepaid is False and f.identity_bound is False and f.speculative_sellable is True


# --------------------------------------------------------------------------- OTP


OTP = (
    "policy.defences.otp.enabled=true",
    "policy.defences.otp.delay_s=45",
    "policy.defences.otp.human_non_delivery_prob=0.2",
    "policy.defences.otp.bot_non_delivery_prob=0.4",
    "policy.defences.otp.bot_cost_per_identity_eur=0.3",
    "policy.defences.otp.accounts_per_bot=3",
)


def test_otp_adds_its_delay_to_every_human_attempt_exactly():
    f, sc = friction(*OTP)
    otp = sc.policy.defences.otp
    assert otp.delay_s == 45.0
    rng = np.random.default_rng(2)
    for _ in range(200):
        a = f.human(rng, FORM_DAYS)
        assert a.duration_days == FORM_DAYS + 45.0 / DAY_S
        assert a.defence_days == 45.0 / DAY_S
        assert a.cost_eur == 0.0


def test_otp_fails_human_attempts_at_the_non_delivery_rate():
    f, _ = friction(*OTP)
    rng = np.random.default_rng(3)
    share = np.mean([f.human(rng, FORM_DAYS).failed for _ in range(N)])
    # binomial: p = 0.2, n = 40_000, 5 s.e. = 0.010; the bot rate 0.4 would be far outside
    assert abs(share - 0.2) < binomial_tol(0.2, N)


def test_otp_bots_pay_per_identity_and_wait_per_try_and_never_fail():
    f, _ = friction(*OTP)
    rng = np.random.default_rng(4)
    reaction, base = 1.0, 0.01
    ns = []
    for _ in range(N):
        b = f.bot(rng, reaction, base)
        assert b.failed is False
        # cost and duration must tell the same number of tries
        n_cost = (b.cost_eur - base) / 0.3
        n_time = (b.duration_days * DAY_S - reaction) / 45.0
        assert round(n_cost) >= 1 and n_cost == pytest.approx(round(n_cost), abs=1e-9)
        assert n_time == pytest.approx(round(n_cost), abs=1e-6)
        ns.append(round(n_cost))
    # geometric in the bot's non-delivery rate 0.4: mean 1/0.6, sd sqrt(0.4)/0.6
    se = math.sqrt(0.4) / 0.6 / math.sqrt(N)
    assert abs(np.mean(ns) - 1 / 0.6) < 5 * se


def test_otp_caps_accounts_per_bot():
    f, _ = friction(*OTP)
    assert f.bot_accounts_cap == 3.0
    f_off, _ = friction("policy.defences.otp.accounts_per_bot=3")  # configured but not enabled
    assert f_off.bot_accounts_cap is None


# --------------------------------------------------------------------------- CAPTCHA


CAPTCHA = (
    "policy.defences.captcha.enabled=true",
    "policy.defences.captcha.human_solve_s=13",
    "policy.defences.captcha.human_fail_prob=0.5",
    "policy.defences.captcha.bot_fail_prob=0.1",
    "policy.defences.captcha.bot_solve_s=14",
    "policy.defences.captcha.bot_cost_per_1000_eur=2",
)


def test_captcha_human_time_is_solve_time_times_geometric_tries():
    f, _ = friction(*CAPTCHA)
    rng = np.random.default_rng(5)
    attempts = [f.human(rng, FORM_DAYS) for _ in range(N)]
    solve_s = np.array([a.defence_days * DAY_S for a in attempts])
    n_tries = solve_s / 13.0
    np.testing.assert_allclose(n_tries, np.round(n_tries), atol=1e-6)  # whole solves
    assert n_tries.min() >= 1 - 1e-9
    for a in attempts[:100]:
        assert a.duration_days == pytest.approx(FORM_DAYS + a.defence_days, rel=1e-12)
        assert a.failed is False  # a failed CAPTCHA is retried, not a failed attempt
    # mean 13 s / (1 - 0.5) = 26 s; s.e. = 13 * sqrt(0.5)/0.5 / sqrt(N) (geometric variance p/(1-p)^2)
    se = 13.0 * math.sqrt(0.5) / 0.5 / math.sqrt(N)
    assert abs(solve_s.mean() - 26.0) < 5 * se


def test_captcha_bot_cost_is_base_plus_price_per_solve_times_tries():
    f, _ = friction(*CAPTCHA)
    rng = np.random.default_rng(6)
    base, reaction = 0.01, 0.5
    bots = [f.bot(rng, reaction, base) for _ in range(N)]
    costs = np.array([b.cost_eur for b in bots])
    n_cost = (costs - base) / (2.0 / 1000.0)
    n_time = (np.array([b.duration_days for b in bots]) * DAY_S - reaction) / 14.0
    np.testing.assert_allclose(n_cost, np.round(n_cost), atol=1e-6)
    np.testing.assert_allclose(n_time, n_cost, atol=1e-6)  # the same tries for time and money
    # mean cost = base + 0.002 / (1 - 0.1); s.e. from the geometric sd sqrt(0.1)/0.9
    se = 0.002 * math.sqrt(0.1) / 0.9 / math.sqrt(N)
    assert abs(costs.mean() - (base + 0.002 / 0.9)) < 5 * se


# --------------------------------------------------------------------------- tries


@pytest.mark.parametrize("p", [0.1, 0.3, 0.75])
def test_tries_is_geometric(p):
    rng = np.random.default_rng(7)
    n = 50_000
    x = np.array([tries(rng, p) for _ in range(n)])
    assert x.min() == 1
    assert x.dtype.kind == "i"
    # mean 1/(1-p), s.e. sqrt(p)/(1-p)/sqrt(n)
    assert abs(x.mean() - 1 / (1 - p)) < 5 * math.sqrt(p) / (1 - p) / math.sqrt(n)
    # P(tries = 1) = 1 - p
    assert abs(np.mean(x == 1) - (1 - p)) < binomial_tol(1 - p, n)
    # the whole distribution: chi-square against P(k) = p^(k-1) (1-p), with a tail bin for the
    # values whose expected count falls below 20
    kmax = 1
    while n * p**kmax * (1 - p) >= 20:
        kmax += 1
    expected = [n * p ** (k - 1) * (1 - p) for k in range(1, kmax + 1)] + [n * p**kmax]
    observed = [np.sum(x == k) for k in range(1, kmax + 1)] + [np.sum(x > kmax)]
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_tries_is_exactly_one_without_failures():
    rng = np.random.default_rng(8)
    assert all(tries(rng, 0.0) == 1 for _ in range(1000))


def test_tries_with_certain_failure_still_ends():
    rng = np.random.default_rng(9)
    x = [tries(rng, 1.0) for _ in range(1000)]
    assert min(x) >= 1 and all(isinstance(k, int) for k in x)


# --------------------------------------------------------------------------- IP blocking


IP = (
    "policy.defences.ip_blocking.enabled=true",
    "policy.defences.ip_blocking.proxy_ips=7",
    "policy.defences.ip_blocking.requests_per_ip_per_minute=3",
    "policy.defences.ip_blocking.proxy_cost_per_attempt_eur=0.02",
    "policy.defences.ip_blocking.human_block_prob=0.25",
)


def test_ip_blocking_adds_the_proxy_cost_to_every_bot_attempt():
    f, _ = friction(*IP)
    rng = np.random.default_rng(10)
    for _ in range(100):
        b = f.bot(rng, 2.0, 0.01)
        assert b.cost_eur == pytest.approx(0.01 + 0.02, abs=1e-15)
        assert b.duration_days == pytest.approx(2.0 / DAY_S, rel=1e-15)  # no extra time


def test_ip_blocking_caps_a_fleets_daily_requests():
    f, _ = friction(*IP)
    assert f.bot_poll_cap_per_day == 7 * 3 * 1440  # addresses x requests/minute x minutes/day


def test_ip_blocking_blocks_human_attempts_at_its_rate():
    f, _ = friction(*IP)
    rng = np.random.default_rng(11)
    attempts = [f.human(rng, FORM_DAYS) for _ in range(N)]
    assert all(a.duration_days == FORM_DAYS and a.defence_days == 0.0 for a in attempts)
    share = np.mean([a.failed for a in attempts])
    assert abs(share - 0.25) < binomial_tol(0.25, N)  # 5 s.e. = 0.011


# --------------------------------------------------------------------------- flags


def test_prepayment_sets_prepaid_only():
    f, _ = friction("policy.defences.prepayment.enabled=true")
    assert f.prepaid is True
    assert f.identity_bound is False and f.speculative_sellable is True


def test_identity_binding_forbids_speculative_resale():
    f, _ = friction("policy.defences.identity_binding.enabled=true")
    assert f.identity_bound is True and f.speculative_sellable is False
    assert f.prepaid is False


def test_all_defences_together():
    f, sc = friction(
        *OTP, *CAPTCHA, *IP, "policy.defences.prepayment.enabled=true", "policy.defences.identity_binding.enabled=true"
    )
    assert f.prepaid and f.identity_bound and not f.speculative_sellable
    assert f.bot_accounts_cap == 3.0 and f.bot_poll_cap_per_day == 7 * 3 * 1440
    rng = np.random.default_rng(12)
    humans = [f.human(rng, FORM_DAYS) for _ in range(N)]
    # defence time: OTP delay + 13 s per CAPTCHA try (mean 2 tries)
    defence_s = np.array([a.defence_days for a in humans]) * DAY_S
    n_captcha = (defence_s - 45.0) / 13.0
    np.testing.assert_allclose(n_captcha, np.round(n_captcha), atol=1e-6)
    assert n_captcha.min() >= 1 - 1e-9
    # failures: OTP non-delivery 0.2 plus blocking 0.25 (docs/model.md: "fails outright with
    # probability human_non_delivery_prob plus human_block_prob"); 5 s.e. = 0.012
    share = np.mean([a.failed for a in humans])
    assert abs(share - 0.45) < binomial_tol(0.45, N)
