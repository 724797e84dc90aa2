"""sim/figures.py, the one figures module of `slotsim report` and the app, on synthetic results.

Twelve variants (the seven schemes and five other names), drawn with Agg from small frames shaped
like a `slotsim batch` folder (read through sim.report.Results) and like an app Comparison: a few
seconds. A figure fails on a colour shared by two variants, a tick label that is not its tick's
value, an interval of a non-negative measure below zero, a scheme recoloured when a variant is
added, or panel titles that overlap.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedFormatter  # noqa: E402

import sim  # noqa: E402
from sim import app_support as A  # noqa: E402
from sim import figures as F  # noqa: E402
from sim.presets import PRESETS  # noqa: E402
from sim.records import OUTCOMES  # noqa: E402
from sim.report import Results  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OTHERS = ["fast_bots", "slow_bots_and_a_rather_long_variant_name", "quota_2", "no_resellers", "draw_weekly"]
VARIANTS = ["first_come", *OTHERS[:2], *[p for p in PRESETS if p != "first_come"], *OTHERS[2:]]
LONG = "policy.scheme.payment_deadline_hours"  # a long parameter path: long sweep-point labels
START = dt.date(2024, 5, 1)


# --------------------------------------------------------------------------- synthetic results


def batch_folder(
    folder: Path, variants: list[str], sweep: dict[str, list], reps: int = 3, seed: int = 0, measures: bool = True
) -> Path:
    """A folder with what `slotsim batch` writes and `slotsim report` reads (manifest, parquet files)."""
    rng = np.random.default_rng(seed)
    keys = list(sweep)
    combos = [dict(zip(keys, vals, strict=True)) for vals in _product(*sweep.values())]
    points = [", ".join(f"{k}={_value(v)}" for k, v in c.items()) for c in combos]
    runs, daily, waits = [], [], []
    for vi, v in enumerate(variants):
        for point, params in zip(points, combos, strict=True):
            for k in range(reps):
                released = 1000
                direct = int(rng.integers(300, 700))
                via = int(rng.integers(0, 200))
                runs.append(
                    {
                        "variant": v,
                        "point": point,
                        "replication": k,
                        **params,
                        "slots_released": released,
                        "slots_attended_direct": direct,
                        "slots_attended_via_reseller": via,
                        "slots_wasted": released - direct - via,
                    }
                )
                if measures:
                    runs[-1].update(
                        {
                            # near zero with a wide spread: a plain interval would cross 0
                            "share_via_reseller": [0.0, 0.0, 0.06][k % 3] * (vi % 3),
                            "share_captured_by_bots": float(rng.uniform(0, 0.08)),
                            "abandon_rate": float(rng.uniform(0.0, 0.09)),
                            "wait_days_mean": float(rng.uniform(0.1, 3.0)),
                            "rent_paid_above_fee_eur": float(rng.uniform(0, 40_000)),
                        }
                    )
                for day in range(30):
                    daily.append(
                        {
                            "variant": v,
                            "point": point,
                            "replication": k,
                            "day": day,
                            "date": pd.Timestamp(START) + pd.Timedelta(days=day),
                            "bot_requests": [0.0, 0.0, 900.0][k % 3] + day,
                            "reseller_price_eur": [0.0, 0.0, 60.0][k % 3],
                        }
                    )
                if k == 0:
                    for seg in ("first_time", "renewal", "circulation"):
                        n = 40
                        status = rng.choice(["served_direct", "served_via_reseller", "abandoned"], n)
                        waits.append(
                            pd.DataFrame(
                                {
                                    "variant": v,
                                    "point": point,
                                    "replication": 0,
                                    "segment": seg,
                                    "status": status,
                                    "wait_days": rng.gamma(2.0, 5.0, n).astype("float32"),
                                }
                            )
                        )
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(runs).to_parquet(folder / "replications.parquet")
    pd.DataFrame(daily).to_parquet(folder / "daily.parquet")
    pd.concat(waits).to_parquet(folder / "waits.parquet")
    manifest = {
        "experiment": {"name": "synthetic"},
        "variants": variants,
        "points": points,
        "reference": variants[0],
        "sweep": sweep,
        "labels": {},
        "cells": [
            {"variant": v, "point": p, "scenario": {"run": {"warmup_days": 5, "days": 30}}}
            for v in variants
            for p in points
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def _value(x) -> str:
    """A swept value as a point label writes it (sim.experiments): 27500.0 -> '27500', 12.0 -> '12.0'."""
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) >= 1000 else repr(x)


def _product(*lists):
    import itertools

    return itertools.product(*lists)


def comparison(variants: list[str], reps: int = 3, seed: int = 0) -> A.Comparison:
    """An app Comparison with the frames app_support keeps, for `variants` (ids), without running anything."""
    rng = np.random.default_rng(seed)
    base = sim.load_scenario(REPO / "scenarios" / "baseline_fcfs.yaml")
    metrics, daily, fairness, quantiles = [], [], [], []
    for v in variants:
        for k in range(reps):
            parts = rng.dirichlet(np.ones(6)) * 1000
            metrics.append(
                {
                    "variant": v,
                    "label": A.LABELS.get(v, v),
                    "replication": k,
                    "slots_released": 1000,
                    "slots_attended_direct": parts[0],
                    "slots_attended_via_reseller": parts[1],
                    "slots_wasted_unsold": parts[2],
                    "slots_wasted_no_show": parts[3],
                    "slots_wasted_unpaid": parts[4],
                    "slots_wasted_unbooked": parts[5],
                    "slots_wasted": parts[2:].sum(),
                }
            )
            for day in range(40):
                daily.append(
                    {
                        "variant": v,
                        "replication": k,
                        "day": day,
                        "date": START + dt.timedelta(days=day),
                        "bot_requests": float(rng.integers(1, 5000)),
                        "sales": int(rng.integers(0, 4)),
                        "sales_eur": float(rng.uniform(0, 800)),
                    }
                )
            for dim, groups in (
                ("habit", list(base.humans.habits)),
                ("segment", ["first_time", "renewal", "circulation"]),
            ):
                for g in groups:
                    fairness.append(
                        {
                            "variant": v,
                            "replication": k,
                            "dim": dim,
                            "group": g,
                            "n": 50,
                            "within_14": float(rng.choice([0.0, 0.01, rng.uniform(0, 1)])),
                        }
                    )
            q = np.linspace(0, 1, 101)
            quantiles.append(
                pd.DataFrame(
                    {"variant": v, "replication": k, "q": q, "wait_days": np.sort(rng.gamma(2.0, 6.0, len(q)))}
                )
            )
    return A.Comparison(
        key="synthetic",
        variants={v: base for v in variants},
        seed=1,
        replications=reps,
        metrics=pd.DataFrame(metrics),
        daily=pd.DataFrame(daily),
        fairness=pd.DataFrame(fairness),
        wait_quantiles=pd.concat(quantiles),
        labels={v: A.LABELS.get(v, v) for v in variants},
    )


# --------------------------------------------------------------------------- what a figure must not do


def drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def tick_value(text: str) -> float | None:
    """The number a tick label shows (2.5% -> 2.5, 27.5k -> 27500, 10^6 -> 1e6); None for a non-number."""
    t = text.replace("\u2212", "-").replace(",", "").strip()
    m = re.fullmatch(r"\$\\mathdefault\{10\^\{(-?\d+)\}\}\$", t)
    if m:
        return 10.0 ** int(m[1])
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)([%kM]?)", t)
    if not m:
        return None
    return float(m[1]) * {"": 1, "%": 1, "k": 1e3, "M": 1e6}[m[2]]


def check_ticks(fig) -> int:
    """Every numeric major tick label reads as its tick's value (or 100 times it: percent, points);
    the number of labels checked. The figure must have been drawn (`drawn`)."""
    checked = 0
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if isinstance(axis.get_major_formatter(), FixedFormatter):
                continue  # categories
            locs = axis.get_majorticklocs()
            for loc, tick in zip(locs, axis.get_major_ticks(len(locs)), strict=True):
                text = tick.label1.get_text()
                shown = tick_value(text)
                if shown is None:
                    continue  # dates, empty minor labels
                assert math.isclose(shown, loc, rel_tol=1e-9, abs_tol=1e-9) or math.isclose(
                    shown, 100 * loc, rel_tol=1e-9, abs_tol=1e-9
                ), f"{ax.get_title()!r}: tick at {loc!r} labelled {text!r}"
                checked += 1
    return checked


def check_colours(fig, name_of=lambda label: label.split(" (")[0]) -> dict[str, str]:
    """Variant -> colour over the legend entries of each axes (lines, error bars, bars): one colour per
    variant, and no two variants drawn alike or in the same colour."""
    from matplotlib.colors import to_hex

    seen: dict[str, str] = {}
    for ax in fig.axes:
        per_axes: dict[str, tuple] = {}
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if isinstance(handle, ErrorbarContainer):
                handle = handle.lines[0]
            if isinstance(handle, BarContainer):
                style = (to_hex(handle.patches[0].get_facecolor()), "-")
            elif isinstance(handle, Line2D):
                style = (to_hex(handle.get_color()), handle.get_linestyle())
            else:
                continue  # warm-up spans
            v = name_of(label)
            per_axes.setdefault(v, style)
            seen.setdefault(v, style[0])
            assert seen[v] == style[0], f"{v} drawn in two colours"
        styles = list(per_axes.values())
        assert len(set(styles)) == len(styles), f"{ax.get_title()!r}: two variants drawn alike"
        colours = [c for c, _ in styles]
        assert len(set(colours)) == len(colours), f"{ax.get_title()!r}: a colour repeats among variants"
    return seen


def check_not_below_zero(fig, axes=None) -> int:
    """Bands (fill_between) and error bars of the given axes (all by default) never go below 0."""
    n = 0
    for ax in axes or fig.axes:
        for coll in ax.collections:
            if isinstance(coll, PolyCollection):
                ys = np.concatenate([p.vertices[:, 1] for p in coll.get_paths()] or [np.zeros(1)])
            elif isinstance(coll, LineCollection):
                ys = np.concatenate([np.asarray(s)[:, 1] for s in coll.get_segments()] or [np.zeros(1)])
            else:
                continue
            ys = ys[np.isfinite(ys)]
            assert not len(ys) or ys.min() >= -1e-12, f"{ax.get_title()!r}: an interval below 0 ({ys.min()})"
            n += 1
    return n


def check_titles_apart(fig, renderer) -> int:
    """No two panel titles overlap, once drawn; the number of titles."""
    boxes = [
        (ax.get_title(), ax.title.get_window_extent(renderer)) for ax in fig.axes if ax.get_visible() and ax.get_title()
    ]
    for i, (t1, b1) in enumerate(boxes):
        for t2, b2 in boxes[i + 1 :]:
            assert not b1.overlaps(b2), f"panel titles overlap: {t1!r} and {t2!r}"
    return len(boxes)


def check(fig, name_of=lambda label: label.split(" (")[0], non_negative: bool = True) -> dict:
    """Draw `fig` once and run every check (intervals: only for measures that cannot be negative);
    what was checked, for the tests to ask more of it."""
    renderer = drawn(fig)
    out = {
        "colours": check_colours(fig, name_of),
        "ticks": check_ticks(fig),
        "intervals": check_not_below_zero(fig) if non_negative else 0,
        "titles": check_titles_apart(fig, renderer),
    }
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- colours


def test_every_scheme_and_outcome_has_its_colour():
    assert set(PRESETS) <= set(F.SCHEME_COLOURS) and A.OWN in F.SCHEME_COLOURS
    assert {o for o in OUTCOMES if o != "pending"} <= set(F.OUTCOME_COLOURS)
    scheme = list(F.SCHEME_COLOURS.values())
    assert len(set(scheme)) == len(scheme) and not set(scheme) & set(F.EXTRA_COLOURS)
    assert len(set(F.EXTRA_COLOURS)) == len(F.EXTRA_COLOURS)
    outcome = list(F.OUTCOME_COLOURS.values())
    assert len(set(outcome)) == len(outcome)
    # the app's outcome table takes its colours and labels from the figures module
    assert A.OUTCOME_PARTS == F.outcome_parts(F.APP_OUTCOMES)


def test_a_variant_colour_depends_on_its_name_not_its_position():
    full = F.variant_styles(VARIANTS)
    assert len({(s.colour, s.linestyle) for s in full.values()}) == len(VARIANTS)
    assert len({s.colour for s in full.values()}) == len(VARIANTS)  # 12: no colour repeats
    assert full == F.variant_styles(VARIANTS[::-1])  # column order does not matter
    for added in (["your_scenario"], ["aaa_first_in_any_order"], OTHERS):
        more = F.variant_styles(added + ["first_come", "random_allocation", "ip_blocking"])
        assert {v: more[v] for v in ("first_come", "random_allocation", "ip_blocking")} == {
            v: F.Style(F.SCHEME_COLOURS[v]) for v in ("first_come", "random_allocation", "ip_blocking")
        }
    # a variant added before others keeps theirs, unless it lands on the very colour one had
    alone = F.variant_styles(["fast_bots"])
    assert F.variant_styles(["captcha_otp", "your_scenario", "fast_bots"])["fast_bots"] == alone["fast_bots"]
    # past the palette, line styles keep every variant apart
    many = F.variant_styles([f"variant_{i}" for i in range(60)])
    assert len({(s.colour, s.linestyle) for s in many.values()}) == 60


def test_tick_labels_carry_the_decimals_their_step_needs():
    fig, ax = plt.subplots()
    ax.set_ylim(0, 0.1)
    ax.set_yticks([0, 0.025, 0.05, 0.075, 0.1])
    F.percent_axis(ax.yaxis)
    ax.set_xlim(-0.05, 0.05)
    ax.set_xticks([-0.05, -0.025, 0, 0.025, 0.05])
    F.points_axis(ax.xaxis)
    drawn(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.0%", "2.5%", "5.0%", "7.5%", "10.0%"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-5.0", "-2.5", "0", "+2.5", "+5.0"]
    ax.set_yticks([0, 0.2, 0.4])
    drawn(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0%", "20%", "40%"]
    F.number_axis(ax.yaxis)
    ax.set_ylim(0, 1_500_000)
    ax.set_yticks([0, 250_000, 1_250_000])
    drawn(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.25M", "1.25M"]
    plt.close(fig)


# --------------------------------------------------------------------------- report figures


@pytest.fixture(scope="module")
def sweep12(tmp_path_factory) -> Results:
    folder = batch_folder(
        tmp_path_factory.mktemp("sweep12"),
        VARIANTS,
        {"demand.applicants_per_year": [27500.0, 55000.0, 82500.0, 110000.0]},
    )
    return Results(folder)


def test_report_sweep_of_12_variants(sweep12):
    fig = F.report_sweep(sweep12)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    seen = check(fig)
    assert set(seen["colours"]) == set(VARIANTS) and len(set(seen["colours"].values())) == 12
    assert {v: seen["colours"][v] for v in PRESETS} == {v: F.SCHEME_COLOURS[v] for v in PRESETS}
    assert seen["ticks"] > 20
    assert any(re.fullmatch(r"\d+\.\d%", t) for t in labels), labels  # steps of 2.5 or 0.5 points occur
    assert seen["intervals"] >= 4 * 12  # every metric here is >= 0
    assert seen["titles"] == 4


def test_report_activity_bands_stay_at_or_above_zero(sweep12):
    seen = check(F.report_activity(sweep12, sweep12.points[0]))
    assert seen["intervals"] >= 2 * 12 and len(seen["colours"]) == 12


def test_report_differences_and_waits_of_12_variants(sweep12):
    differences = check(F.report_differences(sweep12, sweep12.points[1]), non_negative=False)  # signed
    waits = check(F.report_waits(sweep12, sweep12.points[1]))
    for seen in (differences, waits):
        assert len(seen["colours"]) >= 11 and seen["ticks"] > 8


@pytest.mark.parametrize(
    "n_variants, sweep",
    [
        (3, {"demand.applicants_per_year": [27500.0, 55000.0], LONG: [12.0, 48.0]}),  # 4 panels a row
        (3, {"demand.applicants_per_year": [27500.0, 55000.0, 82500.0], LONG: [12.0, 48.0]}),  # 3 a row
        (12, {"demand.applicants_per_year": [27500.0, 55000.0], LONG: [12.0, 48.0]}),
    ],
)
def test_report_outcomes_titles_of_long_sweep_points_do_not_overlap(tmp_path, n_variants, sweep):
    r = Results(batch_folder(tmp_path, VARIANTS[:n_variants], sweep, reps=2, measures=False))
    assert r.point_label(r.points[0]) == "applicants_per_year=27500, payment_deadline_hours=12.0"
    fig = F.report_outcomes(r)
    renderer = drawn(fig)
    assert check_titles_apart(fig, renderer) == len(r.points)
    assert check_ticks(fig) >= 6
    plt.close(fig)


def test_point_labels_keep_parameters_apart():
    paths = ["resellers.0.bots", "resellers.1.bots", "demand.applicants_per_year"]
    assert F.short_paths(paths) == {
        "resellers.0.bots": "0.bots",
        "resellers.1.bots": "1.bots",
        "demand.applicants_per_year": "applicants_per_year",
    }
    assert (
        F.point_label("resellers.0.bots=3, resellers.1.bots=4, demand.applicants_per_year=5", paths)
        == "0.bots=3, 1.bots=4, applicants_per_year=5"
    )


# --------------------------------------------------------------------------- app figures


@pytest.fixture(scope="module")
def app12() -> A.Comparison:
    return comparison([A.OWN, *VARIANTS[:11]])


def test_app_outcomes_and_activity_of_12_variants(app12):
    seen = check(A.fig_activity(app12), name_of=lambda label: label)
    assert len(seen["colours"]) == 12 and len(set(seen["colours"].values())) == 12
    assert seen["colours"][A.LABELS[A.OWN]] == F.SCHEME_COLOURS[A.OWN]
    assert seen["ticks"] > 5
    fig = A.fig_outcomes(app12)
    bars = {to_hex(p.get_facecolor()) for p in fig.axes[0].patches}
    assert {F.OUTCOME_COLOURS[k] for k in F.APP_OUTCOMES[:-1]} <= bars
    assert check(fig)["ticks"] >= 6
    assert A.png_bytes(A.fig_outcomes(app12))[:8] == b"\x89PNG\r\n\x1a\n"


def test_app_waits_and_fairness_of_12_variants(app12):
    for fig in (A.fig_waits(app12), A.fig_fairness(app12, 14)):
        seen = check(fig, name_of=lambda label: label)
        assert len(seen["colours"]) == 12 and seen["ticks"] > 5


def to_hex(c) -> str:
    from matplotlib.colors import to_hex as hx

    return hx(c)


def test_the_edited_scenario_does_not_recolour_the_schemes():
    without = check(A.fig_activity(comparison(["first_come", "random_allocation"])), lambda x: x)["colours"]
    with_own = check(A.fig_activity(comparison([A.OWN, "first_come", "random_allocation"])), lambda x: x)["colours"]
    for v in ("first_come", "random_allocation"):
        assert without[A.LABELS[v]] == with_own[A.LABELS[v]] == F.SCHEME_COLOURS[v]
