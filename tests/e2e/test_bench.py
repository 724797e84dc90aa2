"""The benchmark's code path on a tiny centre: every part emits JSON lines with the expected keys
and sane values. No timing is asserted: machines are shared and noisy."""

from __future__ import annotations

import json
import math
import sys

import pytest
from conftest import REPO, scenario_path

from sim.cli import main

sys.path.insert(0, str(REPO / "benchmarks"))
import bench  # noqa: E402  (benchmarks/bench.py: outside the package users import)

# A twentieth of the large centre over a few weeks: the quick benchmark's code path in seconds.
TINY = dict(
    days=30,
    scale=0.05,
    reps=1,
    bare_events=20_000,
    bare_reps=1,
    scaling_factors=(1.0, 2.0),
    scaling_days=20,
    polling_days=20,
    polling_reps=1,
    parallel_tasks=2,
    parallel_days=15,
    parallel_jobs=(1, 2),
)

REPLICATION_KEYS = {
    "scenario",
    "days",
    "wall_s",
    "cpu_s",
    "setup_s",
    "engine_s",
    "records_s",
    "events",
    "events_per_s",
    "sim_days_per_s",
    "peak_rss_mb",
    "rss_before_mb",
    "arrivals",
    "release_batches",
    "bookings",
    "appointment_days",
    "min_events",
}


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    base = bench._load(str(scenario_path("baseline")))
    # Only the scenario replications run in fresh subprocesses here (peak memory); the rest
    # in this process keeps the test short. The quick benchmark isolates everything.
    cfg = bench.Config.quick_config(base=base, isolate=False, **TINY)
    out = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    recs = bench.run_benchmark(cfg, str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == json.loads(json.dumps(recs))  # the file holds exactly the records, one per line
    return recs


def by(records, kind):
    return [r for r in records if r["bench"] == kind]


def test_every_part_reports(records):
    kinds = {r["bench"] for r in records}
    assert {
        "machine",
        "bare_simpy",
        "bare_simpy_median",
        "scenario",
        "scenario_median",
        "ratio_to_limit",
        "scaling",
        "scaling_fit",
        "polling",
        "polling_ratio",
        "parallel",
        "parallel_speedup",
        "targets",
    } <= kinds
    m = by(records, "machine")[0]
    assert m["nproc"] >= 1 and m["python"] and m["simpy"] and m["numpy"]


def test_bare_simpy_counts_its_events(records):
    for r in by(records, "bare_simpy"):
        assert r["processes"] == bench.BARE_PROCESSES
        assert r["events"] >= 20_000 - 2 * bench.BARE_PROCESSES
        assert positive(r["events_per_s"]) and positive(r["wall_s"])


def test_scenario_replications_have_sane_values(records):
    reps = by(records, "scenario")
    assert {r["label"] for r in reps} == {"first_come", "random_allocation"}
    for r in reps:
        assert REPLICATION_KEYS <= r.keys()
        assert r["days"] == TINY["days"]
        for k in ("wall_s", "cpu_s", "engine_s", "events", "events_per_s", "sim_days_per_s", "peak_rss_mb"):
            assert positive(r[k]), k
        assert r["min_events"] == r["arrivals"] + r["release_batches"] + r["bookings"] + r["appointment_days"]
        assert 0 < r["min_events"] <= r["events"] + 1  # the engine never needs fewer than the minimum
        assert r["appointment_days"] <= r["days"]
        assert r["peak_rss_mb"] >= r["rss_before_mb"]
    for r in by(records, "ratio_to_limit"):
        assert positive(r["ratio_cpu"]) and positive(r["ratio_wall"])


def test_scaling_polling_parallel(records):
    rows = by(records, "scaling")
    assert [r["factor"] for r in rows] == [1.0, 2.0]
    assert rows[1]["capacity_per_day"] == 2 * rows[0]["capacity_per_day"]
    assert rows[1]["events"] > rows[0]["events"]
    fit = by(records, "scaling_fit")[0]
    assert math.isfinite(fit["growth_exponent_cpu"]) and fit["growth_exponent_events"] > 0
    polls = {r["poll_interval_s"]: r for r in by(records, "polling")}
    assert set(polls) == {1.0, 60.0}
    assert positive(by(records, "polling_ratio")[0]["events_ratio"])
    par = {r["jobs"]: r for r in by(records, "parallel")}
    assert set(par) == {1, 2}
    assert par[1]["events"] == par[2]["events"]  # same replications, whatever the worker count
    assert all(positive(r["replications_per_min"]) for r in par.values())


def test_targets_and_table(records):
    t = by(records, "targets")[0]
    assert [row["target"] for row in t["targets"]] == [k for k, *_ in bench.TARGETS]
    assert all(row["value"] is not None for row in t["targets"])
    text = bench.table(records)
    assert "bare SimPy" in text and "growth exponent" in text and "targets" in text


def test_isolated_replication_reports_its_own_peak_memory():
    data = bench.variant(bench._load(str(scenario_path("baseline"))), days=15, scale=0.05)
    r = bench.measure_isolated(data)
    assert REPLICATION_KEYS <= r.keys() and positive(r["peak_rss_mb"]) and r["events"] > 0


def test_variant_scales_centre_demand_and_fleets():
    base = bench._load(str(scenario_path("baseline")))
    v = bench.variant(base, days=40, scale=2.0, poll_interval_s=60.0)
    assert v["run"]["days"] == 40 and v["run"]["warmup_days"] <= 10
    assert v["centre"]["capacity_per_day"] == 2 * base["centre"]["capacity_per_day"]
    assert v["demand"]["applicants_per_year"] == 2 * base["demand"]["applicants_per_year"]
    assert [r["bots"] for r in v["resellers"]] == [2 * r["bots"] for r in base["resellers"]]
    assert {r["poll_interval_s"] for r in v["resellers"]} == {60.0}
    assert base["run"]["days"] != 40  # the base is left alone


def test_slotsim_bench_passes_its_options_to_the_benchmark(capsys):
    assert main(["bench", "--parts", "bare,bogus"]) == 2
    assert "--parts: choose among bare" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0 and "--no-isolate" in capsys.readouterr().out
