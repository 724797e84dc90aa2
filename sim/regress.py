"""Regression suite: rerun short scenarios and compare their metrics with committed baselines.

`slotsim regress` runs every entry of a suite file (scenarios/regression.yaml) for
its replications, in parallel, and compares each metric of the contract with the
baseline under results/baselines/<name>/ (metrics.csv: one row per replication,
full-precision floats; manifest.json: versions, seed, overrides, scenario digest).

Two comparisons per metric (docs/regression.md):
- exact: identical per-replication numbers -> "same" (the usual outcome of a
  refactoring: same seeds, same streams, same numbers);
- statistical: otherwise the mean may move by at most
      tol = max(t(1 - alpha/2, Welch df) * SE, rel_floor * |baseline mean|, abs_floor),
  SE = sqrt(s_b^2/n_b + s_n^2/n_n): the two-sided Welch t-test at level alpha
  plus floors so that near-constant metrics do not fail on rounding noise.
Informational metrics (events_processed: it changes with optimisations) are
reported, never failing. Exit 0 when every metric holds, 1 when one fails, 2 on
bad input (suite file, --only name, missing or corrupt baseline): the command,
with its printing, is in sim/cli/regress.py.

A baseline is refused when it holds anything a run cannot have written (read_metrics,
check_cell): an infinite value, `nan` spelt otherwise or for a metric a run always
defines (ALWAYS_DEFINED), an empty cell, text, a row or column missing or extra. Writing
applies the same rules (check_new_baseline), so an update never writes what a later
comparison would refuse.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import BaselineError, InputError
from .fileio import MAX_SMALL_FILE, RefusedFile, read_limited, write_json, write_text
from .metrics import CONTRACT
from .provenance import git_state as _git_state
from .provenance import versions as _versions
from .records import WASTE
from .resources import Limits
from .runner import BASE_POINT, Cell, RunPlan, run
from .scenario import (
    SEED_MAX,
    Scenario,
    ScenarioError,
    Strict,
    format_errors,
    lists_to_tuples,
    load_scenario,
    read_yaml,
)
from .stats import paired_interval, welch

# The checkout run from (a contributor's working folder) wins over the one the package was
# installed from, so that an editable install elsewhere never checks another tree's baselines.
REPO = Path.cwd() if (Path.cwd() / "scenarios" / "regression.yaml").is_file() else Path(__file__).resolve().parents[1]
DEFAULT_SUITE = REPO / "scenarios" / "regression.yaml"
DEFAULT_BASELINES = REPO / "results" / "baselines"
METRICS_FILE, MANIFEST_FILE = "metrics.csv", "manifest.json"

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)]


# --------------------------------------------------------------------------- suite file


class MetricTolerance(Strict):
    alpha: float | None = Field(None, gt=0.0, lt=1.0, description="level of the Welch t-test")
    rel_floor: float | None = Field(None, ge=0.0, description="smallest tolerance, relative to the baseline mean")
    abs_floor: float | None = Field(None, ge=0.0, description="smallest tolerance, in the metric's unit")


class Tolerance(Strict):
    alpha: float = Field(0.001, gt=0.0, lt=1.0, description="a mean fails when Welch's two-sided p < alpha")
    rel_floor: float = Field(0.01, ge=0.0, description="never fail on a move below this share of the baseline mean")
    abs_floor: float = Field(1e-9, ge=0.0, description="never fail on a move below this, in the metric's unit")
    informational: tuple[str, ...] = Field(("events_processed",), description="metrics reported but never failing")
    metrics: dict[str, MetricTolerance] = Field(default_factory=dict, description="per-metric settings")


class Entry(Strict):
    name: Name = Field(description="entry name; also its folder under the baselines directory")
    scenario: str = Field(min_length=1, description="scenario YAML file, relative to the suite's root")
    overrides: tuple[str, ...] = Field((), description="dotted.path=value, applied after the suite's overrides")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="master seed (default: the suite's seed)")
    replications: int | None = Field(None, ge=2, le=200, description="replications (default: the suite's)")
    extra_metrics: tuple[str, ...] = Field((), description="metrics compared besides the contract")


class Suite(Strict):
    description: str = ""
    root: str = Field(
        "..",
        description="folder scenario paths are relative to, itself relative to the "
        "suite file's folder (default: the suite lives in scenarios/ of the repository)",
    )
    seed: int = Field(1, ge=0, le=SEED_MAX, description="default seed of the entries")
    replications: int = Field(5, ge=2, le=200, description="default replications of the entries")
    overrides: tuple[str, ...] = Field((), description="dotted.path=value applied to every entry first")
    tolerance: Tolerance = Tolerance()
    entries: tuple[Entry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self):
        names = [e.name for e in self.entries]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"entries: names must be distinct, repeated: {', '.join(dup)}")
        known = set(CONTRACT).union(*(e.extra_metrics for e in self.entries))
        unknown = sorted((set(self.tolerance.metrics) | set(self.tolerance.informational)) - known)
        if unknown:
            raise ValueError(f"tolerance names metrics that are not compared: {', '.join(unknown)}")
        return self


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    data = read_yaml(path)  # ScenarioError naming the file when missing or malformed
    return parse_suite(data, show(path))


def parse_suite(data: object, source: str) -> Suite:
    """A suite from a suite file's YAML; ScenarioError naming `source` and every bad field."""
    if not isinstance(data, dict):
        raise ScenarioError([f"(top level): must be a mapping with 'entries', got {type(data).__name__}"], source)
    try:
        return Suite.model_validate(lists_to_tuples(data))
    except ValidationError as e:
        raise ScenarioError(format_errors(e), source) from None


def show(path: str | Path) -> str:
    """A path as a person wants to read it: relative to the working folder when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


@dataclass(frozen=True)
class Resolved:
    """A suite entry with its scenario loaded and its defaults filled in."""

    entry: Entry
    scenario: Scenario
    seed: int
    replications: int
    overrides: tuple[str, ...]
    metrics: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.entry.name


def resolve(suite: Suite, suite_path: Path, only: list[str], extra_overrides: list[str]) -> list[Resolved]:
    """Load every selected entry's scenario; all errors at once, each naming its entry."""
    names = [e.name for e in suite.entries]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ScenarioError(
            [f"--only {n}: no such entry (known: {', '.join(names)})" for n in unknown], show(suite_path)
        )
    root = (suite_path.parent / suite.root).resolve()
    out, errors = [], []
    for e in suite.entries:
        if only and e.name not in only:
            continue
        overrides = tuple(suite.overrides) + tuple(e.overrides) + tuple(extra_overrides)
        try:
            sc = load_scenario(root / e.scenario, overrides)
        except ScenarioError as err:
            errors += [f"entry {e.name}: {e.scenario}: {m}" for m in err.messages]
            continue
        out.append(
            Resolved(
                e,
                sc,
                suite.seed if e.seed is None else e.seed,
                e.replications or suite.replications,
                overrides,
                tuple(CONTRACT) + tuple(m for m in e.extra_metrics if m not in CONTRACT),
            )
        )
    if errors:
        raise ScenarioError(errors, show(suite_path))
    return out


# --------------------------------------------------------------------------- running


def run_entries(
    entries: list[Resolved], jobs: int | None, progress: bool | None = None, limits: Limits | None = None
) -> dict[str, list[dict]]:
    """Every replication of every entry (each with its own seed); per entry, one row per replication
    holding the entry's metrics (None for a metric the run does not produce)."""
    plan = RunPlan(
        [Cell(r.name, BASE_POINT, (), r.scenario, r.seed) for r in entries],
        replications={i: r.replications for i, r in enumerate(entries)},
    )
    done = run(plan, jobs=jobs, progress=progress, desc="regress", limits=limits)
    out = {
        r.name: [{k: _number(p["metrics"].get(k)) for k in r.metrics} for p in done.payloads_of(i)]
        for i, r in enumerate(entries)
    }
    missing = [
        f"entry {r.name}: metric {k!r} is not produced by the run (extra_metrics)"
        for r in entries
        for k in r.metrics
        if out[r.name] and out[r.name][0][k] is None
    ]
    if missing:
        raise InputError(*missing)
    return out


def _number(v: int | float | bool | None) -> int | float | None:
    """A metric as the baseline files hold it: booleans as 0/1."""
    return int(v) if isinstance(v, bool) else v


# --------------------------------------------------------------------------- baseline files


# How a baseline writes a metric undefined in a replication (e.g. the resale price when nothing
# was sold): Python's repr of NaN. Nothing else non-finite can come from a run.
UNDEFINED = "nan"

# Metrics a run always defines, even when nothing happened (counts, sums, means over the days:
# 0 then; see compute_metrics in sim/metrics.py): `nan` for one of them is not from a run.
# Any other metric, an extra one included, may be undefined in a replication.
ALWAYS_DEFINED = frozenset(
    {
        "applicants_arrived",
        "applicants_served",
        "applicants_abandoned",
        "applicants_unresolved",
        "slots_released",
        "slots_attended_direct",
        "slots_attended_via_reseller",
        "slots_wasted",
        *(f"slots_{o}" for o in WASTE),
        "reseller_revenue_eur",
        "reseller_profit_eur",
        "rent_paid_above_fee_eur",
        "bot_requests_per_day_mean",
        "reassignments",
        "bots_end",
        "events_processed",
        "switch_day",
        "appointments_genuine_after_switch",
    }
)


def format_number(v: int | float | None) -> str:
    """Full precision, round-trips exactly: ints as ints, floats by repr ('nan' when undefined).
    None (a value the run did not give) is an empty cell, which check_cell refuses."""
    if v is None:
        return ""
    return str(v) if isinstance(v, int) else repr(float(v))


def check_cell(text: str, metric: str) -> str | None:
    """Why a baseline cell cannot have been written from a run, or None when it can: a number
    as format_number writes it, or `nan` for a metric that may be undefined."""
    if text == UNDEFINED:
        return f"nan, but {metric} is always defined (a count or a sum)" if metric in ALWAYS_DEFINED else None
    if not text.strip():
        return f"missing value (an undefined metric is written {UNDEFINED})"
    try:
        v = float(text)
    except ValueError:
        return f"not a number: {text!r}"
    if math.isnan(v):
        return f"{text!r}: an undefined metric is written {UNDEFINED}"
    if math.isinf(v):
        return f"non-finite value {text!r}: a run never produces one"
    return None


def metrics_csv(rows: list[dict], metrics: tuple[str, ...]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("replication",) + metrics)
    for k, row in enumerate(rows):
        w.writerow([k] + [format_number(row.get(m)) for m in metrics])
    return buf.getvalue()


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    scenario_file: str
    scenario_name: str
    scenario_digest: str
    overrides: list[str]
    seed: int
    replications: int = Field(ge=1)
    metrics: list[str]
    metrics_file: str = METRICS_FILE
    versions: dict[str, str]
    git_commit: str
    git_dirty: bool | None


@dataclass
class Baseline:
    folder: Path
    manifest: Manifest
    values: dict[str, np.ndarray]  # metric -> per-replication values


def load_baseline(folder: Path, name: str) -> Baseline:
    """Read and check one baseline; every problem is a message naming the file."""
    hint = f"(regenerate it with: slotsim regress --update --only {name})"
    mpath, cpath = folder / MANIFEST_FILE, folder / METRICS_FILE
    if not folder.is_dir():
        raise BaselineError(f"{show(folder)}: no baseline for entry {name} {hint}")
    try:
        raw = json.loads(read_limited(mpath, MAX_SMALL_FILE).decode("utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{show(mpath)}: baseline manifest missing {hint}") from None
    except (OSError, UnicodeDecodeError, RecursionError) as e:
        raise BaselineError(f"{show(mpath)}: cannot read ({_why(e)}) {hint}") from None
    except json.JSONDecodeError as e:
        raise BaselineError(
            f"{show(mpath)}: corrupt baseline manifest: not valid JSON "
            f"(line {e.lineno}, column {e.colno}: {e.msg}) {hint}"
        ) from None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as e:
        raise BaselineError(
            *[f"{show(mpath)}: corrupt baseline manifest: {m}" for m in format_errors(e)], hint.strip("()")
        ) from None
    try:
        text = read_limited(cpath, MAX_SMALL_FILE).decode("utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{show(cpath)}: baseline metrics missing {hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"{show(cpath)}: cannot read ({_why(e)}) {hint}") from None
    values = _parse_metrics(text, manifest, f"{show(cpath)}: corrupt baseline", hint)
    return Baseline(folder, manifest, values)


def _why(e: BaseException) -> str:
    """Why a baseline file could not be read: read_limited's reason (a FIFO, a device, too
    large), else the error's class (PermissionError, UnicodeDecodeError...)."""
    return e.strerror if isinstance(e, RefusedFile) and e.strerror else e.__class__.__name__


# At most this many problems of one metrics file are listed (a mangled file can have hundreds).
MAX_PROBLEMS = 20


def _parse_metrics(text: str, manifest: Manifest, where: str, hint: str) -> dict[str, np.ndarray]:
    """The per-replication values of a metrics.csv; BaselineError listing every problem, each
    prefixed with `where` and naming the row and column, e.g. `replication K, row N, METRIC: why`
    (row N: line N of the file, the header is row 1)."""
    values, problems = read_metrics(text, manifest)
    if problems:
        if len(problems) > MAX_PROBLEMS:
            problems = problems[:MAX_PROBLEMS] + [f"... and {len(problems) - MAX_PROBLEMS} more problems"]
        if len(problems) == 1:
            raise BaselineError(f"{where}: {problems[0]} {hint}")
        raise BaselineError(*[f"{where}: {p}" for p in problems], hint.strip("()"))
    return values


def read_metrics(text: str, manifest: Manifest) -> tuple[dict[str, np.ndarray], list[str]]:
    """(values by metric, problems): every reason the text is not what metrics_csv writes for the
    manifest's metrics and replications: header, rows, cells (check_cell)."""
    reader = csv.reader(io.StringIO(text))
    try:
        lines = [(reader.line_num, r) for r in reader if r]
    except csv.Error as e:
        return {}, [f"row {reader.line_num}: not CSV ({e})"]
    if not lines:
        return {}, ["empty file"]
    metrics = list(manifest.metrics)
    header = lines[0][1]
    if header != ["replication"] + metrics:
        return {}, [f"row 1 (the header) does not match the manifest's metrics: {_header_problem(header, metrics)}"]
    n = manifest.replications
    problems: list[str] = []
    cols: list[list[float]] = [[] for _ in metrics]
    body = lines[1:]
    for i, (line, r) in enumerate(body):
        if i >= n:
            problems.append(
                f"row {line}: replication {r[0]!r} is beyond the manifest's {n} replications (a row too many)"
            )
            break
        if r[0] != str(i):
            problems.append(f"row {line}: replication {r[0]!r}, expected {i} (a row missing or out of order?)")
            break
        if len(r) != len(header):
            lacking = f": no value for {', '.join(metrics[len(r) - 1 :])}" if len(r) < len(header) else ""
            problems.append(
                f"replication {i}, row {line}: {len(r)} fields, the header has {len(header)}{lacking} (truncated?)"
            )
            continue
        for j, (m, cell) in enumerate(zip(metrics, r[1:])):
            why = check_cell(cell, m)
            if why is None:
                cols[j].append(float(cell))
            else:
                problems.append(f"replication {i}, row {line}, {m}: {why}")
    else:
        if len(body) < n:
            end = f"ends at row {body[-1][0]} with replication {len(body) - 1}" if body else "has no rows"
            missing = f"replication {len(body)}" + (f" to {n - 1}" if n - len(body) > 1 else "")
            problems.append(f"{missing} missing: the file {end}, the manifest says {n} replications (truncated?)")
    return {m: np.array(c, dtype=float) for m, c in zip(metrics, cols)}, problems


def _header_problem(header: list[str], metrics: list[str]) -> str:
    """What is wrong with a header, column by column."""
    what = []
    if not header or header[0] != "replication":
        what.append(f"the first column is {header[0]!r}, not 'replication'" if header else "no columns")
    cols = header[1:] if header and header[0] == "replication" else header
    missing = [m for m in metrics if m not in cols]
    extra = [c for c in cols if c not in metrics and c != "replication"]
    repeated = sorted({c for c in cols if cols.count(c) > 1})
    if missing:
        what.append(f"column{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
    if extra:
        what.append(f"column{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} not in the manifest")
    if repeated:
        what.append(f"column{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} repeated")
    return "; ".join(what) or "columns in another order than the manifest's"


def versions() -> dict[str, str]:
    """What a baseline manifest records: slotsim, python, numpy, simpy."""
    return _versions(("numpy", "simpy"), slotsim=True, with_platform=False)


def git_state(folder: Path) -> tuple[str, bool | None]:
    """(commit, dirty) as a baseline manifest records them: "unknown" without git."""
    commit, dirty = _git_state(folder)
    return commit or "unknown", dirty


# --------------------------------------------------------------------------- comparison


@dataclass
class Row:
    metric: str
    base_mean: float
    now_mean: float
    diff: float
    tolerance: float
    verdict: str  # same | ok | FAIL | info
    changed: str  # "k/n" replications whose number changed, "" when not comparable one to one
    note: str = ""


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def _mean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else math.nan


def tolerance_of(
    base: np.ndarray, now: np.ndarray, alpha: float, rel_floor: float, abs_floor: float, paired: bool = False
) -> float:
    """max(t_{1-alpha/2, df} * SE, rel_floor * |baseline mean|, abs_floor), NaNs left out.

    paired: replication k of both samples ran with the same (seed, k), so the same
    demand (common random numbers): SE and df come from the per-replication
    differences (paired t-test). Otherwise Welch: SE = sqrt(s_b^2/n_b + s_n^2/n_n),
    Welch-Satterthwaite df.
    """
    b = base[~np.isnan(base)]
    floor = max(rel_floor * abs(float(b.mean())) if len(b) else 0.0, abs_floor)
    if paired:
        half_width = paired_interval(now, base, alpha=alpha).half_width
    else:
        half_width = welch(now, base, alpha=alpha, partial=True).half_width
    return floor if math.isnan(half_width) else max(half_width, floor)


def compare_metric(metric: str, base: np.ndarray, now: np.ndarray, tol: Tolerance, aligned: bool = False) -> Row:
    """aligned: the baseline ran with the same seed and replications (replication k pairs with k)."""
    per = tol.metrics.get(metric, MetricTolerance())
    alpha = per.alpha if per.alpha is not None else tol.alpha
    rel = per.rel_floor if per.rel_floor is not None else tol.rel_floor
    absf = per.abs_floor if per.abs_floor is not None else tol.abs_floor
    bm, nm = _mean(base), _mean(now)
    diff = nm - bm
    paired = aligned and base.shape == now.shape and bool(np.array_equal(np.isnan(base), np.isnan(now)))
    tolerance = tolerance_of(base, now, alpha, rel, absf, paired)
    changed = ""
    if base.shape == now.shape:
        diffs = ~((base == now) | (np.isnan(base) & np.isnan(now)))
        changed = f"{int(diffs.sum())}/{len(base)}"
    if _same(base, now):
        return Row(metric, bm, nm, 0.0, tolerance, "info" if metric in tol.informational else "same", changed)
    if metric in tol.informational:
        return Row(metric, bm, nm, diff, tolerance, "info", changed)
    nb, nn = int((~np.isnan(base)).sum()), int((~np.isnan(now)).sum())
    if (nb == 0) != (nn == 0):
        return Row(
            metric,
            bm,
            nm,
            diff,
            tolerance,
            "FAIL",
            changed,
            f"defined in {nb}/{len(base)} replications before, {nn}/{len(now)} now",
        )
    if nb == 0:  # undefined on both sides
        return Row(metric, bm, nm, math.nan, tolerance, "ok", changed)
    return Row(metric, bm, nm, diff, tolerance, "FAIL" if abs(diff) > tolerance else "ok", changed)


def compare_entry(r: Resolved, base: Baseline, rows: list[dict], tol: Tolerance) -> list[Row]:
    """One row per metric of the entry that the baseline also holds."""
    aligned = base.manifest.seed == r.seed and base.manifest.replications == r.replications == len(rows)
    out = []
    for m in (m for m in r.metrics if m in base.values):
        now = np.array([math.nan if row[m] is None else float(row[m]) for row in rows], dtype=float)
        out.append(compare_metric(m, base.values[m], now, tol, aligned))
    return out


def _num(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return f"{v:.6g}"


def format_diff(d: float, base: float) -> str:
    if math.isnan(d):
        return "n/a"
    if d == 0:
        return "0"
    rel = f" ({d / abs(base):+.1%})" if base and not math.isnan(base) else ""
    return f"{d:+.4g}{rel}"


def format_table(rows: list[Row]) -> str:
    head = ("metric", "baseline mean", "now mean", "difference", "tolerance", "verdict")
    cells = []
    for r in rows:
        verdict = r.verdict
        if r.verdict != "same" and r.changed:
            verdict += f" ({r.changed} reps changed)"
        if r.note:
            verdict += f"; {r.note}"
        cells.append(
            (
                r.metric,
                _num(r.base_mean),
                _num(r.now_mean),
                format_diff(r.diff, r.base_mean),
                f"{r.tolerance:.4g}",
                verdict,
            )
        )
    widths = [max(len(str(c[i])) for c in [head] + cells) for i in range(len(head))]
    lines = []
    for c in [head] + cells:
        lines.append(
            "  "
            + "  ".join(
                str(x).ljust(w) if i in (0, 5) else str(x).rjust(w) for i, (x, w) in enumerate(zip(c, widths))
            ).rstrip()
        )
    return "\n".join(lines)


def context_notes(r: Resolved, m: Manifest) -> list[str]:
    """What differs between the suite entry now and the baseline's manifest."""
    notes = []
    if m.scenario_digest != r.scenario.digest():
        notes.append(f"the scenario changed since the baseline (digest {m.scenario_digest} -> {r.scenario.digest()})")
    if list(r.overrides) != list(m.overrides):
        added = [o for o in r.overrides if o not in m.overrides]
        removed = [o for o in m.overrides if o not in r.overrides]
        what = (
            "; ".join(
                ([f"added {', '.join(added)}"] if added else [])
                + ([f"removed {', '.join(removed)}"] if removed else [])
            )
            or "reordered"
        )
        notes.append(f"overrides changed: {what}")
    if m.seed != r.seed:
        notes.append(f"seed changed: {m.seed} -> {r.seed}: the numbers cannot be the same")
    if m.replications != r.replications:
        notes.append(f"replications changed: {m.replications} -> {r.replications}")
    return notes


# --------------------------------------------------------------------------- baselines of a suite


def manifest_for(r: Resolved, commit: str, dirty: bool | None) -> Manifest:
    return Manifest(
        name=r.name,
        scenario_file=r.entry.scenario,
        scenario_name=r.scenario.name,
        scenario_digest=r.scenario.digest(),
        overrides=list(r.overrides),
        seed=r.seed,
        replications=r.replications,
        metrics=list(r.metrics),
        versions=versions(),
        git_commit=commit,
        git_dirty=dirty,
    )


# Manifest fields recording where and with what a baseline was made, not what it measured.
PROVENANCE = {"versions", "git_commit", "git_dirty"}


def load_baselines(entries: list[Resolved], baselines: Path) -> dict[str, Baseline]:
    """The baseline of every entry, by entry name; BaselineError with every problem at once
    (missing, unreadable or corrupt baselines, baselines lacking a metric the entry compares)."""
    loaded, errors = {}, []
    for r in entries:
        try:
            b = load_baseline(baselines / r.name, r.name)
        except BaselineError as e:
            errors += e.messages
            continue
        lacking = [m for m in r.metrics if m not in b.manifest.metrics]
        if lacking:
            errors.append(
                f"{show(b.folder / METRICS_FILE)}: baseline lacks metrics "
                f"{', '.join(lacking)} (regenerate it with: slotsim regress --update --only {r.name})"
            )
        loaded[r.name] = b
    if errors:
        raise BaselineError(*errors)
    return loaded


def previous_baselines(entries: list[Resolved], baselines: Path) -> dict[str, Baseline | BaselineError | None]:
    """What an update replaces, by entry name: the baseline, why it is unusable, or None when there is none."""
    old: dict[str, Baseline | BaselineError | None] = {}
    for r in entries:
        if not (baselines / r.name).exists():
            old[r.name] = None
            continue
        try:
            old[r.name] = load_baseline(baselines / r.name, r.name)
        except BaselineError as e:
            old[r.name] = e  # rewritten by the update, which says why the old one was unusable
    return old


def check_new_baseline(folder: Path, manifest: Manifest, text: str) -> None:
    """BaselineError when `text` (from metrics_csv) holds what load_baseline would refuse: a run
    that produced an infinite value, or nan for a metric that is always defined (a bug), is
    never written as a baseline."""
    _parse_metrics(
        text,
        manifest,
        f"{show(folder / METRICS_FILE)}: not written",
        f"(entry {manifest.name}: the run produced a value a baseline cannot hold; nothing was written)",
    )


def write_baseline(folder: Path, manifest: Manifest, text: str) -> None:
    """One entry's baseline: metrics.csv (`text`, from metrics_csv) and manifest.json; refused
    (check_new_baseline) when load_baseline would refuse it."""
    check_new_baseline(folder, manifest, text)
    write_text(folder / METRICS_FILE, text)
    write_json(folder / MANIFEST_FILE, manifest.model_dump())
