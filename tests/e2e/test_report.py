"""`slotsim report`: figures and report.md from a results folder; bad folders exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from sim.cli import main
from sim.experiments import summarise

REPO = Path(__file__).resolve().parents[2]
BASELINE = (REPO / "scenarios" / "baseline_fcfs.yaml").as_posix()

SWEEP = f"""
name: small_sweep
description: "Two schemes at two demand levels."
base: {BASELINE}
overrides:
  run.days: 40
  run.warmup_days: 10
  centre.capacity_per_day: 100
  resellers.0.bots: 15
  resellers.1.bots: 10
  resellers.2.bots: 8
  resellers.3.bots: 4
variants:
  first_come: {{preset: first_come}}
  random: {{preset: random_allocation}}
sweep:
  demand.applicants_per_year: [15000.0, 30000.0]
replications: 2
seed: 3
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    exp = folder / "small_sweep.yaml"
    exp.write_text(SWEEP, encoding="utf-8")
    out = folder / "results"
    assert main(["batch", str(exp), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    assert main(["report", str(out)]) == 0
    return out


def test_report_writes_every_figure_in_png_and_pdf(results):
    figs = results / "figures"
    stems = ["outcomes", "sweep"] + [f"{k}_p{i}" for k in ("differences", "waits", "activity") for i in (0, 1)]
    for stem in stems:
        png, pdf = figs / f"{stem}.png", figs / f"{stem}.pdf"
        assert png.is_file() and pdf.is_file(), stem
        assert pdf.read_bytes()[:5] == b"%PDF-"
        img = mpimg.imread(png)
        assert img.shape[0] > 250 and img.shape[1] > 500, (stem, img.shape)
        assert img[..., :3].std() > 0.05, f"{stem} looks blank"
    assert not list(figs.glob(".*.tmp"))


def test_report_markdown_tables_match_the_results(results):
    text = (results / "report.md").read_text()
    manifest = json.loads((results / "manifest.json").read_text())
    assert text.startswith("# Experiment `small_sweep`") and "Two schemes at two demand levels." in text
    assert "## Point 1: demand.applicants_per_year=30000" in text
    assert "reference for differences: **first_come**" in text
    assert (manifest["package"]["git_commit"] or "unknown")[:12] in text
    # every figure linked exists
    for line in text.splitlines():
        if line.startswith("!["):
            target = line.split("](", 1)[1].rstrip(")")
            assert (results / target).is_file(), target
    assert text.count("![") == 8
    # the numbers in the table are the summary's
    import pandas as pd

    runs = pd.read_parquet(results / "replications.parquet")
    s = summarise(runs, "first_come", ["demand.applicants_per_year"])
    row = s[
        (s.variant == "random") & (s.metric == "wait_days_mean") & (s.point == "demand.applicants_per_year=30000")
    ].iloc[0]
    from sim.experiments import fmt

    wait_rows = [ln for ln in text.splitlines() if ln.startswith("| wait_days_mean |")]
    assert len(wait_rows) == 4  # means and differences, two points
    assert f"{fmt(row['mean'])} ±{fmt(row['half_width'])}" in wait_rows[2]
    assert f"±{fmt(row['diff_half_width'])} [±{fmt(row['unpaired_half_width'])}]" in wait_rows[3]


def test_report_out_elsewhere(results, tmp_path, monkeypatch):
    import sim.report as rep

    for name in ("fig_outcomes", "fig_differences", "fig_waits", "fig_activity"):  # only the sweep: fast
        monkeypatch.setattr(rep, name, lambda *a, **k: [])
    assert main(["report", str(results), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.md").is_file()
    assert (tmp_path / "rep" / "figures" / "sweep.png").is_file()


def test_bad_results_folders_exit_2(results, tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(results, broken, ignore=shutil.ignore_patterns("runs", "figures"))
    (broken / "manifest.json").write_text("{not json")
    assert main(["report", str(broken)]) == 2
    assert "not a manifest written by `slotsim batch`" in capsys.readouterr().err
    partial = tmp_path / "partial"
    shutil.copytree(results, partial, ignore=shutil.ignore_patterns("runs", "figures", "daily.parquet"))
    assert main(["report", str(partial)]) == 2
    assert "results files missing or unreadable" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(results), "--out", str(blocker / "sub")]) == 2
    assert "cannot write there" in capsys.readouterr().err
