"""Experiments: file validation, common random numbers, executors, resume, summaries, CI coverage.

Runs use a tiny centre (40 days, 100 appointments a day, fleets scaled alike): ~0.3 s each.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
import sim.experiments as ex
from sim.cli import main
from sim.demand import Calendar, daily_rates

REPO = Path(__file__).resolve().parents[2]
BASELINE = (REPO / "scenarios" / "baseline_fcfs.yaml").as_posix()
NO_BOTS = (REPO / "scenarios" / "no_bots_fcfs.yaml").as_posix()

TINY = """
name: tiny
base: {base}
overrides:
  run.days: 40
  run.warmup_days: 10
  centre.capacity_per_day: 100
  demand.applicants_per_year: 20000.0
  resellers.0.bots: 15
  resellers.1.bots: 10
  resellers.2.bots: 8
  resellers.3.bots: 4
variants:
  first_come: {{preset: first_come}}
  random: {{preset: random_allocation}}
replications: 2
seed: 7
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY.format(base=BASELINE), encoding="utf-8")
    return p


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------- the experiment file


def test_variants_and_sweep_resolve_in_order(tmp_path):
    p = write(
        tmp_path,
        f"""
name: grid
base: {BASELINE}
overrides: {{run.days: 40, run.warmup_days: 10}}
variants:
  fc: {{preset: first_come}}
  bigger: {{overrides: {{centre.capacity_per_day: 900}}}}
  file: {{scenario: {NO_BOTS}, overrides: {{resellers: []}}}}
sweep:
  demand.applicants_per_year: [100000.0, 200000.0]
  centre.release_days_ahead: [7, 14]
replications: 1
""",
    )
    plan = ex.load_experiment(p)
    assert [(c.variant, c.point) for c in plan.cells][:4] == [
        ("fc", "demand.applicants_per_year=100000, centre.release_days_ahead=7"),
        ("fc", "demand.applicants_per_year=100000, centre.release_days_ahead=14"),
        ("fc", "demand.applicants_per_year=200000, centre.release_days_ahead=7"),
        ("fc", "demand.applicants_per_year=200000, centre.release_days_ahead=14"),
    ]
    assert len(plan.cells) == 12 and plan.reference == "fc" and plan.seed == 1
    by = {(c.variant, c.params): c.scenario for c in plan.cells}
    sc = by[("bigger", (("demand.applicants_per_year", 200000.0), ("centre.release_days_ahead", 7)))]
    assert sc.centre.capacity_per_day == 900 and sc.demand.applicants_per_year == 200000.0
    assert sc.centre.release_days_ahead == 7 and sc.run.days == 40  # top-level override kept
    assert len(sc.resellers) == 4  # the base's fleets
    f = by[("file", (("demand.applicants_per_year", 100000.0), ("centre.release_days_ahead", 14)))]
    assert f.resellers == () and f.run.days == 40 and f.name == "no_bots_fcfs"


@pytest.mark.parametrize(
    "body, expected",
    [
        ("replicatons: 3", "replicatons: unknown key"),
        ("replications: 3\ntarget: {metrics: [wait_days_mean], half_width: 0.1}", "give either replications or target"),
        ("replications: '3'", "replications: Input should be a valid integer"),
        ("replications: 0", "replications: Input should be greater than or equal to 1"),
        ("replications: 2\nvariants: {a: {preset: fcfs}}", "variants.a: preset 'fcfs' unknown"),
        (
            "replications: 2\nvariants: {a: {preset: first_come, scenario: x.yaml}}",
            "variants.a: give preset or scenario",
        ),
        ("replications: 2\nvariants: {a: {prest: first_come}}", "variants.a.prest: unknown key"),
        ("replications: 2\nreference: nope", "reference 'nope' is not a variant"),
        (
            "replications: 2\nsweep: {demand.applicants_per_year: []}",
            "sweep demand.applicants_per_year: needs at least one",
        ),
        (
            "target: {metrics: [wait_days_meen], half_width: 0.1}",
            "target: Value error, unknown metric(s) wait_days_meen",
        ),
        ("target: {metrics: [wait_days_mean], half_width: 5e-2}", "target.half_width: Input should be a valid number"),
        (
            "target: {metrics: [wait_days_mean], half_width: 0.1, min_replications: 9, max_replications: 5}",
            "max_replications must be at least min_replications",
        ),
    ],
)
def test_invalid_experiment_files_name_the_field(tmp_path, body, expected):
    p = write(tmp_path, f"name: bad\nbase: {BASELINE}\n{body}\n")
    with pytest.raises(sim.ScenarioError) as err:
        ex.load_experiment(p)
    assert any(expected.replace("Value error, ", "") in m for m in err.value.messages), err.value.messages


def test_invalid_scenarios_inside_an_experiment_name_variant_and_field(tmp_path):
    p = write(
        tmp_path,
        f"""
name: bad
base: {BASELINE}
overrides: {{centre.capacity_per_dy: 5}}
variants:
  b: {{scenario: missing.yaml}}
replications: 1
""",
    )
    with pytest.raises(sim.ScenarioError) as err:
        ex.load_experiment(p)
    assert err.value.messages == [
        "base: centre.capacity_per_dy: unknown key (check the spelling; see docs/model.md for the fields)",
        "variants.b.scenario: missing.yaml: file not found",
    ]
    p = write(
        tmp_path,
        f"""
name: bad
base: {BASELINE}
variants:
  a: {{overrides: {{centre.no_show_prob: 1.5}}}}
  b: {{overrides: {{run.days.x: 1}}}}
  c: {{}}
sweep:
  resellers.9.bots: [1]
  centre.capacity_per_day: [10, 0]
replications: 1
""",
    )
    with pytest.raises(sim.ScenarioError) as err:
        ex.load_experiment(p)
    assert sorted(err.value.messages) == sorted(
        [
            "variants.a: centre.no_show_prob: Input should be less than or equal to 1, got 1.5",
            "variants.b.overrides.run.days.x: run.days is a value, there is nothing below it to set",
            "sweep point resellers.9.bots=1, centre.capacity_per_day=10: resellers.9.bots: resellers has no item '9'",
            "sweep point resellers.9.bots=1, centre.capacity_per_day=0: resellers.9.bots: resellers has no item '9'",
        ]
    )
    p = write(
        tmp_path,
        f"""
name: bad
base: {BASELINE}
variants:
  a: {{preset: first_come}}
  b: {{preset: random_allocation}}
sweep:
  centre.capacity_per_day: [10, 0]
  policy.scheme.batches_per_day: [1, 0]
replications: 1
""",
    )
    with pytest.raises(sim.ScenarioError) as err:
        ex.load_experiment(p)
    assert (
        "sweep point centre.capacity_per_day=0, policy.scheme.batches_per_day=1: centre.capacity_per_day: "
        "Input should be greater than or equal to 1, got 0" in err.value.messages
    )


def test_cli_bad_experiment_exits_2_with_one_line_per_error(tmp_path, capsys):
    p = write(tmp_path, f"name: bad\nbase: {BASELINE}\nreplicatons: 3\nseed: -1\n")
    assert main(["batch", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "replicatons: unknown key" in err and "seed: Input should be greater than or equal to 0" in err
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert main(["batch", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_unwritable_output_exits_2_before_any_simulation(tiny, tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("simulated although the output folder is unusable")

    monkeypatch.setattr(sim, "run", boom)
    monkeypatch.setattr(ex, "run_experiment", boom)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["batch", str(tiny), "--out", str(blocker / "results"), "--jobs", "1"]) == 2
    assert "cannot write there" in capsys.readouterr().err


# --------------------------------------------------------------------------- seeding


def test_common_random_numbers_and_scenarios_untouched(tiny):
    plan = ex.load_experiment(tiny)
    fc, rnd = plan.cells
    before = [c.scenario.to_dict() for c in plan.cells]
    a = sim.run(fc.scenario, seed=plan.seed, replication=1).applicants
    b = sim.run(rnd.scenario, seed=plan.seed, replication=1).applicants
    cols = ["arrival_day", "segment", "habit", "latest_day"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a.status.tolist() != b.status.tolist()  # the schemes did act differently
    c = sim.run(fc.scenario, seed=plan.seed, replication=0).applicants
    assert len(c) != len(a) or not np.array_equal(c.arrival_day, a.arrival_day)  # replications differ
    assert [c.scenario.to_dict() for c in plan.cells] == before


# --------------------------------------------------------------------------- executors and resume


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The tiny experiment run sequentially, uninterrupted: what every other path must reproduce."""
    folder = tmp_path_factory.mktemp("ref")
    exp = write(folder, TINY.format(base=BASELINE), "tiny.yaml")
    plan = ex.load_experiment(exp)
    out = ex.run_experiment(plan, folder / "out", jobs=1, progress=False)
    ex.write_results(out, folder / "out", {"kind": "sequential"}, pd.Timestamp.now().to_pydatetime())
    return plan, out, folder / "out"


def test_reference_run_tables(reference_run):
    plan, out, folder = reference_run
    assert out.computed == 4 and out.loaded == 0
    assert list(out.runs.variant) == ["first_come", "first_come", "random", "random"]
    assert list(out.runs.replication) == [0, 1, 0, 1] and (out.runs.seed == 7).all()
    assert set(out.daily.variant) == {"first_come", "random"} and len(out.daily) == 4 * 40
    assert set(out.waits.replication) == {0}  # per-applicant waits of replication 0
    for name in (
        "replications.parquet",
        "replications.csv",
        "daily.parquet",
        "waits.parquet",
        "summary.csv",
        "manifest.json",
    ):
        assert (folder / name).is_file(), name
    assert len(list((folder / "runs").glob("*.json"))) == 4
    m = json.loads((folder / "manifest.json").read_text())
    assert m["seed"] == 7 and m["reference"] == "first_come" and m["tasks"]["computed"] == 4
    assert {"python", "numpy", "simpy", "pandas"} <= set(m["versions"])
    assert m["package"]["version"] == sim.__version__ and "git_commit" in m["package"]
    assert m["cells"][1]["scenario"] == plan.cells[1].scenario.to_dict()
    assert m["cells"][1]["scenario"]["policy"]["scheme"]["kind"] == "random_allocation"
    s = out.summary
    row = s[(s.variant == "random") & (s.metric == "wait_days_mean")].iloc[0]
    x = out.runs[out.runs.variant == "random"].wait_days_mean.to_numpy()
    y = out.runs[out.runs.variant == "first_come"].wait_days_mean.to_numpy()
    assert row["mean"] == pytest.approx(x.mean()) and row["n"] == 2
    assert row.diff_mean == pytest.approx((x - y).mean())


@pytest.mark.parametrize("executor", [{"jobs": 2}, {"dask_workers": 2}], ids=["process-pool", "dask-local"])
def test_executors_give_identical_results(reference_run, tmp_path, executor):
    plan, ref, _ = reference_run
    out = ex.run_experiment(plan, tmp_path, progress=False, **executor)
    assert out.computed == 4
    pd.testing.assert_frame_equal(out.runs, ref.runs, check_exact=True)
    pd.testing.assert_frame_equal(out.daily, ref.daily, check_exact=True)
    pd.testing.assert_frame_equal(out.waits, ref.waits, check_exact=True)
    pd.testing.assert_frame_equal(out.summary, ref.summary, check_exact=True)


class Counting:
    """A runner that counts its calls and can stop the batch like Ctrl-C after `stop_after` runs."""

    def __init__(self, stop_after: int | None = None):
        self.calls: list[tuple[str, int]] = []
        self.stop_after = stop_after

    def __call__(self, task):
        if self.stop_after is not None and len(self.calls) == self.stop_after:
            raise KeyboardInterrupt
        self.calls.append((task.key, task.replication))
        return ex.run_rep(task)


def test_resume_after_interrupt_recomputes_only_what_is_missing(reference_run, tmp_path):
    plan, ref, ref_folder = reference_run
    first = Counting(stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        ex.run_experiment(plan, tmp_path, jobs=1, progress=False, runner=first)
    saved = sorted(p.stem for p in (tmp_path / "runs").glob("*.json"))
    assert len(saved) == 3 and sorted(k for k, _ in first.calls) == saved
    assert not list((tmp_path / "runs").glob(".*.tmp"))  # no half-written checkpoint

    second = Counting()
    out = ex.run_experiment(plan, tmp_path, jobs=1, progress=False, runner=second)
    assert len(second.calls) == 1 and second.calls[0][0] not in saved
    assert out.computed == 1 and out.loaded == 3
    pd.testing.assert_frame_equal(out.runs, ref.runs, check_exact=True)
    pd.testing.assert_frame_equal(out.daily, ref.daily, check_exact=True)
    pd.testing.assert_frame_equal(out.waits, ref.waits, check_exact=True)
    ex.write_results(out, tmp_path, {"kind": "sequential"}, pd.Timestamp.now().to_pydatetime())
    for name in ("replications.csv", "summary.csv"):
        assert (tmp_path / name).read_bytes() == (ref_folder / name).read_bytes(), name

    # a lost checkpoint (a worker killed mid-run never wrote one) is recomputed, and only it
    victim = sorted((tmp_path / "runs").glob("*.json"))[2]
    victim.unlink()
    third = Counting()
    out = ex.run_experiment(plan, tmp_path, jobs=1, progress=False, runner=third)
    assert [k for k, _ in third.calls] == [victim.stem]
    pd.testing.assert_frame_equal(out.runs, ref.runs, check_exact=True)

    # nothing left to do: nothing runs
    fourth = Counting()
    ex.run_experiment(plan, tmp_path, jobs=1, progress=False, runner=fourth)
    assert fourth.calls == []


def test_cli_batch_resumes_and_reports(tiny, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["batch", str(tiny), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    text = capsys.readouterr()
    assert "share_via_reseller" in text.out and "4 run now, 0 from checkpoints" in text.err
    first = (out / "replications.csv").read_bytes()
    assert main(["batch", str(tiny), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    assert "0 run now, 4 from checkpoints" in capsys.readouterr().err
    assert (out / "replications.csv").read_bytes() == first


# --------------------------------------------------------------------------- statistics


def test_summary_paired_and_unpaired_intervals():
    rng = np.random.default_rng(3)
    common = rng.normal(100, 10, 8)  # shared demand: large common noise
    ref = common + rng.normal(0, 1, 8)
    alt = common + 2 + rng.normal(0, 1, 8)
    runs = pd.DataFrame(
        {"variant": ["ref"] * 8 + ["alt"] * 8, "point": "base", "replication": list(range(8)) * 2, "m": np.r_[ref, alt]}
    )
    s = ex.summarise(runs, "ref").set_index("variant")
    t = stats.t.ppf(0.975, 7)
    assert s.loc["ref", "mean"] == pytest.approx(ref.mean())
    assert s.loc["ref", "half_width"] == pytest.approx(t * ref.std(ddof=1) / math.sqrt(8))
    assert s.loc["ref", "ci_low"] == pytest.approx(ref.mean() - s.loc["ref", "half_width"])
    d = alt - ref
    assert s.loc["alt", "diff_mean"] == pytest.approx(d.mean())
    assert s.loc["alt", "diff_half_width"] == pytest.approx(t * d.std(ddof=1) / math.sqrt(8))
    welch = stats.ttest_ind(alt, ref, equal_var=False).confidence_interval(0.95)
    assert s.loc["alt", "unpaired_half_width"] == pytest.approx((welch.high - welch.low) / 2)
    assert s.loc["alt", "diff_half_width"] < s.loc["alt", "unpaired_half_width"] / 5
    assert np.isnan(s.loc["ref", "diff_mean"])


def test_replications_rule_follows_hoad_with_look_ahead():
    target = ex.Target(
        metrics=("wait_days_mean",), half_width=1.0, min_replications=3, max_replications=40, look_ahead=2
    )
    ok, bad = 0.5, 2.0
    # precision first reached at n=4, lost at n=5, regained from n=6 on
    ratios = [math.inf, bad, bad, ok, bad, ok, ok, ok]
    d = ex.decide(ratios, target)
    assert d.done and d.solution == 6 and d.wanted == 8 and d.met
    # not decided yet: candidate 6 needs 6 + 2 replications
    d = ex.decide(ratios[:7], target)
    assert not d.done and d.wanted == 8
    # nothing reached: one more than now, plus the look-ahead
    d = ex.decide([math.inf, bad, bad, bad], target)
    assert not d.done and d.wanted == 4 + 1 + 2
    assert ex.decide([], target).wanted == 3 + 2
    # budget exhausted
    d = ex.decide([bad] * 40, target)
    assert d.done and not d.met and d.wanted == 40
    assert ex.look_ahead_at(100, 5) == 5 and ex.look_ahead_at(300, 5) == 15


def _fake_runner(task):
    """Deterministic fake results: metric noise shrinks the CI as replications accumulate."""
    rng = np.random.default_rng([task.seed, task.replication, abs(hash(task.scenario.centre.capacity_per_day)) % 1000])
    value = 10.0 + rng.normal(0, 1.0 if task.scenario.centre.capacity_per_day == 100 else 3.0)
    return {"metrics": {"wait_days_mean": value}, "daily": pd.DataFrame({"day": [0]}), "waits": None}


def test_target_mode_runs_until_every_cell_is_precise(tmp_path):
    p = write(
        tmp_path,
        f"""
name: target
base: {BASELINE}
overrides: {{run.days: 40, run.warmup_days: 10}}
variants:
  calm: {{overrides: {{centre.capacity_per_day: 100}}}}
  noisy: {{overrides: {{centre.capacity_per_day: 101}}}}
target: {{metrics: [wait_days_mean], half_width: 0.1, min_replications: 3, max_replications: 60, look_ahead: 3}}
""",
    )
    plan = ex.load_experiment(p)
    out = ex.run_experiment(plan, tmp_path / "out", jobs=1, progress=False, runner=_fake_runner)
    counts = out.runs.groupby("variant").size()
    for v in ("calm", "noisy"):
        x = out.runs[out.runs.variant == v].wait_days_mean.to_numpy()
        # brute-force Hoad: smallest n >= 3 whose relative half-width stays <= 0.1 for 3 more
        rel = [
            ex.t_half_width(x[:n].std(ddof=1), n) / abs(x[:n].mean()) if n > 1 else math.inf
            for n in range(1, len(x) + 1)
        ]
        n_star = next(n for n in range(3, len(x) + 1) if all(r <= 0.1 for r in rel[n - 1 : n + 3]))
        assert counts[v] == n_star + 3 == out.decisions[(v, "base")].wanted
    assert counts["noisy"] > counts["calm"]
    # the rounds depend only on the results: a second run asks for exactly the same replications
    again = ex.run_experiment(plan, tmp_path / "out", jobs=1, progress=False, runner=_fake_runner)
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.runs, out.runs)


@pytest.mark.slow
def test_confidence_intervals_cover_the_known_mean(tmp_path):
    """applicants_arrived is Poisson with a mean we can compute from the scenario's rates: the 95%
    intervals of 40 independent 3-replication experiments should cover it ~95% of the time."""
    p = write(
        tmp_path,
        f"""
name: coverage
base: {NO_BOTS}
overrides: {{run.days: 30, run.warmup_days: 5, centre.capacity_per_day: 20, demand.applicants_per_year: 3650.0}}
replications: 120
seed: 11
""",
    )
    plan = ex.load_experiment(p)
    sc = plan.cells[0].scenario
    cal = Calendar(sc.run.start_date, sc.run.days, sc.centre.working_weekdays)
    rates = daily_rates(sc, cal)
    expected = rates[sc.run.warmup_days : sc.run.days - sc.centre.release_days_ahead].sum()
    out = ex.run_experiment(plan, tmp_path / "out", jobs=2, progress=False)
    runs = out.runs.assign(point=(out.runs.replication // 3).astype(str))  # 40 independent experiments
    s = ex.summarise(runs, "base", metrics=["applicants_arrived"])
    assert len(s) == 40 and (s.n == 3).all()
    covered = ((s.ci_low <= expected) & (expected <= s.ci_high)).mean()
    assert 0.85 <= covered <= 1.0, (covered, expected, s[["mean", "ci_low", "ci_high"]])
    assert abs(out.runs.applicants_arrived.mean() - expected) < 4 * math.sqrt(expected / 120)


def test_checkpoints_are_data_checked_on_load_and_never_unpickled(reference_run, tmp_path):
    """A planted pickle runs no code; an edited table or an edited key is recomputed, not used."""
    import pickle

    plan, ref, _ = reference_run
    ex.run_experiment(plan, tmp_path, jobs=1, progress=False)
    runs = tmp_path / "runs"
    metas = sorted(runs.glob("*.json"))
    assert len(metas) == 4 and not list(runs.glob("*.pkl"))

    class Boom:
        def __reduce__(self):
            return (exec, ("open(%r, 'w').write('pwned')" % str(tmp_path / "pwned"),))

    (runs / f"{metas[0].stem}.pkl").write_bytes(pickle.dumps(Boom()))  # an old-style checkpoint name
    table = sorted(runs.glob(f"{metas[1].stem}.daily.parquet"))[0]
    table.write_bytes(table.read_bytes()[:-10] + b"0123456789")  # tampered table
    meta = json.loads(metas[2].read_text())
    meta["key"] = "someone-else"
    metas[2].write_text(json.dumps(meta))  # a checkpoint that claims another run
    counting = Counting()
    out = ex.run_experiment(plan, tmp_path, jobs=1, progress=False, runner=counting)
    assert not (tmp_path / "pwned").exists()
    assert sorted(k for k, _ in counting.calls) == sorted([metas[1].stem, metas[2].stem])
    pd.testing.assert_frame_equal(out.runs, ref.runs, check_exact=True)
    pd.testing.assert_frame_equal(out.daily, ref.daily, check_exact=True)
