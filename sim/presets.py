"""Named policies (scheme + defences) to apply to one base scenario: the schemes compared.

A preset switches on only what it names: every defence of the base scenario is
first switched off (its parameters are kept), so `captcha_otp` means exactly
CAPTCHA and OTP on first-come booking.
"""

from __future__ import annotations

from .scenario import Scenario, ScenarioError, deep_merge, parse_scenario

PRESETS: dict[str, dict] = {
    "first_come": {"scheme": {"kind": "first_come"}},
    "captcha_otp": {
        "scheme": {"kind": "first_come"},
        "defences": {"captcha": {"enabled": True}, "otp": {"enabled": True}},
    },
    "ip_blocking": {"scheme": {"kind": "first_come"}, "defences": {"ip_blocking": {"enabled": True}}},
    "prepaid_bound": {
        "scheme": {"kind": "first_come"},
        "defences": {"prepayment": {"enabled": True}, "identity_binding": {"enabled": True}},
    },
    "progressive_random": {"scheme": {"kind": "progressive_random"}},
    "progressive_random_ip": {"scheme": {"kind": "progressive_random"}, "defences": {"ip_blocking": {"enabled": True}}},
    "random_allocation": {
        "scheme": {"kind": "random_allocation", "enrolled_segments": ["first_time", "renewal", "circulation"]},
        "defences": {"identity_binding": {"enabled": True}},
    },
}

DESCRIPTIONS = {
    "first_come": "First-come booking: each day's slots open at one announced time; the fastest booking wins.",
    "captcha_otp": "First-come booking with a CAPTCHA and a one-time code by SMS or e-mail on every booking.",
    "ip_blocking": "First-come booking with rate limiting: addresses sending too many requests are blocked.",
    "prepaid_bound": "First-come booking, prepaid and non-modifiable, with the passport number fixed at "
    "booking and checked at the appointment.",
    "progressive_random": "Slots open in small batches at random times of the day instead of one moment.",
    "progressive_random_ip": "Progressive random opening combined with rate limiting.",
    "random_allocation": "Registration, then random draws; a winner pays within a deadline or the slot "
    "passes to the waiting list (identity checked at registration).",
}


def apply_preset(base: Scenario, name: str) -> Scenario:
    """The base scenario under preset `name` from day 0 (any timeline of the base is dropped)."""
    if name not in PRESETS:
        raise ScenarioError([f"preset {name!r}: unknown; choose from {', '.join(PRESETS)}"])
    data = base.to_dict()
    policy = data["policy"]
    for d in policy["defences"].values():
        d["enabled"] = False
    data["policy"] = deep_merge(policy, PRESETS[name])
    data["timeline"] = []
    data["name"] = name
    data["description"] = DESCRIPTIONS[name]
    return parse_scenario(data, f"preset {name}")
