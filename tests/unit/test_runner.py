"""sim/runner.py: a plan of runs in, tidy frames out; common random numbers; the one-call Python API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim import runner

REPO = Path(__file__).resolve().parents[2]
NO_BOTS = REPO / "scenarios" / "no_bots_fcfs.yaml"
# A small centre over 30 days (10 of warm-up: run.warmup_days must be below run.days).
SHORT = {"run.days": 30, "run.warmup_days": 10, "centre.capacity_per_day": 40, "demand.applicants_per_year": 11000.0}
SPEC = {
    "base": str(NO_BOTS),
    "overrides": SHORT,
    "variants": {"first_come": "first_come", "draw": {"policy.scheme.kind": "random_allocation"}},
    "replications": 2,
    "seed": 4,
}


def arrivals(task: runner.Task, result) -> dict:
    """A collect function: the metrics and who arrived when."""
    return {
        **runner.collect_metrics(task, result),
        "applicants": result.applicants[["arrival_day", "segment", "habit", "latest_day"]],
    }


@pytest.fixture(scope="module")
def sequential():
    return sim.experiment({**SPEC, "jobs": 1})


def test_one_call_returns_one_row_per_run(sequential):
    runs = sequential.runs
    assert len(runs) == 4
    assert list(runs.columns[:4]) == ["variant", "point", "replication", "seed"]
    assert list(zip(runs.variant, runs.replication)) == [("first_come", 0), ("first_come", 1), ("draw", 0), ("draw", 1)]
    assert (runs.seed == 4).all() and (runs.point == runner.BASE_POINT).all()
    assert set(sim.CONTRACT) <= set(runs.columns)
    s = sequential.summary
    row = s[(s.variant == "draw") & (s.metric == "wait_days_mean")].iloc[0]
    x = runs[runs.variant == "draw"].wait_days_mean.to_numpy()
    y = runs[runs.variant == "first_come"].wait_days_mean.to_numpy()
    assert row["n"] == 2 and row["mean"] == pytest.approx(x.mean()) and row.diff_mean == pytest.approx((x - y).mean())
    assert sequential.plan.cells[1].scenario.policy.scheme.kind == "random_allocation"
    assert len(sequential.daily) == 4 * 30


def test_common_random_numbers_same_applicants_across_variants():
    base = sim.load_scenario(NO_BOTS, [f"{k}={v}" for k, v in SHORT.items()])
    plan = runner.RunPlan.of(
        {
            "first_come": base,
            "draw": sim.parse_scenario(
                {**base.to_dict(), "policy": {**base.to_dict()["policy"], "scheme": {"kind": "random_allocation"}}}
            ),
        },
        seed=4,
        replications=2,
    )
    done = runner.run(plan, collect=arrivals, jobs=1, progress=False)
    apps = done.frames().table("applicants")
    for k in (0, 1):
        a = apps[(apps.variant == "first_come") & (apps.replication == k)].drop(columns="variant")
        b = apps[(apps.variant == "draw") & (apps.replication == k)].drop(columns="variant")
        assert len(a) > 100
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    r0 = apps[(apps.variant == "first_come") & (apps.replication == 0)].arrival_day.to_numpy()
    r1 = apps[(apps.variant == "first_come") & (apps.replication == 1)].arrival_day.to_numpy()
    assert len(r0) != len(r1) or not np.array_equal(r0, r1)  # replications differ
    runs = done.frames().runs
    assert runs.set_index(["variant", "replication"]).applicants_arrived.unstack(0).nunique(axis=1).eq(1).all()


def test_sequential_and_two_processes_give_identical_frames(sequential):
    pooled = sim.experiment({**SPEC, "jobs": 2})
    assert pooled.computed == 4
    for name in ("runs", "daily", "waits", "summary"):
        pd.testing.assert_frame_equal(getattr(pooled, name), getattr(sequential, name), check_exact=True)


def test_plan_order_and_run_once_per_key():
    sc = sim.load_scenario(NO_BOTS, [f"{k}={v}" for k, v in SHORT.items()])
    plan = runner.RunPlan.of({"a": sc, "b": sc}, seed=1, replications={0: 2, 1: 1})
    assert [(t.variant, t.replication) for t in plan.tasks()] == [("a", 0), ("b", 0), ("a", 1)]
    seen = []

    def fake(task):
        seen.append(task.key)
        return {"metrics": {"x": float(task.replication)}}

    memo: dict = {}
    first = runner.run(plan, fn=fake, memo=memo, jobs=1, progress=False)
    assert first.computed == 3 and len(seen) == 3
    again = runner.run(plan, fn=fake, memo=memo, jobs=1, progress=False)
    assert again.computed == 0 and len(seen) == 3  # nothing twice
    runs = again.frames(ident=("variant", "replication")).runs
    assert list(runs.columns) == ["variant", "replication", "x"] and list(runs.x) == [0.0, 1.0, 0.0]
