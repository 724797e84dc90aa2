"""One experiment runner: a plan of runs (variant x point x replication) in, tidy frames out.

A `RunPlan` names cells (a variant at a sweep point, with its resolved scenario), the master seed
and the replications per cell. Replication k of every cell runs `sim.run(scenario, seed, k)`:
all cells replay the same demand (common random numbers), so differences between variants come
from the policies alone. `run` executes the plan's runs through `sim.parallel.execute`
(in this process, on a process pool or on Dask; results never depend on which) and returns a
`Result` whose `frames()` are tidy: one row per run (variant, point, swept parameters,
replication, seed, metrics...), plus any per-run tables the `collect` function kept.

Every caller hands its plan to `run` and keeps only its own needs as options:
- `collect(task, result)` turns a RunResult into the payload kept (default: the metrics);
  module-level functions only, since process pools and Dask pickle it;
- `cache` (load(key) / save(task, payload)) checkpoints each finished run, so that an
  interrupted batch resumes; runs of equal `key` run once;
- `memo` keeps payloads across calls (the precision loop of `batch` asks for more
  replications round by round);
- `on_progress(done, total, next_task)` for a progress display.

From Python, one call: `run_plan({...})` (also `sim.experiment`) takes an experiment as a plain
dict (base scenario file or Scenario, variants, sweep, replications or target, seed, jobs) and
returns the tidy runs with their summary (t-intervals, paired differences to the reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from . import resources
from .errors import InputError
from .parallel import default_jobs, execute
from .resources import Limits
from .scenario import Scenario
from .stats import IDENT

BASE_POINT = "base"  # the point label of a plan without a sweep


@dataclass(frozen=True)
class Cell:
    """One (variant, sweep point) with its resolved scenario; `seed` overrides the plan's master seed
    (regression entries carry their own)."""

    variant: str
    point: str
    params: tuple[tuple[str, Any], ...]
    scenario: Scenario
    seed: int | None = None

    @property
    def digest(self) -> str:
        return self.scenario.digest()


@dataclass(frozen=True)
class Task:
    """One run: what a worker needs, nothing more. `key` identifies the run (checkpoint name)."""

    variant: str
    point: str
    scenario: Scenario
    seed: int
    replication: int
    key: str


def default_key(cell: Cell, seed: int, replication: int) -> str:
    return f"{cell.variant}|{cell.point}|{seed}|{replication}"


@dataclass
class RunPlan:
    """Cells x replications. replications: the same for every cell, or {cell index: count}."""

    cells: list[Cell]
    seed: int | None = None
    replications: int | Mapping[int, int] = 1
    key: Callable[[Cell, int, int], str] = default_key

    @classmethod
    def of(cls, variants: Mapping[str, Scenario], seed: int, replications: int = 1) -> RunPlan:
        """Each variant's scenario at the base point."""
        return cls([Cell(name, BASE_POINT, (), sc) for name, sc in variants.items()], seed, replications)

    def count(self, i: int) -> int:
        r = self.replications
        return r if isinstance(r, int) else int(r.get(i, 0))

    def seed_of(self, cell: Cell) -> int:
        seed = self.seed if cell.seed is None else cell.seed
        if seed is None:
            raise ValueError(f"cell {cell.variant}/{cell.point}: no seed (give the plan or the cell one)")
        return seed

    def task(self, i: int, k: int) -> Task:
        cell = self.cells[i]
        seed = self.seed_of(cell)
        return Task(cell.variant, cell.point, cell.scenario, seed, k, self.key(cell, seed, k))

    def order(self, by_replication: bool = True) -> list[tuple[int, int]]:
        """(cell index, replication) pairs: replication-major (the run order: replication 0 of every
        cell first, so that an interrupted plan stays balanced) or cell-major (the tables' order)."""
        counts = [self.count(i) for i in range(len(self.cells))]
        if by_replication:
            return [(i, k) for k in range(max(counts, default=0)) for i in range(len(counts)) if k < counts[i]]
        return [(i, k) for i in range(len(counts)) for k in range(counts[i])]

    def tasks(self) -> list[Task]:
        return [self.task(i, k) for i, k in self.order()]


# --------------------------------------------------------------------------- one run


def plain(v: Any) -> Any:
    """numpy scalars as Python numbers (payloads are pickled and written to CSV/Parquet)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


def collect_metrics(task: Task, result) -> dict:
    """The default payload: the run's metrics."""
    return {"metrics": {k: plain(v) for k, v in result.metrics.items()}}


def run_task(task: Task, collect: Callable[[Task, Any], Any] = collect_metrics) -> Any:
    """One run, reduced by `collect` (module level: process pools and Dask pickle it)."""
    import sim

    # the parent checked the plan's size against the user's limits before handing out tasks
    return collect(task, sim.run(task.scenario, seed=task.seed, replication=task.replication, limits=Limits.none()))


# --------------------------------------------------------------------------- the plan


@dataclass
class Frames:
    runs: pd.DataFrame  # one row per run
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # per-run tables, stacked

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame())


@dataclass
class Result:
    plan: RunPlan
    payloads: dict[str, Any]  # key -> payload (the memo)
    computed: int = 0  # runs executed by this call
    loaded: int = 0  # runs read from the cache

    def payload(self, i: int, k: int) -> Any:
        return self.payloads[self.plan.task(i, k).key]

    def payloads_of(self, i: int) -> list[Any]:
        return [self.payload(i, k) for k in range(self.plan.count(i))]

    def frames(self, ident: tuple[str, ...] = IDENT, by_replication: bool = False) -> Frames:
        return tidy(self.plan, self.payloads, ident, by_replication)


def run(
    plan: RunPlan,
    *,
    collect: Callable[[Task, Any], Any] = collect_metrics,
    fn: Callable[[Task], Any] | None = None,
    cache=None,
    fresh: bool = False,
    memo: dict | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progress: bool | None = None,
    desc: str = "runs",
    on_progress: Callable[[int, int, Task | None], None] | None = None,
    limits: Limits | None = None,
) -> Result:
    """Run every task of the plan not already in `memo` (or, unless `fresh`, in `cache`).

    fn(task) -> payload replaces `run_task` with `collect` (a test's fake, a counting wrapper).
    on_progress(done, total, next task or None) is called before the first run and as each ends.
    Every scenario to run is checked against `limits` (sim.resources) before the first run starts,
    counting the replications that run at once on local workers.
    """
    memo = {} if memo is None else memo
    todo: list[Task] = []
    seen: set[str] = set()
    loaded = 0
    for t in plan.tasks():
        if t.key in memo or t.key in seen:
            continue
        got = None if fresh or cache is None else cache.load(t.key)
        if got is not None:
            memo[t.key] = got
            loaded += 1
        else:
            seen.add(t.key)
            todo.append(t)
    jobs = fit_jobs([t.scenario for t in todo], limits, len(todo), jobs, distributed=bool(scheduler or dask_workers))
    finished = 0

    def on_done(i: int, payload: Any) -> None:
        nonlocal finished
        if cache is not None:
            cache.save(todo[i], payload)
        memo[todo[i].key] = payload
        finished += 1
        if on_progress:
            on_progress(finished, len(todo), todo[finished] if finished < len(todo) else None)

    if on_progress:
        on_progress(0, len(todo), todo[0] if todo else None)
    if todo:
        execute(
            fn or partial(run_task, collect=collect),
            todo,
            jobs=jobs,
            scheduler=scheduler,
            dask_workers=dask_workers,
            progress=progress,
            desc=desc,
            on_done=on_done,
        )
    return Result(plan, memo, len(todo), loaded)


def fit_jobs(
    scenarios: list[Scenario], limits: Limits | None, n_runs: int, jobs: int | None, distributed: bool = False
) -> int | None:
    """The worker processes to use, after every distinct scenario is checked against the limits
    (sim.resources) before anything runs; InputError when they are exceeded.

    Replications running at once each hold their own memory. Workers asked for (`jobs`) are
    checked as asked; when none were asked for, as many as fit in the memory limit are used (at
    least one), so that a machine with many cores is not refused what a small one runs. Dask
    workers hold their memory elsewhere: each replication is checked alone."""
    distinct = list({id(s): s for s in scenarios}.values())
    if not distinct:
        return jobs
    if distributed:
        concurrent = 1
    elif jobs is not None:
        concurrent = min(jobs, max(1, n_runs))
    else:
        limit = (limits or Limits.default()).memory_mb
        largest = max(resources.estimate(s).memory_mb for s in distinct)
        fitting = max(1, int(limit // largest))
        concurrent = min(default_jobs(), max(1, n_runs), fitting)
        jobs = concurrent if concurrent < min(default_jobs(), max(1, n_runs)) else None
    for scenario in distinct:
        resources.check(scenario, limits, concurrent)
    return jobs


def cell_value(v: Any) -> Any:
    """A swept value as a table cell: lists and mappings as JSON text."""
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, tuple, dict)) else v


def tidy(
    plan: RunPlan, payloads: Mapping[str, Any], ident: tuple[str, ...] = IDENT, by_replication: bool = False
) -> Frames:
    """The plan's results in a fixed order, never in completion order: cell by cell, replication
    by replication (or replication by replication, cell by cell: the plan's run order).
    runs: the `ident` columns (and the swept parameters after the point) and the metrics;
    tables: every other DataFrame of the payloads, under variant, point, replication (those of
    `ident`)."""
    rows: list[dict] = []
    parts: dict[str, list[pd.DataFrame]] = {}
    head = [c for c in ("variant", "point", "replication") if c in ident]
    for i, k in plan.order(by_replication):
        cell = plan.cells[i]
        seed = plan.seed_of(cell)
        payload = payloads[plan.key(cell, seed, k)]
        full = {
            "variant": cell.variant,
            "point": cell.point,
            **{p: cell_value(v) for p, v in cell.params},
            "replication": k,
            "seed": seed,
        }
        rows.append({c: x for c, x in full.items() if c in ident or c not in IDENT} | payload["metrics"])
        for name, d in payload.items():
            if name != "metrics" and isinstance(d, pd.DataFrame):
                ids = {c: full[c] for c in head}
                parts.setdefault(name, []).append(d.assign(**ids)[[*head, *d.columns]])
    return Frames(pd.DataFrame(rows), {n: pd.concat(p, ignore_index=True) for n, p in parts.items()})


# --------------------------------------------------------------------------- one call from Python


def run_plan(spec: Mapping[str, Any], *, out=None, jobs: int | None = None, progress: bool | None = False, **executor):
    """Run an experiment given as a plain dict; return its Outcome (`.runs`, `.summary`, `.daily`...).

        >>> import sim
        >>> res = sim.experiment({
        ...     "base": "scenarios/no_bots_fcfs.yaml",            # a file, or a Scenario
        ...     "overrides": {"run.days": 30, "run.warmup_days": 10},
        ...     "variants": {"fcfs": "first_come",                 # a preset ...
        ...                  "draw": {"policy.scheme.kind": "random_allocation"}},  # ... or overrides
        ...     "sweep": {"demand.applicants_per_year": [8000.0, 11000.0]},
        ...     "replications": 2, "seed": 1, "jobs": 1})
        >>> res.runs.columns[:5].tolist()
        ['variant', 'point', 'demand.applicants_per_year', 'replication', 'seed']

    The keys are those of an experiment file (docs/researchers.md): base, overrides, variants
    ({name: preset name | {dotted.path: value} | {preset, scenario, overrides}}), sweep, labels,
    replications or target, seed, reference, name; plus jobs (worker processes; 1 = this
    process). Relative paths are relative to the working folder. `out`: a folder for
    checkpoints (resume), none by default.
    """
    from .experiments import from_dict, run_experiment

    if not isinstance(spec, Mapping):
        raise InputError(f"spec: must be a mapping of experiment keys (base, variants...), got {type(spec).__name__}")
    spec = dict(spec)
    jobs = spec.pop("jobs", jobs)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise InputError(f"jobs: must be a whole number of at least 1 (or None: all cores), got {jobs!r}")
    plan = from_dict(spec)
    return run_experiment(plan, out, jobs=jobs, progress=progress, **executor)
