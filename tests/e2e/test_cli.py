"""`slotsim run` and `slotsim validate`: outputs, and exit status 2 with one line per user error."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import DAILY_COLUMNS, SCENARIO_FILES, SHORT, run_short

import sim
from sim.cli import main

BASELINE = str(SCENARIO_FILES["baseline"])
SHORT_ARGS = [arg for item in SHORT for arg in ("--set", item)]

BAD_FILES = {
    "malformed_yaml": ("centre: [1, 2\n", "(yaml) line"),
    "negative_capacity": ("centre:\n  capacity_per_day: -5\n", "centre.capacity_per_day"),
    "probability_above_1": ("centre:\n  no_show_prob: 1.5\n", "centre.no_show_prob"),
    "unknown_key": ("centre:\n  capacity: 800\n", "centre.capacity"),
    "yaml_time": ("centre:\n  release_hour: 12:30\n", "centre.release_hour"),
}
BAD_SETS = {
    "no_equals": ("centre.capacity_per_day", "--set 'centre.capacity_per_day'"),
    "unknown_field": ("centre.capacity=5", "centre.capacity"),
    "wrong_type": ("centre.capacity_per_day=abc", "centre.capacity_per_day"),
    "float_for_int": ("run.days=1.5", "run.days"),
}


def slotsim_command() -> list[str]:
    """The installed console script, or the module when the script is not on PATH."""
    exe = shutil.which("slotsim")
    return [exe] if exe else [sys.executable, "-m", "sim.cli"]


def assert_user_error(code: int, err: str, *fields: str) -> None:
    """Exit status 2, one stderr line per expected error, each naming its field, no traceback."""
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == len(fields), lines
    for line, field in zip(lines, fields):
        assert field in line


# --------------------------------------------------------------------------- run


def test_run_json_prints_one_object_with_the_whole_contract(capsys):
    assert main(["run", BASELINE, "--json", *SHORT_ARGS]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    metrics = json.loads(out)
    assert set(sim.CONTRACT) <= set(metrics)
    # The CLI runs the scenario's own seed: the same numbers as the run contract (NaN -> null).
    expected = {
        k: None if isinstance(v, float) and math.isnan(v) else v
        for k, v in run_short("baseline", seed=1).metrics.items()
    }
    assert metrics == expected


def test_run_seed_option_changes_the_numbers(capsys):
    main(["run", BASELINE, "--json", "--seed", "2", *SHORT_ARGS])
    seeded = json.loads(capsys.readouterr().out)
    assert seeded["wait_days_mean"] == pytest.approx(run_short("baseline", seed=2).metrics["wait_days_mean"])
    assert seeded["wait_days_mean"] != run_short("baseline", seed=1).metrics["wait_days_mean"]


def test_run_writes_timeseries_records_and_metrics_files(tmp_path, capsys):
    series, out, records = tmp_path / "series" / "daily.csv", tmp_path / "m.json", tmp_path / "records"
    code = main(
        ["run", BASELINE, *SHORT_ARGS, "--timeseries", str(series), "--out", str(out), "--records", str(records)]
    )
    assert code == 0
    summary = capsys.readouterr().out
    assert "baseline_fcfs" in summary and "share_captured_by_bots" in summary

    daily = pd.read_csv(series)
    assert list(daily.columns) == DAILY_COLUMNS
    assert daily.day.tolist() == list(range(60))
    assert daily.released.sum() > 0
    assert set(sim.CONTRACT) <= set(json.loads(out.read_text()))
    slots = pd.read_csv(records / "slots.csv")
    applicants = pd.read_csv(records / "applicants.csv")
    assert {"day", "outcome", "holder"} <= set(slots.columns)
    assert {"arrival_day", "status", "wait_days"} <= set(applicants.columns)


def test_unwritable_timeseries_folder_fails_before_running(tmp_path, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the simulation ran before the output folder was checked")

    monkeypatch.setattr(sim, "run", must_not_run)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code = main(["run", BASELINE, *SHORT_ARGS, "--timeseries", str(blocker / "sub" / "x.csv")])
    captured = capsys.readouterr()
    assert_user_error(code, captured.err, "cannot write")
    assert captured.out == ""


# --------------------------------------------------------------------------- validate


def test_validate_accepts_the_shipped_scenarios(capsys):
    files = [str(p) for p in SCENARIO_FILES.values()]
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == files
    assert all(line.endswith(")") and ": ok (" in line for line in out)


def test_validate_reports_the_bad_file_among_good_ones(write_yaml, capsys):
    bad = write_yaml("centre:\n  capacity_per_day: -5\n  no_show_prob: 1.5\n")
    assert main(["validate", BASELINE, str(bad)]) == 2
    captured = capsys.readouterr()
    assert "ok" in captured.out and str(bad) not in captured.out
    assert_user_error(2, captured.err, "centre.capacity_per_day", "centre.no_show_prob")
    assert all(line.startswith(f"{bad}: ") for line in captured.err.splitlines())


# --------------------------------------------------------------------------- user errors: exit 2


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_scenario_files_exit_2_naming_the_field(write_yaml, capsys, command, case):
    text, field = BAD_FILES[case]
    code = main([command, str(write_yaml(text))])
    captured = capsys.readouterr()
    assert_user_error(code, captured.err, field)
    assert captured.out == ""


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_missing_file_exits_2(tmp_path, capsys, command):
    missing = tmp_path / "missing.yaml"
    code = main([command, str(missing)])
    assert_user_error(code, capsys.readouterr().err, f"{missing}: file not found")


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", BAD_SETS)
def test_bad_set_options_exit_2_naming_the_field(capsys, command, case):
    item, field = BAD_SETS[case]
    code = main([command, BASELINE, "--set", item])
    assert_user_error(code, capsys.readouterr().err, field)


def test_several_bad_set_options_are_reported_together(capsys):
    code = main(["validate", BASELINE, "--set", "centre.capacity_per_day=abc", "--set", "centre.capacity=5"])
    assert_user_error(code, capsys.readouterr().err, "centre.capacity_per_day", "centre.capacity")


# --------------------------------------------------------------------------- the installed command


def test_slotsim_command_run_json():
    proc = subprocess.run(
        [*slotsim_command(), "run", BASELINE, "--json", *SHORT_ARGS], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert set(sim.CONTRACT) <= set(json.loads(proc.stdout))


def test_slotsim_command_bad_input_has_no_traceback(write_yaml):
    bad = write_yaml("centre:\n  capacity_per_day: -5\n  capacity: 3\n")
    proc = subprocess.run(
        [*slotsim_command(), "validate", str(bad), "--set", "run.seed=3"], capture_output=True, text=True, timeout=120
    )
    assert_user_error(proc.returncode, proc.stderr, "centre.capacity_per_day", "centre.capacity")
