"""Experiments: several variants of one scenario, swept over parameters, replicated, summarised.

An experiment file (scenarios/experiments/*.yaml, docs/researchers.md) names a base
scenario, variants (a preset, overrides, or another scenario file), an optional
sweep (cartesian product of parameter values, applied on top of each variant) and
either a fixed number of replications or a precision target. Each (variant, sweep
point) is a *cell*.

Seeding: replication k of every cell runs `sim.run(scenario, seed=master, replication=k)`,
so all cells replay the same demand (common random numbers); the difference between
a variant and the reference variant is then measured per replication (paired), whose
confidence interval is usually much narrower than the one of two independent means.

Replications: `replications: N`, or `target:` -- the replications algorithm of Hoad,
Robinson & Davies (2010), as in sim-tools: the smallest n >= min_replications at which
the 95% CI half-width of every target metric is within the target, and stays within
it for the next `look_ahead` replications (look_ahead * n / 100 beyond 100). The
look-ahead replications are run and kept. Replications are requested in rounds whose
size depends only on the results so far, so the count is the same whatever the
executor.

Results (`slotsim batch`) go under results/<name>/ (or --out): per-replication metrics
(Parquet + CSV), daily series (Parquet), per-applicant waits of replication 0 of each
cell (Parquet), summary.csv (mean, sd, 95% CI, n; paired differences against the
reference with their CI, and the unpaired Welch half-width for comparison) and
manifest.json, the commit record of the set (the SHA-256 of every file): the set replaces
the previous one as a whole (`write_results`). Every finished replication is checkpointed
at once in runs/<key>.json + Parquet tables (key: hash of scenario digest, seed,
replication; `Store`), so an interrupted batch resumes where it stopped and ends with
exactly the results of an uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping

import pandas as pd
from pydantic import Field, ValidationError, model_validator

from .fileio import (
    MAX_SMALL_FILE,
    MAX_TABLE_FILE,
    FileSet,
    atomic_path,
    check_folder_target,
    check_writable,
    csv_writer,
    folder_lock,
    json_text,
    parquet_writer,
    read_limited,
    text_writer,
)
from .parallel import default_jobs
from .presets import PRESETS, apply_preset
from .provenance import git_state, versions
from .resources import Limits
from .runner import BASE_POINT, Cell, RunPlan, Task, cell_value, collect_metrics, run_task, tidy
from .runner import run as run_tasks
from .scenario import (
    SEED_MAX,
    Scenario,
    ScenarioError,
    Strict,
    format_errors,
    lists_to_tuples,
    parse_scenario,
    read_yaml,
    resolve_extends,
    set_paths,
)
from .stats import CONFIDENCE, describe, metric_columns, summarise, t_half_width, t_interval, welch_half_width  # noqa: F401 (re-exported)

CACHE_VERSION = 1
RUNS_DIR = "runs"
MAX_RUNS = 100_000  # runs (cells x replications) of one experiment: days of computing on a workstation
# Metrics shown by `batch` at the end and by the report's tables (when present).
HEADLINE = (
    "share_captured_by_bots",
    "share_via_reseller",
    "wait_days_mean",
    "wait_days_p90",
    "abandon_rate",
    "slots_wasted",
    "rent_paid_above_fee_eur",
    "bot_requests_per_day_mean",
)

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", max_length=80)]
DottedPath = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")]


# --------------------------------------------------------------------------- experiment file


class Variant(Strict):
    preset: str | None = Field(None, description=f"scheme preset applied to the base: {', '.join(PRESETS)}")
    scenario: str | None = Field(
        None, description="scenario file used instead of the base (relative to the experiment file)"
    )
    overrides: dict[DottedPath, Any] = Field(
        default_factory=dict, description="dotted.path: value, applied after preset/scenario"
    )

    @model_validator(mode="after")
    def _check(self):
        if self.preset is not None and self.scenario is not None:
            raise ValueError("give preset or scenario, not both")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} unknown; choose from {', '.join(PRESETS)}")
        return self


class Target(Strict):
    metrics: tuple[str, ...] = Field(min_length=1, description="metrics whose CI must reach the target")
    half_width: float = Field(gt=0.0, description="largest 95% CI half-width allowed")
    relative: bool = Field(True, description="half_width is a share of |mean| (true) or in the metric's unit (false)")
    min_replications: int = Field(
        5, ge=3, le=10_000, description="replications before the first check (Hoad et al.: at least 3)"
    )
    max_replications: int = Field(
        50, ge=3, le=10_000, description="budget per cell; stop there if the target is still missed"
    )
    look_ahead: int = Field(
        5,
        ge=0,
        le=100,
        description="replications the precision must hold for after first reaching the target (Hoad et al.: 5)",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.max_replications < self.min_replications:
            raise ValueError("max_replications must be at least min_replications")
        unknown = [m for m in self.metrics if m not in known_metrics()]
        if unknown:
            raise ValueError(
                f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(sorted(known_metrics()))}"
            )
        return self


class Experiment(Strict):
    name: Name = Field(description="experiment name; results go to results/<name>/ by default")
    description: str = Field("", description="what the experiment asks, in one sentence")
    base: str = Field(min_length=1, description="base scenario file, relative to the experiment file")
    overrides: dict[DottedPath, Any] = Field(
        default_factory=dict,
        description="dotted.path: value applied to the base (and to scenario "
        "variants) before any variant: the same for every variant, e.g. a shorter run",
    )
    variants: dict[Name, Variant] = Field(
        default_factory=dict, description="name: {preset | scenario | overrides}; none: the base alone"
    )
    sweep: dict[DottedPath, tuple[Any, ...]] = Field(
        default_factory=dict,
        description="dotted.path: [values]; the cartesian product is applied on top of every variant",
    )
    labels: dict[DottedPath, str] = Field(
        default_factory=dict, description="axis labels of swept parameters in the report"
    )
    replications: int | None = Field(None, ge=1, le=10_000, description="replications per cell")
    target: Target | None = Field(None, description="let the replications algorithm choose the count")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="master seed (default: the base scenario's run.seed)")
    reference: str | None = Field(None, description="variant the others are compared with (default: the first)")

    @model_validator(mode="after")
    def _check(self):
        if (self.replications is None) == (self.target is None):
            raise ValueError("give either replications or target (not both)")
        for path, values in self.sweep.items():
            if not values:
                raise ValueError(f"sweep {path}: needs at least one value")
            if len(set(map(_jsonish, values))) != len(values):
                raise ValueError(f"sweep {path}: values must be distinct")
        cells = len(self.variant_names()) * math.prod(len(v) for v in self.sweep.values())
        runs = cells * (self.replications or (self.target.max_replications if self.target else 1))
        if runs > MAX_RUNS:
            raise ValueError(
                f"{cells:,} cells x {runs // cells:,} replications = {runs:,} runs, more than the limit of "
                f"{MAX_RUNS:,} for one experiment: split it into several files"
            )
        if self.reference is not None and self.reference not in (self.variant_names()):
            raise ValueError(
                f"reference {self.reference!r} is not a variant; choose from {', '.join(self.variant_names())}"
            )
        return self

    def variant_names(self) -> list[str]:
        return list(self.variants) or [BASE_POINT]


@lru_cache(maxsize=1)
def known_metrics() -> frozenset[str]:
    """Every metric a run reports, read from a tiny run (a 3-day centre with a policy switch)."""
    import sim

    probe = parse_scenario(
        {
            "run": {"days": 3, "warmup_days": 1},
            "centre": {"capacity_per_day": 1},
            "demand": {"applicants_per_year": 100.0},
            "timeline": [{"day": 2, "scheme": {"kind": "random_allocation"}}],
        }
    )
    return frozenset(sim.run(probe, seed=0).metrics)


def _jsonish(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


# --------------------------------------------------------------------------- resolution


@dataclass
class Plan:
    experiment: Experiment
    path: Path
    seed: int
    reference: str
    cells: list[Cell]
    points: list[tuple[str, tuple[tuple[str, Any], ...]]]

    @property
    def variants(self) -> list[str]:
        return self.experiment.variant_names()

    @property
    def sweep_params(self) -> list[str]:
        return list(self.experiment.sweep)


def load_experiment(path: str | Path) -> Plan:
    """Read and validate an experiment file and resolve every cell's scenario; all errors at once."""
    path = Path(path)
    return resolve(validate(read_yaml(path), str(path)), path)


def validate(data: Any, src: str) -> Experiment:
    if not isinstance(data, dict):
        raise ScenarioError([f"(top level): must be a mapping of fields, got {type(data).__name__}"], src)
    try:
        return Experiment.model_validate(lists_to_tuples(data))
    except ValidationError as e:
        raise ScenarioError(
            [m.replace("docs/model.md", "docs/researchers.md") for m in format_errors(e)], src
        ) from None


def from_dict(spec: Mapping[str, Any]) -> Plan:
    """An experiment given as a dict (sim.experiment): the file's keys, with shorthands.

    base may be a Scenario; a variant may be a preset name or a mapping of dotted overrides;
    without replications or target, one replication. Paths are relative to the working folder.
    """
    data = dict(spec)
    base = data.get("base")
    if isinstance(base, Scenario):
        data["base"] = base.name or "scenario"
    data.setdefault("name", "experiment")
    if "replications" not in data and "target" not in data:
        data["replications"] = 1
    if isinstance(data.get("variants"), Mapping):
        data["variants"] = {name: _variant(v) for name, v in data["variants"].items()}
    return resolve(validate(data, "(experiment)"), Path("(experiment)"), base if isinstance(base, Scenario) else None)


def _variant(v: Any) -> Any:
    if isinstance(v, str):
        return {"preset": v}
    if v is None:
        return {}
    if isinstance(v, Mapping) and not set(v) <= {"preset", "scenario", "overrides"}:
        return {"overrides": dict(v)}
    return v


def resolve(exp: Experiment, path: Path, base: Scenario | None = None) -> Plan:
    """Every cell's scenario; `base`, when given, is used instead of the file `exp.base`."""
    here = path.parent
    errors: list[str] = []

    def load_data(file: str | Scenario, where: str) -> dict | None:
        try:
            data = file.to_dict() if isinstance(file, Scenario) else resolve_extends(here / file)
        except ScenarioError as e:
            errors.extend(f"{where}: {file}: {m}" for m in e.messages)
            return None
        if not isinstance(data, dict):
            errors.append(f"{where}: {file}: must be a mapping of scenario fields")
            return None
        out, errs = set_paths(data, exp.overrides)
        errors.extend(f"overrides.{m}" for m in errs)
        return out

    base_data = load_data(exp.base if base is None else base, "base")
    base_sc = _parse(base_data, "base", errors) if base_data is not None else None

    variant_data: dict[str, dict] = {}
    specs = exp.variants or {BASE_POINT: Variant()}
    for name, v in specs.items():
        where = f"variants.{name}"
        if v.scenario is not None:
            data = load_data(v.scenario, f"{where}.scenario")
        elif base_sc is None:
            continue
        elif v.preset is not None:
            data = apply_preset(base_sc, v.preset).to_dict()
        else:
            data = base_sc.to_dict()
        if data is None:
            continue
        data, errs = set_paths(data, v.overrides)
        errors.extend(f"{where}.overrides.{m}" for m in errs)
        if not errs:
            variant_data[name] = data

    points: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
    if exp.sweep:
        keys = list(exp.sweep)
        for combo in itertools.product(*(exp.sweep[k] for k in keys)):
            params = tuple(zip(keys, combo))
            points.append((", ".join(f"{k}={_label_value(x)}" for k, x in params), params))
    else:
        points.append((BASE_POINT, ()))

    cells: list[Cell] = []
    sweep_errors: dict[tuple[str, str], list[str]] = {}
    valid = [
        name
        for name, data in variant_data.items()
        if not exp.sweep or _parse(data, f"variants.{name}", errors) is not None
    ]
    for name, data in variant_data.items():
        if name not in valid:
            continue  # the variant itself is wrong: say it once, not per point
        for label, params in points:
            d, errs = set_paths(data, dict(params))
            if params:
                try:
                    sc = parse_scenario(d) if not errs else None
                except ScenarioError as e:
                    errs = e.messages
                    sc = None
                for m in errs:
                    sweep_errors.setdefault((label, m), []).append(name)
            else:
                sc = _parse(d, f"variants.{name}", errors)
            if sc is not None:
                cells.append(Cell(name, label, params, sc))
    for (label, m), names in sweep_errors.items():
        who = "" if len(names) == len(valid) else f" (variant {', '.join(names)})"
        errors.append(f"sweep point {label}{who}: {m}")
    if errors:
        raise ScenarioError(list(dict.fromkeys(errors)), str(path))
    seed = exp.seed if exp.seed is not None else base_sc.run.seed if base_sc is not None else 1
    reference = exp.reference or exp.variant_names()[0]
    return Plan(exp, path, seed, reference, cells, points)


def _parse(data: dict, where: str, errors: list[str]) -> Scenario | None:
    try:
        return parse_scenario(data)
    except ScenarioError as e:
        errors.extend(f"{where}: {m}" for m in e.messages)
        return None


def _label_value(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x)) if abs(x) >= 1000 else repr(x)
    if isinstance(x, (list, tuple, dict)):
        return _jsonish(x)
    return str(x)


# --------------------------------------------------------------------------- one replication


RepTask = Task  # one replication of one cell (sim/runner.py); `key` names its checkpoint


def task_key(digest: str, seed: int, replication: int) -> str:
    blob = f"slotsim-experiment-v{CACHE_VERSION}|{digest}|{seed}|{replication}".encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def cell_key(cell: Cell, seed: int, replication: int) -> str:
    """Runs of the same scenario, seed and replication share a key: run once, checkpointed once."""
    return task_key(cell.digest, seed, replication)


def collect_rep(task: Task, res) -> dict:
    """What an experiment keeps of a run: metrics, daily series, waits of replication 0."""
    return {
        **collect_metrics(task, res),
        "daily": res.daily,
        "waits": wait_table(task.scenario, res.applicants) if task.replication == 0 else None,
    }


def run_rep(task: Task) -> dict:
    """Run one replication and keep what an experiment stores (module level: picklable)."""
    return run_task(task, collect_rep)


def wait_table(sc: Scenario, apps: pd.DataFrame) -> pd.DataFrame:
    """Applicants of the measurement window (as in the metrics), compactly: for ECDFs by segment."""
    w0, end = sc.run.warmup_days, sc.run.days - sc.centre.release_days_ahead
    a = apps[(apps.arrival_day >= w0) & (apps.arrival_day < end)]
    return pd.DataFrame(
        {
            "segment": a.segment.astype("category"),
            "habit": a.habit.astype("category"),
            "status": a.status.astype("category"),
            "arrival_day": a.arrival_day.astype("float32"),
            "wait_days": a.wait_days.astype("float32"),
        }
    ).reset_index(drop=True)


# --------------------------------------------------------------------------- checkpoints


class Store:
    """runs/<key>.json and runs/<key>.<table>.parquet: one checkpoint per finished replication.

    No pickle: a checkpoint is JSON (its key, scenario digest, seed, replication and metrics) and
    one Parquet file per table, each table's SHA-256 recorded in the JSON, which is written last
    (the commit). A planted, truncated or edited checkpoint fails its checks and the run is
    recomputed: nothing in the folder is ever executed or trusted blindly. Old pickle checkpoints
    (`*.pkl`, slotsim 0.1) are never opened.
    """

    FORMAT = "slotsim-checkpoint-2"

    def __init__(self, folder: Path):
        self.folder = Path(folder) / RUNS_DIR

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def remove_temporaries(self) -> int:
        """Remove half-written checkpoint files a killed batch left (`.<name>.XXXX.tmp`: never read);
        call it only while holding the folder's lock. The number removed."""
        n = 0
        for p in self.folder.glob(".*.tmp"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        return n

    def table_path(self, key: str, name: str) -> Path:
        return self.folder / f"{key}.{name}.parquet"

    # the tables a checkpoint may have (collect_rep's): their names go into file names
    TABLES = frozenset({"daily", "waits"})

    def load(self, key: str) -> dict | None:
        """The payload checkpointed under `key`, or None: absent, or anything but what `save`
        writes (then the replication runs again). The checkpoint's folder is untrusted
        (docs/security.md): every file is read with sim.fileio.read_limited (a FIFO, a device, a
        huge file are refused, never waited on), and the JSON must have the shape `save` gives it:
        its key, scenario digest, seed and replication must be those of `key`; its metrics known
        metric names (sim.metrics) with numbers (or None, a metric with no value); its tables
        known names, each Parquet file matching its SHA-256."""
        try:
            meta = json.loads(read_limited(self.path(key), MAX_SMALL_FILE).decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return None  # absent, unreadable, not a regular file, too large or not JSON: run it again
        if not isinstance(meta, dict) or meta.get("format") != self.FORMAT or meta.get("key") != key:
            return None
        digest, seed, rep = meta.get("digest"), meta.get("seed"), meta.get("replication")
        if not isinstance(digest, str) or type(seed) is not int or type(rep) is not int:
            return None  # (never a bool: True is an int to Python)
        if task_key(digest, seed, rep) != key:
            return None  # claims another scenario, seed or replication than its name
        metrics, tables = meta.get("metrics"), meta.get("tables")
        if not isinstance(metrics, dict) or not isinstance(tables, dict) or not self._metrics_ok(metrics):
            return None
        payload: dict[str, Any] = {"metrics": metrics}
        for name, table_digest in tables.items():
            if name not in self.TABLES:
                return None
            if table_digest is None:
                payload[name] = None
                continue
            if not isinstance(table_digest, str):
                return None
            try:
                data = read_limited(self.table_path(key, name), MAX_TABLE_FILE)
            except OSError:
                return None
            if hashlib.sha256(data).hexdigest() != table_digest:
                return None  # edited or truncated since it was written
            try:
                payload[name] = pd.read_parquet(io.BytesIO(data))
            except Exception:  # noqa: BLE001 (a forged file with a forged digest: whatever pyarrow raises)
                return None
        return payload

    @staticmethod
    def _metrics_ok(metrics: dict) -> bool:
        """Known metric names (a runner may keep fewer than sim.run reports) with values int,
        float or None: never another column (a name such as 'variant' would even overwrite one)
        nor a value that breaks the tables."""
        known = known_metrics()
        return bool(metrics) and all(
            k in known and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
            for k, v in metrics.items()
        )

    def save(self, task: Task, payload: dict) -> None:
        tables: dict[str, str | None] = {}
        for name, value in payload.items():
            if name == "metrics":
                continue
            if value is None:
                tables[name] = None
                continue
            buf = io.BytesIO()
            value.to_parquet(buf)
            data = buf.getvalue()
            with atomic_path(self.table_path(task.key, name)) as tmp:
                tmp.write_bytes(data)
            tables[name] = hashlib.sha256(data).hexdigest()
        meta = {
            "format": self.FORMAT,
            "key": task.key,
            "digest": task.scenario.digest(),
            "seed": task.seed,
            "replication": task.replication,
            "metrics": payload["metrics"],
            "tables": tables,
        }
        with atomic_path(self.path(task.key)) as tmp:
            tmp.write_text(json.dumps(meta, allow_nan=True), encoding="utf-8")


# --------------------------------------------------------------------------- replications algorithm


def look_ahead_at(n: int, look_ahead: int) -> int:
    """Hoad et al.'s kLimit: `look_ahead` up to 100 replications, look_ahead% of n beyond."""
    return look_ahead if n <= 100 else int(look_ahead * n / 100)


def precision_ratios(values: dict[str, list[float]], target: Target) -> list[float]:
    """r(n), n = 1..N: the largest (CI half-width / target) over the target metrics, using the first
    n replications; <= 1 means every metric is precise enough."""
    n_total = min(len(v) for v in values.values()) if values else 0
    out = []
    for n in range(1, n_total + 1):
        worst = 0.0
        for xs in values.values():
            ci = t_interval(xs[:n])
            if ci.n == 0 and n > 1:
                continue  # a metric undefined in every replication so far: nothing to estimate
            if ci.n < 2:
                worst = math.inf
                break
            hw = ci.half_width
            if target.relative:
                mean = abs(ci.mean)
                dev = 0.0 if hw == 0 else (hw / mean if mean > 0 else math.inf)
            else:
                dev = hw
            worst = max(worst, dev / target.half_width)
        out.append(worst)
    return out


@dataclass
class Decision:
    done: bool
    wanted: int  # replications this cell needs in total (so far)
    solution: int | None  # Hoad's n* when found
    met: bool  # target reached (False when stopped by the budget)
    ratio: float  # r(n) at the replications kept


def decide(ratios: list[float], target: Target) -> Decision:
    """Hoad et al.'s rule on the ratio sequence: done when some n* >= min_replications has
    r(n*..n*+kLimit) <= 1; else how many replications to ask for next (a function of the
    results only, never of the executor)."""
    n_have = len(ratios)
    n0, cap = target.min_replications, target.max_replications
    r = lambda n: ratios[n - 1]  # noqa: E731
    for n in range(n0, n_have + 1):
        k = look_ahead_at(n, target.look_ahead)
        if n + k > n_have:
            break
        if all(r(j) <= 1.0 for j in range(n, n + k + 1)):
            return Decision(True, n + k, n, True, r(n + k))
    if n_have >= cap:
        return Decision(True, cap, None, False, r(cap) if cap <= n_have and cap >= 1 else math.inf)
    if n_have < n0:
        wanted = n0 + look_ahead_at(n0, target.look_ahead)
    else:
        c = n_have + 1
        while c - 1 >= max(n0, 1) and r(c - 1) <= 1.0:
            c -= 1
        wanted = c + look_ahead_at(c, target.look_ahead)
        wanted = max(wanted, n_have + 1)
    return Decision(False, min(wanted, cap), None, False, r(n_have) if n_have else math.inf)


# --------------------------------------------------------------------------- running an experiment


@dataclass
class Outcome:
    """Everything `batch` computed: tables, per-cell replication counts, bookkeeping."""

    plan: Plan
    runs: pd.DataFrame
    daily: pd.DataFrame
    waits: pd.DataFrame
    summary: pd.DataFrame
    counts: dict[tuple[str, str], int]
    decisions: dict[tuple[str, str], Decision] = field(default_factory=dict)
    computed: int = 0
    loaded: int = 0
    wall_s: float = 0.0


def run_experiment(
    plan: Plan,
    out: str | Path | None,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progress: bool | None = None,
    fresh: bool = False,
    runner: Callable[[Task], dict] = run_rep,
    limits: Limits | None = None,
) -> Outcome:
    """Run (or resume) every replication the plan needs; checkpoint each as it finishes (in
    out/runs/, none when `out` is None). Fixed replications: one plan for the runner; a target:
    rounds of the replications algorithm, each asking the runner for the replications it needs.
    Every cell's scenario is checked against `limits` (sim.resources) before the first run."""
    t0 = time.perf_counter()
    store = Store(Path(out)) if out is not None else None
    payloads: dict[str, dict] = {}
    counter = {"computed": 0, "loaded": 0}
    exp = plan.experiment
    cells = plan.cells

    def ensure(wanted: dict[int, int], desc: str) -> None:
        """Make sure replications 0..wanted[i]-1 of cell i are in `payloads`."""
        done = run_tasks(
            RunPlan(cells, plan.seed, wanted, cell_key),
            fn=runner,
            cache=store,
            fresh=fresh,
            memo=payloads,
            jobs=jobs,
            scheduler=scheduler,
            dask_workers=dask_workers,
            progress=progress,
            desc=desc,
            limits=limits,
        )
        counter["computed"] += done.computed
        counter["loaded"] += done.loaded

    decisions: dict[int, Decision] = {}
    if exp.replications is not None:
        counts = {i: exp.replications for i in range(len(cells))}
        ensure(counts, exp.name)
    else:
        target = exp.target
        assert target is not None  # the schema requires replications or a target
        counts = {i: 0 for i in range(len(cells))}
        pending = set(range(len(cells)))
        rnd = 0
        while pending:
            rnd += 1
            for i in sorted(pending):
                d = (
                    decide(_ratios(plan, cells[i], counts[i], payloads, target), target)
                    if counts[i]
                    else decide([], target)
                )
                if d.done:
                    decisions[i] = d
                    counts[i] = d.wanted
                    pending.discard(i)
                else:
                    counts[i] = d.wanted
            if pending:
                ensure({i: counts[i] for i in pending}, f"{exp.name} (round {rnd})")

    frames = tidy(RunPlan(cells, plan.seed, counts, cell_key), payloads)
    waits = frames.table("waits")
    for c in ("segment", "habit", "status"):
        if c in waits.columns:
            waits[c] = waits[c].astype(str).astype("category")
    summary = summarise(frames.runs, plan.reference, plan.sweep_params)
    keyed = {(c.variant, c.point): counts[i] for i, c in enumerate(cells)}
    return Outcome(
        plan,
        frames.runs,
        frames.table("daily"),
        waits,
        summary,
        keyed,
        {(cells[i].variant, cells[i].point): d for i, d in decisions.items()},
        counter["computed"],
        counter["loaded"],
        time.perf_counter() - t0,
    )


def _ratios(plan: Plan, cell: Cell, n: int, payloads: dict, target: Target) -> list[float]:
    values: dict[str, list[float]] = {m: [] for m in target.metrics}
    for k in range(n):
        metrics = payloads[cell_key(cell, plan.seed, k)]["metrics"]
        for m in target.metrics:
            v = metrics.get(m)
            values[m].append(math.nan if v is None else float(v))
    return precision_ratios(values, target)


# --------------------------------------------------------------------------- results folder


RESULT_TABLES = ("replications.parquet", "replications.csv", "daily.parquet", "waits.parquet", "summary.csv")
MANIFEST = "manifest.json"
# What `slotsim report` derives from a result set: it describes the old set, so it goes with it.
REPORT_FILE, FIGURES_DIR = "report.md", "figures"
LOCK_HOLDER = "slotsim batch"


def output_problems(out: str | Path) -> list[str]:
    """Why `out` cannot take a batch's results (empty: it can), checked before any simulation:
    the folder and runs/ writable, no folder where a results file goes."""
    out = Path(out)
    problems = check_folder_target(out, RESULT_TABLES + (MANIFEST,), (RUNS_DIR,))
    if not problems and (msg := check_writable(out / RUNS_DIR)):
        problems.append(msg)
    return problems


def write_results(outcome: Outcome, out: str | Path, executor: dict, started: dt.datetime) -> list[str]:
    """Write the result set into `out`, replacing the previous one as a whole; the names written.

    The folder keeps its plain layout (DIR/summary.csv...; users, the report and scripts read
    those paths), and manifest.json is the commit record of the set: it lists every file with its
    SHA-256. The tables are staged in full in a hidden folder inside `out` (sim.fileio.FileSet),
    hashed, then the manifest is staged; only then is anything replaced: the old manifest goes
    out first, the tables are renamed in, the new manifest comes in last. So at every instant a
    reader sees either the old complete set with its manifest, or no manifest (a set being
    swapped: report refuses it), or the new complete set with its manifest, never a manifest over
    tables of another run; a reader that straddles a swap finds hashes that do not match (report
    checks them). A full disk or a denied write while staging leaves the old set untouched; the
    renames need no space, and one that fails is undone. The previous report.md and figures/ (and
    waits.parquet when the new set has none) go out with the old set: they describe it. runs/
    (the checkpoints) is never touched. The folder is locked (`.slotsim.lock`) while writing.
    A write that fails raises sim.fileio.WriteError naming the file and the reason."""
    out = Path(out)
    o = outcome
    tables = [
        ("replications.parquet", parquet_writer(o.runs)),
        ("replications.csv", csv_writer(o.runs)),
        ("daily.parquet", parquet_writer(o.daily)),
        *([("waits.parquet", parquet_writer(o.waits))] if not o.waits.empty else []),
        ("summary.csv", csv_writer(o.summary)),
    ]
    files = [name for name, _ in tables] + [MANIFEST]
    note = (
        f"the finished replications are kept in {out / RUNS_DIR}: run the same command again "
        f"to write the results (nothing is recomputed)"
    )
    with folder_lock(out, LOCK_HOLDER), FileSet(note) as fs:
        for name, writer in tables:
            fs.write(out / name, writer)
        digests = {name: fs.sha256(out / name) for name, _ in tables}
        fs.write(out / MANIFEST, text_writer(json_text(manifest(o, executor, started, files, digests))))
        stale = [out / n for n in RESULT_TABLES if n not in files and (out / n).is_file()]
        stale += [p for p in [out / REPORT_FILE] if p.is_file()] + [p for p in [out / FIGURES_DIR] if p.is_dir()]
        fs.commit(record=out / MANIFEST, remove=stale)
    return files


def manifest(
    o: Outcome, executor: dict, started: dt.datetime, files: list[str], sha256: dict[str, str] | None = None
) -> dict:
    """The manifest of a result set; `sha256`: file name -> SHA-256 of each file but the manifest."""
    plan = o.plan
    exp = plan.experiment
    commit, dirty = git_state(Path(__file__).resolve().parents[1])
    cells = []
    for c in plan.cells:
        n = o.counts[(c.variant, c.point)]
        entry = {
            "variant": c.variant,
            "point": c.point,
            "params": {p: v for p, v in c.params},
            "digest": c.digest,
            "replications": n,
            "keys": [task_key(c.digest, plan.seed, k) for k in range(n)],
        }
        d = o.decisions.get((c.variant, c.point))
        if d is not None:
            entry["target"] = {"met": d.met, "hoad_n": d.solution, "precision_ratio": _finite(d.ratio)}
        entry["scenario"] = c.scenario.to_dict()
        cells.append(entry)
    from . import __version__

    return {
        "experiment": {
            "name": exp.name,
            "description": exp.description,
            "file": str(plan.path),
            "resolved": exp.model_dump(mode="json"),
        },
        "seed": plan.seed,
        "seeding": "replication k of every cell runs sim.run(scenario, seed, replication=k): common "
        "random numbers across variants and sweep points",
        "reference": plan.reference,
        "variants": plan.variants,
        "sweep": {p: [cell_value(v) for v in vals] for p, vals in exp.sweep.items()},
        "labels": dict(exp.labels),
        "points": [label for label, _ in plan.points],
        "replications_mode": "fixed" if exp.replications is not None else "target",
        "confidence": CONFIDENCE,
        "cells": cells,
        "tasks": {"total": int(sum(o.counts.values())), "computed": o.computed, "from_checkpoints": o.loaded},
        "package": {"name": "slotsim", "version": __version__, "git_commit": commit, "git_dirty": dirty},
        "versions": versions(),
        "executor": executor,
        "started": started.isoformat(timespec="seconds"),
        "wall_time_s": round(o.wall_s, 3),
        "files": files,
        **({"sha256": sha256} if sha256 is not None else {}),
    }


def _finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


# --------------------------------------------------------------------------- descriptions (slotsim batch prints them)


def executor_info(jobs: int | None, scheduler: str | None, dask_workers: int | None) -> dict:
    if scheduler:
        return {"kind": "dask", "scheduler": scheduler}
    if dask_workers:
        return {"kind": "dask-local", "workers": dask_workers}
    n = jobs or default_jobs()
    return {"kind": "sequential" if n <= 1 else "process-pool", "jobs": n}


def describe_plan(plan: Plan) -> str:
    exp = plan.experiment
    if exp.replications is not None or exp.target is None:
        reps = f"{exp.replications} replication(s) per cell"
    else:
        reps = (
            f"replications chosen by the target ({exp.target.min_replications}-{exp.target.max_replications} per cell)"
        )

    lines = [
        f"{exp.name}: {len(plan.variants)} variant(s) x {len(plan.points)} point(s) = "
        f"{len(plan.cells)} cell(s), {reps}, seed {plan.seed}, reference {plan.reference}"
    ]
    for c in plan.cells:
        lines.append(f"  {c.variant:<22} {c.point:<40} scenario {c.digest}")
    return "\n".join(lines)


def headline_table(summary: pd.DataFrame, metrics=HEADLINE) -> str:
    if summary.empty:
        return ""
    s = summary[summary.metric.isin(metrics)]
    lines = []
    for point in dict.fromkeys(s.point):
        at = s[s.point == point]
        if point != BASE_POINT:
            lines.append(f"[{point}]")
        variants = list(dict.fromkeys(at.variant))
        cells = {(r.variant, r.metric): r for r in at.itertuples()}
        ms = [m for m in metrics if any((v, m) in cells for v in variants)]
        header = ["metric"] + variants
        body = []
        for m in ms:
            row = [m]
            for v in variants:
                r = cells.get((v, m))
                row.append("" if r is None else fmt_ci(r.mean, r.half_width))
            body.append(row)
        widths = [max(len(x[i]) for x in body + [header]) for i in range(len(header))]
        for r in [header] + body:
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_ci(mean: float, hw: float) -> str:
    return fmt(mean) + ("" if hw is None or math.isnan(hw) else f" ±{fmt(hw)}")
