"""`slotsim bench`: how fast the engine is, measured against bare SimPy in the same run.

    python benchmarks/bench.py --quick              # smoke test, well under a minute
    python benchmarks/bench.py --out bench.jsonl    # full benchmark, under 5 minutes
    slotsim bench ...                               # the same, from a source checkout

Every measurement is one JSON line (printed, and appended to --out); a readable
table and the targets follow at the end. What is measured:

1. bare SimPy: 1,000 processes each looping `yield env.timeout(x)`, events/s;
2. scenarios: the large centre (800 slots a working day, ~220k applicants a year,
   fleets of hundreds) for one simulated year under first-come booking and under
   random allocation: wall and CPU time per replication (setup, events, records),
   events processed, events/s, simulated days/s, peak memory (maxrss of a fresh
   subprocess per replication);
3. ratio to the limit: replication time / the time bare SimPy needs for the
   fewest events the run implies (one per arrival, release batch, booking and
   appointment day, counted from the run's records);
4. scaling: time at 1x, 2x, 4x, 8x demand, capacity and fleets, with the fitted
   log-log growth exponent; time with every bot polling every 1 s vs every 60 s;
5. parallel: replications per minute with 1 and 2 workers (sim.parallel.execute).

Machines are shared and noisy: CPU time (time.process_time) is the primary
measure of one single-threaded replication and targets are judged on it; wall
times are reported beside it. Parallel throughput is wall time by nature.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
BARE_PROCESSES = 1000

# Targets (for the benchmark, never for tests): (key, description, comparison, limit).
TARGETS = (
    ("year_cpu_s", "one year of the large centre, s per replication (one core)", "<=", 10.0),
    ("peak_rss_mb", "peak memory of one replication, MB", "<=", 1024.0),
    ("ratio_to_limit", "replication time / bare SimPy time for the minimum events", "<=", 3.0),
    ("growth_exponent", "log-log slope of time vs demand and capacity", "<=", 1.15),
    ("polling_deviation", "|time(poll 1 s) / time(poll 60 s) - 1|", "<=", 0.10),
    ("parallel_speedup", "replications per minute, 2 workers / 1 worker", ">=", 1.8),
)

# The large centre when no scenario file is at hand (an installed package): the shipped
# baseline_fcfs.yaml in numbers (800 slots a working day, 220k applicants a year, 370 bots).
LARGE_CENTRE: dict[str, Any] = {
    "name": "large_centre",
    "run": {"start_date": "2024-05-01", "days": 365, "warmup_days": 30, "seed": 1},
    "centre": {
        "capacity_per_day": 800,
        "release_days_ahead": 14,
        "release_hour": 9.0,
        "service_fee_eur": 25.0,
        "no_show_prob": 0.15,
    },
    "demand": {
        "applicants_per_year": 220000,
        "seasonality": [0.8, 0.8, 0.9, 1.0, 1.1, 1.35, 1.45, 1.3, 1.0, 0.8, 0.75, 0.75],
        "segment_shares": {"first_time": 0.5, "renewal": 0.35, "circulation": 0.15},
    },
    "resellers": [
        {"name": "fast_officine", "mode": "speculative", "bots": 150, "poll_interval_s": 1.0, "reaction_s": 0.5},
        {"name": "officine_b", "mode": "speculative", "bots": 100, "poll_interval_s": 5.0, "reaction_s": 1.0},
        {"name": "officine_c", "mode": "speculative", "bots": 80, "poll_interval_s": 10.0, "reaction_s": 2.0},
        {
            "name": "agency",
            "mode": "to_order",
            "bots": 40,
            "poll_interval_s": 5.0,
            "reaction_s": 1.0,
            "price_eur": 150.0,
        },
    ],
    "policy": {"scheme": {"kind": "first_come"}},
}
BASELINE_FILE = "scenarios/baseline_fcfs.yaml"
RANDOM_FILE = "scenarios/random_allocation.yaml"


@dataclass
class Config:
    """What one benchmark run measures. `quick()` is the smoke-test form (well under a minute)."""

    quick: bool = False
    base: dict | None = None  # scenario as a dict (None: the baseline file or LARGE_CENTRE)
    random: dict | None = None  # the random-allocation variant (None: the file, or base + kind)
    days: int = 365  # simulated days of the scenario replications
    scale: float = 1.0  # size of the centre relative to `base` (demand, capacity, fleets)
    reps: int = 3  # replications per scenario (medians reported)
    bare_events: int = 600_000  # events per bare-SimPy measurement
    bare_reps: int = 3
    scaling_factors: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    scaling_days: int = 120
    polling_days: int = 120
    polling_intervals: tuple[float, float] = (1.0, 60.0)
    polling_reps: int = 3
    parallel_tasks: int = 8
    parallel_days: int = 120
    parallel_jobs: tuple[int, ...] = (1, 2)
    seed: int = 1
    isolate: bool = True  # each replication in a fresh subprocess (true peak memory)
    parts: tuple[str, ...] = ("bare", "scenarios", "scaling", "polling", "parallel")

    @classmethod
    def full(cls, **kw) -> "Config":
        return cls(**kw)

    @classmethod
    def quick_config(cls, **kw) -> "Config":
        defaults = dict(
            quick=True,
            days=60,
            scale=0.1,
            reps=1,
            bare_events=150_000,
            bare_reps=2,
            scaling_factors=(1.0, 2.0),
            scaling_days=40,
            polling_days=40,
            polling_reps=1,
            parallel_tasks=2,
            parallel_days=30,
        )
        defaults.update(kw)
        return cls(**defaults)


# --------------------------------------------------------------------------- machine


def _loadavg() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def machine() -> dict:
    import numpy
    import simpy

    from sim import __version__

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "bench": "machine",
        "nproc": cores,
        "cpu": cpu or "unknown",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "simpy": simpy.__version__,
        "slotsim": __version__,
        "platform": platform.platform(),
        "loadavg_1min": _loadavg(),
    }


# --------------------------------------------------------------------------- bare SimPy


def bare_simpy(events: int = 600_000, processes: int = BARE_PROCESSES, seed: int = 0) -> dict:
    """SimPy's own limit: `processes` generators each looping `yield env.timeout(x)`, x ~ U[0.5, 1.5).

    Every process runs the same number of timeouts; events = processes x (timeouts + 2): its
    initialisation, its timeouts and its end are each one processed event."""
    import random

    import simpy

    loops = max(1, events // processes - 2)
    rnd = random.Random(seed)
    env = simpy.Environment()

    def proc(x: float):
        for _ in range(loops):
            yield env.timeout(x)

    for _ in range(processes):
        env.process(proc(0.5 + rnd.random()))
    n = processes * (loops + 2)
    w0, c0 = time.perf_counter(), time.process_time()
    env.run()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {
        "bench": "bare_simpy",
        "processes": processes,
        "events": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "events_per_s": n / wall,
        "events_per_cpu_s": n / cpu if cpu > 0 else math.nan,
    }


# --------------------------------------------------------------------------- scenarios


def _load(path: str, overrides: list[str] | None = None) -> dict | None:
    from sim.scenario import load_scenario

    if not Path(path).exists():
        return None
    return load_scenario(path, overrides or []).to_dict()


def default_base() -> dict:
    """The large centre: the shipped baseline scenario if it is at hand, else LARGE_CENTRE."""
    from sim.scenario import parse_scenario

    return _load(BASELINE_FILE) or parse_scenario(LARGE_CENTRE, "sim.bench.LARGE_CENTRE").to_dict()


def default_random(base: dict) -> dict:
    """Random allocation: the shipped scenario if present, else the base with the scheme switched."""
    data = _load(RANDOM_FILE)
    if data is None:
        data = json.loads(json.dumps(base))
        data["policy"]["scheme"] = {"kind": "random_allocation"}
        data["name"] = "random_allocation"
    return data


def variant(
    data: dict,
    *,
    days: int | None = None,
    scale: float = 1.0,
    poll_interval_s: float | None = None,
    name: str | None = None,
) -> dict:
    """A copy of a scenario dict: other length, centre scaled (demand, capacity and fleets
    together, so the bots keep their share), or every bot polling at one interval."""
    d = json.loads(json.dumps(data))
    if days is not None:
        d["run"]["days"] = int(days)
        d["run"]["warmup_days"] = min(d["run"].get("warmup_days", 0), int(days) // 4)
        d["timeline"] = [s for s in d.get("timeline", []) if s["day"] < days]
    if scale != 1.0:
        d["centre"]["capacity_per_day"] = max(1, round(d["centre"]["capacity_per_day"] * scale))
        d["demand"]["applicants_per_year"] = d["demand"]["applicants_per_year"] * scale
        for r in d.get("resellers", []):
            r["bots"] = max(1, round(r["bots"] * scale)) if r["bots"] else 0
            r["max_bots"] = max(r["bots"], round(r.get("max_bots", 2000) * scale))
    if poll_interval_s is not None:
        for r in d.get("resellers", []):
            r["poll_interval_s"] = float(poll_interval_s)
    if name:
        d["name"] = name
    return d


def min_events(res, days: int) -> dict:
    """The fewest events a run implies, counted from its records: one per arrival, per release
    batch, per booking (a slot taken for somebody) and per appointment day."""
    slots = res.slots
    arrivals = len(res.applicants)
    batches = int(slots.groupby(["released_at_day", "pool"], observed=True).ngroups) if len(slots) else 0
    bookings = int(slots.booked_at_day.notna().sum())
    appt_days = int(slots.day[slots.day < days].nunique())
    return {
        "arrivals": arrivals,
        "release_batches": batches,
        "bookings": bookings,
        "appointment_days": appt_days,
        "min_events": arrivals + batches + bookings + appt_days,
    }


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def measure_replication(data: dict, seed: int = 1, replication: int = 0) -> dict:
    """One replication of a scenario dict in this process, timed by phase.

    Model(...) + .run() + result_of(.records()) is exactly what sim.run does."""
    from sim.metrics import result_of
    from sim.model import Model
    from sim.scenario import parse_scenario

    sc = parse_scenario(data, f"bench {data.get('name', '')}")
    rss0 = _maxrss_mb()
    w0, c0 = time.perf_counter(), time.process_time()
    m = Model(sc, seed, replication)
    w1 = time.perf_counter()
    m.run()
    w2 = time.perf_counter()
    res = result_of(m.records())
    w3, c3 = time.perf_counter(), time.process_time()
    events = int(res.metrics["events_processed"])
    wall, cpu = w3 - w0, c3 - c0
    out = {
        "scenario": sc.name,
        "days": sc.run.days,
        "capacity_per_day": sc.centre.capacity_per_day,
        "applicants_per_year": sc.demand.applicants_per_year,
        "bots": sum(r.bots for r in sc.resellers),
        "seed": seed,
        "replication": replication,
        "wall_s": wall,
        "cpu_s": cpu,
        "setup_s": w1 - w0,
        "engine_s": w2 - w1,
        "records_s": w3 - w2,
        "events": events,
        "events_per_s": events / (w2 - w1),
        "sim_days_per_s": sc.run.days / wall,
        "sim_days_per_cpu_s": sc.run.days / cpu if cpu > 0 else math.nan,
        "rss_before_mb": rss0,
        "peak_rss_mb": _maxrss_mb(),
        "slots_released": int(res.metrics["slots_released"]),
    }
    out.update(min_events(res, sc.run.days))
    return out


def _worker_main() -> None:
    """Entry point of a measuring subprocess: a JSON task on stdin, a JSON result on stdout."""
    task = json.loads(sys.stdin.read())
    print(json.dumps(measure_replication(task["scenario"], task["seed"], task["replication"])))


def measure_isolated(data: dict, seed: int = 1, replication: int = 0) -> dict:
    """measure_replication in a fresh Python process, so that maxrss is this run's peak."""
    cmd = [sys.executable, "-c", "import bench; bench._worker_main()"]
    task = json.dumps({"scenario": data, "seed": seed, "replication": replication})
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    p = subprocess.run(
        cmd, input=task, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": path}
    )
    if p.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _replicate(task: tuple[dict, int, int]) -> int:
    """A parallel task: one replication, returns its event count (small to send back)."""
    from sim import run
    from sim.scenario import parse_scenario

    data, seed, rep = task
    return int(run(parse_scenario(data, "bench"), seed=seed, replication=rep).metrics["events_processed"])


# --------------------------------------------------------------------------- the benchmark


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else math.nan


def growth_exponent(factors: list[float], times: list[float]) -> float:
    """Least-squares slope of log(time) on log(factor)."""
    import numpy as np

    if len(factors) < 2:
        return math.nan
    return float(np.polyfit(np.log(factors), np.log(times), 1)[0])


class Bench:
    """Runs the parts of a Config, emitting each measurement as it comes."""

    def __init__(self, cfg: Config, emit: Callable[[dict], None] | None = None):
        self.cfg = cfg
        self.records: list[dict] = []
        self._emit = emit
        self.bare: dict | None = None

    def emit(self, rec: dict) -> dict:
        rec = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in rec.items()}
        self.records.append(rec)
        if self._emit:
            self._emit(rec)
        return rec

    def replicate(self, data: dict, replication: int = 0) -> dict:
        fn = measure_isolated if self.cfg.isolate else measure_replication
        return fn(data, self.cfg.seed, replication)

    def run(self) -> list[dict]:
        cfg = self.cfg
        self.emit({**machine(), "quick": cfg.quick})
        base = variant(cfg.base or default_base(), scale=cfg.scale)
        rand = variant(cfg.random or default_random(cfg.base or default_base()), scale=cfg.scale)
        if "bare" in cfg.parts or "scenarios" in cfg.parts:
            self.part_bare()
        if "scenarios" in cfg.parts:
            for label, data in (("first_come", base), ("random_allocation", rand)):
                self.part_scenario(label, variant(data, days=cfg.days))
        if "scaling" in cfg.parts:
            self.part_scaling(base)
        if "polling" in cfg.parts:
            self.part_polling(base)
        if "parallel" in cfg.parts:
            self.part_parallel(base)
        self.emit(self.targets())
        return self.records

    def part_bare(self) -> None:
        runs = [bare_simpy(self.cfg.bare_events, seed=k) for k in range(self.cfg.bare_reps)]
        for r in runs:
            self.emit(r)
        rate = _median([r["events_per_s"] for r in runs])
        rate_cpu = _median([r["events_per_cpu_s"] for r in runs])
        self.bare = self.emit(
            {"bench": "bare_simpy_median", "events_per_s": rate, "events_per_cpu_s": rate_cpu, "runs": len(runs)}
        )

    def part_scenario(self, label: str, data: dict) -> list[dict]:
        reps = [
            self.emit({"bench": "scenario", "label": label, **self.replicate(data, k)}) for k in range(self.cfg.reps)
        ]
        med = {
            k: _median([r[k] for r in reps])
            for k in (
                "wall_s",
                "cpu_s",
                "setup_s",
                "engine_s",
                "records_s",
                "events",
                "events_per_s",
                "sim_days_per_s",
                "peak_rss_mb",
                "min_events",
            )
        }
        summary = {
            "bench": "scenario_median",
            "label": label,
            "scenario": reps[0]["scenario"],
            "days": reps[0]["days"],
            "reps": len(reps),
            **med,
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in reps),
            "events_over_min": med["events"] / med["min_events"] if med["min_events"] else math.nan,
        }
        self.emit(summary)
        if self.bare:
            limit_wall = med["min_events"] / self.bare["events_per_s"]
            limit_cpu = med["min_events"] / self.bare["events_per_cpu_s"]
            self.emit(
                {
                    "bench": "ratio_to_limit",
                    "label": label,
                    "min_events": med["min_events"],
                    "bare_s_for_min_events": limit_wall,
                    "bare_cpu_s_for_min_events": limit_cpu,
                    "ratio_wall": med["wall_s"] / limit_wall,
                    "ratio_cpu": med["cpu_s"] / limit_cpu,
                    "ratio_engine_wall": med["engine_s"] / limit_wall,
                }
            )
        return reps

    def part_scaling(self, base: dict) -> None:
        cfg, rows = self.cfg, []
        for f in cfg.scaling_factors:
            r = self.replicate(variant(base, days=cfg.scaling_days, scale=f, name=f"scale_{f:g}x"))
            rows.append(self.emit({"bench": "scaling", "factor": f, **r}))
        fs = [r["factor"] for r in rows]
        self.emit(
            {
                "bench": "scaling_fit",
                "factors": fs,
                "days": cfg.scaling_days,
                "growth_exponent_cpu": growth_exponent(fs, [r["cpu_s"] for r in rows]),
                "growth_exponent_wall": growth_exponent(fs, [r["wall_s"] for r in rows]),
                "growth_exponent_events": growth_exponent(fs, [r["events"] for r in rows]),
            }
        )

    def part_polling(self, base: dict) -> None:
        """Every bot polling every 1 s vs every 60 s; the two alternate, medians over polling_reps."""
        cfg = self.cfg
        rows: dict[float, list[dict]] = {s: [] for s in cfg.polling_intervals}
        for k in range(cfg.polling_reps):
            for s in cfg.polling_intervals:
                r = self.replicate(variant(base, days=cfg.polling_days, poll_interval_s=s, name=f"poll_{s:g}s"))
                rows[s].append(self.emit({"bench": "polling", "poll_interval_s": s, "round": k, **r}))
        fast, slow = (
            {key: _median([r[key] for r in rows[s]]) for key in ("cpu_s", "wall_s", "events")}
            for s in cfg.polling_intervals
        )
        self.emit(
            {
                "bench": "polling_ratio",
                "intervals_s": list(cfg.polling_intervals),
                "reps": cfg.polling_reps,
                "cpu_s": [fast["cpu_s"], slow["cpu_s"]],
                "wall_s": [fast["wall_s"], slow["wall_s"]],
                "cpu_ratio": fast["cpu_s"] / slow["cpu_s"],
                "wall_ratio": fast["wall_s"] / slow["wall_s"],
                "events_ratio": fast["events"] / slow["events"],
            }
        )

    def part_parallel(self, base: dict) -> None:
        from sim.parallel import execute

        cfg = self.cfg
        data = variant(base, days=cfg.parallel_days, name="parallel")
        tasks = [(data, cfg.seed, k) for k in range(cfg.parallel_tasks)]
        rpm = {}
        for jobs in cfg.parallel_jobs:
            w0 = time.perf_counter()
            events = execute(_replicate, tasks, jobs=jobs, progress=False)
            wall = time.perf_counter() - w0
            rpm[jobs] = 60.0 * len(tasks) / wall
            self.emit(
                {
                    "bench": "parallel",
                    "jobs": jobs,
                    "tasks": len(tasks),
                    "days": cfg.parallel_days,
                    "wall_s": wall,
                    "replications_per_min": rpm[jobs],
                    "events": sum(events),
                    "loadavg_1min": _loadavg(),
                }
            )  # other work on the machine takes cores away
        if 1 in rpm and len(rpm) > 1:
            j = max(rpm)
            wall1, wallj = 60.0 * len(tasks) / rpm[1], 60.0 * len(tasks) / rpm[j]
            # overhead: what the pool adds to a perfect split (start-up, imports, imbalance)
            self.emit(
                {"bench": "parallel_speedup", "jobs": j, "speedup": rpm[j] / rpm[1], "overhead_s": wallj - wall1 / j}
            )

    def targets(self) -> dict:
        got: dict[str, float] = {}
        by = {}
        for r in self.records:
            by.setdefault(r["bench"], []).append(r)
        meds = by.get("scenario_median", [])
        if meds:
            got["year_cpu_s"] = max(m["cpu_s"] for m in meds)
            got["peak_rss_mb"] = max(m["peak_rss_mb_max"] for m in meds)
        if by.get("ratio_to_limit"):
            got["ratio_to_limit"] = max(r["ratio_cpu"] for r in by["ratio_to_limit"])
        if by.get("scaling_fit"):
            got["growth_exponent"] = by["scaling_fit"][0]["growth_exponent_cpu"]
        if by.get("polling_ratio"):
            got["polling_deviation"] = abs(by["polling_ratio"][0]["cpu_ratio"] - 1.0)
        if by.get("parallel_speedup"):
            got["parallel_speedup"] = by["parallel_speedup"][0]["speedup"]
        rows = []
        for key, desc, op, limit in TARGETS:
            v = got.get(key)
            ok = None if v is None or not math.isfinite(v) else (v <= limit if op == "<=" else v >= limit)
            rows.append({"target": key, "description": desc, "value": v, "op": op, "limit": limit, "met": ok})
        # A quick run's sizes are not the targets' sizes: its verdicts are reported, never judged.
        return {
            "bench": "targets",
            "quick": self.cfg.quick,
            "judged": not self.cfg.quick,
            "scenario_days": self.cfg.days,
            "scale": self.cfg.scale,
            "targets": rows,
        }


# --------------------------------------------------------------------------- report


def _f(v, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        if abs(v) >= 1e4:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(records: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["bench"], []).append(r)
    out = []
    for m in by.get("machine", []):
        out.append(
            f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, numpy {m['numpy']}, "
            f"simpy {m['simpy']}, load {m['loadavg_1min']}" + ("  [quick]" if m.get("quick") else "")
        )
    for b in by.get("bare_simpy_median", []):
        out.append(
            f"bare SimPy ({BARE_PROCESSES} processes): {_f(b['events_per_s'])} events/s wall, "
            f"{_f(b['events_per_cpu_s'])} events/CPU-s"
        )
    ratio = {r["label"]: r for r in by.get("ratio_to_limit", [])}
    if by.get("scenario_median"):
        out += [
            "",
            f"{'scenario':<18} {'days':>5} {'wall s':>7} {'cpu s':>7} {'engine s':>8} "
            f"{'events':>10} {'ev/s':>9} {'days/s':>7} {'peak MB':>8} {'min ev':>9} {'ratio':>6}",
        ]
        for m in by["scenario_median"]:
            r = ratio.get(m["label"], {})
            out.append(
                f"{m['label']:<18} {m['days']:>5} {_f(m['wall_s']):>7} {_f(m['cpu_s']):>7} "
                f"{_f(m['engine_s']):>8} {_f(int(m['events'])):>10} {_f(m['events_per_s']):>9} "
                f"{_f(m['sim_days_per_s'], 1):>7} {_f(m['peak_rss_mb_max'], 0):>8} "
                f"{_f(int(m['min_events'])):>9} {_f(r.get('ratio_cpu')):>6}"
            )
        out.append("  (medians over replications; ratio = CPU time / bare SimPy CPU time for the minimum events)")
    if by.get("scaling"):
        out += ["", f"{'scale':>6} {'days':>5} {'wall s':>7} {'cpu s':>7} {'events':>10} {'peak MB':>8}"]
        for r in by["scaling"]:
            out.append(
                f"{_f(r['factor'], 0) + 'x':>6} {r['days']:>5} {_f(r['wall_s']):>7} {_f(r['cpu_s']):>7} "
                f"{_f(r['events']):>10} {_f(r['peak_rss_mb'], 0):>8}"
            )
        for f in by.get("scaling_fit", []):
            out.append(
                f"  growth exponent: {_f(f['growth_exponent_cpu'])} (CPU), {_f(f['growth_exponent_wall'])} "
                f"(wall), {_f(f['growth_exponent_events'])} (events)"
            )
    if by.get("polling"):
        out.append("")
        for r in by["polling"]:
            out.append(
                f"bots poll every {_f(r['poll_interval_s'], 0):>3} s: {_f(r['cpu_s'])} s CPU, "
                f"{_f(r['wall_s'])} s wall, {_f(r['events'])} events"
            )
        for p in by.get("polling_ratio", []):
            out.append(
                f"  1 s / 60 s: {_f(p['cpu_ratio'])} (CPU), {_f(p['wall_ratio'])} (wall), "
                f"{_f(p['events_ratio'])} (events)"
            )
    if by.get("parallel"):
        out.append("")
        for r in by["parallel"]:
            out.append(
                f"{r['jobs']} worker(s): {_f(r['replications_per_min'], 1)} replications/min "
                f"({r['tasks']} x {r['days']} days in {_f(r['wall_s'])} s; load {r['loadavg_1min']})"
            )
        for s in by.get("parallel_speedup", []):
            out.append(
                f"  speed-up with {s['jobs']} workers: {_f(s['speedup'])}x "
                f"(pool start-up and imbalance: {_f(s['overhead_s'])} s)"
            )
    for t in by.get("targets", []):
        out += ["", "targets" + (" (quick run: small sizes, not judged)" if t["quick"] else "") + ":"]
        for row in t["targets"]:
            mark = {True: "met", False: "NOT MET", None: "not measured"}[row["met"]]
            if t["quick"] and row["met"] is not None:
                mark = "(quick)"
            out.append(f"  {row['description']:<62} {_f(row['value']):>8} {row['op']} {_f(row['limit']):<6} {mark}")
    return "\n".join(out)


# --------------------------------------------------------------------------- command line


def config_from_args(args) -> Config:
    kw: dict[str, Any] = {}
    if args.scenario:
        kw["base"] = _load(args.scenario)
        if kw["base"] is None:
            raise FileNotFoundError(args.scenario)
    if args.reps is not None:
        kw["reps"] = args.reps
    if args.parts:
        kw["parts"] = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if args.no_isolate:
        kw["isolate"] = False
    return Config.quick_config(**kw) if args.quick else Config.full(**kw)


def run_benchmark(cfg: Config, out: str | None = None, stream=None) -> list[dict]:
    """Run the benchmark; print each record as a JSON line to `stream` and append it to `out`."""
    fh = open(out, "a", encoding="utf-8") if out else None

    def emit(rec: dict) -> None:
        line = json.dumps(rec)
        if stream is not None:
            print(line, file=stream, flush=True)
        if fh:
            fh.write(line + "\n")
            fh.flush()

    try:
        return Bench(cfg, emit).run()
    finally:
        if fh:
            fh.close()


def cmd_bench(args) -> int:
    from sim.cli import BadInput
    from sim.fileio import check_writable

    if args.out:
        msg = check_writable(Path(args.out).parent)
        if msg:
            raise BadInput(msg)
    valid = {"bare", "scenarios", "scaling", "polling", "parallel"}
    if args.parts and not set(p.strip() for p in args.parts.split(",") if p.strip()) <= valid:
        raise BadInput(f"--parts: choose among {', '.join(sorted(valid))}")
    try:
        cfg = config_from_args(args)
    except FileNotFoundError as e:
        raise BadInput(f"{e}: no such scenario file") from None
    records = run_benchmark(cfg, args.out, sys.stdout)
    print()
    print(table(records))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sim.cli.types import count

    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test in well under a minute")
    p.add_argument("--out", metavar="FILE.jsonl", help="append the JSON lines to this file")
    p.add_argument("--scenario", metavar="FILE", help=f"the large centre (default: {BASELINE_FILE} if present)")
    p.add_argument("--reps", type=count, default=None, help="replications per scenario (default 3; quick 1)")
    p.add_argument(
        "--parts",
        metavar="A,B",
        default="",
        help="only these parts: bare, scenarios, scaling, polling, parallel (default: all)",
    )
    p.add_argument(
        "--no-isolate", action="store_true", help="measure in this process (faster; peak memory is then this process's)"
    )


def main(argv: list[str] | None = None, prog: str = "benchmarks/bench.py") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0] + " (JSON lines + table)")
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from sim.cli import BadInput

    try:
        return cmd_bench(args)
    except BadInput as e:
        print(str(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run as the module `bench`, not `__main__`, so that worker processes can import its functions.
    sys.path.insert(0, str(HERE))
    import bench

    sys.exit(bench.main())
