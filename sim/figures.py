"""Every figure of slotsim: `slotsim report` (sim/report.py saves them) and the app (sim/app_support.py).

Colours mean the same thing in every figure:
- a scheme (a preset of sim/presets.py, and the app's edited scenario) has one fixed colour,
  SCHEME_COLOURS; any other variant name gets one of EXTRA_COLOURS chosen from the name itself
  (a CRC of it; on a collision within one figure, the next free colour), never from its column
  position, so a variant keeps its colour when others are added. No colour repeats within a
  figure of up to 22 such names (besides the schemes); past that, line styles keep the variants
  apart (`variant_styles`);
- a slot outcome (sim/records.py OUTCOMES) has one colour, OUTCOME_COLOURS.

Axes: a tick label is its tick's value (as many decimals as the tick step needs, `percent_axis`,
`number_axis`); intervals of a measure that cannot be negative stop at 0, and shares at 100%
(`clip_interval`); panel titles are shortened and wrapped to their panel's width (`wrap`).

Report figures take a `sim.report.Results`, app figures a `sim.app_support.Comparison` (and the
tables app_support computes); each returns a matplotlib Figure, which `save` (PNG and PDF files)
or `png_bytes` writes and closes. matplotlib is imported when a figure is drawn, not at import.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import re
import textwrap
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import atomic_path
from .stats import describe, t_half_width

# --------------------------------------------------------------------------- colours

EDITED = "your_scenario"  # the app's "Your scenario as edited" (sim.app_support.OWN)

SCHEME_COLOURS = {  # preset name (sim/presets.py) -> colour, in every figure
    "first_come": "#1f77b4",  # blue
    "captcha_otp": "#ff7f0e",  # orange
    "ip_blocking": "#2ca02c",  # green
    "prepaid_bound": "#9467bd",  # purple
    "progressive_random": "#8c564b",  # brown
    "progressive_random_ip": "#e377c2",  # pink
    "random_allocation": "#d62728",  # red
    EDITED: "#222222",  # near black: the user's own scenario
}

# Other variant names: 22 colours of tab20/tab20b/Dark2/Set1/Set2/Okabe-Ito, each at least 18 CIELAB
# units (delta E 1976) from every other and from the scheme colours, none too pale for a line.
EXTRA_COLOURS = (
    "#66c2a5",
    "#bd9e39",
    "#f0027f",
    "#c5b0d5",
    "#ff9896",
    "#637939",
    "#b15928",
    "#393b79",
    "#7f7f7f",
    "#74c476",
    "#e69f00",
    "#17becf",
    "#8c6d31",
    "#7b4173",
    "#bcbd22",
    "#56b4e9",
    "#fc8d62",
    "#c49c94",
    "#ad494a",
    "#009e73",
    "#de9ed6",
    "#9c9ede",
)
LINESTYLES = ("-", "--", ":", "-.")

OUTCOME_COLOURS = {  # slot outcome (sim/records.py OUTCOMES) -> colour
    "attended_direct": "#2a9d8f",
    "attended_via_reseller": "#e76f51",
    "wasted_unsold": "#f4a261",
    "wasted_no_show": "#577590",
    "wasted_unpaid": "#b5838d",
    "wasted_unbooked": "#d9d9d9",
    "wasted_other": "#6c757d",  # a waste the engine adds later, until it has its own colour
    "wasted": "#8d99ae",  # every wasted slot together (the report's bars)
}
OUTCOME_LABELS = {
    "attended_direct": "attended, booked by the applicant",
    "attended_via_reseller": "attended, bought from a reseller",
    "wasted_unsold": "wasted: held by a reseller, unsold",
    "wasted_no_show": "wasted: no-show",
    "wasted_unpaid": "wasted: draw winner did not pay",
    "wasted_unbooked": "wasted: nobody booked it",
    "wasted_other": "wasted: other",
    "wasted": "wasted (unsold, no-show, unpaid...)",
}
APP_OUTCOMES = (
    "attended_direct",
    "attended_via_reseller",
    "wasted_unsold",
    "wasted_no_show",
    "wasted_unpaid",
    "wasted_unbooked",
    "wasted_other",
)
REPORT_OUTCOMES = ("attended_direct", "attended_via_reseller", "wasted")


@dataclass(frozen=True)
class Style:
    """How one variant is drawn: its colour and, past the palette, its line style."""

    colour: str
    linestyle: str = "-"


def variant_styles(names) -> dict[str, Style]:
    """Variant name -> Style, in the order given: the same name gets the same colour in every figure.

    Schemes take SCHEME_COLOURS; other names, sorted, each the first free colour of EXTRA_COLOURS
    from a position given by the name's CRC-32; when all are taken, the next line style.
    """
    names = list(dict.fromkeys(names))
    out = {n: Style(SCHEME_COLOURS[n]) for n in names if n in SCHEME_COLOURS}
    k = len(EXTRA_COLOURS)
    taken: set[tuple[int, int]] = set()
    for n in sorted(x for x in names if x not in out):
        start = zlib.crc32(n.encode("utf-8")) % k
        slot = next(
            (lap, (start + i) % k) for lap in itertools.count() for i in range(k) if (lap, (start + i) % k) not in taken
        )
        taken.add(slot)
        out[n] = Style(EXTRA_COLOURS[slot[1]], LINESTYLES[slot[0] % len(LINESTYLES)])
    return {n: out[n] for n in names}


def outcome_parts(keys) -> list[tuple[str, str, str]]:
    """(metric column, label, colour) of each slot outcome in `keys`; the metrics call them slots_<outcome>."""
    return [(f"slots_{k}", OUTCOME_LABELS[k], OUTCOME_COLOURS[k]) for k in keys]


def _ink(colour: str) -> str:
    """Black or white, whichever reads better on `colour`."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


# --------------------------------------------------------------------------- matplotlib, files

STYLE = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.titlesize": 11,
    "legend.frameon": False,
}
DPI = 130
CHAR_EM = 0.6  # mean width of a character of the default font, in font sizes (for wrapping)


def pyplot():
    """matplotlib.pyplot, on the Agg backend unless the process chose one before (a notebook)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # files only: the command line and the app need no window
    import matplotlib.pyplot as plt

    return plt


def _drawn(fn):
    """Draw under STYLE (a context: the process-wide rcParams are left alone)."""

    @functools.wraps(fn)
    def draw(*args, **kwargs):
        with pyplot().rc_context(STYLE):
            return fn(*args, **kwargs)

    return draw


def save(fig, folder: Path, stem: str) -> list[str]:
    """Write `fig` as folder/stem.png and .pdf (each file replaced in one rename), close it; the names."""
    out = []
    for ext in ("png", "pdf"):
        with atomic_path(Path(folder) / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight")
        out.append(f"{stem}.{ext}")
    pyplot().close(fig)
    return out


def png_bytes(fig, dpi: int = DPI) -> bytes:
    """`fig` as PNG bytes; closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------- axes and labels


def tick_decimals(values, most: int = 6) -> int:
    """The fewest decimals that write every value exactly (ticks 0, 2.5, 5 need 1)."""
    vals = [float(v) for v in values if math.isfinite(v)]
    for d in range(most + 1):
        if all(abs(v - round(v, d)) <= 1e-9 * max(1.0, abs(v)) for v in vals):
            return d
    return most


@functools.cache
def _step_formatter():
    from matplotlib.ticker import Formatter

    class StepFormatter(Formatter):
        """Tick labels with the decimals the ticks need: a label always reads as its tick's value.

        kind "percent": value * scale with a % sign; "signed": value * scale with its sign (0 bare);
        "number": thousands separated; "short": the same in thousands (k) from 10,000, millions (M) from
        1,000,000 (the largest tick decides, for the whole axis).
        """

        def __init__(self, kind: str, scale: float = 1.0):
            self.kind, self.scale = kind, scale
            self.unit, self.suffix, self.decimals = 1.0, "%" if kind == "percent" else "", 0
            self.ready = False

        def set_locs(self, locs):
            self.ready = True
            vals = [float(x) * self.scale for x in locs if math.isfinite(x)]
            if self.kind == "short":
                big = max((abs(v) for v in vals), default=0.0)
                self.unit, self.suffix = (1e6, "M") if big >= 1e6 else (1e3, "k") if big >= 1e4 else (1.0, "")
            self.decimals = tick_decimals([v / self.unit for v in vals])

        def __call__(self, x, pos=None):
            if not self.ready:  # a value alone (not a tick of an axis)
                self.set_locs([x])
            v = float(x) * self.scale / self.unit
            if abs(v) < 0.5 * 10.0 ** -(self.decimals + 3):
                v = 0.0
            if self.kind in ("signed", "short") and not v:
                return "0"
            return f"{v:{'+' if self.kind == 'signed' else ''},.{self.decimals}f}{self.suffix}"

    return StepFormatter


def percent_axis(axis, of: float = 1.0) -> None:
    """Label `axis` (ax.xaxis / ax.yaxis) in percent of `of`: 0.025 of 1 is '2.5%'."""
    axis.set_major_formatter(_step_formatter()("percent", 100.0 / of))


def points_axis(axis) -> None:
    """Label a difference of shares in signed percentage points: 0.025 is '+2.5'."""
    axis.set_major_formatter(_step_formatter()("signed", 100.0))


def number_axis(axis, short: bool = True) -> None:
    """Label `axis` with thousands separated ('2,500'); `short`: from 10,000 in k ('27.5k'), from
    1,000,000 in M ('1.25M')."""
    axis.set_major_formatter(_step_formatter()("short" if short else "number"))


def wrap(text: str, width_in: float, fontsize: float) -> str:
    """`text` in lines that fit `width_in` inches at `fontsize` points."""
    chars = max(8, int(width_in * 72 / (CHAR_EM * fontsize)))
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


def short_paths(paths) -> dict[str, str]:
    """Each dotted parameter path -> its shortest tail that no other of `paths` shares."""
    paths = list(paths)
    out = {}
    for p in paths:
        parts = p.split(".")
        tail = p
        for k in range(1, len(parts) + 1):
            tail = ".".join(parts[-k:])
            if not any(q != p and (q == tail or q.endswith("." + tail)) for q in paths):
                break
        out[p] = tail
    return out


def point_label(point: str, paths) -> str:
    """A sweep point's label with its parameter paths shortened: 'applicants_per_year=27500'."""
    for p, s in sorted(short_paths(paths).items(), key=lambda kv: -len(kv[0])):
        point = re.sub(rf"(?<![\w.]){re.escape(p)}=", f"{s}=", point)
    return point


def _suptitle(fig, text: str) -> None:
    fig.suptitle(wrap(text, fig.get_figwidth() * 0.95, STYLE["figure.titlesize"]))


def bounds(metric: str, unit: str = "") -> tuple[float | None, float | None]:
    """Where a metric's values can lie: shares in [0, 1], profits anywhere, other measures >= 0."""
    if unit.startswith("share") or metric.startswith("share_") or metric.endswith("_rate"):
        return 0.0, 1.0
    if metric.endswith("profit_eur"):
        return None, None
    return 0.0, None


def clip_interval(mean, half_width, low: float | None = 0.0, high: float | None = None):
    """The ends of mean ± half_width, kept within [low, high] (a missing half-width: no interval)."""
    mean = np.asarray(mean, dtype=float)
    hw = np.nan_to_num(np.asarray(half_width, dtype=float))
    lo, hi = mean - hw, mean + hw
    if low is not None:
        lo = np.maximum(lo, low)
    if high is not None:
        hi = np.minimum(hi, high)
    return lo, hi


def _yerr(mean, half_width, low=0.0, high=None) -> np.ndarray:
    """Asymmetric error bars of mean ± half_width clipped to [low, high] (never past the mean)."""
    mean = np.asarray(mean, dtype=float)
    lo, hi = clip_interval(mean, half_width, low, high)
    return np.nan_to_num(np.vstack([np.maximum(mean - lo, 0), np.maximum(hi - mean, 0)]))


def band(daily: pd.DataFrame, col: str, low: float | None = 0.0) -> pd.DataFrame:
    """Mean of `col` per day over replications and its pointwise 95% band, clipped at `low`."""
    g = daily.groupby("day")[col]
    mean, sd, n = g.mean(), g.std(ddof=1), g.count()
    hw = [t_half_width(s, int(k)) for s, k in zip(sd, n, strict=True)]
    lo, hi = clip_interval(mean.to_numpy(), hw, low)
    return pd.DataFrame({"mean": mean, "low": lo, "high": hi}, index=mean.index)


def _stacked(ax, pos, parts, horizontal: bool = False, width: float = 0.65) -> None:
    """Stacked shares at positions `pos`; parts: (label, colour, means, half-widths or None) each.

    A share of 6% or more is written on its segment; a half-width (vertical bars only) is an error
    bar beside the segment's middle: the interval of that share.
    """
    base = np.zeros(len(pos))
    for label, colour, means, hws in parts:
        means = np.nan_to_num(np.asarray(means, dtype=float))
        kw = dict(color=colour, label=label, edgecolor="white", linewidth=0.5)
        if horizontal:
            ax.barh(pos, means, width, left=base, **kw)
        else:
            ax.bar(pos, means, width, bottom=base, **kw)
        mid = base + means / 2
        shift = 0.0
        if hws is not None:
            err = np.nan_to_num(np.asarray(hws, dtype=float))
            ax.errorbar(pos + 0.2, mid, yerr=err, fmt="none", ecolor="black", elinewidth=0.9, capsize=2.5)
            shift = -0.04
        for p, m, c in zip(pos, means, mid, strict=True):
            if m >= 0.06:
                xy = (c, p) if horizontal else (p + shift, c)
                ax.text(*xy, f"{m:.0%}", ha="center", va="center", fontsize=7.5, color=_ink(colour))
        base = base + means


# --------------------------------------------------------------------------- report figures

SWEEP_METRICS = ("share_via_reseller", "wait_days_mean", "share_captured_by_bots", "abandon_rate")
DIFF_METRICS = ("share_via_reseller", "wait_days_mean", "abandon_rate", "rent_paid_above_fee_eur")
LABELS = {  # metric -> (title, unit)
    "share_captured_by_bots": ("Share of slots first taken by bots", "share of released slots"),
    "share_via_reseller": ("Appointments bought from a reseller", "share of attended appointments"),
    "wait_days_mean": ("Mean wait from need to appointment", "days"),
    "wait_days_p50": ("Median wait from need to appointment", "days"),
    "wait_days_p90": ("90th percentile of the wait", "days"),
    "abandon_rate": ("Applicants never served (gave up)", "share of resolved applicants"),
    "slots_wasted": ("Wasted slots", "slots in the window"),
    "rent_paid_above_fee_eur": ("Paid to resellers above the fee", "EUR in the window"),
    "reseller_revenue_eur": ("Reseller revenue", "EUR in the window"),
    "reseller_price_mean_eur": ("Mean resale price", "EUR"),
    "bot_requests_per_day_mean": ("Bot requests", "requests per day"),
    "applicants_arrived": ("Applicants arrived", "applicants in the window"),
}
PATH_LABELS = {
    "demand.applicants_per_year": "demand (applicants per year)",
    "centre.capacity_per_day": "capacity (appointments per working day)",
}


@_drawn
def report_outcomes(r):
    """Where the released slots went: stacked shares per variant, one panel per sweep point."""
    plt = pyplot()
    n_pts = len(r.points)
    cols = n_pts if n_pts <= 4 else 3
    rows = math.ceil(n_pts / cols)
    width = max(6.5, 0.85 * len(r.variants) * cols + 1.5)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width, 3.6 * rows + 1.2), squeeze=False, sharey=True, layout="constrained"
    )
    for ax in axes.flat[n_pts:]:
        ax.set_visible(False)
    x = np.arange(len(r.variants))
    for ax, point in zip(axes.flat, r.points, strict=False):
        at = r.runs[r.runs.point == point]
        parts = []
        for col, label, colour in outcome_parts(REPORT_OUTCOMES):
            d = [
                describe((g[col] / g["slots_released"]).to_numpy(float) if len(g) else np.array([np.nan]))
                for g in (at[at.variant == v] for v in r.variants)
            ]
            parts.append((label, colour, [e["mean"] for e in d], [e["half_width"] for e in d]))
        _stacked(ax, x, parts)
        ax.set_xticks(x, r.variants, rotation=30, ha="right")
        ax.set_ylim(0, 1.04)
        percent_axis(ax.yaxis)
        ax.set_title(wrap(r.point_label(point), 0.85 * width / cols, 8.5), fontsize=8.5)
        ax.grid(axis="x", visible=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of released slots")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="outside lower center", ncol=3)
    _suptitle(
        fig, f"{r.name}: where the released slots went (mean of {r.reps_text()}; error bars: 95% CI of each share)"
    )
    return fig


@_drawn
def report_differences(r, point: str, metrics=DIFF_METRICS):
    """Paired differences to the reference variant with their 95% CI, the unpaired (Welch) one beside."""
    plt = pyplot()
    from matplotlib.lines import Line2D

    s = r.summary[(r.summary.point == point) & (r.summary.variant != r.reference)]
    metrics = [m for m in metrics if m in set(s.metric)]
    others = [v for v in r.variants if v != r.reference]
    if not metrics or not others:
        return None
    fig, axes = plt.subplots(
        1,
        len(metrics),
        figsize=(3.2 * len(metrics), 0.45 * len(others) + 2.0),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    y = np.arange(len(others))[::-1]
    for ax, m in zip(axes[0], metrics, strict=True):
        sm = s[s.metric == m].set_index("variant")
        for yi, v in zip(y, others, strict=True):
            if v not in sm.index:
                continue
            row, st = sm.loc[v], r.styles[v]
            ax.errorbar(
                row.diff_mean,
                yi + 0.15,
                xerr=_nz(row.diff_half_width),
                fmt="o",
                color=st.colour,
                ls=st.linestyle,
                capsize=3,
                lw=2,
                ms=4,
                label=v,
            )
            ax.errorbar(
                row.diff_mean,
                yi - 0.15,
                xerr=_nz(row.unpaired_half_width),
                fmt="none",
                ecolor=st.colour,
                alpha=0.55,
                capsize=2,
                lw=1,
            )
        ax.axvline(0, color="black", lw=0.8)
        title, unit = LABELS.get(m, (m, ""))
        ax.set_title(wrap(title, 2.9, 8.5), fontsize=8.5)
        if unit.startswith("share"):
            ax.set_xlabel("percentage points")
            points_axis(ax.xaxis)
        else:
            ax.set_xlabel(unit)
            number_axis(ax.xaxis)
        ax.grid(axis="y", visible=False)
        ax.set_ylim(-0.6, len(others) - 0.4)
    axes[0][0].set_yticks(y, others)
    proxies = [Line2D([], [], color="0.2", lw=2, marker="o", ms=4), Line2D([], [], color="0.2", lw=1, alpha=0.55)]
    fig.legend(
        proxies,
        ["paired CI (common random numbers)", "unpaired CI (Welch), same replications"],
        loc="outside lower center",
        ncol=2,
    )
    _suptitle(fig, f"{r.name}{r.point_title(point)}: each variant minus {r.reference}, 95% CIs ({r.reps_text()})")
    return fig


def _nz(x: float) -> float:
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else x


@_drawn
def report_waits(r, point: str):
    """ECDF of the wait of served applicants per variant: all applicants, then each segment (replication 0)."""
    if r.waits.empty:
        return None
    plt = pyplot()
    w = r.waits[r.waits.point == point]
    seg_of = w.segment.astype(str).to_numpy()
    status = w.status.astype(str).to_numpy()
    variant = w.variant.astype(str).to_numpy()
    waits = w.wait_days.to_numpy(float)
    present = set(np.unique(seg_of))
    segments = [s for s in ("first_time", "renewal", "circulation") if s in present]
    panels = [("all applicants", None)] + [(s.replace("_", " "), s) for s in segments]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.3 * len(panels), 4.4), sharey=True, squeeze=False, layout="constrained"
    )
    served_all = (status == "served_direct") | (status == "served_via_reseller")
    xmax = 0.0
    for ax, (title, seg) in zip(axes[0], panels, strict=True):
        for v in r.variants:
            sel = variant == v
            if seg is not None:
                sel &= seg_of == seg
            x = np.sort(waits[sel & served_all])
            if not len(x):
                continue
            xmax = max(xmax, float(np.quantile(x, 0.995)))
            gave_up = float((status[sel] == "abandoned").mean())
            y = np.arange(1, len(x) + 1) / len(x)
            if len(x) > 600:  # 600 points draw the same curve, and a light PDF
                keep = np.unique(np.linspace(0, len(x) - 1, 600).round().astype(int))
                x, y = x[keep], y[keep]
            st = r.styles[v]
            ax.step(
                x,
                y,
                where="post",
                color=st.colour,
                ls=st.linestyle,
                lw=1.4,
                label=f"{v} ({gave_up:.0%} gave up)" if seg is None else v,
            )
        ax.set_title(title)
        ax.set_xlabel("days from need to appointment")
        percent_axis(ax.yaxis)
    for ax in axes[0]:
        ax.set_xlim(0, xmax * 1.02 if xmax else None)
    axes[0][0].set_ylabel("share of served applicants\nwaiting at most x days")
    h, lab = axes[0][0].get_legend_handles_labels()
    fig.legend(h, lab, loc="outside lower center", ncol=min(4, max(len(lab), 1)), fontsize=8)
    _suptitle(
        fig,
        f"{r.name}{r.point_title(point)}: waiting-time distribution (served applicants of the "
        f"measured window, replication 0; legend: share who gave up)",
    )
    return fig


@_drawn
def report_activity(r, point: str):
    """Bot requests per day and the mean asking price over time: mean over replications, 95% band."""
    plt = pyplot()
    import matplotlib.dates as mdates

    d = r.daily[r.daily.point == point]
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.2), sharex=True, layout="constrained")
    w0, _ = r.window()
    for v in r.variants:
        g = d[d.variant == v]
        if g.empty:
            continue
        dates = pd.to_datetime(g.groupby("day")["date"].first())
        st = r.styles[v]
        for ax, col in zip(axes, ("bot_requests", "reseller_price_eur"), strict=True):
            b = band(g, col)
            if b["mean"].notna().any():
                ax.plot(dates.to_numpy(), b["mean"].to_numpy(), color=st.colour, ls=st.linestyle, lw=1.3, label=v)
                ax.fill_between(
                    dates.to_numpy(), b["low"].to_numpy(), b["high"].to_numpy(), color=st.colour, alpha=0.2, lw=0
                )
    means = d.groupby(["variant", "day"]).bot_requests.mean()
    pos = means[means > 0]
    if len(pos) and pos.max() / pos.min() > 100:
        axes[0].set_yscale("log")
    axes[0].set_ylabel("bot requests per day\n(what the provider sees)")
    axes[0].set_title("Bot activity")
    axes[1].set_ylabel("EUR")
    axes[1].set_title("Mean asking price of active resellers")
    dates_all = pd.to_datetime(d.groupby("day")["date"].first())
    for ax in axes:
        if ax.get_yscale() != "log":
            ax.set_ylim(bottom=0)
            number_axis(ax.yaxis)
        if w0 and w0 in dates_all.index:
            ax.axvspan(
                dates_all.iloc[0], dates_all.loc[w0], color="grey", alpha=0.12, lw=0, label="warm-up (not measured)"
            )
        for sw in r.switch_days(point):
            if sw in dates_all.index:
                ax.axvline(dates_all.loc[sw], color="black", ls=":", lw=1, label="policy switch")
    h, lab = axes[0].get_legend_handles_labels()
    uniq = dict(zip(lab, h, strict=True))
    axes[0].legend(uniq.values(), uniq.keys(), fontsize=7.5, ncol=2, loc="best", frameon=True, framealpha=0.8)
    axes[1].xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    axes[1].tick_params(axis="x", labelrotation=30)
    _suptitle(fig, f"{r.name}{r.point_title(point)}: mean over {r.reps_text()}, band: pointwise 95% CI")
    return fig


@_drawn
def report_sweep(r, metrics=SWEEP_METRICS):
    """Metrics against the first swept parameter, one line per variant (and per other parameter value)."""
    if not r.params:
        return None
    plt = pyplot()
    xp, rest = r.params[0], r.params[1:]
    short = short_paths(r.params)
    metrics = [m for m in metrics if m in set(r.summary.metric)]
    cols = 2 if len(metrics) > 1 else 1
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.7 * rows + 1.2), squeeze=False, layout="constrained")
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    values = list(r.sweep[xp])
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    rest_combos = list(dict.fromkeys(tuple(row) for row in r.summary[rest].itertuples(index=False))) if rest else [()]
    for ax, m in zip(axes.flat, metrics, strict=False):
        s = r.summary[r.summary.metric == m]
        title, unit = LABELS.get(m, (m, ""))
        low, high = bounds(m, unit)
        for v in r.variants:
            st = r.styles[v]
            for j, combo in enumerate(rest_combos):
                g = s[s.variant == v]
                for p, val in zip(rest, combo, strict=True):
                    g = g[g[p] == val]
                if g.empty:
                    continue
                xs = g[xp].to_numpy() if numeric else np.array([values.index(x) for x in g[xp]])
                order = np.argsort(xs)
                mean = g["mean"].to_numpy()[order]
                label = v + (
                    ""
                    if not rest
                    else " (" + ", ".join(f"{short[p]}={c}" for p, c in zip(rest, combo, strict=True)) + ")"
                )
                ls = LINESTYLES[(j + LINESTYLES.index(st.linestyle)) % len(LINESTYLES)]
                ax.errorbar(
                    xs[order],
                    mean,
                    yerr=_yerr(mean, g["half_width"].to_numpy()[order], low, high),
                    color=st.colour,
                    ls=ls,
                    marker="o",
                    ms=3.5,
                    capsize=3,
                    lw=1.4,
                    label=label,
                )
        ax.set_title(wrap(title, 5.0, STYLE["axes.titlesize"]))
        ax.set_ylabel(unit)
        ax.set_xlabel(wrap(r.manifest.get("labels", {}).get(xp) or PATH_LABELS.get(xp, xp), 5.0, 9))
        if not numeric:
            ax.set_xticks(range(len(values)), [str(x) for x in values])
        elif max(abs(x) for x in values) >= 10_000:
            number_axis(ax.xaxis, short=False)
        if unit.startswith("share"):
            percent_axis(ax.yaxis)
        else:
            number_axis(ax.yaxis)
        if low is not None:
            ax.set_ylim(bottom=low)
    h, lab = axes.flat[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="outside lower center", ncol=min(4, max(len(lab), 1)))
    _suptitle(fig, f"{r.name}: sweep of {short[xp]} (mean of {r.reps_text()}, bars: 95% CI; common random numbers)")
    return fig


# --------------------------------------------------------------------------- app figures


@_drawn
def app_outcomes(shares: pd.DataFrame):
    """What happened to the slots: `shares` (app_support.outcome_shares) as horizontal stacked bars."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(shares) + 2.2), layout="constrained")
    y = np.arange(len(shares))[::-1]  # the first scheme on top
    parts = [
        (label, colour, shares[label].fillna(0).to_numpy(), None)
        for col, label, colour in outcome_parts(APP_OUTCOMES)
        if col != "slots_wasted_other" or shares[label].fillna(0).any()
    ]
    _stacked(ax, y, parts, horizontal=True, width=0.8)
    ax.set_yticks(y, list(shares.index))
    ax.set_xlim(0, 1)
    percent_axis(ax.xaxis)
    ax.grid(False)
    ax.set_xlabel("share of released slots")
    ax.set_title("What happened to the appointment slots")
    fig.legend(loc="outside lower center", ncol=3, fontsize=9)
    return fig


@_drawn
def app_waits(c):
    """Distribution of waits of served applicants (need to appointment), one curve per scheme."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 4.4), layout="constrained")
    styles = variant_styles(c.variants)
    q = c.wait_quantiles
    for v in c.variants:
        g = q[q.variant == v].groupby("q").wait_days.mean()
        if g.notna().any():
            ax.plot(
                g.to_numpy(), g.index.to_numpy(), color=styles[v].colour, ls=styles[v].linestyle, label=c.label(v), lw=2
            )
    ax.set_xlabel("days from need to appointment (served applicants)")
    ax.set_ylabel("share served within that time")
    ax.set_ylim(0, 1)
    percent_axis(ax.yaxis)
    ax.set_xlim(left=0)
    ax.set_title("Waiting times: the further left, the shorter the waits")
    fig.legend(loc="outside right center", fontsize=9)
    return fig


@_drawn
def app_activity(c):
    """Bot requests per day and the price paid to resellers over time; warm-up and switch days marked."""
    plt = pyplot()
    import matplotlib.dates as mdates

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True, layout="constrained")
    styles = variant_styles(c.variants)
    d = c.daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    first = next(iter(c.variants.values()))
    start = pd.Timestamp(first.run.start_date)
    warm_end = start + pd.Timedelta(days=first.run.warmup_days)
    lowest = math.inf
    for v in c.variants:
        col, ls = styles[v].colour, styles[v].linestyle
        g = d[d.variant == v].groupby("date")
        req = g.bot_requests.mean()
        if (req > 0).any():
            lowest = min(lowest, float(req[req > 0].min()))
            ax1.plot(req.index, req.where(req > 0).to_numpy(), color=col, ls=ls, label=c.label(v), lw=1.6)
            if c.replications > 1:
                lo, hi = g.bot_requests.min(), g.bot_requests.max()
                ax1.fill_between(
                    req.index, lo.where(lo > 0).to_numpy(), hi.where(hi > 0).to_numpy(), color=col, alpha=0.12, lw=0
                )
        if {"sales", "sales_eur"} <= set(d.columns):
            w = d[d.variant == v].set_index("date")[["sales", "sales_eur"]].resample("7D", origin=start).sum()
            price = w.sales_eur / w.sales.where(w.sales > 0)
            if price.notna().any():
                ax2.plot(
                    price.index + pd.Timedelta(days=3.5),
                    price.to_numpy(),
                    color=col,
                    ls=ls,
                    marker="o",
                    ms=3,
                    lw=1.6,
                    label=c.label(v),
                )
    for ax in (ax1, ax2):
        ax.axvspan(start, warm_end, color="#999", alpha=0.12, lw=0)
    ax2.text(
        start,
        0.02,
        " warm-up, not measured",
        transform=ax2.get_xaxis_transform(),
        va="bottom",
        fontsize=8,
        color="#555",
    )
    marked = set()
    for v, sc in c.variants.items():
        for s in sc.timeline:
            when = pd.Timestamp(sc.run.start_date) + pd.Timedelta(days=s.day)
            if when in marked:
                continue
            marked.add(when)
            for ax in (ax1, ax2):
                ax.axvline(when, color="k", ls="--", lw=1)
            ax1.text(
                when,
                0.98,
                f"policy switch of {c.label(v).lower()}, day {s.day} ",
                transform=ax1.get_xaxis_transform(),
                va="top",
                ha="right",
                fontsize=8,
            )
    if math.isfinite(lowest):
        ax1.set_yscale("log")
        ax1.set_ylim(bottom=max(lowest / 3, 0.5))
    else:
        ax1.text(0.5, 0.5, "no bot activity in this comparison", transform=ax1.transAxes, ha="center")
    if ax2.lines:
        ax2.set_ylim(bottom=0)
        number_axis(ax2.yaxis)
    else:
        ax2.text(0.5, 0.5, "no appointment was sold by a reseller", transform=ax2.transAxes, ha="center")
    handles = [plt.Line2D([], [], color=styles[v].colour, ls=styles[v].linestyle, lw=2) for v in c.variants]
    fig.legend(handles, [c.label(v) for v in c.variants], loc="outside right center", fontsize=9)
    ax1.set_ylabel("bot requests per day (log scale)")
    ax1.set_title("Bot activity: requests per day, the figure a provider sees in its logs")
    ax2.set_ylabel("EUR per appointment")
    ax2.set_title("Price paid to resellers (weekly mean of sales)")
    ax2.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    return fig


@_drawn
def app_fairness(c, within_days: int, panels):
    """Share served within N days per group and scheme: panels = (title, mean, ci, group names) each,
    mean and ci in percent with a column per variant (app_support.fairness_table)."""
    plt = pyplot()
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(11, 4.9),
        sharey=True,
        squeeze=False,
        gridspec_kw={"width_ratios": [len(p[1].index) or 1 for p in panels]},
        layout="constrained",
    )
    styles = variant_styles(c.variants)
    for ax, (title, mean, ci, names) in zip(axes[0], panels, strict=True):
        nv = len(mean.columns)
        width = 0.8 / max(nv, 1)
        x = np.arange(len(mean.index))
        for j, v in enumerate(mean.columns):
            m = mean[v].to_numpy(dtype=float)
            err = _yerr(m, ci[v].to_numpy(dtype=float), 0.0, 100.0) if c.replications > 1 else None
            xs = x + (j - (nv - 1) / 2) * width
            ax.bar(
                xs, m, width, color=styles[v].colour, label=c.label(v), yerr=err, capsize=2 if err is not None else 0
            )
            for xi, yi in zip(xs, m, strict=True):
                if np.isfinite(yi) and yi < 0.5:  # a missing bar is a zero, not a gap
                    ax.text(xi, 0.5, "0", ha="center", va="bottom", fontsize=7, color="#333")
        ax.set_xticks(x, [names.get(g, g) for g in mean.index], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", visible=False)
    axes[0][0].set_ylabel(f"served within {within_days} days")
    axes[0][0].set_ylim(0, 100)
    percent_axis(axes[0][0].yaxis, of=100)
    fig.suptitle(f"Fairness: share of applicants served within {within_days} days of their need")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, max(len(labels), 1)), fontsize=8)
    return fig
