"""Outputs of one run, in tiers: per-applicant and per-slot records, daily series, KPIs.

Every KPI is derived from the records, so a number in the summary can always be
traced back to the entities behind it. The measurement window leaves out the
warm-up: slots count if their appointment day is in [warmup, days); applicants
if they arrived in [warmup, days - release_days_ahead) (later arrivals could
not have been served within the run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .records import OUTCOMES, WASTE, Records
from .scenario import SEGMENTS, Scenario

# The metrics contract: the keys CI, the app and the regression suite rely on.
CONTRACT = (
    "applicants_arrived",
    "applicants_served",
    "abandon_rate",
    "slots_released",
    "slots_attended_direct",
    "slots_attended_via_reseller",
    "slots_wasted",
    "share_captured_by_bots",
    "share_via_reseller",
    "wait_days_mean",
    "wait_days_p50",
    "wait_days_p90",
    "reseller_revenue_eur",
    "reseller_price_mean_eur",
    "reseller_profit_eur",
    "rent_paid_above_fee_eur",
    "bot_requests_per_day_mean",
    "human_checks_per_appointment",
    "events_processed",
)


@dataclass
class RunResult:
    """What one replication returns: KPIs plus the tidy records behind them."""

    metrics: dict
    applicants: pd.DataFrame
    slots: pd.DataFrame
    daily: pd.DataFrame
    reviews: pd.DataFrame = field(default_factory=pd.DataFrame)
    records: Records | None = None  # every record of the run, typed (draws and resellers too)


def _q(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q)) if len(x) else math.nan


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else math.nan


def compute_metrics(records: Records) -> dict:
    """The metrics contract (and the extra metrics) of one run, from its records alone."""
    sc = records.scenario
    apps, slots, daily = records.applicants, records.slots, records.daily
    w0, end = sc.run.warmup_days, sc.run.days
    fee = sc.centre.service_fee_eur

    win = slots[(slots.day >= w0) & (slots.day < end)]
    assert (win.outcome != "pending").all(), "a slot of the window has no outcome"
    counts = win.outcome.value_counts()
    n = {o: int(counts.get(o, 0)) for o in OUTCOMES}
    released = len(win)
    direct, via = n["attended_direct"], n["attended_via_reseller"]
    wasted = sum(n[o] for o in WASTE)

    a = apps[(apps.arrival_day >= w0) & (apps.arrival_day < end - sc.centre.release_days_ahead)]
    served = a.status.isin(["served_direct", "served_via_reseller"])
    resolved = served | (a.status == "abandoned")
    waits = a.wait_days[served].to_numpy()
    sales = apps[(apps.reseller >= 0) & (apps.served_at_day >= w0)]
    revenue = float(sales.price_paid_eur.sum())
    # Where the reseller prepaid the fee, part of the price is the fee itself, not rent.
    fee_in_price = np.where(slots.prepaid.to_numpy()[sales.slot.to_numpy()], fee, 0.0) if len(sales) else 0.0
    dwin = daily[(daily.day >= w0) & (daily.day < end)]
    cost = sum(records.resellers.cost_eur.tolist())
    # Costs over the whole run scaled to the window: costs are spread evenly enough for a summary.
    cost_window = cost * (end - w0) / end
    out = {
        "applicants_arrived": int(len(a)),
        "applicants_served": int(served.sum()),
        "applicants_abandoned": int((a.status == "abandoned").sum()),
        "applicants_unresolved": int((a.status == "waiting").sum()),
        "abandon_rate": _ratio((a.status == "abandoned").sum(), resolved.sum()),
        "slots_released": released,
        "slots_attended_direct": direct,
        "slots_attended_via_reseller": via,
        "slots_wasted": wasted,
        **{f"slots_{o}": n[o] for o in WASTE},
        "share_captured_by_bots": _ratio(win.first_taken_by.isin(["bot", "reseller_draw"]).sum(), released),
        "share_via_reseller": _ratio(via, direct + via),
        "wait_days_mean": float(waits.mean()) if len(waits) else math.nan,
        "wait_days_p50": _q(waits, 0.5),
        "wait_days_p90": _q(waits, 0.9),
        "reseller_revenue_eur": revenue,
        "reseller_price_mean_eur": float(sales.price_paid_eur.mean()) if len(sales) else math.nan,
        "reseller_profit_eur": revenue - cost_window,
        "rent_paid_above_fee_eur": float((sales.price_paid_eur - fee_in_price).clip(lower=0).sum()),
        "bot_requests_per_day_mean": float(dwin.bot_requests.mean()) if len(dwin) else 0.0,
        "human_checks_per_appointment": _ratio(a.site_checks.sum(), served.sum()),
        "human_defence_minutes_per_appointment": _ratio(a.defence_minutes.sum(), served.sum()),
        "human_failed_attempts_per_appointment": _ratio(a.failed_attempts.sum(), served.sum()),
        "reassignments": int(daily.reassignments.sum()) if len(daily) else 0,
        "bots_end": float(sum(records.resellers.bots_end.tolist())),
        "events_processed": int(records.events_processed),
    }
    for seg in SEGMENTS:
        ws = a.wait_days[served & (a.segment == seg)].to_numpy()
        out[f"wait_days_mean_{seg}"] = float(ws.mean()) if len(ws) else math.nan
    # Fairness: the chance of an appointment before one's travel date, by checking habit and by
    # segment (does checking hourly beat checking weekly?), directly or through a reseller.
    for col, groups in (("habit", list(records.habits)), ("segment", SEGMENTS)):
        for g in groups:
            members = (a[col] == g) & resolved
            out[f"served_share_{g}"] = _ratio((served & members).sum(), members.sum())
            out[f"served_direct_share_{g}"] = _ratio(((a.status == "served_direct") & members).sum(), members.sum())
    out.update(timeline_metrics(sc, daily, slots))
    return out


def timeline_metrics(sc: Scenario, daily: pd.DataFrame, slots: pd.DataFrame) -> dict:
    """Before/after figures for a run whose policy switches (the Rabat story)."""
    if not sc.timeline:
        return {}
    sw = sc.timeline[0].day
    req = daily.set_index("day").bot_requests
    before = req.loc[sw - 28 : sw - 1].mean()
    out: dict[str, float] = {"switch_day": sw}
    for w in range(1, 5):
        after = req.loc[sw + 7 * (w - 1) : sw + 7 * w - 1].mean()
        out[f"bot_activity_ratio_week{w}"] = _ratio(after, before) if before else math.nan
    after = slots[(slots.day >= sw) & (slots.day < sc.run.days)]
    before_s = slots[(slots.day >= max(sw - 28, sc.run.warmup_days)) & (slots.day < sw)]
    out["appointments_genuine_after_switch"] = int((after.outcome == "attended_direct").sum())
    out["share_via_reseller_before"] = _share_via(before_s)
    out["share_via_reseller_after"] = _share_via(after)
    return out


def _share_via(s: pd.DataFrame) -> float:
    d = (s.outcome == "attended_direct").sum()
    v = (s.outcome == "attended_via_reseller").sum()
    return _ratio(v, d + v)


def result_of(records: Records) -> RunResult:
    """A run's result: its metrics computed from its records, and the records."""
    return RunResult(
        compute_metrics(records), records.applicants, records.slots, records.daily, records.reviews, records
    )


def format_value(v) -> str:
    """A metric as text tables show it: 'n/a' when undefined, thousands separators, 3 significant-ish digits."""
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
