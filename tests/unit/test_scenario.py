"""The scenario schema: every bad input is refused with its field path, all errors of a file at once."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest
import yaml
from conftest import SCENARIO_FILES

import sim
from sim.scenario import ScenarioError, apply_overrides, parse_scenario


def errors_of(data) -> list[str]:
    """The messages a scenario dict is refused with (fails the test if it is accepted)."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return info.value.messages


def file_errors(path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    return info.value.messages


# --------------------------------------------------------------------------- good input


@pytest.mark.parametrize("name", SCENARIO_FILES)
def test_shipped_scenarios_are_valid(name):
    sc = sim.load_scenario(SCENARIO_FILES[name])
    assert sc.name == SCENARIO_FILES[name].stem
    assert sc.run.start_date == dt.date(2024, 5, 1)


def test_an_empty_file_is_refused_but_an_empty_mapping_gives_the_defaults(write_yaml):
    with pytest.raises(sim.ScenarioError, match=r"\(file\): empty"):
        sim.load_scenario(write_yaml(""))
    assert sim.load_scenario(write_yaml("{}")) == sim.Scenario()
    assert parse_scenario({}) == sim.Scenario()


def test_yaml_round_trip_keeps_the_scenario_and_its_digest():
    sc = sim.load_scenario(SCENARIO_FILES["baseline"], ["timeline=[{day: 40, scheme: {kind: random_allocation}}]"])
    again = parse_scenario(yaml.safe_load(sc.to_yaml()))
    assert again == sc
    assert again.digest() == sc.digest()


def test_digest_changes_with_any_field():
    base = sim.load_scenario(SCENARIO_FILES["baseline"])
    changed = sim.load_scenario(SCENARIO_FILES["baseline"], ["resellers.2.reaction_s=2.5"])
    assert changed.digest() != base.digest()


def test_scenario_is_frozen():
    sc = sim.load_scenario(SCENARIO_FILES["baseline"])
    with pytest.raises(pydantic.ValidationError):
        sc.centre.capacity_per_day = 1


def test_policies_carry_unchanged_parts_over_each_switch():
    sc = parse_scenario(
        {
            "policy": {"defences": {"captcha": {"enabled": True}}},
            "timeline": [
                {"day": 10, "scheme": {"kind": "random_allocation"}},
                {"day": 20, "defences": {"identity_binding": {"enabled": True}}},
            ],
        }
    )
    (d0, p0), (d1, p1), (d2, p2) = sc.policies()
    assert (d0, d1, d2) == (0, 10, 20)
    assert p0.scheme.kind == "first_come" and p0.defences.captcha.enabled
    assert p1.scheme.kind == "random_allocation" and p1.defences.captcha.enabled
    assert p2.scheme.kind == "random_allocation"
    assert p2.defences.identity_binding.enabled and not p2.defences.captcha.enabled


# --------------------------------------------------------------------------- one rule broken


@pytest.mark.parametrize(
    "data, path",
    [
        ({"centre": {"capacity_per_day": -5}}, "centre.capacity_per_day"),
        ({"centre": {"no_show_prob": 1.5}}, "centre.no_show_prob"),
        ({"resellers": [{"name": "a", "target_sell_through": 1.2}]}, "resellers.0.target_sell_through"),
        ({"policy": {"defences": {"captcha": {"human_fail_prob": -0.1}}}}, "policy.defences.captcha.human_fail_prob"),
        ({"demand": {"applicants_per_year": -1.0}}, "demand.applicants_per_year"),
        ({"run": {"days": 0}}, "run.days"),
    ],
)
def test_out_of_range_values_name_their_field(data, path):
    (message,) = errors_of(data)
    assert message.startswith(f"{path}: ")


@pytest.mark.parametrize(
    "data, path",
    [
        ({"centre": {"capacity": 800}}, "centre.capacity"),
        ({"nmae": "typo"}, "nmae"),
        ({"resellers": [{"name": "a", "bot": 3}]}, "resellers.0.bot"),
        ({"policy": {"scheme": {"kind": "first_come", "batches": 3}}}, "policy.scheme.batches"),
    ],
)
def test_unknown_keys_are_refused(data, path):
    (message,) = errors_of(data)
    assert message.startswith(f"{path}: unknown key")


@pytest.mark.parametrize(
    "text, path, shown",
    [
        ("centre:\n  release_hour: 12:30\n", "centre.release_hour", "24"),  # YAML 1.1 sexagesimal: 750
        ("name: NO\n", "name", "False"),  # YAML 1.1 boolean
        ("description: off\n", "description", "False"),
        ("centre:\n  capacity_per_day: on\n", "centre.capacity_per_day", "True"),  # a bool is not an int
        ("resellers:\n  - {name: a, mode: NO}\n", "resellers.0.mode", "speculative"),
        ("centre:\n  service_fee_eur: '25'\n", "centre.service_fee_eur", "'25'"),  # no silent str -> float
    ],
)
def test_yaml_1_1_surprises_are_type_errors(write_yaml, text, path, shown):
    (message,) = file_errors(write_yaml(text))
    assert message.startswith(f"{path}: ")
    assert shown in message


@pytest.mark.parametrize(
    "data, where, words",
    [
        ({"demand": {"seasonality": [1.0] * 11}}, "demand", ["seasonality", "12"]),
        (
            {"demand": {"segment_shares": {"first_time": 0.5, "renewal": 0.3, "circulation": 0.1}}},
            "demand",
            ["segment_shares", "sum to 1"],
        ),
        ({"demand": {"segment_shares": {"first_time": 1.0}}}, "demand", ["segment_shares"]),
        ({"humans": {"habits": {"x": {"share": 0.5, "checks_per_day": 1.0}}}}, "humans", ["habits", "sum to 1"]),
        ({"centre": {"working_weekdays": [0, 7]}}, "centre", ["working_weekdays"]),
        ({"run": {"days": 10, "warmup_days": 10}}, "run", ["warmup_days"]),
        ({"resellers": [{"name": "a", "price_eur": 5000.0}]}, "resellers.0", ["price_eur"]),
        ({"resellers": [{"name": "a"}, {"name": "a"}]}, "(top level)", ["distinct names"]),
        ({"timeline": [{"day": 20}, {"day": 10}]}, "(top level)", ["timeline", "increasing"]),
        ({"run": {"days": 10, "warmup_days": 2}, "timeline": [{"day": 10}]}, "(top level)", ["timeline"]),
    ],
)
def test_rules_across_fields_name_the_group_and_the_field(data, where, words):
    (message,) = errors_of(data)
    assert message.startswith(f"{where}: ")
    for word in words:
        assert word in message


def test_a_file_that_is_not_a_mapping_is_refused(write_yaml):
    (message,) = file_errors(write_yaml("- a\n- b\n"))
    assert message.startswith("(top level): must be a mapping")


def test_malformed_yaml_reports_the_line(write_yaml):
    (message,) = file_errors(write_yaml("centre:\n  capacity_per_day: 5\n capacity: 2\n"))
    assert message.startswith("(yaml) line 3")


def test_a_missing_file_is_a_scenario_error(tmp_path):
    path = tmp_path / "nowhere.yaml"
    assert file_errors(path) == ["file not found"]
    with pytest.raises(ScenarioError, match=str(path)):
        sim.load_scenario(path)


# --------------------------------------------------------------------------- all errors at once


def test_every_error_of_a_file_is_reported_at_once(write_yaml):
    path = write_yaml(
        "name: NO\n"
        "centre:\n"
        "  capacity_per_day: -5\n"
        "  release_hour: 12:30\n"
        "  no_show_prob: 1.5\n"
        "  capacity: 3\n"
        "demand:\n"
        "  seasonality: [1, 1, 1]\n"
    )
    messages = file_errors(path)
    expected = [
        "name",
        "centre.capacity_per_day",
        "centre.release_hour",
        "centre.no_show_prob",
        "centre.capacity",
        "demand",
    ]
    assert [m.split(": ")[0] for m in messages] == expected
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    lines = str(info.value).splitlines()
    assert len(lines) == len(expected)
    assert all(line.startswith(f"{path}: ") for line in lines)


# --------------------------------------------------------------------------- overrides


def test_overrides_set_nested_fields_and_list_items_without_touching_the_input():
    data = {"centre": {"capacity_per_day": 10}, "resellers": [{"name": "a"}, {"name": "b"}]}
    out = apply_overrides(
        data,
        [
            "centre.capacity_per_day=25",
            "resellers.1.bots=7",
            "demand.seasonality=[1,1,1,1,1,1,1,1,1,1,1,2]",
            "run.start_date=2025-01-06",
        ],
    )
    assert data == {"centre": {"capacity_per_day": 10}, "resellers": [{"name": "a"}, {"name": "b"}]}
    sc = parse_scenario(out)
    assert sc.centre.capacity_per_day == 25
    assert sc.resellers[1].bots == 7 and sc.resellers[0].bots == 100
    assert sc.demand.seasonality[-1] == 2
    assert sc.run.start_date == dt.date(2025, 1, 6)


def test_an_override_is_validated_like_the_file():
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(SCENARIO_FILES["baseline"], ["centre.capacity_per_day=abc", "centre.capacity=5"])
    assert [m.split(": ")[0] for m in info.value.messages] == ["centre.capacity_per_day", "centre.capacity"]


@pytest.mark.parametrize(
    "item, start",
    [
        ("centre.capacity_per_day", "--set 'centre.capacity_per_day': expected"),
        (".a=1", "--set '.a=1': empty name"),
        ("resellers.5.bots=3", "resellers.5.bots: resellers has no item '5'"),
        ("resellers.x.bots=3", "resellers.x.bots: resellers has no item 'x'"),
        ("name.x=1", "name.x: name is a value"),
    ],
)
def test_malformed_overrides_are_refused(item, start):
    with pytest.raises(ScenarioError) as info:
        apply_overrides({"name": "n", "resellers": [{"name": "a"}]}, [item])
    (message,) = info.value.messages
    assert message.startswith(start)


def test_bad_set_syntax_and_bad_values_are_reported_together(tmp_path):
    """One round of corrections: a malformed --set and a value the schema refuses, at once."""
    from sim.scenario import load_scenario

    f = tmp_path / "s.yaml"
    f.write_text("centre:\n  release_hour: 12:30\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(f, ["nonsense", "centre.capacity_per_day=abc"])
    text = "\n".join(err.value.messages)
    assert "nonsense" in text
    assert "centre.capacity_per_day" in text and "'abc'" in text
    assert "centre.release_hour" in text and "750" in text
