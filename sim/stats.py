"""The statistics of replicated runs, in one place, on `scipy.stats`.

- `t_interval(x)`: Student-t confidence interval of a mean (NaNs left out; n < 2: NaN half-width);
  `t_half_width(sd, n)` is its half-width from a standard deviation, `describe(x)` the same as a dict;
- `paired_interval(x, y)`: the t-interval of the per-replication differences x - y (common random
  numbers: replication k of both ran on the same demand);
- `welch(a, b)`: Welch's two-sample test and interval of mean(a) - mean(b) (unequal variances,
  Welch-Satterthwaite degrees of freedom): difference, standard error, df, half-width, p-value;
- `summarise(runs, reference)`: the long summary of a tidy frame of runs (sim/runner.py): per
  (variant, point, metric) the t-interval, and against the reference variant the paired difference
  and the unpaired Welch half-width.

The confidence level is two-sided: the quantile is t(0.5 + confidence / 2, df); callers that think in
a test's level pass `alpha` instead, and the quantile is t(1 - alpha / 2, df).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

CONFIDENCE = 0.95


def t_quantile(df, confidence: float = CONFIDENCE, alpha: float | None = None):
    """Upper quantile of Student's t for a two-sided interval (or test at level alpha)."""
    from scipy import stats  # lazy: ~1 s to import, and most commands never need it

    q = 1.0 - alpha / 2.0 if alpha is not None else 0.5 + confidence / 2
    return stats.t.ppf(q, df)


def values(x) -> np.ndarray:
    """The non-missing values of x as floats."""
    x = np.asarray(x, dtype=float)
    return x[~np.isnan(x)]


@dataclass(frozen=True)
class Interval:
    """A t-interval of a mean: mean ± half_width from n values of standard deviation sd."""

    mean: float
    half_width: float
    n: int
    sd: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def df(self) -> int:
        return self.n - 1


def t_half_width(sd: float, n: int, confidence: float = CONFIDENCE, alpha: float | None = None) -> float:
    """t * sd / sqrt(n); NaN with fewer than 2 values or an undefined sd, 0 with zero variance."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    return float(t_quantile(n - 1, confidence, alpha) * sd / math.sqrt(n))


def t_interval(x, confidence: float = CONFIDENCE, alpha: float | None = None) -> Interval:
    """Interval of the mean of the non-missing values of x (mean NaN when there are none)."""
    x = values(x)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    return Interval(mean, t_half_width(sd, n, confidence, alpha), n, sd)


def describe(x, confidence: float = CONFIDENCE) -> dict:
    """n, mean, sd, 95% t-interval of the non-missing values (the columns of a summary)."""
    return _columns(t_interval(x, confidence))


def _columns(i: Interval) -> dict:
    return {"n": i.n, "mean": i.mean, "sd": i.sd, "ci_low": i.low, "ci_high": i.high, "half_width": i.half_width}


def paired_interval(x, y, confidence: float = CONFIDENCE, alpha: float | None = None) -> Interval:
    """Interval of mean(x - y) over the pairs where both are defined (replication k with k)."""
    return t_interval(np.asarray(x, dtype=float) - np.asarray(y, dtype=float), confidence, alpha)


@dataclass(frozen=True)
class Welch:
    """Welch's two-sample comparison of mean(a) - mean(b)."""

    diff: float
    se: float
    df: float
    half_width: float
    p_value: float
    n_a: int
    n_b: int

    @property
    def statistic(self) -> float:
        return self.diff / self.se if self.se > 0 else math.nan


def welch(a, b, confidence: float = CONFIDENCE, alpha: float | None = None, partial: bool = False) -> Welch:
    """Welch's t-test and interval of mean(a) - mean(b), NaNs left out.

    se = sqrt(s_a^2/n_a + s_b^2/n_b), df by Welch-Satterthwaite (a sample of zero variance adds
    nothing to it). Zero standard error: half-width 0, df and p-value NaN. A sample with fewer
    than 2 values makes the interval NaN, unless `partial`: it then adds no variance (the other
    sample's spread alone).
    """
    from scipy import stats

    a, b = values(a), values(b)
    na, nb = len(a), len(b)
    diff = (float(a.mean()) if na else math.nan) - (float(b.mean()) if nb else math.nan)
    if not partial and (na < 2 or nb < 2):
        return Welch(diff, math.nan, math.nan, math.nan, math.nan, na, nb)
    parts = [x.var(ddof=1) / len(x) if len(x) >= 2 else 0.0 for x in (a, b)]
    se2 = parts[0] + parts[1]
    if se2 == 0:
        return Welch(diff, 0.0, math.nan, 0.0, math.nan, na, nb)
    if not math.isfinite(se2):
        return Welch(diff, math.nan, math.nan, math.nan, math.nan, na, nb)
    df = se2**2 / sum(p**2 / (len(x) - 1) for p, x in zip(parts, (a, b)) if len(x) >= 2 and p > 0)
    se = math.sqrt(se2)
    half_width = float(t_quantile(df, confidence, alpha) * se)
    return Welch(diff, se, float(df), half_width, float(2.0 * stats.t.sf(abs(diff) / se, df)), na, nb)


def welch_half_width(a, b, confidence: float = CONFIDENCE) -> float:
    """Half-width of the CI of mean(a) - mean(b) treating the samples as independent (Welch)."""
    return welch(a, b, confidence).half_width


# --------------------------------------------------------------------------- tidy frames of runs

IDENT = ("variant", "point", "replication", "seed")


def metric_columns(runs: pd.DataFrame, params=()) -> list[str]:
    """The numeric (non-boolean) columns of a tidy frame of runs, identifiers and parameters left out."""
    skip = {*IDENT, *params}
    return [
        c
        for c in runs.columns
        if c not in skip and pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_bool_dtype(runs[c])
    ]


def summarise(
    runs: pd.DataFrame, reference: str, params=(), metrics: list[str] | None = None, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """One row per (variant, point, metric): mean, sd, 95% CI, n; and, for variants other than the
    reference, the paired difference (variant - reference, replication by replication at the same
    point) with its CI, and the Welch half-width the same two samples would give unpaired."""
    params = list(params)
    metrics = metrics or metric_columns(runs, params)
    rows = []
    variants = list(dict.fromkeys(runs.variant))
    points = list(dict.fromkeys(runs.point))
    for point in points:
        at = runs[runs.point == point]
        ref = at[at.variant == reference].set_index("replication")
        for v in variants:
            g = at[at.variant == v].set_index("replication")
            if g.empty:
                continue
            pvals = {p: g[p].iloc[0] for p in params}
            common = g.index.intersection(ref.index) if v != reference else pd.Index([])
            for m in metrics:
                d = describe(g[m].to_numpy(dtype=float), confidence)
                if d["n"] == 0:
                    continue
                row = {"variant": v, "point": point, **pvals, "metric": m, **d, "reference": reference}
                if len(common):
                    x = g.loc[common, m].to_numpy(dtype=float)
                    y = ref.loc[common, m].to_numpy(dtype=float)
                    diff = _columns(paired_interval(x, y, confidence))
                    row.update({f"diff_{k}": val for k, val in diff.items()})
                    both = ~np.isnan(x - y)
                    row["unpaired_half_width"] = welch_half_width(x[both], y[both], confidence)
                rows.append(row)
    out = pd.DataFrame(rows)
    for c in (
        "diff_n",
        "diff_mean",
        "diff_sd",
        "diff_ci_low",
        "diff_ci_high",
        "diff_half_width",
        "unpaired_half_width",
    ):
        if c not in out.columns:
            out[c] = np.nan
    if "diff_n" in out.columns:
        out["diff_n"] = out["diff_n"].astype("Int64")
    return out
