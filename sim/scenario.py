"""The scenario: every input of a run, validated into one immutable object.

Parameters are pure data (STARS style): strict types so that YAML 1.1 surprises
(`NO` -> False, `12:30` -> 750) fail loudly, unknown keys are refused, and every
error of a file is reported at once with its field path and the rule broken.
Defaults rest on the sourced figures listed in docs/calibration.md; the source is named next to each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InputError, ScenarioError  # defined with the other domain errors in sim/errors.py
from .yamlsafe import MAX_BYTES, MalformedYaml, parse_yaml

Segment = Literal["first_time", "renewal", "circulation"]
SEGMENTS: tuple[Segment, ...] = ("first_time", "renewal", "circulation")
DEFAULT_SEGMENT_SHARES: dict[Segment, float] = {"first_time": 0.5, "renewal": 0.35, "circulation": 0.15}

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Pos = Annotated[float, Field(gt=0.0)]
SEED_MAX = 2**63 - 1  # seeds are stored in int64 columns


class FrozenDict(dict):
    """A mapping that refuses changes: the scenario is validated once, so none of its parts may be
    altered afterwards (a plain dict inside a frozen model could be)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a scenario is immutable: build a new one (Scenario.model_copy(update=...) or --set)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self):  # pickle (worker processes) rebuilds it whole, never item by item
        return FrozenDict, (dict(self),)

    def __hash__(self):
        return hash(tuple(sorted(self.items(), key=repr)))


Frozen = AfterValidator(FrozenDict)


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- centre


class Centre(Strict):
    capacity_per_day: int = Field(
        800, ge=1, le=20_000, description="appointments per working day (Rabat >800/day, Consul General Feb 2023)"
    )
    working_weekdays: tuple[int, ...] = Field(
        (0, 1, 2, 3, 4), max_length=7, description="weekdays with appointments, Monday=0 (5-6 per week, centres' pages)"
    )
    release_days_ahead: int = Field(
        14,
        ge=1,
        le=180,
        description="slots for day D are released on day D minus this many days "
        "(EU Visa Code Art. 9(2): appointment as a rule within 2 weeks)",
    )
    release_hour: float = Field(
        9.0, ge=0.0, lt=24.0, description="hour of day (0-24, decimal) of the announced release [EST]"
    )
    service_fee_eur: NonNeg = Field(
        25.0, le=10_000.0, description="provider service fee per appointment, EUR (TLS Morocco 268 MAD, 2018)"
    )
    no_show_prob: Prob = Field(
        0.15,
        description="probability a genuine applicant with free booking misses the appointment "
        "(Dantas et al. 2018; [EST] 10-30% free booking)",
    )
    no_show_prob_prepaid: Prob = Field(
        0.05, description="no-show probability when the appointment was prepaid ([EST] 2-10%)"
    )

    @model_validator(mode="after")
    def _weekdays(self):
        if not self.working_weekdays or any(d not in range(7) for d in self.working_weekdays):
            raise ValueError("working_weekdays must list weekdays 0 (Monday) to 6 (Sunday)")
        if len(set(self.working_weekdays)) != len(self.working_weekdays):
            raise ValueError("working_weekdays must not repeat a day")
        return self


# --------------------------------------------------------------------------- demand


class Demand(Strict):
    applicants_per_year: NonNeg = Field(
        220_000.0,
        le=10_000_000.0,
        description="mean applicants per year at seasonality 1 "
        "(Rabat ~147k in 2023; one large centre 150-300k; Médias24, Schengen News)",
    )
    seasonality: tuple[Annotated[float, Field(ge=0.0, le=12.0)], ...] = Field(
        (0.8, 0.8, 0.9, 1.0, 1.1, 1.35, 1.45, 1.3, 1.0, 0.8, 0.75, 0.75),
        description="12 monthly multipliers, January first, of the arrival rate "
        "(summer peak: embassy 2018 via article19.ma)",
    )
    segment_shares: Annotated[dict[Segment, Prob], Frozen] = Field(
        default_factory=lambda: FrozenDict(DEFAULT_SEGMENT_SHARES),
        description="share of applicants per segment, summing to 1 [EST]",
    )
    latest_useful_days_median: Pos = Field(
        40.0,
        le=3650.0,
        description="median days from need to the latest useful appointment (travel date minus "
        "processing) [EST from 7-15 day normal waits and 30-60 day peaks]",
    )
    latest_useful_days_sigma: NonNeg = Field(
        0.5, le=5.0, description="log-normal sigma of that delay (dimensionless) [EST]"
    )
    latest_useful_days_min: Pos = Field(7.0, le=365.0, description="lower bound of that delay, days [EST]")

    @model_validator(mode="after")
    def _check(self):
        if len(self.seasonality) != 12:
            raise ValueError(f"seasonality must have 12 monthly values, got {len(self.seasonality)}")
        if sum(self.seasonality) <= 0:
            raise ValueError("seasonality must not be all zero")
        if set(self.segment_shares) != set(SEGMENTS):
            raise ValueError(f"segment_shares must give all of {list(SEGMENTS)}")
        if abs(sum(self.segment_shares.values()) - 1.0) > 1e-6:
            raise ValueError("segment_shares must sum to 1")
        return self


class Habit(Strict):
    share: Prob = Field(description="share of applicants with this checking habit")
    checks_per_day: Pos = Field(le=1440.0, description="mean visits to the booking site per day while searching")


class Humans(Strict):
    habits: Annotated[dict[Annotated[str, Field(max_length=100)], Habit], Frozen] = Field(
        max_length=20,
        default_factory=lambda: FrozenDict(
            {
                "hourly": Habit(share=0.10, checks_per_day=16.0),
                "several_daily": Habit(share=0.30, checks_per_day=4.0),
                "daily": Habit(share=0.40, checks_per_day=1.0),
                "few_weekly": Habit(share=0.20, checks_per_day=0.4),
            }
        ),
        description="checking habits (from a few a week to hourly [EST])",
    )
    booking_minutes_median: Pos = Field(
        2.0, le=240.0, description="median minutes a person needs to complete a booking form ([EST] 30 s-5 min)"
    )
    booking_minutes_sigma: NonNeg = Field(0.6, le=5.0, description="log-normal sigma of booking time [EST]")
    patience_days_median: NonNeg = Field(
        7.0, le=3650.0, description="median days of searching before a person considers a reseller [EST]"
    )
    willingness_to_pay_eur_median: NonNeg = Field(
        250.0,
        le=100_000.0,
        description="median price a person would pay a reseller, EUR "
        "(typical resale 3,000 MAD ~EUR 275: Hibapress, visaverge 2025)",
    )
    willingness_to_pay_sigma: NonNeg = Field(
        0.8, le=5.0, description="log-normal sigma of willingness to pay (covers EUR 15-1,000 quoted) [EST]"
    )
    pay_deadline_prob: Prob = Field(
        0.9,
        description="probability a person drawn in a lottery pays the fee within the deadline "
        "([EST]; Ticketmaster Verified Fan ~40% for non-essential tickets)",
    )

    @model_validator(mode="after")
    def _check(self):
        if not self.habits:
            raise ValueError("habits must name at least one checking habit")
        if abs(sum(h.share for h in self.habits.values()) - 1.0) > 1e-6:
            raise ValueError("habits shares must sum to 1")
        return self


# --------------------------------------------------------------------------- resellers


class Reseller(Strict):
    name: str = Field(max_length=100, description="label of this reseller")
    mode: Literal["speculative", "to_order"] = Field(
        "speculative",
        description="speculative: book under placeholder names, then sell and rename; "
        "to_order: book only for a paying client",
    )
    bots: int = Field(100, ge=0, le=100_000, description="bots in the fleet at the start (fleets of hundreds [EST])")
    poll_interval_s: float = Field(
        5.0, ge=0.001, le=86_400.0, description="seconds between two checks of one bot ([EST] 1-30 s)"
    )
    reaction_s: NonNeg = Field(
        1.0, le=3600.0, description="seconds from seeing a slot to completing its booking ([EST] 0.1-5 s)"
    )
    bookings_per_bot_per_release: Pos = Field(
        2.0, le=1000.0, description="slots one bot (its accounts) books per release at most [EST]"
    )
    cost_per_attempt_eur: NonNeg = Field(
        0.01, le=1000.0, description="base cost of one booking attempt (servers, accounts), EUR [EST]"
    )
    cost_per_bot_day_eur: NonNeg = Field(
        0.5, le=10_000.0, description="fixed cost of running one bot for a day, EUR [EST]"
    )
    price_eur: Pos = Field(
        275.0, le=100_000.0, description="starting resale price, EUR (typical 3,000 MAD: Hibapress; DW 2023)"
    )
    price_min_eur: NonNeg = Field(15.0, le=100_000.0, description="lowest price the reseller asks, EUR (BFMTV)")
    price_max_eur: Pos = Field(1000.0, le=100_000.0, description="highest price, EUR (6,000-11,000 MAD: visaverge)")
    price_elasticity: NonNeg = Field(
        0.15,
        le=100.0,
        description="daily relative price change per unit of (buyers waiting - slots held) over daily capacity [EST]",
    )
    adaptive: bool = Field(True, description="review profit every review_days and resize the fleet")
    review_days: int = Field(7, ge=1, le=365, description="days between two profit reviews")
    growth_rate: NonNeg = Field(0.25, le=10.0, description="largest relative fleet change at one review [EST]")
    target_sell_through: Prob = Field(
        0.75,
        description="share of booked slots sold below which a speculative fleet shrinks "
        "([EST]: about a quarter of speculative stock goes unsold)",
    )
    max_bots: int = Field(2000, ge=0, le=100_000, description="fleet size cap")
    fake_registrations_per_bot: NonNeg = Field(
        1.0, le=100.0, description="fake or duplicate identities registered per bot under random allocation [EST]"
    )
    duplicates_per_client: NonNeg = Field(
        0.7,
        le=100.0,
        description="extra registrations per client under random allocation "
        "(1.70 per person without identity binding: USCIS H-1B FY24)",
    )

    @model_validator(mode="after")
    def _check(self):
        if not self.price_min_eur <= self.price_eur <= self.price_max_eur:
            raise ValueError("price_eur must lie between price_min_eur and price_max_eur")
        return self


# --------------------------------------------------------------------------- defences


class Captcha(Strict):
    enabled: bool = False
    human_solve_s: NonNeg = Field(13.0, le=3600.0, description="seconds per human solve (9-18 s: Searles 2023)")
    human_fail_prob: Prob = Field(0.25, description="human failure per try (50-85% success: Bursztein 2010)")
    bot_cost_per_1000_eur: NonNeg = Field(
        2.0, le=10_000.0, description="solving service EUR per 1,000 solves ($0.5-3: Motoyama 2010)"
    )
    bot_solve_s: NonNeg = Field(
        14.0,
        le=3600.0,
        description="seconds per bot solve (service median 14 s: Motoyama 2010; automated solvers <1 s: Searles 2023)",
    )
    bot_fail_prob: Prob = Field(0.12, description="bot failure per try (85-90% accuracy: Motoyama 2010)")


class Otp(Strict):
    enabled: bool = False
    delay_s: NonNeg = Field(30.0, le=3600.0, description="seconds to receive and type a code, for everyone [EST]")
    bot_cost_per_identity_eur: NonNeg = Field(
        0.3, le=1000.0, description="EUR per rented number or mailbox ([EST] $0.05-1, vendor pages)"
    )
    bot_non_delivery_prob: Prob = Field(
        0.3, description="share of codes never delivered to rented numbers (18-40%, vendor pages)"
    )
    human_non_delivery_prob: Prob = Field(0.03, description="share of codes lost for genuine users [EST]")
    accounts_per_bot: Pos = Field(1.0, le=1000.0, description="verified accounts a bot can run with OTP on [EST]")


class IpBlocking(Strict):
    enabled: bool = False
    requests_per_ip_per_minute: Pos = Field(
        6.0, le=60_000.0, description="requests allowed per address per minute [EST]"
    )
    proxy_ips: int = Field(
        500,
        ge=1,
        le=10_000_000,
        description="addresses a fleet rotates through (millions available: Mi et al. S&P 2019; [EST] rented pool)",
    )
    proxy_cost_per_attempt_eur: NonNeg = Field(
        0.01, le=1000.0, description="EUR per booking attempt ([EST] 0.001-0.03 from 0.5-3 MB per attempt)"
    )
    human_block_prob: Prob = Field(0.02, description="chance a person's attempt is blocked (shared addresses) [EST]")


class Prepayment(Strict):
    enabled: bool = False
    non_modifiable: bool = Field(True, description="a prepaid appointment cannot change name or date")


class IdentityBinding(Strict):
    enabled: bool = False
    detection_prob: Prob = Field(
        0.95,
        description="chance a duplicate or fake registration is caught (passport video call, "
        "TLS Morocco Sept 2024; 1.06 duplicates per person remain: USCIS FY25)",
    )


class Defences(Strict):
    captcha: Captcha = Captcha()
    otp: Otp = Otp()
    ip_blocking: IpBlocking = IpBlocking()
    prepayment: Prepayment = Prepayment()
    identity_binding: IdentityBinding = IdentityBinding()


# --------------------------------------------------------------------------- schemes


class Scheme(Strict):
    kind: Literal["first_come", "progressive_random", "random_allocation"] = Field(
        "first_come", description="how released slots reach applicants"
    )
    batches_per_day: int = Field(6, ge=1, le=1440, description="progressive_random: batches per release day")
    window_hours: Pos = Field(10.0, le=24.0, description="progressive_random: hours over which batches open")
    enrolled_segments: tuple[Segment, ...] = Field(
        SEGMENTS, description="random_allocation: segments served by the draw; others book first-come"
    )
    draw_capacity_share: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="random_allocation: share of capacity given to the draw "
        "(default: the enrolled segments' share of demand)",
    )
    draw_interval_days: Pos = Field(1.0, le=365.0, description="random_allocation: days between draws")
    payment_deadline_hours: Pos = Field(
        48.0, le=8760.0, description="random_allocation: hours a winner has to pay (3 days TLS Algeria; [EST] 48-72 h)"
    )
    waiting_list_factor: NonNeg = Field(
        1.0, le=100.0, description="random_allocation: waiting-list length per slot drawn"
    )
    duplicate_detection_prob: Prob = Field(
        0.3,
        description="random_allocation: chance a duplicate or fake registration is caught without "
        "identity binding ([EST]; 1.70 registrations per person without binding: USCIS H-1B FY24)",
    )
    registration_valid_days: Pos = Field(
        60.0, le=3650.0, description="random_allocation: days a registration stays valid (45-60 days, lesiteinfo)"
    )

    @model_validator(mode="after")
    def _check(self):
        if self.kind == "random_allocation" and not self.enrolled_segments:
            raise ValueError("enrolled_segments must name at least one segment for random_allocation")
        return self


class Policy(Strict):
    """What the centre runs from a given day: a scheme and its defences."""

    scheme: Scheme = Scheme()
    defences: Defences = Defences()


class Switch(Strict):
    day: int = Field(ge=1, le=3650, description="simulation day from which this policy applies")
    scheme: Scheme | None = Field(None, description="new scheme (unchanged when absent)")
    defences: Defences | None = Field(None, description="new defences (unchanged when absent)")


class Run(Strict):
    start_date: dt.date = Field(
        dt.date(2024, 5, 1),
        strict=False,
        ge=dt.date(1900, 1, 1),
        le=dt.date(2200, 12, 31),
        description="calendar date of day 0 (YYYY-MM-DD, 1900-2200)",
    )
    days: int = Field(150, ge=1, le=3650, description="simulated days")
    warmup_days: int = Field(30, ge=0, le=3649, description="days left out of the metrics (queues fill up)")
    seed: int = Field(1, ge=0, le=SEED_MAX, description="master seed; replication k uses (seed, k)")

    @model_validator(mode="after")
    def _check(self):
        if self.warmup_days >= self.days:
            raise ValueError("warmup_days must be smaller than days")
        return self


class Scenario(Strict):
    name: str = Field("scenario", min_length=1, max_length=100, description="short identifier")
    description: str = Field("", max_length=2000, description="one sentence a policy maker understands")
    run: Run = Run()
    centre: Centre = Centre()
    demand: Demand = Demand()
    humans: Humans = Humans()
    resellers: tuple[Reseller, ...] = Field((), max_length=50, description="bot fleets and the resellers running them")
    policy: Policy = Policy()
    timeline: tuple[Switch, ...] = Field((), max_length=100, description="policy switches at given days, in order")

    @model_validator(mode="after")
    def _check(self):
        days = [s.day for s in self.timeline]
        if days != sorted(set(days)):
            raise ValueError("timeline days must be strictly increasing")
        if days and days[-1] >= self.run.days:
            raise ValueError(f"timeline day {days[-1]} is not before the end of the run ({self.run.days})")
        names = [r.name for r in self.resellers]
        if len(set(names)) != len(names):
            raise ValueError("resellers must have distinct names")
        return self

    def policies(self) -> list[tuple[int, Policy]]:
        """The policy in force from each switch day on, starting with day 0."""
        out = [(0, self.policy)]
        for s in self.timeline:
            prev = out[-1][1]
            out.append((s.day, Policy(scheme=s.scheme or prev.scheme, defences=s.defences or prev.defences)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def digest(self) -> str:
        """Stable hash of the resolved scenario (cache keys, manifests)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def non_text_keys(data: Any, path: str = "") -> list[str]:
    """Keys that YAML read as something other than text (`no:`, `on:`, `1:`), by path: a schema
    error would name them 0 or 1, not as written."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{path}.{field_name(k)}" if path else field_name(k)
            if not isinstance(k, str):
                where = path or "(top level)"
                kind = "a boolean (yes/no/on/off/true/false)" if isinstance(k, bool) else f"a {type(k).__name__}"
                kind = "a number" if isinstance(k, (int, float)) and not isinstance(k, bool) else kind
                found.append(f"{where}: key {safe_repr(k)} is read by YAML as {kind}, not a name (quote it)")
            found += non_text_keys(v, here)
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            found += non_text_keys(v, f"{path}.{i}" if path else str(i))
    return found


def field_name(part: Any) -> str:
    """A path part as printed: plain names as they are, anything odd (line breaks, escapes) quoted."""
    text = str(part)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def safe_repr(value: Any) -> str:
    """repr() that never raises (Python refuses to print integers of more than 4,300 digits)."""
    try:
        return repr(value)
    except ValueError:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits>"


def format_errors(err: ValidationError) -> list[str]:
    """One line per error: dotted field path, then the rule broken."""
    lines = []
    for e in err.errors():
        path = ".".join(field_name(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/model.md for the fields)"
        elif e["type"] in ("bool_type", "float_type", "int_type", "string_type") and "input" in e:
            msg = f"{msg}, got {safe_repr(e['input'])} ({type(e['input']).__name__})"
        elif isinstance(e.get("input"), (int, float)) and not isinstance(e.get("input"), bool):
            msg = f"{msg}, got {safe_repr(e['input'])}"  # e.g. `12:30` read by YAML 1.1 as 750
        lines.append(f"{path}: {msg}")
    return lines


def parse_scenario(data: Any, source: str = "") -> Scenario:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([f"(top level): must be a mapping of fields, got {type(data).__name__}"], source)
    if bad_keys := non_text_keys(data):
        raise ScenarioError(bad_keys, source)
    try:
        return Scenario.model_validate(lists_to_tuples(data))
    except ValidationError as e:
        raise ScenarioError(format_errors(e), source) from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data, read with the limits of sim/yamlsafe.py. Only regular files are opened
    (a FIFO would block, /dev/zero never ends) and never more than MAX_BYTES + 1 bytes are read."""
    p = Path(path)
    try:
        info = p.stat()  # follows links: a loop or an over-long name fails here
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(["is a folder, not a file (pass the YAML file inside it)"], str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(["not a regular file (a device, pipe or socket): refused"], str(path))
        if info.st_size > MAX_BYTES:
            raise ScenarioError([f"(file): {info.st_size:,} bytes, larger than {MAX_BYTES:,}: refused"], str(path))
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(["file not found"], str(path)) from None
    except UnicodeDecodeError:
        raise ScenarioError(["not UTF-8 text: a scenario is a YAML text file"], str(path)) from None
    except OSError as e:  # permission, symlink loop, name too long, I/O error
        raise ScenarioError([f"cannot read: {e.strerror or e.__class__.__name__}"], str(path)) from None
    return parse_yaml(text, str(path))


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read a YAML scenario (following `extends:`), apply `dotted.path=value` overrides, validate."""
    _check_load_args(path, overrides)
    data = resolve_extends(path)
    data, errors = _apply_overrides(data, overrides, str(path))
    try:
        sc = parse_scenario(data, str(path))
    except ScenarioError as e:
        errors += e.messages
    if errors:  # every problem at once: the --set syntax and the resulting values
        raise ScenarioError(errors, str(path))
    return sc


def _check_load_args(path: Any, overrides: Any) -> None:
    """The API's arguments are checked like a file's fields: a string of overrides would otherwise
    be read character by character."""
    if not isinstance(path, (str, Path)):
        raise InputError(f"path: must be the path of a scenario file (str or Path), got {type(path).__name__}")
    if isinstance(overrides, str) or not isinstance(overrides, (list, tuple)):
        hint = f" (wrap it in a list: [{overrides!r}])" if isinstance(overrides, str) else ""
        raise InputError(
            f"overrides: must be a list of 'dotted.path=value' strings, got {type(overrides).__name__}{hint}"
        )
    bad = [o for o in overrides if not isinstance(o, str)]
    if bad:
        raise InputError(f"{path}: overrides (--set): every item must be a 'dotted.path=value' string, got {bad[0]!r}")


def check_run_args(scenario: Any, seed: Any, replication: Any) -> None:
    """`sim.run`'s arguments: a validated Scenario, an integer seed and replication (1.5 or True are refused)."""
    if not isinstance(scenario, Scenario):
        raise InputError(
            "scenario: must be a Scenario (from sim.load_scenario or sim.parse_scenario), "
            f"got {type(scenario).__name__}"
        )
    for name, value in (("seed", seed), ("replication", replication)):
        if value is None and name == "seed":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"{name}: must be a whole number, got {value!r} ({type(value).__name__})")
        if not 0 <= value <= SEED_MAX:
            raise InputError(f"{name}: must be between 0 and {SEED_MAX}, got {value}")


def resolve_extends(path: str | Path, _seen: tuple[Path, ...] = ()) -> Any:
    """`extends: other.yaml` (relative to this file) starts from that scenario and changes only
    what this file says: scheme files share the baseline's demand without copying it."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict) or "extends" not in data:
        return data if data is not None else {}
    parent = data.pop("extends")
    if not isinstance(parent, str):
        raise ScenarioError(["extends: must be the path of another scenario file"], str(path))
    parent_path = (path.parent / parent).resolve()
    if parent_path in _seen:
        raise ScenarioError([f"extends: {parent} extends itself in a cycle"], str(path))
    base = resolve_extends(parent_path, _seen + (parent_path,))
    if not isinstance(base, dict):
        raise ScenarioError([f"extends: {parent} is not a scenario (a mapping of fields)"], str(path))
    return deep_merge(base, data)


def deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (values, lists) is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base.get(k), v) if k in base else v
        return out
    return over


def apply_overrides(data: Any, overrides, source: str = "") -> Any:
    """Apply `a.b.c=value` strings; the value is read as YAML (numbers, lists, booleans)."""
    data, errors = _apply_overrides(data, overrides, source)
    if errors:
        raise ScenarioError(errors, source)
    return data


def _apply_overrides(data: Any, overrides, source: str) -> tuple[Any, list[str]]:
    """The overrides that parse are applied; the others come back as messages."""
    if not overrides:
        return data, []
    if not isinstance(data, dict):
        return data, ["(top level): must be a mapping of fields"]
    values, errors = {}, []
    for item in overrides:
        if "=" not in item:
            errors.append(f"--set {item!r}: expected dotted.path=value")
            continue
        key, raw = item.split("=", 1)
        key = key.strip()
        if not all(key.split(".")):
            errors.append(f"--set {item!r}: empty name in dotted path")
            continue
        try:
            values[key] = parse_yaml(raw, allow_empty=True) if raw.strip() else ""
        except MalformedYaml:
            values[key] = raw  # not YAML: the value is the text itself
        except ScenarioError as e:
            errors += [f"--set {item!r}: {m.replace('(top level)', key)}" for m in e.messages]
    data, path_errors = set_paths(data, values)
    return data, errors + [f"{e} (--set)" for e in path_errors]


def set_paths(data: dict, values: dict[str, Any]) -> tuple[dict, list[str]]:
    """A copy of `data` with each dotted.path set to its value (numbers index lists); errors by path.
    Shared by --set, experiment variants and sweeps."""
    data = plain_copy(data)
    errors = []
    for path, value in values.items():
        parts = path.split(".")
        node: Any = data
        ok = True
        for i, p in enumerate(parts[:-1]):
            here = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not p.isdigit() or int(p) >= len(node):
                    errors.append(f"{path}: {'.'.join(parts[:i]) or '(top level)'} has no item {p!r}")
                    ok = False
                    break
                node = node[int(p)]
            else:
                if node.get(p) is None:
                    node[p] = {}
                node = node[p]
            if not isinstance(node, (dict, list)):
                errors.append(f"{path}: {here} is a value, there is nothing below it to set")
                ok = False
                break
        if not ok:
            continue
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                errors.append(f"{path}: no list item {last!r}")
                continue
            node[int(last)] = plain_copy(value)
        else:
            node[last] = plain_copy(value)
    return data, errors


def plain_copy(data):
    """Deep copy into plain dicts and lists (tuples become lists)."""
    if isinstance(data, dict):
        return {k: plain_copy(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain_copy(v) for v in data]
    return data


def lists_to_tuples(data):
    """YAML gives lists; the frozen model stores tuples (strict mode wants the exact type)."""
    if isinstance(data, dict):
        return {k: lists_to_tuples(v) for k, v in data.items()}
    if isinstance(data, list):
        return tuple(lists_to_tuples(v) for v in data)
    return data
