"""Baseline files: a committed baseline folder, copied and corrupted in every way a run cannot
produce, is refused with exit 2 and a message naming the file, the row (replication and line)
and the column; the untouched copy loads; and an update never writes what a load would refuse.

Nothing here simulates: a corrupt baseline is refused before any run (run_entries is replaced by
a function that fails the test if called), and the update test hands the command its results.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import cli
from sim.errors import BaselineError
from sim.regress import (
    ALWAYS_DEFINED,
    METRICS_FILE,
    check_new_baseline,
    load_baseline,
    load_baselines,
    load_suite,
    metrics_csv,
    resolve,
    write_baseline,
)
from sim.scenario import parse_scenario

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "scenarios" / "regression.yaml"
BASELINES = REPO / "results" / "baselines"
ENTRY = "baseline_fcfs"  # 5 replications; every cell a number
NAN_ENTRY = "no_bots_fcfs"  # reseller_price_mean_eur undefined (nan) in every replication: legal


@pytest.fixture
def baselines(tmp_path, monkeypatch) -> Path:
    """A copy of the committed baselines; any run of the suite fails the test."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("the suite ran: the baseline was not refused before the runs")

    monkeypatch.setattr("sim.cli.regress.run_entries", must_not_run)
    folder = tmp_path / "baselines"
    shutil.copytree(BASELINES, folder)
    return folder


def regress(capsys, baselines: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["regress", "--suite", str(SUITE), "--baselines", str(baselines), "--no-progress", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def table(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines()]


def write_table(path: Path, rows: list[list[str]]) -> None:
    path.write_text("".join(",".join(r) + "\n" for r in rows))


def set_cell(path: Path, replication: int, metric: str, text: str) -> None:
    rows = table(path)
    rows[replication + 1][rows[0].index(metric)] = text
    write_table(path, rows)


def drop_column(path: Path, metric: str) -> None:
    rows = table(path)
    j = rows[0].index(metric)
    write_table(path, [r[:j] + r[j + 1 :] for r in rows])


def add_column(path: Path, name: str) -> None:
    rows = table(path)
    write_table(path, [rows[0] + [name]] + [r + ["1.0"] for r in rows[1:]])


def drop_line(path: Path, index: int) -> None:
    rows = table(path)
    del rows[index]
    write_table(path, rows)


def add_row(path: Path) -> None:
    rows = table(path)
    write_table(path, rows + [[str(len(rows) - 1)] + rows[-1][1:]])


def drop_cell(path: Path, replication: int, metric: str) -> None:
    rows = table(path)
    del rows[replication + 1][rows[0].index(metric)]
    write_table(path, rows)


# (entry, corruption, expected text after "<file>: corrupt baseline: ")
CASES = {
    "inf": (ENTRY, lambda p: set_cell(p, 1, "abandon_rate", "inf"), "replication 1, row 3, abandon_rate: "),
    "minus_inf": (ENTRY, lambda p: set_cell(p, 0, "bots_end", "-inf"), "replication 0, row 2, bots_end: "),
    "infinity": (ENTRY, lambda p: set_cell(p, 4, "wait_days_p90", "Infinity"), "replication 4, row 6, wait_days_p90"),
    "nan_in_a_count": (
        ENTRY,
        lambda p: set_cell(p, 2, "applicants_served", "nan"),
        "replication 2, row 4, applicants_served: nan, but applicants_served is always defined",
    ),
    "nan_spelt_otherwise": (
        NAN_ENTRY,
        lambda p: set_cell(p, 3, "reseller_price_mean_eur", "NaN"),
        "replication 3, row 5, reseller_price_mean_eur: 'NaN': an undefined metric is written nan",
    ),
    "empty_cell": (
        ENTRY,
        lambda p: set_cell(p, 2, "wait_days_mean", ""),
        "replication 2, row 4, wait_days_mean: missing value (an undefined metric is written nan)",
    ),
    "text": (
        ENTRY,
        lambda p: set_cell(p, 1, "slots_wasted", "lots"),
        "replication 1, row 3, slots_wasted: not a number: 'lots'",
    ),
    "cell_dropped": (
        ENTRY,
        lambda p: drop_cell(p, 3, "wait_days_mean"),
        "replication 3, row 5: 21 fields, the header has 22: no value for bots_end (truncated?)",
    ),
    "row_missing": (
        ENTRY,
        lambda p: drop_line(p, 3),
        "row 4: replication '3', expected 2 (a row missing or out of order?)",
    ),
    "last_rows_missing": (
        ENTRY,
        lambda p: (drop_line(p, 5), drop_line(p, 4)),
        "replication 3 to 4 missing: the file ends at row 4 with replication 2, "
        "the manifest says 5 replications (truncated?)",
    ),
    "row_extra": (
        ENTRY,
        add_row,
        "row 7: replication '5' is beyond the manifest's 5 replications (a row too many)",
    ),
    "column_missing": (
        ENTRY,
        lambda p: drop_column(p, "wait_days_p50"),
        "row 1 (the header) does not match the manifest's metrics: column wait_days_p50 missing",
    ),
    "column_extra": (
        ENTRY,
        lambda p: add_column(p, "surprise"),
        "row 1 (the header) does not match the manifest's metrics: column 'surprise' not in the manifest",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_corrupt_baseline_is_refused_naming_file_row_and_column(baselines, capsys, case):
    entry, corrupt, expected = CASES[case]
    path = baselines / entry / METRICS_FILE
    corrupt(path)
    code, out, err = regress(capsys, baselines, "--only", entry)
    assert code == 2 and out == ""
    assert f"{path}: corrupt baseline: {expected}" in err, err
    assert f"--update --only {entry}" in err


def test_every_problem_of_a_file_is_listed(baselines, capsys):
    path = baselines / ENTRY / METRICS_FILE
    set_cell(path, 0, "abandon_rate", "inf")
    set_cell(path, 4, "events_processed", "")
    code, _, err = regress(capsys, baselines, "--only", ENTRY)
    assert code == 2
    assert f"{path}: corrupt baseline: replication 0, row 2, abandon_rate: non-finite value 'inf'" in err
    assert f"{path}: corrupt baseline: replication 4, row 6, events_processed: missing value" in err
    assert err.rstrip().endswith(f"regenerate it with: slotsim regress --update --only {ENTRY}")


def test_the_untouched_copy_loads_with_its_undefined_values(baselines):
    entries = resolve(load_suite(SUITE), SUITE, [], [])
    loaded = load_baselines(entries, baselines)
    assert sorted(loaded) == sorted(p.name for p in BASELINES.iterdir() if p.is_dir())
    for name, b in loaded.items():
        for metric, values in b.values.items():
            assert len(values) == b.manifest.replications
            assert not np.isinf(values).any(), (name, metric)
            if metric in ALWAYS_DEFINED:
                assert not np.isnan(values).any(), (name, metric)
    # nan, how an undefined metric is written, stays legal
    assert np.isnan(loaded[NAN_ENTRY].values["reseller_price_mean_eur"]).all()


def test_the_metrics_always_defined_are_those_a_run_without_activity_defines():
    """A run in which nothing happens defines exactly ALWAYS_DEFINED (counts and sums, 0); every
    other metric (a ratio or a mean) is undefined there, so nan for it is legal in a baseline."""
    probe = parse_scenario(
        {
            "run": {"days": 3, "warmup_days": 1},
            "centre": {"capacity_per_day": 1},
            "demand": {"applicants_per_year": 100.0},
            "timeline": [{"day": 2, "scheme": {"kind": "random_allocation"}}],
        }
    )
    metrics = sim.run(probe, seed=0).metrics
    defined = {k for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
    assert defined == ALWAYS_DEFINED
    assert set(sim.CONTRACT) - ALWAYS_DEFINED  # some of the contract may be undefined


# --------------------------------------------------------------------------- writing


def good_rows(name: str) -> list[dict]:
    """A committed baseline's rows as a run returns them: ints, floats, nan."""
    rows = table(BASELINES / name / METRICS_FILE)
    return [{m: int(c) if c.lstrip("-").isdigit() else float(c) for m, c in zip(rows[0][1:], r[1:])} for r in rows[1:]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.inf, "bots_end: non-finite value 'inf'"),
        (-math.inf, "bots_end: non-finite value '-inf'"),
        (math.nan, "bots_end: nan, but bots_end is always defined"),
        (None, "bots_end: missing value"),
    ],
)
def test_a_baseline_that_would_be_refused_is_never_written(tmp_path, value, expected):
    manifest = load_baseline(BASELINES / ENTRY, ENTRY).manifest
    rows = good_rows(ENTRY)
    rows[2]["bots_end"] = value
    text = metrics_csv(rows, tuple(manifest.metrics))
    folder = tmp_path / ENTRY
    with pytest.raises(BaselineError) as err:
        write_baseline(folder, manifest, text)
    assert f"{folder / METRICS_FILE}: not written: replication 2, row 4, {expected}" in str(err.value)
    assert not folder.exists()
    rows[2]["bots_end"] = 64.5
    write_baseline(folder, manifest, metrics_csv(rows, tuple(manifest.metrics)))
    assert load_baseline(folder, ENTRY).values["bots_end"][2] == 64.5


def test_the_committed_numbers_are_written_back_byte_for_byte(tmp_path):
    for name in (ENTRY, NAN_ENTRY):
        b = load_baseline(BASELINES / name, name)
        text = metrics_csv(good_rows(name), tuple(b.manifest.metrics))
        check_new_baseline(tmp_path / name, b.manifest, text)
        assert text == (BASELINES / name / METRICS_FILE).read_text()


def test_update_writes_nothing_when_one_entry_produced_a_non_finite_value(baselines, capsys, monkeypatch):
    rows = {ENTRY: good_rows(ENTRY), NAN_ENTRY: good_rows(NAN_ENTRY)}
    rows[NAN_ENTRY][1]["wait_days_p90"] = math.inf
    rows[ENTRY][0]["slots_released"] = 5799  # a change: this entry would be rewritten
    monkeypatch.setattr("sim.cli.regress.run_entries", lambda entries, jobs, progress, limits=None: rows)
    before = {p: p.read_bytes() for p in baselines.rglob("*") if p.is_file()}
    code, out, err = regress(capsys, baselines, "--update", "--only", ENTRY, NAN_ENTRY)
    assert code == 2 and out == ""
    path = baselines / NAN_ENTRY / METRICS_FILE
    assert f"{path}: not written: replication 1, row 3, wait_days_p90: non-finite value 'inf'" in err
    assert f"entry {NAN_ENTRY}: the run produced a value a baseline cannot hold; nothing was written" in err
    assert {p: p.read_bytes() for p in baselines.rglob("*") if p.is_file()} == before
    # the same update without the infinite value goes through
    rows[NAN_ENTRY][1]["wait_days_p90"] = 22.5
    code, out, _ = regress(capsys, baselines, "--update", "--only", ENTRY, NAN_ENTRY)
    assert code == 0 and f"{ENTRY}: updated" in out and f"{NAN_ENTRY}: updated" in out
    assert load_baseline(baselines / ENTRY, ENTRY).values["slots_released"][0] == 5799
    assert load_baseline(baselines / NAN_ENTRY, NAN_ENTRY).values["wait_days_p90"][1] == 22.5
