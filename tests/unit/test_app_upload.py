"""What a visitor of the app can make the server do (sim/app_support.py, .streamlit/config.toml).

An upload's `extends:` reads only the shipped scenarios and answers everything else with one
message that depends neither on what exists on the server nor on what a file holds; uploads are
refused above the YAML reader's size limit before they are decoded; every widget stays inside the
bounds of the scenario field it edits; the server listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path
from typing import Annotated

import pytest
import yaml
from pydantic import BaseModel, Field

import sim
from sim import app_support as A
from sim.scenario import ScenarioError
from sim.yamlsafe import MAX_BYTES

REPO = Path(__file__).resolve().parents[2]
MARKER = "LEAKED-7f3a9c"  # what the file outside the scenarios folder holds


def refusal(directory: Path, extends: object, name: str = "mine.yaml") -> list[str]:
    """The messages of an upload that only says `extends: <value>` (it must be refused)."""
    with pytest.raises(ScenarioError) as e:
        A.parse_upload(name, yaml.safe_dump({"extends": extends}).encode(), directory)
    return e.value.messages


@pytest.fixture
def outside(tmp_path) -> Path:
    """A YAML file outside the scenarios folder whose values would show in a validation error."""
    secret = tmp_path / "outside" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text(f"centre:\n  capacity_per_day: {MARKER}\nname: {MARKER}\n", encoding="utf-8")
    return secret


# --------------------------------------------------------------------------- extends:


def test_extends_outside_the_folder_gets_one_message_whatever_exists(outside):
    shipped = A.SCENARIO_DIR
    up = os.path.relpath(outside, shipped)  # ../../../tmp/.../outside/secret.yaml: an existing file
    unsafe = [
        "../../../etc/passwd",
        "/etc/hostname",
        "../scenarios/baseline_fcfs.yaml",  # a shipped file, but by a path
        "./baseline_fcfs.yaml",
        "experiments/demand_sweep.yaml",  # inside the folder, but not a shipped scenario
        "regression.yaml",  # the regression plan, not a scenario
        "no_such_scenario.yaml",
        "baseline_fcfs.yaml/..",
        str(outside),  # absolute, exists, would echo MARKER if read
        up,  # relative, exists, would echo MARKER if read
        up.replace("secret.yaml", "missing.yaml"),  # the same place, no such file
        "/etc/no-such-file-here",
        "",
        5,
        None,
        ["baseline_fcfs.yaml"],
        {"a": 1},
    ]
    assert outside.is_file() and (shipped / up).resolve() == outside.resolve()
    first = refusal(shipped, unsafe[0])
    assert len(first) == 1 and first[0].startswith("extends: must be the name of a shipped scenario (")
    assert "baseline_fcfs.yaml, captcha_otp.yaml" in first[0] and "regression" not in first[0]
    for value in unsafe:
        got = refusal(shipped, value)
        assert got == first, value  # the same words for a file that exists and one that does not
        assert MARKER not in " ".join(got) and "root:" not in " ".join(got)


def test_extends_a_shipped_scenario_by_its_name_follows_its_own_chain():
    rabat = sim.load_scenario(A.SCENARIO_DIR / "rabat_2024.yaml")  # extends baseline_fcfs.yaml
    for name in ("rabat_2024.yaml", "rabat_2024"):
        assert A.parse_upload("x.yaml", f"extends: {name}\n".encode()).digest() == rabat.digest()
    sc = A.parse_upload("x.yaml", b"extends: baseline_fcfs\ncentre: {capacity_per_day: 7}\n")
    assert sc.centre.capacity_per_day == 7 and sc.demand.applicants_per_year == 220_000


def test_links_and_chains_leaving_a_copy_of_the_folder_are_refused_alike(tmp_path, outside):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for f in A.SCENARIO_DIR.glob("*.yaml"):
        shutil.copy(f, folder / f.name)
    try:
        (folder / "leak.yaml").symlink_to(outside)  # a link out of the folder
        (folder / "alias.yaml").symlink_to(folder / "baseline_fcfs.yaml")  # a link within it
        (folder / "loop.yaml").symlink_to(folder / "loop.yaml")
    except OSError:
        pytest.skip("no symbolic links here")
    # a file of the folder whose own extends: chain leaves it
    (folder / "chain.yaml").write_text(f"extends: {os.path.relpath(outside, folder)}\n", encoding="utf-8")
    (folder / "chain2.yaml").write_text("extends: chain.yaml\n", encoding="utf-8")  # one step further
    (folder / "cycle.yaml").write_text("extends: cycle.yaml\n", encoding="utf-8")

    names = A.shipped_names(folder)
    assert "alias.yaml" in names and "baseline_fcfs.yaml" in names
    assert "leak.yaml" not in names and "loop.yaml" not in names and "regression.yaml" not in names
    first = refusal(folder, "../../../etc/passwd")
    assert "leak.yaml" not in first[0]
    for value in ("leak.yaml", "leak", "loop.yaml", "chain.yaml", "chain2", "cycle.yaml", str(outside)):
        got = refusal(folder, value)
        assert got == first, value
        assert MARKER not in " ".join(got)
    aliased = A.parse_upload("x.yaml", b"extends: alias.yaml\n", folder)
    assert aliased.digest() == sim.load_scenario(A.SCENARIO_DIR / "baseline_fcfs.yaml").digest()


def test_the_upload_name_only_labels_the_messages():
    with pytest.raises(ScenarioError) as e:
        A.parse_upload("../../etc/passwd", b"centre: {capacity_per_day: -1}\n")
    assert e.value.source == ".._.._etc_passwd" and "/" not in str(e.value).split(":")[0]
    assert A.upload_label("`x`](javascript:alert(1)).yaml") == "_x___javascript_alert_1__.yaml"
    assert A.upload_label("") == "upload" and len(A.upload_label("a" * 500)) == 80


# --------------------------------------------------------------------------- size


def test_an_upload_above_the_limit_is_refused_before_it_is_decoded(monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed an oversized upload")

    monkeypatch.setattr(A, "parse_yaml", no_parsing)
    for content in (b"# padding\n" * 200_000, b"\xff" * 2_000_000):  # 2 MB of YAML, of non-UTF-8
        with pytest.raises(ScenarioError) as e:
            A.parse_upload("big.yaml", content)
        assert e.value.messages == [
            f"(file): {len(content):,} bytes, more than the limit of {MAX_BYTES:,} bytes: refused"
        ]
        assert "2,000,000 bytes" in e.value.messages[0]
    monkeypatch.undo()
    # exactly at the limit it is read: a file of comments is empty
    with pytest.raises(ScenarioError, match="empty"):
        A.parse_upload("edge.yaml", b"#" * MAX_BYTES)
    with pytest.raises(ScenarioError, match="empty"):
        A.parse_upload("none.yaml", b"")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        A.parse_upload("bin.yaml", b"\xff\xfe\x00")


# --------------------------------------------------------------------------- widget bounds


class _Inner(BaseModel):
    share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    count: int = Field(3, gt=0, lt=10)


class _Outer(BaseModel):
    items: tuple[_Inner, ...] = ()
    inner: _Inner = _Inner()
    size: Annotated[float, Field(ge=2.0)] = Field(5.0, ge=1.0, le=8.0)
    free: float = 1.0


def test_field_bounds_read_the_schema():
    assert A.field_bounds("items.share", _Outer) == A.Bounds(0.0, 1.0)
    assert A.field_bounds("inner.count", _Outer) == A.Bounds(0.0, 10.0, lo_strict=True, hi_strict=True)
    assert A.field_bounds("size", _Outer) == A.Bounds(2.0, 8.0)  # the tightest of both Ge
    assert A.field_bounds("free", _Outer) == A.Bounds()
    assert A.field_bounds("run.days") == A.Bounds(1.0, 3650.0)
    window = A.field_bounds("policy.scheme.window_hours")
    assert window.lo == 0.0 and window.lo_strict and window.hi == 24.0 and not window.hi_strict
    assert not window.admits(0.0) and window.admits(0.01) and window.admits(24.0) and not window.admits(24.01)
    assert A.field_bounds("resellers.poll_interval_s").lo is not None  # through the list of fleets
    for bad in ("run.dayz", "run.days.x", "nothing"):
        with pytest.raises(KeyError):
            A.field_bounds(bad)


def test_every_widget_lies_inside_its_fields_bounds():
    fields = {k: p for k, p in A.PARAMS.items() if not p.factor}
    # every widget that sets a value names the field it sets (only the replications are no field)
    assert {k for k, p in fields.items() if not p.path} == {"replications"}
    for k, p in fields.items():
        assert p.min < p.max, k
        if p.path:
            b = A.field_bounds(p.path)
            assert b.admits(p.min) and b.admits(p.max), (k, p.min, p.max, b)
    # what the issue ran: 100 million applicants a year is beyond the widget
    assert A.PARAMS["applicants_per_year"].max <= 2_000_000 and A.PARAMS["replications"].max == 10


def test_a_widget_wider_than_its_field_is_narrowed_to_it():
    wide = A.within_field(A.Param("d", "d", "run.days", 0, 10_000, 1))
    assert (wide.min, wide.max) == (1, 3650)
    hours = A.within_field(A.Param("w", "w", "policy.scheme.window_hours", 0.0, 100.0, 0.5, integer=False))
    assert (hours.min, hours.max) == (0.5, 24.0)  # strictly above 0: one step up
    factor = A.Param("f", "f", "run.days", 0.0, 9_999.0, 0.1, integer=False, factor=True)
    assert A.within_field(factor) is factor
    with pytest.raises(ValueError, match="no value"):
        A.within_field(A.Param("x", "x", "run.days", 5_000, 6_000, 1))


def test_an_upload_beyond_the_widgets_is_fitted_with_the_keys_named():
    data = {"extends": "baseline_fcfs.yaml", "demand": {"applicants_per_year": 2.5e6}, "run": {"seed": 2**60}}
    sc = A.parse_upload("big.yaml", yaml.safe_dump(data).encode())
    values, changed = A.fit_widgets(A.widget_defaults(sc))
    assert changed == ["applicants_per_year", "seed"]
    assert values["applicants_per_year"] == A.PARAMS["applicants_per_year"].max
    edited = A.build_scenario(sc, values)  # what the app then runs: within the widgets
    assert edited.demand.applicants_per_year == A.PARAMS["applicants_per_year"].max
    # values the widgets hold already are left alone, integers stay integers
    values, changed = A.fit_widgets({"days": 3650, "warmup_days": 3649, "window_hours": 0.01})
    assert changed == [] and values == {"days": 3650, "warmup_days": 3649, "window_hours": 0.01}
    values, changed = A.fit_widgets({"days": 0, "window_hours": 0.0, "capacity": 10**9})
    assert changed == ["capacity", "days", "window_hours"] and values["days"] == 1
    assert isinstance(values["capacity"], int) and values["window_hours"] == A.PARAMS["window_hours"].min


# --------------------------------------------------------------------------- the server


def test_the_server_listens_on_localhost_unless_told_otherwise():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["maxUploadSize"] <= 5  # MB
    assert "--server.address 0.0.0.0" in (REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "--server.address 0.0.0.0" in (REPO / "docs" / "app.md").read_text(encoding="utf-8")
