"""`slotsim regress`: baselines, exact and statistical comparison, exit codes, bad input.

Every test builds its own tiny suite in tmp_path (two short scenarios of a small
centre, 3 replications, ~0.1 s a run) so that it depends neither on the shipped
scenarios nor on the committed baselines.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim import CONTRACT, cli
from sim.regress import MANIFEST_FILE, METRICS_FILE, Tolerance, compare_metric, format_number, metrics_csv, tolerance_of

SMALL = {
    "run": {"days": 40, "warmup_days": 10},
    "centre": {"capacity_per_day": 60},
    "demand": {"applicants_per_year": 16000.0},
}
SUITE = {
    "root": ".",
    "seed": 1,
    "replications": 3,
    "entries": [
        {"name": "quiet", "scenario": "quiet.yaml"},
        {"name": "bots", "scenario": "bots.yaml", "extra_metrics": ["bots_end"]},
    ],
}


def write_suite(folder: Path, suite: dict = SUITE) -> Path:
    (folder / "quiet.yaml").write_text(yaml.safe_dump({"name": "quiet", **SMALL}))
    bots = {"name": "bots", **SMALL, "resellers": [{"name": "fleet", "bots": 12, "poll_interval_s": 5.0}]}
    (folder / "bots.yaml").write_text(yaml.safe_dump(bots))
    path = folder / "regression.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def regress(capsys, folder: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(
        [
            "regress",
            "--suite",
            str(folder / "regression.yaml"),
            "--baselines",
            str(folder / "baselines"),
            "--jobs",
            "1",
            *args,
        ]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A suite and its baselines, made once with 2 worker processes."""
    folder = tmp_path_factory.mktemp("suite")
    write_suite(folder)
    code = cli.main(
        [
            "regress",
            "--update",
            "--suite",
            str(folder / "regression.yaml"),
            "--baselines",
            str(folder / "baselines"),
            "--jobs",
            "2",
        ]
    )
    assert code == 0
    return folder


@pytest.fixture
def suite(made, tmp_path) -> Path:
    """A private copy of the suite and its baselines."""
    shutil.copytree(made, tmp_path, dirs_exist_ok=True)
    return tmp_path


def verdicts(out: str, entry: str) -> dict[str, str]:
    """metric -> verdict word from the table printed for one entry."""
    lines = out.splitlines()
    start = next(i for i, line_ in enumerate(lines) if line_.startswith(f"{entry}  ("))
    header = next(i for i in range(start, len(lines)) if lines[i].split()[:1] == ["metric"])
    res = {}
    for line in lines[header + 1 :]:
        if not line.startswith("  "):
            break
        cells = line.split()
        verdict = next(w for w in cells if w in ("same", "ok", "FAIL", "info"))
        res[cells[0]] = verdict
    return res


def failed_metrics(out: str) -> set[str]:
    if "FAILED:" not in out:
        return set()
    return {line.split(":")[1].split()[0] for line in out.split("FAILED:")[1].splitlines() if line.strip()}


# --------------------------------------------------------------------------- the happy path


def test_update_writes_small_diff_friendly_baselines(made):
    for name, extra in (("quiet", []), ("bots", ["bots_end"])):
        folder = made / "baselines" / name
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        assert manifest["seed"] == 1 and manifest["replications"] == 3
        assert manifest["scenario_file"] == f"{name}.yaml" and len(manifest["scenario_digest"]) == 16
        assert {"slotsim", "python", "numpy", "simpy"} <= set(manifest["versions"])
        assert "git_commit" in manifest and manifest["overrides"] == []
        lines = (folder / METRICS_FILE).read_text().splitlines()
        assert lines[0].split(",")[0] == "replication"
        assert lines[0].split(",")[1:] == manifest["metrics"]
        assert manifest["metrics"] == list(CONTRACT) + extra
        assert [line_.split(",")[0] for line_ in lines[1:]] == ["0", "1", "2"]
        assert (folder / METRICS_FILE).stat().st_size < 4000


def test_rerun_is_the_same_and_sequential_equals_parallel(suite, capsys):
    # baselines were made on 2 processes; this run is sequential: every number must be identical
    code, out, _ = regress(capsys, suite)
    assert code == 0
    for entry in ("quiet", "bots"):
        v = verdicts(out, entry)
        assert v.pop("events_processed") == "info"
        assert set(v.values()) == {"same"}, v
        assert "bots_end" in v or entry == "quiet"
    assert " 0 failed" in out and "note:" not in out


def test_update_again_keeps_unchanged_files(suite, capsys):
    before = {p: p.read_bytes() for p in (suite / "baselines").rglob("*") if p.is_file()}
    code, out, _ = regress(capsys, suite, "--update")
    assert code == 0
    assert "quiet: unchanged" in out and "bots: unchanged" in out
    after = {p: p.read_bytes() for p in (suite / "baselines").rglob("*") if p.is_file()}
    assert after == before


# --------------------------------------------------------------------------- perturbations


def test_capacity_cut_fails_and_names_the_moved_metrics(suite, capsys):
    code, out, _ = regress(capsys, suite, "--set", "centre.capacity_per_day=48")  # -20%
    assert code == 1
    moved = failed_metrics(out)
    assert {"slots_released", "slots_attended_direct"} <= moved
    assert "events_processed" not in moved  # informational, never failing
    assert verdicts(out, "quiet")["slots_released"] == "FAIL"
    assert "the scenario changed since the baseline" in out
    assert "quiet  (quiet.yaml, seed 1, 3 replications)  FAIL" in out


def test_doubled_bots_fail_only_the_entry_with_bots(suite, capsys):
    data = yaml.safe_load((suite / "regression.yaml").read_text())
    data["entries"][1]["overrides"] = ["resellers.0.bots=24"]
    (suite / "regression.yaml").write_text(yaml.safe_dump(data))
    code, out, _ = regress(capsys, suite)
    assert code == 1
    assert "share_captured_by_bots" in failed_metrics(out)
    assert verdicts(out, "bots")["share_captured_by_bots"] == "FAIL"
    assert set(verdicts(out, "quiet").values()) <= {"same", "info"}
    assert all(line.strip().startswith("bots:") for line in out.split("FAILED:")[1].splitlines() if line.strip())
    assert "overrides changed: added resellers.0.bots=24" in out


def test_other_seed_changes_numbers_but_stays_within_tolerance(suite, capsys):
    # new random numbers, same model: exact comparison sees changes, the statistical one must not fail
    data = yaml.safe_load((suite / "regression.yaml").read_text())
    data["seed"] = 2
    (suite / "regression.yaml").write_text(yaml.safe_dump(data))
    code, out, _ = regress(capsys, suite)
    assert code == 0, out
    v = verdicts(out, "bots")
    assert v["wait_days_mean"] == "ok" and v["share_captured_by_bots"] == "ok"
    assert "seed changed: 1 -> 2" in out


def test_update_prints_what_moved(suite, capsys):
    code, out, _ = regress(capsys, suite, "--update", "--only", "bots")
    assert code == 0 and "bots: unchanged" in out
    data = yaml.safe_load((suite / "regression.yaml").read_text())
    data["entries"][1]["overrides"] = ["resellers.0.bots=24"]
    (suite / "regression.yaml").write_text(yaml.safe_dump(data))
    old_csv = (suite / "baselines" / "bots" / METRICS_FILE).read_text()
    code, out, _ = regress(capsys, suite, "--update", "--only", "bots")
    assert code == 0
    assert "bots: updated" in out and "moved (" in out and "share_captured_by_bots" in out
    assert "the scenario changed since the baseline" in out
    assert (suite / "baselines" / "bots" / METRICS_FILE).read_text() != old_csv
    assert "quiet" not in out  # --only: the other entry is left alone
    code, out, _ = regress(capsys, suite)
    assert code == 0


# --------------------------------------------------------------------------- bad input: exit 2


def test_missing_baseline(suite, capsys):
    shutil.rmtree(suite / "baselines" / "bots")
    code, _, err = regress(capsys, suite)
    assert code == 2
    assert "bots: no baseline for entry bots" in err and "--update --only bots" in err


def test_missing_manifest(suite, capsys):
    (suite / "baselines" / "quiet" / MANIFEST_FILE).unlink()
    code, _, err = regress(capsys, suite)
    assert code == 2 and "quiet/manifest.json: baseline manifest missing" in err


@pytest.mark.parametrize("cut", ["mid_row", "last_row"])
def test_truncated_csv(suite, capsys, cut):
    path = suite / "baselines" / "bots" / METRICS_FILE
    text = path.read_text()
    path.write_text(text[: len(text) // 2] if cut == "mid_row" else "".join(text.splitlines(True)[:-1]))
    code, out, err = regress(capsys, suite)
    assert code == 2 and out == ""
    assert "bots/metrics.csv: corrupt baseline" in err and "truncated?" in err


def test_corrupt_manifest_json(suite, capsys):
    (suite / "baselines" / "quiet" / MANIFEST_FILE).write_text('{"name": "quiet", ')
    code, _, err = regress(capsys, suite)
    assert code == 2
    assert "quiet/manifest.json: corrupt baseline manifest: not valid JSON" in err


def test_manifest_with_wrong_fields(suite, capsys):
    path = suite / "baselines" / "quiet" / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["replications"] = "three"
    path.write_text(json.dumps(data))
    code, _, err = regress(capsys, suite)
    assert code == 2 and "manifest.json: corrupt baseline manifest: replications:" in err


def test_non_number_in_csv(suite, capsys):
    path = suite / "baselines" / "quiet" / METRICS_FILE
    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[3] = "lots"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    code, _, err = regress(capsys, suite)
    assert code == 2 and "row 3, abandon_rate: not a number: 'lots'" in err


def test_update_repairs_a_corrupt_baseline(suite, capsys):
    (suite / "baselines" / "quiet" / MANIFEST_FILE).write_text("{")
    code, out, _ = regress(capsys, suite, "--update", "--only", "quiet")
    assert code == 0 and "quiet: rewritten (the old one was unusable" in out
    assert regress(capsys, suite)[0] == 0


def test_bad_suite_file_names_every_field(tmp_path, capsys):
    bad = {
        "root": ".",
        "replications": 1,
        "colour": "red",
        "tolerance": {"alpha": 2.0, "metrics": {"no_such_metric": {"rel_floor": 0.1}}},
        "entries": [
            {"name": "quiet", "scenario": "quiet.yaml", "sed": 3},
            {"name": "bad name!", "scenario": "bots.yaml", "seed": "one"},
        ],
    }
    write_suite(tmp_path, bad)
    code, out, err = regress(capsys, tmp_path)
    assert code == 2 and out == ""
    lines = err.splitlines()
    prefixes = (f"{tmp_path / 'regression.yaml'}: ", "regression.yaml: ")
    assert all(line_.startswith(prefixes) for line_ in lines)
    for field in (
        "replications:",
        "colour: unknown key",
        "tolerance.alpha:",
        "entries.0.sed: unknown key",
        "entries.1.name:",
        "entries.1.seed:",
    ):
        assert any(field in line_ for line_ in lines), (field, err)


def test_suite_level_rules(tmp_path, capsys):
    dup = {
        "root": ".",
        "entries": [{"name": "a", "scenario": "quiet.yaml"}, {"name": "a", "scenario": "bots.yaml"}],
        "tolerance": {"metrics": {"no_such_metric": {"rel_floor": 0.1}}},
    }
    write_suite(tmp_path, dup)
    code, _, err = regress(capsys, tmp_path)
    assert code == 2 and "names must be distinct, repeated: a" in err
    write_suite(
        tmp_path,
        {
            "root": ".",
            "entries": [{"name": "a", "scenario": "quiet.yaml"}],
            "tolerance": {"metrics": {"no_such_metric": {"rel_floor": 0.1}}},
        },
    )
    code, _, err = regress(capsys, tmp_path)
    assert code == 2 and "tolerance names metrics that are not compared: no_such_metric" in err
    write_suite(tmp_path, {"root": ".", "entries": []})
    code, _, err = regress(capsys, tmp_path)
    assert code == 2 and "entries:" in err
    (tmp_path / "regression.yaml").write_text("entries: [name: a\n")
    code, _, err = regress(capsys, tmp_path)
    assert code == 2 and "malformed YAML" in err


def test_missing_suite_and_scenario_files(tmp_path, capsys):
    code, _, err = regress(capsys, tmp_path)
    assert code == 2 and "regression.yaml: file not found" in err
    suite = {
        "root": ".",
        "entries": [
            {"name": "quiet", "scenario": "quiet.yaml"},
            {"name": "later", "scenario": "not_yet.yaml"},
            {"name": "typo", "scenario": "quiet.yaml", "overrides": ["centre.capacity_per_dya=5"]},
        ],
    }
    write_suite(tmp_path, suite)
    code, _, err = regress(capsys, tmp_path)
    assert code == 2
    assert "entry later: not_yet.yaml: file not found" in err
    assert "entry typo: quiet.yaml: centre.capacity_per_dya: unknown key" in err


def test_unknown_only_name_and_bad_options(suite, capsys):
    code, _, err = regress(capsys, suite, "--only", "quiet", "loud")
    assert code == 2 and "--only loud: no such entry (known: quiet, bots)" in err
    code, _, err = regress(capsys, suite, "--update", "--set", "centre.capacity_per_day=48")
    assert code == 2 and "--set cannot be combined with --update" in err


def test_baseline_without_a_new_metric(suite, capsys):
    data = yaml.safe_load((suite / "regression.yaml").read_text())
    data["entries"][0]["extra_metrics"] = ["reassignments"]
    (suite / "regression.yaml").write_text(yaml.safe_dump(data))
    code, _, err = regress(capsys, suite)
    assert code == 2 and "quiet/metrics.csv: baseline lacks metrics reassignments" in err
    data["entries"][0]["extra_metrics"] = ["no_such_metric"]
    (suite / "regression.yaml").write_text(yaml.safe_dump(data))
    code, _, err = regress(capsys, suite, "--update", "--only", "quiet")
    assert code == 2 and "entry quiet: metric 'no_such_metric' is not produced by the run" in err


# --------------------------------------------------------------------------- the rule itself


def test_numbers_round_trip_exactly():
    rows = [{"a": 0.1 + 0.2, "b": 7, "c": math.nan}, {"a": 1e-300, "b": -1, "c": 2.5}]
    text = metrics_csv(rows, ("a", "b", "c"))
    assert text.splitlines() == ["replication,a,b,c", "0,0.30000000000000004,7,nan", "1,1e-300,-1,2.5"]
    assert float(format_number(0.1 + 0.2)) == 0.1 + 0.2


def test_tolerance_is_welch_with_floors():
    from scipy import stats

    b, n = np.array([10.0, 12.0, 11.0, 13.0]), np.array([11.0, 14.0, 12.0, 13.0])
    se = math.sqrt(b.var(ddof=1) / 4 + n.var(ddof=1) / 4)
    p = stats.ttest_ind(b, n, equal_var=False).pvalue
    tol = tolerance_of(b, n, alpha=0.001, rel_floor=0.0, abs_floor=0.0)
    # the tolerance is the shift at which Welch's test reaches p = alpha
    shifted = n + (tol - (n.mean() - b.mean()))
    assert stats.ttest_ind(b, shifted, equal_var=False).pvalue == pytest.approx(0.001, rel=1e-6)
    assert tol > 2 * se and p > 0.001
    # floors: a near-constant metric gets the relative floor, an exact zero the absolute one
    assert tolerance_of(np.full(3, 200.0), np.full(3, 200.0), 0.001, 0.01, 1e-9) == pytest.approx(2.0)
    assert tolerance_of(np.zeros(3), np.zeros(3), 0.001, 0.01, 1e-9) == 1e-9


def test_verdicts():
    tol = Tolerance()
    same = compare_metric("wait_days_mean", np.array([1.0, 2.0, math.nan]), np.array([1.0, 2.0, math.nan]), tol)
    assert same.verdict == "same" and same.changed == "0/3"
    # tiny noise on a near-constant metric: changed, within the relative floor
    noisy = compare_metric("slots_released", np.full(3, 1000.0), np.array([1000.0, 1000.0, 1000.0 + 1e-6]), tol)
    assert noisy.verdict == "ok" and noisy.changed == "1/3"
    # a constant metric moving by 2%: beyond the 1% floor
    assert compare_metric("slots_released", np.full(3, 1000.0), np.full(3, 1020.0), tol).verdict == "FAIL"
    # defined before, undefined now (e.g. nothing sold any more)
    gone = compare_metric("reseller_price_mean_eur", np.array([250.0, 260.0, 255.0]), np.full(3, math.nan), tol)
    assert gone.verdict == "FAIL" and "defined in 3/3" in gone.note
    # informational: never fails, however far it moves
    assert compare_metric("events_processed", np.full(3, 1e5), np.full(3, 1e3), tol).verdict == "info"
