"""Bounded inputs: every numeric field has an upper bound, a run's size is estimated and refused above
the limits before the engine starts, the scenario cannot be changed after validation, and the
Python API checks its arguments."""

from __future__ import annotations

import copy
import math
import pickle
import sys
import typing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import annotated_types as at
import pytest
from pydantic import BaseModel

import sim
from sim import resources
from sim.resources import Limits
from sim.runner import RunPlan, run
from sim.scenario import SEED_MAX, Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import resources as measured  # noqa: E402  (benchmarks/resources.py)

SMALL = ["run.days=40", "run.warmup_days=5"]


def _numeric_fields(model: type[BaseModel], prefix: str = ""):
    """(dotted path, FieldInfo, annotation) of every number, list of numbers or mapping of numbers."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        inner = [a for a in typing.get_args(ann) if isinstance(a, type)] or [ann]
        sub = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if sub:
            yield from _numeric_fields(sub[0], f"{prefix}{name}.")
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _numeric_fields(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info, ann


def _upper(info) -> float | None:
    for m in info.metadata:
        if isinstance(m, (at.Le, at.Lt)):
            return m.le if isinstance(m, at.Le) else m.lt
    return None


def test_every_numeric_field_has_an_upper_bound():
    unbounded = []
    for path, info, ann in _numeric_fields(Scenario):
        text = str(ann)
        if ann in (int, float) or text in ("float | None",):
            if _upper(info) is None:
                unbounded.append(path)
        elif "float" in text or "int" in text:  # containers of numbers: the items or the length are bounded
            if not any(isinstance(m, at.MaxLen) for m in info.metadata) and "le=" not in text:
                unbounded.append(path)
    assert not unbounded, f"numeric fields without an upper bound: {unbounded}"


@pytest.mark.parametrize(
    "override, field",
    [
        ("demand.applicants_per_year=1000000000", "demand.applicants_per_year"),
        ("centre.capacity_per_day=1000000000", "centre.capacity_per_day"),
        ("resellers.0.bots=10000000", "resellers.0.bots"),
        ("resellers.0.poll_interval_s=0.0000001", "resellers.0.poll_interval_s"),
        ("demand.seasonality=[1,1,1,1,1,1,1,1,1,1,1,100]", "demand.seasonality.11"),
        ("run.seed=9223372036854775808", "run.seed"),
        ("run.days=3651", "run.days"),
    ],
)
def test_values_above_a_bound_are_refused_naming_the_field(override, field):
    with pytest.raises(sim.ScenarioError) as e:
        sim.load_scenario(ROOT / "scenarios/baseline_fcfs.yaml", [override])
    assert any(m.startswith(field + ":") for m in e.value.messages), e.value.messages


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_from_python_are_refused(value):
    with pytest.raises(sim.ScenarioError) as e:
        parse_scenario({"centre": {"service_fee_eur": value}})
    assert e.value.messages[0].startswith("centre.service_fee_eur:")


# --------------------------------------------------------------------------- the estimate


def test_estimate_counts_applicants_and_slots_from_the_calendar():
    sc = sim.load_scenario(
        ROOT / "scenarios/no_bots_fcfs.yaml", ["run.days=14", "run.warmup_days=2", "run.start_date=2024-05-06"]
    )
    est = resources.estimate(sc)
    assert est.slots == 10 * sc.centre.capacity_per_day  # two working weeks from a Monday
    may = sc.demand.seasonality[4]
    assert est.applicants == round(sc.demand.applicants_per_year / 365 * may * 14)


def test_a_run_above_the_limits_is_refused_before_the_engine_starts(monkeypatch):
    import sim.model

    def never(*a, **k):
        raise AssertionError("the engine was called")

    monkeypatch.setattr(sim.model, "simulate", never)
    sc = sim.load_scenario(
        ROOT / "scenarios/baseline_fcfs.yaml", ["demand.applicants_per_year=10000000", "run.days=3650"]
    )
    with pytest.raises(sim.InputError) as e:
        sim.run(sc)
    text = str(e.value)
    assert "events expected, above the limit" in text and "MB of memory expected" in text
    assert "--max-events" in text and "applicants" in text and "run.days" in text
    with pytest.raises(sim.InputError):  # the runner refuses it in the parent, before any worker
        run(RunPlan.of({"big": sc}, seed=1), fn=never)


def test_limits_can_be_raised_deliberately_and_read_from_the_environment(monkeypatch):
    sc = sim.load_scenario(ROOT / "scenarios/no_bots_fcfs.yaml", SMALL)
    est = resources.estimate(sc)
    with pytest.raises(sim.InputError, match="events expected"):
        resources.check(sc, Limits(events=est.events - 1))
    assert resources.check(sc, Limits(events=est.events)) == est
    monkeypatch.setenv("SLOTSIM_MAX_MEMORY_MB", str(est.memory_mb / 2))
    with pytest.raises(sim.InputError, match="MB of memory expected"):
        resources.check(sc)
    with pytest.raises(sim.InputError, match="4 replications at once"):
        resources.check(sc, Limits(memory_mb=est.memory_mb * 3), at_once=4)
    monkeypatch.setenv("SLOTSIM_MAX_MEMORY_MB", "lots")
    with pytest.raises(sim.InputError, match="SLOTSIM_MAX_MEMORY_MB: must be a number"):
        Limits.default()
    with pytest.raises(sim.InputError, match="limits.events"):
        Limits(events=0)


def test_every_shipped_scenario_and_experiment_is_within_the_default_limits():
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if path.name != "regression.yaml":
            resources.check(sim.load_scenario(path), Limits(), at_once=2)
    # the benchmark's largest case: 8x the large centre (demand, capacity, fleets) for a year
    big = sim.load_scenario(
        ROOT / "scenarios/baseline_fcfs.yaml",
        ["run.days=365", "centre.capacity_per_day=6400", "demand.applicants_per_year=1760000"]
        + [
            f"resellers.{i}.bots={8 * r.bots}"
            for i, r in enumerate(sim.load_scenario(ROOT / "scenarios/baseline_fcfs.yaml").resellers)
        ],
    )
    resources.check(big, Limits())


@pytest.mark.slow
def test_estimate_is_within_2x_of_measured_events_and_peak_memory_on_the_shipped_scenarios():
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(measured.measure, measured.SHIPPED))
    for row in rows:
        r = measured.ratios(row)
        assert r["applicants"] == pytest.approx(1.0, abs=0.02), row
        assert r["slots"] == pytest.approx(1.0, abs=0.001), row
        assert 0.5 <= r["events"] <= 2.0, row
        assert 0.5 <= r["memory_mb"] <= 2.0, row


# --------------------------------------------------------------------------- immutability and API


def test_scenario_is_deeply_immutable_and_still_pickles():
    sc = sim.load_scenario(ROOT / "scenarios/baseline_fcfs.yaml")
    for mutate in (
        lambda: sc.humans.habits.__setitem__("x", None),
        lambda: sc.humans.habits.pop("daily"),
        lambda: sc.demand.segment_shares.update(first_time=1.0),
        lambda: sc.demand.segment_shares.clear(),
    ):
        with pytest.raises(TypeError, match="immutable"):
            mutate()
    with pytest.raises(Exception, match="frozen"):
        sc.run.days = 5  # type: ignore[misc]
    for other in (pickle.loads(pickle.dumps(sc)), copy.deepcopy(sc), Scenario()):
        assert type(other.humans.habits).__name__ == "FrozenDict"
    assert pickle.loads(pickle.dumps(sc)).digest() == sc.digest()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": 1.5}, "seed: must be a whole number, got 1.5"),
        ({"seed": True}, "seed: must be a whole number"),
        ({"seed": "3"}, "seed: must be a whole number"),
        ({"seed": -1}, "seed: must be between 0"),
        ({"seed": SEED_MAX + 1}, "seed: must be between 0"),
        ({"replication": -2}, "replication: must be between 0"),
        ({"replication": 0.5}, "replication: must be a whole number"),
    ],
)
def test_run_checks_its_arguments(kwargs, message):
    sc = sim.load_scenario(ROOT / "scenarios/no_bots_fcfs.yaml", SMALL)
    with pytest.raises(sim.InputError, match=message):
        sim.run(sc, **kwargs)


def test_run_and_load_refuse_the_wrong_types():
    path = ROOT / "scenarios/no_bots_fcfs.yaml"
    with pytest.raises(sim.InputError, match="scenario: must be a Scenario"):
        sim.run(str(path))  # type: ignore[arg-type]
    with pytest.raises(sim.InputError, match=r"wrap it in a list: \['run.days=30'\]"):
        sim.load_scenario(path, "run.days=30")  # type: ignore[arg-type]
    with pytest.raises(sim.InputError, match="every item must be"):
        sim.load_scenario(path, [30])  # type: ignore[list-item]
    with pytest.raises(sim.InputError, match="path: must be the path"):
        sim.load_scenario(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the command line


def test_cli_refuses_a_run_above_the_limits_before_writing_anything(tmp_path, capsys, monkeypatch):
    from sim.cli.main import main

    small = ["--set", "run.days=20", "--set", "run.warmup_days=2", "--set", "demand.applicants_per_year=5000"]
    scenario = str(ROOT / "scenarios/no_bots_fcfs.yaml")
    out = tmp_path / "m.json"
    assert main(["run", scenario, *small, "--max-events", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "events expected, above the limit of 100" in err and "Traceback" not in err
    assert not out.exists()
    monkeypatch.setenv("SLOTSIM_MAX_EVENTS", "100")  # the environment lowers the default...
    assert main(["run", scenario, *small, "--out", str(out)]) == 2
    assert not out.exists()
    assert main(["run", scenario, *small, "--max-events", "1000000", "--out", str(out)]) == 0  # ...a flag raises it
    assert out.exists()
    monkeypatch.delenv("SLOTSIM_MAX_EVENTS")
    csv = tmp_path / "c.csv"
    assert main(["compare", scenario, *small, "--max-memory-mb", "10", "--out", str(csv), "--jobs", "1"]) == 2
    assert "MB of memory expected" in capsys.readouterr().err and not csv.exists()
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"name: tiny\nbase: {scenario}\nvariants: {{a: {{}}}}\nreplications: 2\n")
    results = tmp_path / "results"
    assert main(["batch", str(exp), "--max-events", "10", "--out", str(results), "--no-progress"]) == 2
    assert "too large to simulate" in capsys.readouterr().err and not results.exists()


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["run", "scenarios/no_bots_fcfs.yaml", "--seed", "-1"], "--seed"),
        (["run", "scenarios/no_bots_fcfs.yaml", "--seed", "1.5"], "--seed"),
        (["run", "scenarios/no_bots_fcfs.yaml", "--max-events", "0"], "--max-events"),
        (["run", "scenarios/no_bots_fcfs.yaml", "--max-memory-mb", "inf"], "--max-memory-mb"),
        (["compare", "scenarios/no_bots_fcfs.yaml", "--jobs", "0"], "--jobs"),
        (["compare", "scenarios/no_bots_fcfs.yaml", "--replications", "0"], "--replications"),
        (["batch", "scenarios/experiments/demand_sweep.yaml", "--dask-local", "0"], "--dask-local"),
        (["batch", "scenarios/experiments/demand_sweep.yaml", "--jobs", "-1"], "--jobs"),
        (["regress", "--jobs", "0"], "--jobs"),
    ],
)
def test_cli_options_out_of_range_exit_2_naming_the_flag(argv, flag, capsys, monkeypatch):
    from sim.cli.main import main

    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err


def test_estimate_counts_the_slots_speculative_fleets_can_take_without_demand():
    """A huge speculative fleet on a centre nobody books still books (and fills) every slot."""
    base = ["run.days=60", "centre.capacity_per_day=20000", "demand.applicants_per_year=10000"]
    quiet = resources.estimate(sim.load_scenario(ROOT / "scenarios/no_bots_fcfs.yaml", base))
    fleet = sim.load_scenario(
        ROOT / "scenarios/baseline_fcfs.yaml", base + ["resellers.0.bots=20000", "resellers.0.max_bots=20000"]
    )
    busy = resources.estimate(fleet)
    assert busy.slots == quiet.slots
    assert busy.events >= 2 * busy.slots > 100 * quiet.events  # measured: 1.15 M events (benchmarks/resources.py)
