"""Allocation schemes and defences: policy objects the one engine consults.

A scheme decides *how released slots reach applicants* (when batches open, which
share goes to a draw, who is enrolled); defences decide *what an attempt costs*
humans and bots (time, failures, money, request caps). The engine never branches
on a scheme's name: it asks the active `CentrePolicy` for release batches, the
draw share and the friction of an attempt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from .scenario import SEGMENTS, Defences, Policy, Scenario

SECONDS_PER_DAY = 86_400.0


class UniformSource(Protocol):
    """Where an attempt's uniform draws come from (a numpy Generator, or rng.Buffered)."""

    def uniform(self) -> float: ...


@dataclass(frozen=True)
class Batch:
    at_day: float  # time of day (fraction of a day) the batch opens
    slots: int
    announced: bool  # an announced moment lets bots poll in a burst, below any rate limit


class Attempt(NamedTuple):
    """One booking attempt's cost (a NamedTuple: made once per attempt, on the hot path)."""

    duration_days: float
    failed: bool
    defence_days: float  # part of the duration spent on CAPTCHA and OTP (effort metric)
    cost_eur: float = 0.0


def tries(rng: UniformSource, fail_prob: float) -> int:
    """Tries until the first success (geometric), by inversion of one uniform draw."""
    if fail_prob <= 0.0:
        return 1
    fail_prob = min(fail_prob, 0.99)
    return 1 + int(math.log(1.0 - rng.uniform()) / math.log(fail_prob))


class Friction:
    """What the active defences do to one booking attempt."""

    def __init__(self, d: Defences):
        self.d = d
        self.prepaid = d.prepayment.enabled
        self.identity_bound = d.identity_binding.enabled
        # Speculative resale needs the name changed or unchecked: binding forbids both.
        self.speculative_sellable = not d.identity_binding.enabled
        self.bot_accounts_cap = d.otp.accounts_per_bot if d.otp.enabled else None
        ip = d.ip_blocking
        # Requests a fleet can make per day when it must poll all day (unannounced openings).
        self.bot_poll_cap_per_day = ip.proxy_ips * ip.requests_per_ip_per_minute * 1440.0 if ip.enabled else None

    def human(self, rng: UniformSource, form_days: float) -> Attempt:
        d = self.d
        extra_s = 0.0
        fail_p = 0.0
        if d.captcha.enabled:
            extra_s += d.captcha.human_solve_s * tries(rng, d.captcha.human_fail_prob)
        if d.otp.enabled:
            extra_s += d.otp.delay_s
            fail_p += d.otp.human_non_delivery_prob
        if d.ip_blocking.enabled:
            fail_p += d.ip_blocking.human_block_prob
        failed = fail_p > 0 and rng.uniform() < fail_p
        extra = extra_s / SECONDS_PER_DAY
        return Attempt(form_days + extra, failed, extra)

    def bot(self, rng: UniformSource, reaction_s: float, base_cost: float) -> Attempt:
        d = self.d
        secs, cost = reaction_s, base_cost
        if d.captcha.enabled:
            n = tries(rng, d.captcha.bot_fail_prob)
            secs += d.captcha.bot_solve_s * n
            cost += d.captcha.bot_cost_per_1000_eur / 1000.0 * n
        if d.otp.enabled:
            n = tries(rng, d.otp.bot_non_delivery_prob)
            secs += d.otp.delay_s * n
            cost += d.otp.bot_cost_per_identity_eur * n
        if d.ip_blocking.enabled:
            cost += d.ip_blocking.proxy_cost_per_attempt_eur
        return Attempt(secs / SECONDS_PER_DAY, False, 0.0, cost)


class CentrePolicy:
    """The scheme in force: release batches, draw share, enrolment, friction."""

    def __init__(self, policy: Policy, sc: Scenario):
        self.policy = policy
        self.scheme = s = policy.scheme
        self.friction = Friction(policy.defences)
        self.release_hour = sc.centre.release_hour
        self.random_opening = s.kind == "progressive_random"
        if s.kind == "random_allocation":
            self.enrolled = frozenset(SEGMENTS.index(x) for x in s.enrolled_segments)
            demand_share = sum(sc.demand.segment_shares[x] for x in s.enrolled_segments)
            self.draw_share = s.draw_capacity_share if s.draw_capacity_share is not None else demand_share
        else:
            self.enrolled = frozenset()
            self.draw_share = 0.0

    @property
    def uses_draw(self) -> bool:
        return self.draw_share > 0 or bool(self.enrolled)

    def split(self, capacity: int) -> tuple[int, int]:
        """(first-come slots, draw slots) of one day's capacity."""
        n_draw = int(round(capacity * self.draw_share))
        return capacity - n_draw, n_draw

    def booking_batches(self, n: int, rng: np.random.Generator) -> list[Batch]:
        """When the first-come part of a day's slots opens."""
        if n <= 0:
            return []
        h0 = self.release_hour / 24.0
        if not self.random_opening:
            return [Batch(h0, n, True)]
        k = min(self.scheme.batches_per_day, n)
        times = np.sort(rng.random(k)) * min(self.scheme.window_hours / 24.0, 1.0 - h0 - 1e-9) + h0
        sizes = np.full(k, n // k)
        sizes[: n % k] += 1
        return [Batch(float(t), int(m), False) for t, m in zip(times, sizes)]


def policy_timeline(sc: Scenario) -> list[tuple[int, CentrePolicy]]:
    return [(day, CentrePolicy(p, sc)) for day, p in sc.policies()]
