"""`slotsim validate`: scenario, experiment and regression-suite files, and folders of them.

The kind of a file comes from its top-level keys (sim/cli/validate.py); each kind is checked as
the command that reads it would; a folder stands for its YAML files. Nothing here simulates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.cli.validate import EXPERIMENT, KEYS, SCENARIO, SUITE, kind_of
from sim.regress import load_suite

REPO = Path(__file__).resolve().parents[2]
SMALL = {"name": "small", "run": {"days": 40, "warmup_days": 10}, "centre": {"capacity_per_day": 60}}


def validate(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err.splitlines()


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def suite_of(folder: Path, **entry) -> Path:
    write(folder / "small.yaml", SMALL)
    return write(
        folder / "suite.yaml",
        {"root": ".", "entries": [{"name": "small", "scenario": "small.yaml", **entry}]},
    )


def experiment_of(folder: Path, **extra) -> Path:
    write(folder / "small.yaml", SMALL)
    spec = {
        "name": "exp",
        "base": "small.yaml",
        "variants": {"fcfs": {"preset": "first_come"}, "draw": {"preset": "random_allocation"}},
        "replications": 2,
        **extra,
    }
    return write(folder / "exp.yaml", spec)


# --------------------------------------------------------------------------- the shipped files


def test_the_shipped_yaml_files_as_the_readme_says(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "scenarios").glob("*.yaml"))
    code, out, err = validate(capsys, *files)
    assert code == 0 and err == []
    assert [line.split(": ok (")[0] for line in out] == files
    n = len(load_suite(REPO / "scenarios" / "regression.yaml").entries)
    assert f"scenarios/regression.yaml: ok (regression suite, {n} entries)" in out
    assert "scenarios/baseline_fcfs.yaml: ok (scenario baseline_fcfs)" in out


def test_the_scenarios_folder(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out, err = validate(capsys, "scenarios")
    assert code == 0 and err == []
    expected = sorted((p.relative_to(REPO) for p in (REPO / "scenarios").rglob("*.yaml")), key=lambda p: p.parts)
    assert [line.split(": ok (")[0] for line in out] == [str(p) for p in expected]
    assert "scenarios/experiments/demand_sweep.yaml: ok (experiment demand_sweep, 3 variants, 4 sweep points)" in out
    assert "scenarios/experiments/schemes_compare.yaml: ok (experiment schemes_compare, 7 variants)" in out


# --------------------------------------------------------------------------- folders


def test_a_folder_is_its_yaml_files_recursively_sorted_hidden_ones_left_out(tmp_path, capsys):
    write(tmp_path / "b.yaml", {"name": "b"})
    write(tmp_path / "a.yml", {"name": "a"})
    write(tmp_path / "sub" / "c.yaml", {"name": "c"})
    write(tmp_path / "sub" / "deeper" / "d.yaml", {"name": "d"})
    write(tmp_path / "notes.txt", "not: yaml we read\n")
    write(tmp_path / ".hidden.yaml", "centre: [broken\n")
    write(tmp_path / ".cache" / "e.yaml", "centre: [broken\n")
    code, out, err = validate(capsys, str(tmp_path))
    assert code == 0 and err == []
    assert out == [
        f"{tmp_path / 'a.yml'}: ok (scenario a)",
        f"{tmp_path / 'b.yaml'}: ok (scenario b)",
        f"{tmp_path / 'sub' / 'c.yaml'}: ok (scenario c)",
        f"{tmp_path / 'sub' / 'deeper' / 'd.yaml'}: ok (scenario d)",
    ]


def test_a_folder_without_yaml_files_is_an_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    write(tmp_path / "other" / "notes.txt", "hello\n")
    good = write(tmp_path / "good.yaml", {"name": "good"})
    code, out, err = validate(capsys, str(empty), str(tmp_path / "other"), str(good))
    assert code == 2
    assert out == [f"{good}: ok (scenario good)"]
    assert err == [
        f"{empty}: no YAML files (*.yaml, *.yml) in this folder",
        f"{tmp_path / 'other'}: no YAML files (*.yaml, *.yml) in this folder",
    ]


def test_a_bad_file_in_a_folder_fails_the_folder_and_the_others_are_still_checked(tmp_path, capsys):
    write(tmp_path / "a.yaml", {"name": "a"})
    bad = write(tmp_path / "b.yaml", {"centre": {"capacity_per_day": -5}})
    write(tmp_path / "c.yaml", {"name": "c"})
    code, out, err = validate(capsys, str(tmp_path))
    assert code == 2
    assert [line.split(": ok")[0] for line in out] == [str(tmp_path / "a.yaml"), str(tmp_path / "c.yaml")]
    assert len(err) == 1 and err[0].startswith(f"{bad}: centre.capacity_per_day:")


# --------------------------------------------------------------------------- kinds


def test_the_kind_comes_from_the_keys_only_one_kind_has():
    assert KEYS[SUITE] == {"entries", "root", "tolerance"}
    assert KEYS[EXPERIMENT] == {"base", "variants", "sweep", "labels", "target", "reference"}
    assert {"extends", "run", "centre", "resellers", "timeline"} <= KEYS[SCENARIO]
    assert not KEYS[SCENARIO] & {"name", "description", "seed", "replications", "overrides"}
    assert kind_of({"entries": []}) == SUITE
    assert kind_of({"name": "x", "base": "a.yaml", "variants": {}}) == EXPERIMENT
    assert kind_of({"name": "x", "centre": {}}) == SCENARIO
    assert kind_of({"name": "x", "seed": 1}) == SCENARIO  # no kind's own key: a scenario
    assert kind_of({"entries": [], "base": "a.yaml"}) == SCENARIO  # a tie: a scenario
    assert kind_of({"base": "a.yaml", "run": {}, "centre": {}}) == SCENARIO  # most keys win
    assert kind_of(["a", "list"]) == SCENARIO


def test_a_bad_suite_names_file_and_field_and_says_it_was_read_as_a_suite(tmp_path, capsys):
    path = write(
        tmp_path / "suite.yaml",
        {"root": ".", "replications": 1, "entries": [{"name": "a b", "scenario": "missing.yaml"}]},
    )
    code, out, err = validate(capsys, str(path))
    assert code == 2 and out == []
    assert all(line.startswith(f"{path}: ") for line in err), err
    assert any("replications:" in line for line in err)
    assert any("entries.0.name:" in line for line in err)
    assert err[-1] == f"{path}: (checked as a regression suite file: it has the keys root, entries)"


def test_a_suite_is_checked_with_its_entries_scenarios(tmp_path, capsys):
    write(tmp_path / "small.yaml", SMALL)
    entries = [
        {"name": "small", "scenario": "small.yaml", "overrides": ["centre.capacity_per_day=-3"]},
        {"name": "gone", "scenario": "missing.yaml"},
    ]
    path = write(tmp_path / "suite.yaml", {"root": ".", "entries": entries})
    code, out, err = validate(capsys, str(path))
    assert code == 2 and out == []
    assert any(line.startswith(f"{path}: entry small: small.yaml: centre.capacity_per_day:") for line in err), err
    assert f"{path}: entry gone: missing.yaml: file not found" in err


def test_a_good_suite_and_experiment(tmp_path, capsys):
    suite = suite_of(tmp_path / "s")
    exp = experiment_of(tmp_path / "e", sweep={"centre.capacity_per_day": [50, 60, 70]})
    code, out, err = validate(capsys, str(suite), str(exp))
    assert code == 0 and err == []
    assert out == [
        f"{suite}: ok (regression suite, 1 entries)",
        f"{exp}: ok (experiment exp, 2 variants, 3 sweep points)",
    ]


def test_a_bad_experiment_names_file_and_field(tmp_path, capsys):
    exp = experiment_of(tmp_path, reference="nobody", sweep={"centre.capacity_per_day": [-1]})
    code, out, err = validate(capsys, str(exp))
    assert code == 2 and out == []
    assert any(line.startswith(f"{exp}: (top level): reference 'nobody' is not a variant") for line in err), err
    assert err[-1] == f"{exp}: (checked as an experiment file: it has the keys base, variants, reference, sweep)"
    exp = experiment_of(tmp_path, sweep={"centre.capacity_per_day": [-1]})
    code, out, err = validate(capsys, str(exp))
    assert code == 2
    assert any(line.startswith(f"{exp}: sweep point centre.capacity_per_day=-1") for line in err), err


def test_a_file_of_no_kind_gets_the_scenario_errors(tmp_path, capsys):
    path = write(tmp_path / "x.yaml", {"name": "x", "entrys": []})
    code, out, err = validate(capsys, str(path))
    assert code == 2 and out == []
    assert err == [f"{path}: entrys: unknown key (check the spelling; see docs/model.md for the fields)"]
    stray = write(tmp_path / "y.yaml", {"name": "y", "base": "a.yaml", "centre": {}, "run": {}})
    code, _, err = validate(capsys, str(stray))
    assert code == 2 and len(err) == 1 and err[0].startswith(f"{stray}: base: unknown key")


# --------------------------------------------------------------------------- --set


def test_set_applies_to_scenarios_and_suite_entries_not_to_experiments(tmp_path, capsys):
    scenario = write(tmp_path / "sc" / "small.yaml", SMALL)
    suite = suite_of(tmp_path / "s")
    exp = experiment_of(tmp_path / "e")
    code, out, err = validate(capsys, str(scenario), str(suite), str(exp), "--set", "run.days=5")
    assert code == 2
    assert out == [f"{exp}: ok (experiment exp, 2 variants)"]
    assert f"{scenario}: run: warmup_days must be smaller than days" in err, err
    assert any(line.startswith(f"{suite}: entry small: small.yaml:") for line in err), err
    assert (
        f"{exp}: note: --set not applied: an experiment file is checked as written (slotsim batch has no --set)" in err
    )
    code, out, err = validate(capsys, str(scenario), str(suite), str(exp), "--set", "run.days=50")
    assert code == 0
    assert out[:2] == [f"{scenario}: ok (scenario small)", f"{suite}: ok (regression suite, 1 entries)"]
    assert err == [
        f"{exp}: note: --set not applied: an experiment file is checked as written (slotsim batch has no --set)"
    ]


def test_the_help_states_the_rule(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "checked as a scenario" in text and "recursively" in text
    for keys in KEYS.values():
        assert all(k in text for k in keys)
