"""The Streamlit app (app.py) headless with AppTest, and the helpers behind it (sim/app_support.py).

The comparison run here is a shortened one (60 days, a tenth of the demand, two schemes): a few
seconds. Its table must equal what `slotsim run` prints for the exported scenario under that scheme.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sim
from sim import app_support as A
from sim.errors import InputError
from sim.presets import PRESETS, apply_preset
from sim.scenario import ScenarioError

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SHORT = {"days": 60, "warmup_days": 20, "applicants_per_year": 22_000, "capacity": 80}
TIMEOUT = 180


def fresh_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def set_short(at: AppTest, **extra) -> None:
    for k, v in {**SHORT, **extra}.items():
        at.number_input(key=k).set_value(v)
    at.slider(key="bots_scale").set_value(0.1)


# --------------------------------------------------------------------------- the app


def test_app_loads_with_defaults_and_explanations():
    at = fresh_app()
    assert not at.error
    assert at.button(key="run").label == "Run the comparison"
    assert at.multiselect(key="schemes").value == list(PRESETS)
    assert at.selectbox(key="base_choice").value == "baseline_fcfs.yaml"
    # the app's default run is shortened so that all the schemes take about a minute
    assert at.number_input(key="days").value == A.APP_DEFAULT_DAYS
    labels = [e.label for e in at.expander]
    assert any("schemes are" in label for label in labels) and any("default values" in label for label in labels)
    # help texts come from the schema's Field descriptions (units and sources)
    assert "Consul General" in at.number_input(key="capacity").help
    # every number box and slider of the settings takes its bounds from A.PARAMS (inside the schema's)
    widgets = {w.key: (w.min, w.max) for w in at.number_input}
    widgets |= {w.key: (w.proto.min, w.proto.max) for w in at.slider}
    assert set(widgets) == set(A.PARAMS)
    for k, (lo, hi) in widgets.items():
        assert (lo, hi) == (A.PARAMS[k].min, A.PARAMS[k].max), k


def test_comparison_table_equals_slotsim_run_of_the_exported_scenario(tmp_path, monkeypatch):
    calls = []
    real = A.run_comparison
    monkeypatch.setattr(A, "run_comparison", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = fresh_app()
    set_short(at, capacity=90, seed=7)  # a changed parameter: capacity 80 -> 90
    at.multiselect(key="schemes").set_value(["first_come", "random_allocation"])
    at.run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert len(calls) == 1
    table = at.table[0].value
    assert list(table.index) == [A.LABELS["first_come"], A.LABELS["random_allocation"]]
    assert "does best" in " ".join(m.value for m in at.markdown)

    exported = tmp_path / "edited.yaml"
    exported.write_text(at.session_state["scenario_yaml"], encoding="utf-8")
    base = sim.load_scenario(exported)
    assert base.centre.capacity_per_day == 90 and base.run.days == 60 and base.run.seed == 7
    # one preset through the command line, the other through the run contract
    variant = tmp_path / "first_come.yaml"
    variant.write_text(apply_preset(base, "first_come").to_yaml(), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", str(variant), "--seed", "7", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = {
        "first_come": json.loads(out.stdout),
        "random_allocation": sim.run(apply_preset(base, "random_allocation"), seed=7).metrics,
    }
    for preset, metrics in expected.items():
        row = table.loc[A.LABELS[preset]]
        for metric, (title, factor, _) in A.MEASURES.items():
            want = metrics[metric]
            want = math.nan if want is None else want * factor
            assert row[title] == pytest.approx(want, rel=1e-9, nan_ok=True), (preset, metric)

    # a chart option redraws from the stored results: no new simulation
    comparison = at.session_state["comparison"]
    at.slider(key="fair_days").set_value(30).run()
    assert not at.exception and not at.warning
    assert at.session_state["comparison"] is comparison and len(calls) == 1
    # the same settings run again come from the cache
    at.button(key="run").click().run()
    assert at.session_state["comparison"] is comparison and len(calls) == 1
    # a changed setting marks the results as stale until run again
    at.number_input(key="capacity").set_value(100).run()
    assert any("changed since" in w.value for w in at.warning)


def test_bad_upload_shows_field_errors_and_the_app_keeps_working(tmp_path):
    at = fresh_app()
    bad = b"centre:\n  capacity_per_day: -5\n  capacty: 3\nrun: {days: NO}\n"
    at.file_uploader(key="upload").set_value(("mine.yaml", bad, "application/x-yaml")).run()
    assert not at.exception, at.exception
    text = " ".join(e.value for e in at.error)
    for path in ("centre.capacity_per_day", "centre.capacty", "run.days"):
        assert path in text
    assert at.number_input(key="capacity").value == 800  # still the shipped scenario
    assert not at.button(key="run").disabled

    # extends: outside the shipped scenarios: the one message, nothing of the file, the name defused
    at.file_uploader(key="upload").set_value(("../../etc/x.yaml", b"extends: /etc/passwd\n", "text/yaml")).run()
    assert not at.exception, at.exception
    text = " ".join(e.value for e in at.error)
    assert "extends: must be the name of a shipped scenario (baseline_fcfs.yaml" in text
    assert "root:" not in text and "/etc" not in text and "`.._.._etc_x.yaml`" in text
    assert at.number_input(key="capacity").value == 800

    good = A.build_scenario(A.shipped_scenarios()["no_bots_fcfs.yaml"], {"capacity": 321})
    at.file_uploader(key="upload").set_value(("good.yaml", A.yaml_bytes(good), "application/x-yaml")).run()
    assert not at.exception and not at.error
    assert at.number_input(key="capacity").value == 321
    assert any("Using your file" in s.value for s in at.success)


def test_timeline_scenario_runs_with_its_own_column():
    at = fresh_app()
    at.selectbox(key="base_choice").set_value("rabat_2024.yaml").run()
    assert not at.exception
    assert at.checkbox(key="own").value  # a timeline: its own column by default
    assert any("switches to random allocation" in c.value for c in at.caption)
    set_short(at, days=70, warmup_days=15, capacity=50)
    at.multiselect(key="schemes").set_value(["random_allocation"])
    at.number_input(key="replications").set_value(2)
    at.run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    table = at.table[0].value
    assert list(table.index) == [A.LABELS[A.OWN], A.LABELS["random_allocation"]]
    assert all("±" in x for x in table.iloc[:, 0])  # confidence intervals with 2 replications
    c = at.session_state["comparison"]
    assert c.variants[A.OWN].timeline[0].day == 61 and c.replications == 2
    # a scenario without bots disables the bot settings
    at.selectbox(key="base_choice").set_value("no_bots_fcfs.yaml").run()
    assert not at.exception and at.slider(key="bots_scale").disabled


def test_a_comparison_the_simulator_refuses_shows_an_error_box(monkeypatch):
    def refuse(*args, **kwargs):
        raise InputError("the scenario is too large to simulate here: 9 GB of memory for 1 GB allowed")

    monkeypatch.setattr(A, "run_comparison", refuse)
    at = fresh_app()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    assert any("cannot run" in e.value and "too large to simulate" in e.value for e in at.error)
    assert "comparison" not in at.session_state and not at.button(key="run").disabled
    assert any("No results yet" in i.value for i in at.info)


def test_invalid_settings_show_the_rule_and_block_the_run():
    at = fresh_app()
    at.number_input(key="days").set_value(30)
    at.number_input(key="warmup_days").set_value(30).run()
    assert not at.exception
    assert any("run: warmup_days must be smaller than days" in e.value for e in at.error)
    assert at.button(key="run").disabled


# --------------------------------------------------------------------------- helpers


def test_widget_defaults_round_trip_for_every_shipped_scenario():
    shipped = A.shipped_scenarios()
    assert "regression.yaml" not in shipped and len(shipped) >= 8
    assert all(sc.description for sc in shipped.values())
    for name, sc in shipped.items():
        for s in (sc, A.for_app(sc)):
            assert A.build_scenario(s, A.widget_defaults(s)).digest() == s.digest(), name


def test_build_scenario_applies_each_setting():
    base = A.shipped_scenarios()["rabat_2024.yaml"]
    sc = A.build_scenario(
        base,
        {
            "bots_scale": 2.0,
            "poll_factor": 0.5,
            "price_factor": 10.0,
            "adaptive": False,
            "reseller_mode": "to_order",
            "def_ip_blocking": True,
            "def_captcha": False,
            "draw_interval_days": 2.0,
            "enrolled_segments": ["renewal", "first_time"],
            "scheme_kind": "progressive_random",
        },
    )
    r0, r = base.resellers[0], sc.resellers[0]
    assert r.bots == 2 * r0.bots and r.max_bots >= r.bots
    assert r.poll_interval_s == pytest.approx(r0.poll_interval_s / 2)
    assert r.price_eur == r.price_max_eur  # clipped to the fleet's maximum
    assert not r.adaptive and {x.mode for x in sc.resellers} == {"to_order"}
    assert sc.policy.defences.ip_blocking.enabled and not sc.policy.defences.captcha.enabled
    assert sc.policy.scheme.kind == "progressive_random"
    switch = sc.timeline[0].scheme  # scheme settings reach the timeline too
    assert switch.draw_interval_days == 2.0 and switch.enrolled_segments == ("first_time", "renewal")
    with pytest.raises(ScenarioError) as e:
        A.build_scenario(base, {"days": 50})  # the switch on day 61 is after the end
    assert any(m.startswith("(top level)") or "timeline" in m for m in e.value.messages)


def test_out_of_bounds_values_are_fitted_to_the_widgets():
    big = A.PARAMS["applicants_per_year"].max + 100_000  # the schema allows more than the widget
    sc = A.build_scenario(A.shipped_scenarios()["baseline_fcfs.yaml"], {"applicants_per_year": big})
    values, changed = A.fit_widgets(A.widget_defaults(sc))
    assert changed == ["applicants_per_year"] and values["applicants_per_year"] == A.PARAMS["applicants_per_year"].max


def test_parse_upload_errors_name_the_problem():
    with pytest.raises(ScenarioError) as e:
        A.parse_upload("x.yaml", b"centre: [1, 2\n")
    assert "malformed YAML" in e.value.messages[0] and "line" in e.value.messages[0]
    with pytest.raises(ScenarioError, match="not UTF-8"):
        A.parse_upload("x.yaml", b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match="extends"):
        A.parse_upload("x.yaml", b"extends: ../secret.yaml\n")
    sc = A.parse_upload(
        "x.yaml", yaml.safe_dump({"extends": "baseline_fcfs.yaml", "centre": {"capacity_per_day": 5}}).encode()
    )
    assert sc.centre.capacity_per_day == 5 and len(sc.resellers) == 4


def test_summaries_charts_and_exports_of_a_small_comparison():
    base = A.build_scenario(
        A.shipped_scenarios()["rabat_2024.yaml"],
        {"days": 70, "warmup_days": 15, "applicants_per_year": 15_000, "capacity": 50, "bots_scale": 0.1},
    )
    seen = []
    c = A.run_comparison(
        A.variants_for(base, ["first_come"], True), seed=2, replications=2, on_progress=lambda *a: seen.append(a)
    )
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
    table = A.summary_table(c)
    assert list(table.index) == [A.LABELS[A.OWN], A.LABELS["first_come"]]
    assert table.filter(like="±").notna().all().all()  # confidence intervals with 2 replications
    assert "does best" in A.headline(c) and "confidence interval" in A.caveat(c)
    shares = A.outcome_shares(c)
    assert shares.sum(axis=1).to_numpy() == pytest.approx(1.0)
    mean, ci = A.fairness_table(c, 14, "habit")
    assert list(mean.index) == list(base.humans.habits) and ((mean >= 0) & (mean <= 100)).all().all()
    for fig in (A.fig_outcomes(c), A.fig_waits(c), A.fig_activity(c), A.fig_fairness(c, 14)):
        assert A.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    csv = A.results_csv(c).decode()
    assert csv.splitlines()[0].startswith("variant,label,replication,seed") and len(csv.splitlines()) == 5
    assert sim.load_scenario  # the YAML export is what `slotsim run` reads
    assert sim.parse_scenario(yaml.safe_load(A.yaml_bytes(c.variants[A.OWN]))).digest() == base.digest()
