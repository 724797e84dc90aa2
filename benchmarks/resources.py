"""The measurements behind sim/resources.py: estimated vs measured size and cost of real runs.

    python benchmarks/resources.py                  # every shipped scenario, then larger centres
    python benchmarks/resources.py --quick          # the shipped scenarios only
    python benchmarks/resources.py --one FILE [--set PATH=VALUE ...]   # one run, one JSON line

Each case runs in a fresh subprocess (peak memory is the process's maxrss, imports included)
and is printed with the estimate beside it: applicants, slots, events, peak memory (MB) and
CPU seconds, then the ratios estimate / measured. The fit's constants in sim/resources.py
come from this table; tests/unit/test_resources.py checks the shipped scenarios against it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name != "regression.yaml")
LARGER = (  # (scenario, overrides): a year of the large centre, and 4x / 8x of it for 120 days
    ("baseline_fcfs.yaml", ["run.days=365"]),
    ("random_allocation.yaml", ["run.days=365"]),
    ("baseline_fcfs.yaml", ["run.days=120", "centre.capacity_per_day=6400", "demand.applicants_per_year=1760000"]),
    ("random_allocation.yaml", ["run.days=120", "centre.capacity_per_day=3200", "demand.applicants_per_year=880000"]),
    ("baseline_fcfs.yaml", ["run.days=60", "centre.capacity_per_day=5000"]),
    ("baseline_fcfs.yaml", ["run.days=60", "demand.applicants_per_year=2000000"]),
    # a huge speculative fleet on a big centre with little demand: bots take what people leave
    (
        "baseline_fcfs.yaml",
        [
            "run.days=60",
            "centre.capacity_per_day=20000",
            "demand.applicants_per_year=10000",
            "resellers.0.bots=20000",
            "resellers.0.max_bots=20000",
        ],
    ),
)


def measure_here(path: str, overrides: list[str]) -> dict:
    """One run in this process: what the estimate predicts and what the run took."""
    import sim
    from sim import resources

    sc = sim.load_scenario(path, overrides)
    est = resources.estimate(sc)
    t0 = time.process_time()
    res = sim.run(sc, seed=1, limits=resources.Limits.none())
    cpu = time.process_time() - t0
    peak_mb = peak_memory_mb()
    return {
        "case": " ".join([Path(path).name, *overrides]),
        "measured": {
            "applicants": len(res.applicants),
            "slots": len(res.slots),
            "events": res.metrics["events_processed"],
            "memory_mb": round(peak_mb, 1),
            "seconds": round(cpu, 2),
        },
        "estimate": {
            "applicants": est.applicants,
            "slots": est.slots,
            "events": est.events,
            "memory_mb": round(est.memory_mb, 1),
            "seconds": round(est.seconds, 2),
        },
    }


def peak_memory_mb() -> float:
    """This process's peak resident memory. VmHWM (Linux) belongs to this program alone; ru_maxrss
    also keeps the peak of the process it was forked from (it survives execve), so a case
    started from a large pytest process would report pytest's memory."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def measure(path: str | Path, overrides: list[str] = ()) -> dict:  # type: ignore[assignment]
    """One run in a fresh subprocess (its own peak memory)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(path)]
    for o in overrides:
        cmd += ["--set", o]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratios(row: dict) -> dict[str, float]:
    return {k: row["estimate"][k] / row["measured"][k] for k in row["measured"] if row["measured"][k]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", metavar="FILE", help="measure one scenario in this process, print one JSON line")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    ap.add_argument("--quick", action="store_true", help="the shipped scenarios only")
    ap.add_argument("--jobs", type=int, default=1, help="cases measured at once (1: cleanest memory figures)")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_here(args.one, args.overrides)))
        return 0
    cases = [(str(p), []) for p in SHIPPED]
    if not args.quick:
        cases += [(str(ROOT / "scenarios" / f), ov) for f, ov in LARGER]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda c: measure(*c), cases))
    keys = ("applicants", "slots", "events", "memory_mb", "seconds")
    print(f"{'case':<62} " + " ".join(f"{k:>11}" for k in keys) + "   estimate / measured")
    for row in rows:
        r = ratios(row)
        print(
            f"{row['case'][:62]:<62} "
            + " ".join(f"{row['measured'][k]:>11,}" for k in keys)
            + "   "
            + " ".join(f"{r.get(k, float('nan')):.2f}" for k in keys)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
