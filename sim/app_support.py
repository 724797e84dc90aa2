"""Pure helpers behind the Streamlit app (app.py): no `streamlit` import here, so tests use them directly.

- scenarios: the shipped ones (chosen by their description), uploads (with field-named errors);
- widgets: what each widget edits, its unit, bounds and help (from the schema's Field descriptions);
  `widget_defaults(scenario)` and `build_scenario(base, values)` go back and forth;
- comparison: `variants_for` applies the presets to the edited scenario, `run_comparison` runs every
  (scheme, replication) with the run contract `sim.run(scenario, seed, replication)` and keeps only
  small summaries of the records (a few MB whatever the number of applicants);
- answer: `summary_table`, `headline` (plain language), the charts (drawn by sim/figures.py);
- exports: YAML, CSV and PNG bytes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import figures as F
from .figures import png_bytes  # noqa: F401  (app.py: A.png_bytes)
from .presets import apply_preset
from .runner import RunPlan, Task, collect_metrics, run
from .scenario import SEGMENTS, Scenario, ScenarioError, deep_merge, parse_scenario
from .stats import t_interval
from .yamlsafe import MAX_BYTES, parse_yaml

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
NOT_SCENARIOS = {"regression.yaml"}

# Shipped scenarios simulate 90-150 days; all seven schemes on 150 days take ~1.5 min here, so the
# app starts shipped scenarios at this length (the user can set any length).
APP_DEFAULT_DAYS = 90

OWN = F.EDITED  # variant id of the edited scenario itself (its own scheme, defences and timeline)

LABELS = {
    OWN: "Your scenario as edited",
    "first_come": "First come",
    "captcha_otp": "First come + CAPTCHA + OTP",
    "ip_blocking": "First come + IP blocking",
    "prepaid_bound": "First come, prepaid + ID-bound",
    "progressive_random": "Progressive random opening",
    "progressive_random_ip": "Progressive random + IP blocking",
    "random_allocation": "Random allocation (draw)",
}

SEGMENT_LABELS = {"first_time": "first-time", "renewal": "renewal", "circulation": "circulation"}
HABIT_LABELS = {
    "hourly": "checks hourly",
    "several_daily": "several times a day",
    "daily": "once a day",
    "few_weekly": "a few times a week",
}

# --------------------------------------------------------------------------- scenarios


def shipped_scenarios(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    """File name -> scenario for every shipped scenario that has a description (baseline first)."""
    out: dict[str, Scenario] = {}
    files = sorted(directory.glob("*.yaml"), key=lambda p: (p.name != "baseline_fcfs.yaml", p.name))
    for p in files:
        if p.name in NOT_SCENARIOS:
            continue
        try:
            from .scenario import load_scenario

            sc = load_scenario(p)
        except ScenarioError:
            continue
        if sc.description:
            out[p.name] = sc
    return out


def for_app(sc: Scenario, days: int = APP_DEFAULT_DAYS) -> Scenario:
    """A shipped scenario shortened to `days` (the app's quick default); timeline days stay valid."""
    if sc.run.days <= days or any(s.day >= days for s in sc.timeline):
        return sc
    data = sc.to_dict()
    data["run"]["days"] = days
    data["run"]["warmup_days"] = min(data["run"]["warmup_days"], days // 3)
    return parse_scenario(data, sc.name)


def upload_label(name: str) -> str:
    """The upload's file name as it may be shown: the browser sends it, so it is never used as a path,
    and only letters, digits, `._ -` (at most 80 of them) are kept for messages and markdown."""
    kept = "".join(ch if ch.isalnum() or ch in "._ -" else "_" for ch in str(name)).strip()
    return kept[:80] or "upload"


def shipped_names(directory: Path = SCENARIO_DIR) -> list[str]:
    """The file names an upload's `extends:` may give: the folder's own `*.yaml` files (not the
    regression plan) that resolve, symbolic links followed, to a file inside the folder."""
    root = directory.resolve()
    out = []
    for p in sorted(directory.glob("*.yaml")):
        real = _resolved(p)
        if p.name not in NOT_SCENARIOS and real is not None and real.is_relative_to(root) and real.is_file():
            out.append(p.name)
    return out


def _resolved(p: Path) -> Path | None:
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        return None


def extends_message(directory: Path = SCENARIO_DIR) -> str:
    """The one message for every `extends:` of an upload that is not a shipped scenario: the same
    whatever was asked and whatever exists elsewhere on the server."""
    return (
        f"extends: must be the name of a shipped scenario ({', '.join(shipped_names(directory))}); "
        "or upload a complete scenario (the YAML exported by this app is one)"
    )


def _shipped_data(parent: Any, directory: Path) -> Any:
    """The data of the shipped scenario named `parent`, its own `extends:` chain merged in; every file
    of the chain must resolve inside `directory`, else the one extends message (ScenarioError)."""
    names = shipped_names(directory)
    if isinstance(parent, str) and not parent.endswith(".yaml"):
        parent += ".yaml"
    if not isinstance(parent, str) or parent not in names:  # names hold no separator, no `..`
        raise ScenarioError([extends_message(directory)])
    root = directory.resolve()
    chain: list[Any] = []
    seen: list[Path] = []
    path = directory / parent
    while True:
        real = _resolved(path)
        if real is None or not real.is_relative_to(root) or real in seen or not real.is_file():
            raise ScenarioError([extends_message(directory)])
        seen.append(real)
        try:
            text = real.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise ScenarioError([extends_message(directory)]) from None
        try:
            data = parse_yaml(text)
        except ScenarioError as e:  # a broken shipped file: named by its place in the folder
            raise ScenarioError([f"extends: {real.relative_to(root).as_posix()}: {m}" for m in e.messages]) from None
        if not isinstance(data, dict) or "extends" not in data:
            chain.append(data if data is not None else {})
            break
        data = dict(data)
        grand = data.pop("extends")
        chain.append(data)
        if not isinstance(grand, str):
            raise ScenarioError([extends_message(directory)])
        path = path.parent / grand  # relative to the file, as resolve_extends reads it
    merged: Any = chain[-1]
    for data in reversed(chain[:-1]):
        merged = deep_merge(merged, data)
    return merged


def parse_upload(name: str, content: bytes, directory: Path = SCENARIO_DIR) -> Scenario:
    """An uploaded YAML file as a scenario; every problem raises ScenarioError naming the field.

    `name` is the browser's: it only labels the messages (upload_label), it is never a path. A file
    larger than the YAML reader's limit is refused before it is decoded. `extends:` may only name a
    shipped scenario of `directory` by its file name (`baseline_fcfs.yaml` or `baseline_fcfs`);
    anything else gets one message that tells nothing about other files on the server.
    """
    label = upload_label(name)
    if len(content) > MAX_BYTES:
        raise ScenarioError(
            [f"(file): {len(content):,} bytes, more than the limit of {MAX_BYTES:,} bytes: refused"], label
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(["(file): not UTF-8 text; upload a YAML scenario file"], label) from None
    data = parse_yaml(text, label)
    if isinstance(data, dict) and "extends" in data:
        data = dict(data)
        try:
            parent = _shipped_data(data.pop("extends"), directory)
        except ScenarioError as e:
            raise ScenarioError(e.messages, label) from None
        data = deep_merge(parent, data)
    return parse_scenario(data, label)


# --------------------------------------------------------------------------- widgets


def field_help(path: str) -> str:
    """The schema's description of a dotted field (units and sources), '' if it has none."""
    model: Any = Scenario
    info = None
    for part in path.split("."):
        if isinstance(model, type) and hasattr(model, "model_fields") and part in model.model_fields:
            info = model.model_fields[part]
            ann = info.annotation
            model = _model_in(ann) or ann
        else:
            return ""
    return (info.description or "") if info else ""


def _model_in(ann) -> Any:
    from pydantic import BaseModel

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in getattr(ann, "__args__", ()) or ():
        m = _model_in(a)
        if m is not None:
            return m
    return None


@dataclass(frozen=True)
class Bounds:
    """A field's numeric bounds from its schema (None: unbounded on that side; strict: < or >)."""

    lo: float | None = None
    hi: float | None = None
    lo_strict: bool = False
    hi_strict: bool = False

    def above_lo(self, x: float) -> bool:
        return self.lo is None or (x > self.lo if self.lo_strict else x >= self.lo)

    def below_hi(self, x: float) -> bool:
        return self.hi is None or (x < self.hi if self.hi_strict else x <= self.hi)

    def admits(self, x: float) -> bool:
        """Whether the field accepts the value x (as far as these bounds go)."""
        return self.above_lo(x) and self.below_hi(x)


def field_bounds(path: str, model: Any = Scenario) -> Bounds:
    """The bounds of the dotted field `path` of a pydantic model, from its FieldInfo.metadata
    (annotated_types Ge, Gt, Le, Lt, also inside an Annotated alias or an Optional); through a list
    of models the path goes on in the model of its items. The tightest bound on each side wins.
    An unknown path raises KeyError (a widget naming a field that does not exist)."""
    from annotated_types import Ge, Gt, Le, Lt

    info = None
    for part in path.split("."):
        fields = getattr(model, "model_fields", None) if isinstance(model, type) else None
        if not fields or part not in fields:
            raise KeyError(f"{path}: no field {part!r} in {getattr(model, '__name__', model)}")
        info = fields[part]
        model = _model_in(info.annotation)
    assert info is not None
    b = Bounds()
    for m in [*info.metadata, *_annotated_metadata(info.annotation)]:
        if isinstance(m, (Ge, Gt)):
            bound: Any = m.ge if isinstance(m, Ge) else m.gt  # a number in a schema
            x = float(bound)
            strict = isinstance(m, Gt)
            if b.lo is None or x > b.lo or (x == b.lo and strict):
                b = Bounds(x, b.hi, strict, b.hi_strict)
        elif isinstance(m, (Le, Lt)):
            bound = m.le if isinstance(m, Le) else m.lt
            x = float(bound)
            strict = isinstance(m, Lt)
            if b.hi is None or x < b.hi or (x == b.hi and strict):
                b = Bounds(b.lo, x, b.lo_strict, strict)
    return b


def _annotated_metadata(ann) -> list[Any]:
    """Metadata of Annotated types nested in an annotation (`Prob | None`, `tuple[NonNeg, ...]`),
    a `Field(...)` among them opened into its own metadata."""
    from pydantic.fields import FieldInfo

    out: list[Any] = []
    for m in getattr(ann, "__metadata__", ()):
        out += m.metadata if isinstance(m, FieldInfo) else [m]
    for a in getattr(ann, "__args__", ()) or ():
        out += _annotated_metadata(a)
    return out


def schema_sources() -> pd.DataFrame:
    """Every described field of the schema with its default and description (the model's sources)."""
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    rows = []

    def walk(model, prefix):
        for name, info in model.model_fields.items():
            sub = _model_in(info.annotation)
            path = f"{prefix}{name}"
            if path in ("name", "description", "timeline"):
                continue
            if sub is not None and isinstance(sub, type) and issubclass(sub, BaseModel) and name not in ("habits",):
                walk(sub, path + ".")
                continue
            if not info.description:
                continue
            default = info.default
            if default is PydanticUndefined:
                default = info.default_factory() if info.default_factory else ""
            rows.append({"field": path, "default": _short(default), "meaning and source": info.description})

    walk(Scenario, "")
    return pd.DataFrame(rows)


def _short(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_short(x)}" for k, x in v.items())
    if isinstance(v, (tuple, list)):
        return ", ".join(_short(x) for x in v) or "(none)"
    if hasattr(v, "model_dump"):
        return ", ".join(f"{k}={x}" for k, x in v.model_dump().items())
    return str(v)


@dataclass(frozen=True)
class Param:
    """One numeric widget: the field it edits (for the help text), its label with unit, its bounds.

    `factor`: the widget multiplies the field rather than setting it (bots ×, price ×), so the
    field's bounds are not the widget's. Otherwise the bounds never exceed the field's (within_field).
    """

    key: str
    label: str
    path: str
    min: float
    max: float
    step: float
    integer: bool = True
    note: str = ""
    factor: bool = False

    @property
    def help(self) -> str:
        return sentence(field_help(self.path) if self.path else "", self.note)


def sentence(*parts: str) -> str:
    """Join description fragments into capitalised sentences."""
    out = []
    for p in parts:
        p = p.strip()
        if p:
            p = p[:1].upper() + p[1:]
            out.append(p if p.endswith((".", "!", "?")) else p + ".")
    return " ".join(out)


def within_field(p: Param) -> Param:
    """The widget with its bounds brought inside its field's (a bound added to the schema later
    narrows the widget too); a strict bound keeps one step (or 1 for integers) away."""
    if p.factor or not p.path:
        return p
    b = field_bounds(p.path)
    gap = 1.0 if p.integer else p.step
    lo, hi = p.min, p.max
    if b.lo is not None and not b.above_lo(lo):
        lo = b.lo + gap if b.lo_strict else b.lo
    if b.hi is not None and not b.below_hi(hi):
        hi = b.hi - gap if b.hi_strict else b.hi
    if p.integer:
        lo, hi = math.ceil(lo), math.floor(hi)
    if lo > hi:
        raise ValueError(f"widget {p.key}: no value in [{p.min}, {p.max}] is allowed by {p.path} ({b})")
    return p if (lo, hi) == (p.min, p.max) else replace(p, min=lo, max=hi)


PARAMS = {
    p.key: within_field(p)
    for p in [
        Param("capacity", "Centre capacity (appointments per working day)", "centre.capacity_per_day", 1, 20_000, 10),
        Param(
            "applicants_per_year",
            "Demand (applicants per year)",
            "demand.applicants_per_year",
            0,
            2_000_000,
            5_000,
            note="The arrival rate then follows the monthly seasonality of the scenario; "
            "the largest centres receive a few hundred thousand applicants a year.",
        ),
        Param(
            "days",
            "Simulated days",
            "run.days",
            1,
            3650,
            10,
            note="Longer runs are slower: about 0.1 s per simulated day per scheme for the baseline centre.",
        ),
        Param("warmup_days", "Warm-up days (left out of the results)", "run.warmup_days", 0, 3649, 1),
        Param(
            "bots_scale",
            "Bot fleets, size × (1 = as in the scenario, 0 = no bots)",
            "",
            0.0,
            5.0,
            0.1,
            integer=False,
            note="Multiplies the number of bots of every reseller fleet at the start.",
            factor=True,
        ),
        Param(
            "poll_factor",
            "Bots' polling interval × (below 1 = faster bots)",
            "resellers.poll_interval_s",
            0.1,
            10.0,
            0.1,
            integer=False,
            note="Multiplies every fleet's polling interval and reaction time: 0.5 means twice as fast.",
            factor=True,
        ),
        Param(
            "price_factor",
            "Resale price × (1 = as in the scenario)",
            "resellers.price_eur",
            0.1,
            4.0,
            0.1,
            integer=False,
            note="Multiplies every fleet's starting price, kept within its minimum and "
            "maximum price; adaptive resellers then move it with demand.",
            factor=True,
        ),
        Param(
            "batches_per_day",
            "Batches per day (progressive random opening)",
            "policy.scheme.batches_per_day",
            1,
            1440,
            1,
            note="At most one batch a minute.",
        ),
        Param(
            "window_hours",
            "Opening window, hours (progressive random opening)",
            "policy.scheme.window_hours",
            0.01,
            24.0,
            0.5,
            integer=False,
        ),
        Param(
            "draw_interval_days",
            "Days between draws (random allocation)",
            "policy.scheme.draw_interval_days",
            0.01,
            3650.0,
            0.25,
            integer=False,
        ),
        Param(
            "payment_deadline_hours",
            "Payment deadline, hours (random allocation)",
            "policy.scheme.payment_deadline_hours",
            0.01,
            100_000.0,
            1.0,
            integer=False,
        ),
        Param(
            "seed",
            "Seed",
            "run.seed",
            0,
            2**53 - 1,
            1,
            note="The same seed replays the same applicants under every scheme (common random numbers).",
        ),
        Param(
            "replications",
            "Replications",
            "",
            1,
            10,
            1,
            note="1 to 10 independent repetitions with other random applicants; with 2 or more "
            "the results get 95% confidence intervals.",
        ),
    ]
}

DEFENCES = {
    "captcha": "CAPTCHA on every booking",
    "otp": "One-time code (SMS / e-mail)",
    "ip_blocking": "IP blocking (rate limiting)",
    "prepayment": "Prepaid, non-modifiable appointments",
    "identity_binding": "Identity bound to the appointment",
}


def defence_help(sc: Scenario, name: str) -> str:
    """What a defence does, with the scenario's own parameter values and their sources."""
    d = getattr(sc.policy.defences, name)
    if name == "captcha":
        return (
            f"Every booking needs a CAPTCHA. People need about {d.human_solve_s:g} s per solve and fail "
            f"{d.human_fail_prob:.0%} of tries (Searles 2023; Bursztein 2010); bots pay a solving service "
            f"EUR {d.bot_cost_per_1000_eur:g} per 1,000 solves and wait {d.bot_solve_s:g} s (Motoyama 2010)."
        )
    if name == "otp":
        return (
            f"A one-time code by SMS or e-mail on every booking: {d.delay_s:g} s for everyone; bots pay "
            f"EUR {d.bot_cost_per_identity_eur:g} per rented number and {d.bot_non_delivery_prob:.0%} of "
            f"their codes never arrive (vendor pages)."
        )
    if name == "ip_blocking":
        return (
            f"An address sending more than {d.requests_per_ip_per_minute:g} requests a minute is blocked; "
            f"bots rotate through {d.proxy_ips} rented addresses at "
            f"EUR {d.proxy_cost_per_attempt_eur:g} per attempt; {d.human_block_prob:.0%} of people's "
            f"attempts are blocked too (shared addresses) [EST]."
        )
    if name == "prepayment":
        return (
            "The service fee is paid at booking and the appointment cannot change name or date: "
            "speculative resellers pay for every slot they hold, and lose the fee on what they do not sell."
        )
    if name == "identity_binding":
        return (
            f"The passport number is fixed at booking and checked at the door: a slot held under another "
            f"name is refused; {d.detection_prob:.0%} of duplicate or fake registrations are caught "
            f"(passport video call, TLS Morocco Sept 2024)."
        )
    return ""


SCHEME_KINDS = {
    "first_come": "First-come booking",
    "progressive_random": "Progressive random opening",
    "random_allocation": "Random allocation (registration and draws)",
}
AS_IS = "as in the scenario"
MODES = {
    AS_IS: AS_IS,
    "speculative": "speculative (book first, sell later)",
    "to_order": "to order (book for a paying client)",
}


def _schemes(sc: Scenario):
    return [sc.policy.scheme] + [s.scheme for s in sc.timeline if s.scheme is not None]


def widget_defaults(sc: Scenario) -> dict[str, Any]:
    """Widget key -> value showing scenario `sc` unchanged (build_scenario(sc, these) == sc)."""
    schemes = _schemes(sc)
    draw = next((s for s in schemes if s.kind == "random_allocation"), sc.policy.scheme)
    prog = next((s for s in schemes if s.kind == "progressive_random"), sc.policy.scheme)
    modes = {r.mode for r in sc.resellers}
    d = sc.policy.defences
    return {
        "capacity": sc.centre.capacity_per_day,
        "applicants_per_year": int(round(sc.demand.applicants_per_year)),
        "start_date": sc.run.start_date,
        "days": sc.run.days,
        "warmup_days": sc.run.warmup_days,
        "seed": sc.run.seed,
        "bots_scale": 1.0,
        "poll_factor": 1.0,
        "price_factor": 1.0,
        "reseller_mode": modes.pop() if len(modes) == 1 else AS_IS,
        "adaptive": all(r.adaptive for r in sc.resellers) if sc.resellers else True,
        **{f"def_{k}": getattr(d, k).enabled for k in DEFENCES},
        "scheme_kind": sc.policy.scheme.kind,
        "batches_per_day": prog.batches_per_day,
        "window_hours": float(prog.window_hours),
        "draw_interval_days": float(draw.draw_interval_days),
        "payment_deadline_hours": float(draw.payment_deadline_hours),
        "enrolled_segments": list(draw.enrolled_segments),
    }


def fit_widgets(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values clamped to the widgets' bounds (a widget refuses others), and the keys that were changed."""
    out, changed = dict(values), []
    for k, p in PARAMS.items():
        if k in out:
            x = min(max(out[k], p.min), p.max)
            x = int(round(x)) if p.integer else float(x)
            if x != out[k]:
                changed.append(k)
            out[k] = x
    if isinstance(out.get("start_date"), dt.date):
        d = min(max(out["start_date"], DATE_MIN), DATE_MAX)
        if d != out["start_date"]:
            changed.append("start_date")
        out["start_date"] = d
    return out, changed


DATE_MIN, DATE_MAX = dt.date(1900, 1, 1), dt.date(2200, 12, 31)


def build_scenario(base: Scenario, values: dict[str, Any]) -> Scenario:
    """The base scenario with the widget values applied; raises ScenarioError naming the fields.

    Values missing from `values` keep the base's. A changed scheme setting applies to the starting
    scheme and to every scheme of the timeline; the scheme kind and the defence switches to the
    starting policy only.
    """
    d0 = widget_defaults(base)
    v = {**d0, **values}
    data = base.to_dict()
    data["centre"]["capacity_per_day"] = int(v["capacity"])
    data["demand"]["applicants_per_year"] = float(v["applicants_per_year"])
    start = v["start_date"]
    data["run"]["start_date"] = start.isoformat() if isinstance(start, dt.date) else str(start)
    data["run"]["days"] = int(v["days"])
    data["run"]["warmup_days"] = int(v["warmup_days"])
    data["run"]["seed"] = int(v["seed"])
    scale, poll, price = float(v["bots_scale"]), float(v["poll_factor"]), float(v["price_factor"])
    for r in data["resellers"]:
        if scale != 1.0:
            r["bots"] = int(round(r["bots"] * scale))
            r["max_bots"] = max(r["max_bots"], r["bots"])
        if poll != 1.0:
            r["poll_interval_s"] = r["poll_interval_s"] * poll
            r["reaction_s"] = r["reaction_s"] * poll
        if price != 1.0:
            r["price_eur"] = min(max(r["price_eur"] * price, r["price_min_eur"]), r["price_max_eur"])
        if v["reseller_mode"] != AS_IS:
            r["mode"] = v["reseller_mode"]
        r["adaptive"] = bool(v["adaptive"])
    for k in DEFENCES:
        data["policy"]["defences"][k]["enabled"] = bool(v[f"def_{k}"])
    data["policy"]["scheme"]["kind"] = v["scheme_kind"]
    settings = {
        "batches_per_day": int(v["batches_per_day"]),
        "window_hours": float(v["window_hours"]),
        "draw_interval_days": float(v["draw_interval_days"]),
        "payment_deadline_hours": float(v["payment_deadline_hours"]),
        "enrolled_segments": [s for s in SEGMENTS if s in v["enrolled_segments"]],
    }
    changed = {
        k: x
        for k, x in settings.items()
        if x != (sorted(d0[k], key=SEGMENTS.index) if k == "enrolled_segments" else d0[k])
    }
    for scheme in [data["policy"]["scheme"]] + [s["scheme"] for s in data["timeline"] if s.get("scheme")]:
        scheme.update(changed)
    return parse_scenario(data, "your settings")


def timeline_text(sc: Scenario) -> str:
    """The scenario's policy switches in words ('' when it has none)."""
    parts = []
    for s in sc.timeline:
        date = sc.run.start_date + dt.timedelta(days=s.day)
        what = []
        if s.scheme is not None:
            w = SCHEME_KINDS[s.scheme.kind].lower()
            if s.scheme.kind == "random_allocation":
                w += " for " + ", ".join(SEGMENT_LABELS[x] for x in s.scheme.enrolled_segments) + " applicants"
            what.append(w)
        if s.defences is not None:
            on = [DEFENCES[k].lower() for k in DEFENCES if getattr(s.defences, k).enabled]
            what.append("defences: " + (", ".join(on) if on else "none"))
        parts.append(f"on day {s.day} ({date:%d %b %Y}) it switches to " + "; ".join(what))
    return "; ".join(parts)


# --------------------------------------------------------------------------- comparison


def variants_for(base: Scenario, presets: list[str], include_own: bool) -> dict[str, Scenario]:
    """Variant id -> scenario: the edited scenario itself (if asked) and each preset applied to it."""
    out: dict[str, Scenario] = {}
    if include_own:
        out[OWN] = base
    for p in presets:
        out[p] = apply_preset(base, p)
    return out


def comparison_key(base: Scenario, presets: list[str], include_own: bool, seed: int, replications: int) -> str:
    """The cache key of a comparison: scenario digest, schemes, seed and replications."""
    names = ([OWN] if include_own else []) + list(presets)
    return f"{base.digest()}|{','.join(names)}|seed={int(seed)}|reps={int(replications)}"


FAIR_DAYS = np.arange(0, 181)  # N of "share served within N days"
QUANTS = np.linspace(0.0, 1.0, 101)
DAILY_COLS = (
    "day",
    "date",
    "bot_requests",
    "bots",
    "reseller_price_eur",
    "booked_bot",
    "sales",
    "sales_eur",
    "released",
)


@dataclass
class Comparison:
    """What a comparison keeps: per-replication metrics and small summaries of the records."""

    key: str
    variants: dict[str, Scenario]
    seed: int
    replications: int
    metrics: pd.DataFrame  # one row per (variant, replication): the metrics of sim.run
    daily: pd.DataFrame  # variant, replication and DAILY_COLS
    fairness: pd.DataFrame  # variant, replication, dim, group, n, and within_<N> shares
    wait_quantiles: pd.DataFrame  # variant, replication, q, wait_days (served applicants)
    seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, v: str) -> str:
        return self.labels.get(v, v)


def run_comparison(
    variants: dict[str, Scenario],
    seed: int,
    replications: int,
    on_progress: Callable[[int, int, str, int], None] | None = None,
    key: str = "",
) -> Comparison:
    """Run every (variant, replication) in this process (sim/runner.py); keep metrics and summaries.

    Replication k of every variant uses (seed, k): all schemes face the same applicants.
    on_progress(done, total, variant, replication) is called before each run and at the end.
    """
    import time

    t0 = time.perf_counter()

    def progress(done: int, total: int, task: Task | None) -> None:
        if on_progress:
            on_progress(done, total, task.variant if task else "", task.replication if task else replications - 1)

    done = run(RunPlan.of(variants, seed, replications), collect=_collect, jobs=1, progress=False, on_progress=progress)
    f = done.frames(ident=("variant", "replication"), by_replication=True)
    metrics = f.runs
    metrics.insert(1, "label", [LABELS.get(v, v) for v in metrics.variant])
    return Comparison(
        key=key,
        variants=dict(variants),
        seed=seed,
        replications=replications,
        metrics=metrics,
        daily=f.table("daily"),
        fairness=f.table("fairness"),
        wait_quantiles=f.table("wait_quantiles"),
        seconds=time.perf_counter() - t0,
        labels={v: LABELS.get(v, v) for v in variants},
    )


def _collect(task: Task, res) -> dict:
    """What the app keeps of a run: metrics, a few daily series and small summaries of the applicants."""
    fairness, quantiles = _summarise_applicants(task.scenario, res.applicants)
    return {
        **collect_metrics(task, res),
        "daily": res.daily[[c for c in DAILY_COLS if c in res.daily.columns]],
        "fairness": fairness,
        "wait_quantiles": quantiles,
    }


def _summarise_applicants(sc: Scenario, apps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share served within N days per habit and segment, and quantiles of waits, in the metrics window."""
    w0, end = sc.run.warmup_days, sc.run.days
    a = apps[(apps.arrival_day >= w0) & (apps.arrival_day < end - sc.centre.release_days_ahead)]
    served = a.status.isin(["served_direct", "served_via_reseller"]).to_numpy()
    wait = np.where(served, a.wait_days.to_numpy(dtype=float), np.inf)
    rows = []
    groups = [("all", "all applicants", np.ones(len(a), bool))]
    groups += [("habit", h, (a.habit == h).to_numpy()) for h in sc.humans.habits]
    groups += [("segment", s, (a.segment == s).to_numpy()) for s in SEGMENTS]
    for dim, g, mask in groups:
        w = np.sort(wait[mask])
        n = len(w)
        within = np.searchsorted(w, FAIR_DAYS, side="right") / n if n else np.full(len(FAIR_DAYS), np.nan)
        rows.append({"dim": dim, "group": g, "n": n, **{f"within_{d}": x for d, x in zip(FAIR_DAYS, within)}})
    served_w = wait[np.isfinite(wait)]
    q = np.quantile(served_w, QUANTS) if len(served_w) else np.full(len(QUANTS), np.nan)
    return pd.DataFrame(rows), pd.DataFrame({"q": QUANTS, "wait_days": q})


# --------------------------------------------------------------------------- the answer

MEASURES = {  # metric -> (column title, factor to display units, unit)
    "share_captured_by_bots": ("Slots taken by bots (%)", 100.0, "%"),
    "share_via_reseller": ("Bought from resellers (%)", 100.0, "%"),
    "wait_days_p50": ("Median wait (days)", 1.0, "days"),
    "wait_days_p90": ("90% served within (days)", 1.0, "days"),
    "abandon_rate": ("Gave up (%)", 100.0, "%"),
    "reseller_revenue_eur": ("Paid to resellers (EUR)", 1.0, "EUR"),
}


def ci_halfwidth(x: pd.Series) -> float:
    """95% confidence half-width of the mean (Student t), NaN with fewer than 2 values."""
    return t_interval(x).half_width


def summary_table(c: Comparison) -> pd.DataFrame:
    """One row per scheme: the six measures in display units, with ± 95% CI columns when replicated."""
    out = []
    for v in c.variants:
        g = c.metrics[c.metrics.variant == v]
        row: dict[str, str | float] = {"Scheme": c.label(v)}
        for m, (title, factor, _) in MEASURES.items():
            row[title] = float(g[m].astype(float).mean()) * factor
            if c.replications > 1:
                row[f"{title} ±"] = ci_halfwidth(g[m]) * factor
        out.append(row)
    return pd.DataFrame(out).set_index("Scheme")


MEASURE_HELP = {
    "share_captured_by_bots": "Share of the released slots first booked by a bot (or won by a reseller's fake "
    "registration in a draw).",
    "share_via_reseller": "Share of the attended appointments that the applicant bought from a reseller.",
    "wait_days_p50": "Half of the served applicants had their appointment within this many days of needing one.",
    "wait_days_p90": "Nine in ten served applicants had their appointment within this many days.",
    "abandon_rate": "Share of applicants who were never served before their travel date.",
    "reseller_revenue_eur": "Money applicants paid to resellers over the measured days (EUR).",
}


def display_table(c: Comparison) -> pd.DataFrame:
    """The summary as shown: numbers with one replication, 'mean ± half-width' text with several."""
    t = summary_table(c)
    if c.replications == 1:
        return t
    out = pd.DataFrame(index=t.index)
    for title, _, unit in MEASURES.values():
        digits = 0 if unit == "EUR" else 1
        out[title] = [
            f"{x:,.{digits}f} ± {h:,.{digits}f}" if math.isfinite(h) else f"{x:,.{digits}f}"
            for x, h in zip(t[title], t[f"{title} ±"])
        ]
    return out


def ranking(c: Comparison) -> pd.Series:
    """Mean rank of each scheme over the six measures (1 = best; lower is better for all six)."""
    t = summary_table(c)[[title for title, _, _ in MEASURES.values()]]
    return t.rank(axis=0, method="average").mean(axis=1, skipna=True).sort_values(kind="stable")


def _money(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    if x >= 1e6:
        return f"EUR {x / 1e6:.1f} million"
    if x >= 1e4:
        return f"EUR {x / 1e3:,.0f} thousand"
    return f"EUR {x:,.0f}"


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else (f"{x:.0f}%" if x >= 10 or x == 0 else f"{x:.1f}%")


def _days(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.1f} days"


def describe_row(row: pd.Series) -> str:
    t = {m: row[title] for m, (title, _, _) in MEASURES.items()}
    return (
        f"bots captured {_pct(t['share_captured_by_bots'])} of the slots, "
        f"{_pct(t['share_via_reseller'])} of appointments went through resellers, "
        f"the median wait was {_days(t['wait_days_p50'])} (90% within {_days(t['wait_days_p90'])}), "
        f"{_pct(t['abandon_rate'])} gave up, and {_money(t['reseller_revenue_eur'])} went to resellers"
    )


def headline(c: Comparison) -> str:
    """One or two plain sentences: the best and the worst scheme on the six measures."""
    table = summary_table(c)
    days = next(iter(c.variants.values())).run
    span = f"over {days.days - days.warmup_days} measured days"
    if len(table) == 1:
        name = table.index[0]
        return f"Under **{name}**, {span}, {describe_row(table.iloc[0])}."
    rank = ranking(c)
    best, worst = rank.index[0], rank.index[-1]
    text = (
        f"On the same applicants {span}, **{best}** does best: {describe_row(table.loc[best])}. "
        f"**{worst}** does worst: {describe_row(table.loc[worst])}."
    )
    return text


def caveat(c: Comparison) -> str:
    base = "Best and worst are by average rank over the six measures of the table (lower is better for each). "
    if c.replications > 1:
        return base + (
            f"± is the 95% confidence interval over {c.replications} replications: differences "
            "smaller than it may be chance."
        )
    return base + (
        "One replication: small differences may be chance; choose 3 or more replications to get confidence intervals."
    )


# --------------------------------------------------------------------------- charts (matplotlib)

OUTCOME_PARTS = F.outcome_parts(F.APP_OUTCOMES)  # (metric, label, colour): colours shared with the report


def outcome_shares(c: Comparison) -> pd.DataFrame:
    """Mean share of released slots per outcome, one row per scheme (rows sum to 1)."""
    m = c.metrics.copy()
    listed = [p for p, _, _ in OUTCOME_PARTS[:-1] if p.startswith("slots_wasted")]
    # any waste category the engine adds later, so that the bars still sum to 100%
    m["slots_wasted_other"] = m["slots_wasted"] - sum(m[p] if p in m else 0 for p in listed)
    out = {}
    for v in c.variants:
        g = m[m.variant == v]
        rel = g.slots_released.astype(float).replace(0, np.nan)
        out[c.label(v)] = {label: float((g.get(p, 0) / rel).mean()) for p, label, _ in OUTCOME_PARTS}
    return pd.DataFrame(out).T


def fig_outcomes(c: Comparison):
    """What happened to the released slots, one stacked bar per scheme."""
    return F.app_outcomes(outcome_shares(c))


def fig_waits(c: Comparison):
    """Distribution of waits of served applicants (need to appointment), one curve per scheme."""
    return F.app_waits(c)


def fig_activity(c: Comparison):
    """Bot requests per day and the price paid to resellers over time; warm-up and switch days marked."""
    return F.app_activity(c)


def fairness_table(c: Comparison, within_days: int, dim: str) -> pd.DataFrame:
    """Mean share (%) served within N days per group (rows) and scheme (columns), and its CI half-width."""
    f = c.fairness[c.fairness.dim == dim]
    col = f"within_{int(within_days)}"
    mean = f.pivot_table(index="group", columns="variant", values=col, aggfunc="mean", sort=False) * 100
    ci = f.groupby(["group", "variant"], sort=False)[col].apply(ci_halfwidth).unstack() * 100
    order = [g for g in dict.fromkeys(f.group)]
    mean = mean.reindex(index=order, columns=list(c.variants))
    ci = ci.reindex(index=order, columns=list(c.variants))
    return mean, ci


def fig_fairness(c: Comparison, within_days: int = 14):
    """Share of applicants served within N days, by checking habit and by segment, per scheme."""
    panels = [
        (title, *fairness_table(c, within_days, dim), names)
        for dim, names, title in (
            ("habit", HABIT_LABELS, "by how often people check the site"),
            ("segment", SEGMENT_LABELS, "by applicant segment"),
        )
    ]
    return F.app_fairness(c, within_days, panels)


# --------------------------------------------------------------------------- exports


def results_csv(c: Comparison) -> bytes:
    """Per-replication metrics of every scheme (the columns of `slotsim compare --out`, plus a label)."""
    df = c.metrics.copy()
    df.insert(3, "seed", c.seed)
    return df.to_csv(index=False).encode("utf-8")


def yaml_bytes(sc: Scenario) -> bytes:
    header = f"# Exported by the slotsim app. Run it with: slotsim run FILE.yaml --seed {sc.run.seed} --json\n"
    return (header + sc.to_yaml()).encode("utf-8")
