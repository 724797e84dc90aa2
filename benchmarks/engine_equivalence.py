"""Is a faster engine the same model? Every regression-suite entry, many replications, two engines.

    # in each checkout (the old engine, e.g. a worktree of the commit before; then this one):
    python benchmarks/engine_equivalence.py run --reps 20 --out old.jsonl     # PYTHONPATH=<old checkout>
    python benchmarks/engine_equivalence.py run --reps 20 --out new.jsonl
    python benchmarks/engine_equivalence.py compare old.jsonl new.jsonl --md table.md

`run` executes replications 0..reps-1 of every entry of scenarios/regression.yaml (its
seed, its overrides) with the engine that `import sim` finds, and writes one JSON line
per replication: entry, replication, metrics. `compare` tests, per entry and metric,
whether the two engines' distributions differ: Welch's t-test and Mann-Whitney's U
(two samples), and the paired t-test (replication k of both engines shares its demand:
common random numbers). A metric *shifts* when a test's p < alpha (0.001, the
regression tolerance) and the means differ by more than rel_floor (1%) of the old mean;
with many tests a few p-values near alpha are expected, so the count of tests is shown
for a Bonferroni reading.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent / "scenarios" / "regression.yaml"


def _one(task: tuple[int, int]) -> dict:
    from sim import run
    from sim.regress import load_suite, resolve
    from sim.resources import Limits

    k, rep = task
    r = resolve(load_suite(SUITE), SUITE, [], [])[k]
    res = run(r.scenario, seed=r.seed, replication=rep, limits=Limits.none())
    metrics = {m: res.metrics.get(m) for m in r.metrics + ("events_processed",)}
    return {"entry": r.name, "replication": rep, "metrics": {m: _plain(v) for m, v in metrics.items()}}


def _plain(v: object) -> float | None:
    if v is None:
        return None
    f = float(v)  # type: ignore[arg-type]
    return None if math.isnan(f) else f


def cmd_run(args: argparse.Namespace) -> None:
    import sim
    from sim.regress import load_suite, resolve

    entries = resolve(load_suite(SUITE), SUITE, [], [])
    tasks = [(k, rep) for k in range(len(entries)) for rep in range(args.reps)]
    print(f"engine: {Path(sim.__file__).parent}; {len(tasks)} runs", file=sys.stderr)
    with open(args.out, "w") as out, ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(_one, tasks):
            out.write(json.dumps(row) + "\n")


def _load(path: str) -> dict[str, dict[int, dict]]:
    by: dict[str, dict[int, dict]] = {}
    for line in open(path):
        row = json.loads(line)
        by.setdefault(row["entry"], {})[row["replication"]] = row["metrics"]
    return by


def compare(old: dict, new: dict, alpha: float = 0.001, rel_floor: float = 0.01) -> list[dict]:
    import numpy as np
    from scipy import stats

    rows = []
    for entry in old:
        reps = sorted(set(old[entry]) & set(new[entry]))
        for metric in old[entry][reps[0]]:
            a = np.array([np.nan if old[entry][k][metric] is None else old[entry][k][metric] for k in reps])
            b = np.array([np.nan if new[entry][k][metric] is None else new[entry][k][metric] for k in reps])
            both = ~np.isnan(a) & ~np.isnan(b)
            a1, b1 = a[~np.isnan(a)], b[~np.isnan(b)]
            ma, mb = (float(a1.mean()) if len(a1) else math.nan), (float(b1.mean()) if len(b1) else math.nan)
            rel = (mb - ma) / abs(ma) if ma else (0.0 if mb == ma else math.inf)
            p_w = p_u = p_p = math.nan
            if len(a1) > 1 and len(b1) > 1 and (a1.std() > 0 or b1.std() > 0):
                p_w = float(stats.ttest_ind(a1, b1, equal_var=False).pvalue)
                p_u = float(stats.mannwhitneyu(a1, b1).pvalue)
            d = b[both] - a[both]
            if both.sum() > 1 and d.std() > 0:
                p_p = float(stats.ttest_rel(a[both], b[both]).pvalue)
            big = abs(mb - ma) > max(rel_floor * abs(ma), 1e-9) if not math.isnan(ma) else False
            shifted = big and any(p < alpha for p in (p_w, p_u, p_p) if not math.isnan(p))
            info = metric == "events_processed"
            rows.append(
                dict(
                    entry=entry,
                    metric=metric,
                    n=len(reps),
                    old_mean=ma,
                    new_mean=mb,
                    rel_shift=rel,
                    p_welch=p_w,
                    p_mannwhitney=p_u,
                    p_paired=p_p,
                    verdict="info" if info else ("SHIFT" if shifted else "same"),
                )
            )
    return rows


def _fmt(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "-"
    return f"{v:.4g}"


def markdown(rows: list[dict]) -> str:
    tests = sum(1 for r in rows if r["verdict"] != "info")
    low = min((min(r["p_welch"], r["p_mannwhitney"], r["p_paired"]) for r in rows if r["verdict"] != "info"))
    head = "| entry | metric | n | old mean | new mean | shift | p Welch | p Mann-Whitney | p paired | verdict |"
    out = [head, "|" + "---|" * 10]
    for r in rows:
        out.append(
            f"| {r['entry']} | {r['metric']} | {r['n']} | {_fmt(r['old_mean'])} | {_fmt(r['new_mean'])} | "
            f"{r['rel_shift']:+.2%} | {_fmt(r['p_welch'])} | {_fmt(r['p_mannwhitney'])} | {_fmt(r['p_paired'])} | "
            f"{r['verdict']} |"
        )
    shifted = [f"{r['entry']}.{r['metric']}" for r in rows if r["verdict"] == "SHIFT"]
    out.append("")
    out.append(
        f"{tests} metrics compared (events_processed informational); smallest p {low:.3g} "
        f"(Bonferroni threshold at 0.05: {0.05 / tests:.2g}); shifted (p < 0.001 and > 1%): "
        f"{', '.join(shifted) if shifted else 'none'}"
    )
    return "\n".join(out)


def cmd_compare(args: argparse.Namespace) -> int:
    rows = compare(_load(args.old), _load(args.new), args.alpha, args.rel_floor)
    text = markdown(rows)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    return 1 if any(r["verdict"] == "SHIFT" for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="replications of every entry with the engine `import sim` finds")
    r.add_argument("--reps", type=int, default=20)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare", help="two run files: per entry and metric, the tests and a verdict")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--alpha", type=float, default=0.001)
    c.add_argument("--rel-floor", type=float, default=0.01)
    c.add_argument("--md", help="also write the table (markdown) here")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        cmd_run(args)
        return 0
    return cmd_compare(args)


if __name__ == "__main__":
    sys.exit(main())
