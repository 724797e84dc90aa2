"""sim/stats.py against hand-computed and textbook values: t-interval, paired and Welch intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from sim import stats as S

# A textbook sample: mean 5, sum of squared deviations 32, so sd = sqrt(32 / 7).
SAMPLE = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
T_975_7 = 2.364624251592784  # t(0.975, 7) (tables: 2.365)

# Welch's t-test, Wikipedia's example 1 (two samples of 15): t = -2.46, df = 25.0, p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_t_interval_of_a_textbook_sample():
    ci = S.t_interval(SAMPLE)
    sd = math.sqrt(32 / 7)
    assert ci.n == 8 and ci.mean == 5.0 and ci.sd == pytest.approx(sd, rel=1e-15)
    assert ci.half_width == pytest.approx(T_975_7 * sd / math.sqrt(8), rel=1e-12)
    assert ci.half_width == pytest.approx(1.78749, abs=1e-5)
    assert (ci.low, ci.high) == (5.0 - ci.half_width, 5.0 + ci.half_width)
    assert S.t_half_width(sd, 8) == pytest.approx(ci.half_width, rel=1e-15)
    # 99%: t(0.995, 7) = 3.499 (tables)
    assert S.t_interval(SAMPLE, confidence=0.99).half_width == pytest.approx(3.49948 * sd / math.sqrt(8), rel=1e-5)
    # a test's level alpha gives the same quantile as the confidence 1 - alpha
    assert S.t_quantile(7, alpha=0.05) == pytest.approx(T_975_7, rel=1e-15)


def test_t_interval_edge_cases():
    one = S.t_interval([3.0])
    assert one.n == 1 and one.mean == 3.0 and math.isnan(one.sd) and math.isnan(one.half_width)
    empty = S.t_interval([])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.half_width)
    flat = S.t_interval([2.5, 2.5, 2.5])
    assert flat.sd == 0.0 and flat.half_width == 0.0 and flat.low == flat.high == 2.5
    # missing values are left out (arrays, lists with None, pandas series alike)
    assert S.t_interval([2.0, np.nan, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == S.t_interval(SAMPLE)
    assert S.t_interval(pd.Series([1.0, None, 3.0], dtype=object)) == S.t_interval([1.0, 3.0])
    assert math.isnan(S.t_half_width(math.nan, 5)) and math.isnan(S.t_half_width(1.0, 1))
    d = S.describe(SAMPLE)
    assert list(d) == ["n", "mean", "sd", "ci_low", "ci_high", "half_width"] and d["n"] == 8


def test_welch_against_the_textbook_and_the_welch_satterthwaite_formula():
    w = S.welch(A1, A2)
    a, b = np.array(A1), np.array(A2)
    va, vb = a.var(ddof=1) / 15, b.var(ddof=1) / 15
    df = (va + vb) ** 2 / (va**2 / 14 + vb**2 / 14)  # Welch-Satterthwaite
    assert w.df == pytest.approx(df, rel=1e-14) and round(w.df, 1) == 25.0
    assert w.se == pytest.approx(math.sqrt(va + vb), rel=1e-14)
    assert w.diff == pytest.approx(a.mean() - b.mean(), rel=1e-14)
    assert round(w.statistic, 2) == -2.46 and round(w.p_value, 3) == 0.021
    assert w.half_width == pytest.approx(sp.t.ppf(0.975, df) * math.sqrt(va + vb), rel=1e-14)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    ci = ref.confidence_interval(0.95)
    assert w.half_width == pytest.approx((ci.high - ci.low) / 2, rel=1e-12)
    assert S.welch_half_width(A1, A2) == w.half_width


def test_welch_edge_cases():
    assert math.isnan(S.welch([1.0], [1.0, 2.0]).half_width)  # a sample of one: undefined
    w = S.welch([2.0, 2.0, 2.0], [5.0, 5.0])  # no spread at all
    assert w.half_width == 0.0 and w.se == 0.0 and w.diff == -3.0 and math.isnan(w.p_value)
    # one sample without spread: df are those of the other sample alone
    w = S.welch([1.0, 2.0, 3.0, 4.0], [7.0, 7.0])
    assert w.df == pytest.approx(3.0) and w.half_width == pytest.approx(
        sp.t.ppf(0.975, 3) * math.sqrt(np.var([1, 2, 3, 4], ddof=1) / 4)
    )
    # partial: a sample of one adds no variance (the regression suite's tolerance)
    p = S.welch([1.0, 2.0, 3.0, 4.0], [9.0], partial=True)
    assert p.half_width == pytest.approx(w.half_width) and p.diff == 2.5 - 9.0
    assert S.welch([np.nan, 1.0, 3.0], [2.0, 4.0, np.nan]).n_a == 2


def test_paired_interval_is_narrower_than_welch_on_correlated_samples():
    rng = np.random.default_rng(3)
    common = rng.normal(100, 10, 8)  # shared demand: large common noise
    ref = common + rng.normal(0, 1, 8)
    alt = common + 2 + rng.normal(0, 1, 8)
    paired = S.paired_interval(alt, ref)
    d = alt - ref
    assert paired.n == 8 and paired.mean == pytest.approx(d.mean(), rel=1e-14)
    assert paired.half_width == pytest.approx(T_975_7 * d.std(ddof=1) / math.sqrt(8), rel=1e-12)
    ci = sp.ttest_rel(alt, ref).confidence_interval(0.95)
    assert paired.half_width == pytest.approx((ci.high - ci.low) / 2, rel=1e-12)
    unpaired = S.welch(alt, ref)
    assert paired.mean == pytest.approx(unpaired.diff, rel=1e-12)  # same difference of means ...
    assert paired.half_width < unpaired.half_width / 5  # ... far more precisely
    # a pair with a missing value drops out of the paired interval
    alt[0] = np.nan
    assert S.paired_interval(alt, ref).n == 7


def test_summary_of_tidy_runs():
    runs = pd.DataFrame(
        {
            "variant": ["ref"] * 3 + ["alt"] * 3,
            "point": "base",
            "replication": [0, 1, 2] * 2,
            "seed": 1,
            "m": [1.0, 2.0, 3.0, 2.0, 4.0, 3.0],
            "flag": [True] * 6,
        }
    )
    s = S.summarise(runs, "ref").set_index("variant")
    assert list(s.metric) == ["m", "m"]  # identifiers and booleans left out
    assert s.loc["ref", "half_width"] == pytest.approx(S.t_interval([1.0, 2.0, 3.0]).half_width)
    assert s.loc["alt", "diff_mean"] == 1.0 and s.loc["alt", "diff_n"] == 3
    assert s.loc["alt", "diff_half_width"] == pytest.approx(S.paired_interval([2, 4, 3], [1, 2, 3]).half_width)
    assert s.loc["alt", "unpaired_half_width"] == pytest.approx(S.welch([2, 4, 3], [1, 2, 3]).half_width)
    assert math.isnan(s.loc["ref", "diff_mean"])
