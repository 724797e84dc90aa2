"""Untrusted YAML is refused before validation when it is too big, too deep, self-expanding,
ambiguous (duplicate keys), empty, or holds a non-finite number or an impossible date; every
refusal names the file and the rule, and the CLI exits 2 without a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import sim
from sim.cli import main
from sim.yamlsafe import MAX_BYTES, MAX_DEPTH, MAX_NODES, parse_yaml

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "scenarios" / "baseline_fcfs.yaml"


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CASES = {
    "alias bomb": (billion_laughs(), f"more than {MAX_NODES:,} values once aliases are expanded"),
    "deep nesting": ("a: " + "[" * 900 + "]" * 900 + "\n", f"nested deeper than {MAX_DEPTH} levels"),
    "duplicate key": (f"extends: {BASE}\nname: a\nname: b\n", "duplicate key 'name' (first on line 2)"),
    "empty": ("# only a comment\n", "(file): empty"),
    "infinite": (
        f"extends: {BASE}\nname: x\ncentre: {{no_show_prob: .inf}}\n",
        "centre.no_show_prob: must be a finite number, got inf",
    ),
    "nan in a list": (
        f"extends: {BASE}\nname: x\ndemand: {{seasonality: [1, 1, .nan]}}\n",
        "demand.seasonality.2: must be a finite number, got nan",
    ),
    "impossible date": (
        f"extends: {BASE}\nname: x\nrun: {{start_date: 2024-13-45}}\n",
        "run.start_date: Input should be a valid date",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_yaml_is_refused_with_its_rule(case, tmp_path, capsys):
    text, expected = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    t0 = time.process_time()
    with pytest.raises(sim.ScenarioError) as err:
        sim.load_scenario(path)
    assert time.process_time() - t0 < 5  # refused, not expanded (a guard, not a timing goal)
    assert any(expected in m for m in err.value.messages), err.value.messages
    assert str(path) in str(err.value)
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    assert expected in out.err and "Traceback" not in out.err


def test_an_oversized_file_is_refused_before_parsing():
    with pytest.raises(sim.ScenarioError, match="larger than"):
        parse_yaml("a: 1\n" + "#" * MAX_BYTES, "big.yaml")


def test_set_values_are_read_by_the_same_rules(capsys):
    code = main(["run", str(BASE), "--set", "run.days=40", "--set", "centre.no_show_prob=.inf"])
    err = capsys.readouterr().err
    assert code == 2 and "--set 'centre.no_show_prob=.inf': centre.no_show_prob: must be a finite number" in err


def test_every_shipped_file_still_reads():
    for path in sorted((REPO / "scenarios").rglob("*.yaml")):
        assert isinstance(parse_yaml(path.read_text(), str(path)), dict), path
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        if path.name != "regression.yaml":
            sim.load_scenario(path)


def test_an_upload_is_read_by_the_same_rules():
    from sim.app_support import parse_upload

    with pytest.raises(sim.ScenarioError, match="more than"):
        parse_upload("bomb.yaml", billion_laughs().encode())
    with pytest.raises(sim.ScenarioError, match="duplicate key"):
        parse_upload("dup.yaml", b"name: a\nname: b\n")


def test_a_set_value_with_a_duplicate_key_is_refused_and_non_yaml_is_text(capsys):
    code = main(["validate", str(BASE), "--set", "centre={capacity_per_day: 10, capacity_per_day: 20}"])
    err = capsys.readouterr().err
    assert code == 2 and "duplicate key 'capacity_per_day'" in err
    sc = sim.load_scenario(BASE, ["name=a: b: c"])  # not YAML: taken as the text itself
    assert sc.name == "a: b: c"
