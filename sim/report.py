"""`slotsim report RESULTS_DIR`: figures (PNG and PDF) and report.md from a `slotsim batch` folder.

Figures, under RESULTS_DIR/figures/ (file names end in _p<i> for sweep point i when
the experiment has several points):
- outcomes: where the released slots went (attended directly, via a reseller, wasted),
  stacked shares per variant, mean over replications with 95% CIs;
- differences: paired differences to the reference variant with their 95% CI, the
  unpaired (Welch) interval drawn beside it;
- waits: ECDF of the time from need to appointment of served applicants, per variant,
  all applicants and per segment (replication 0 of each cell);
- activity: bot requests per day and mean reseller price over time, mean across
  replications with a pointwise 95% band;
- sweep: metrics against the first swept parameter, one line per variant.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from .experiments import BASE_POINT, HEADLINE, fmt, fmt_ci
from .fileio import atomic_path, check_writable, write_text
from .stats import describe, summarise, t_half_width

OUTCOME_PARTS = (("slots_attended_direct", "attended, booked directly", "#2a9d8f"),
                 ("slots_attended_via_reseller", "attended, bought from a reseller", "#e9c46a"),
                 ("slots_wasted", "wasted (unsold, no-show, unpaid...)", "#8d99ae"))
SWEEP_METRICS = ("share_via_reseller", "wait_days_mean", "share_captured_by_bots", "abandon_rate")
DIFF_METRICS = ("share_via_reseller", "wait_days_mean", "abandon_rate", "rent_paid_above_fee_eur")
LABELS = {
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


class Results:
    """A results folder written by `slotsim batch`."""

    def __init__(self, folder: Path):
        from .cli import BadInput

        self.folder = folder
        if not folder.is_dir():
            raise BadInput(f"{folder}: not a folder (give the folder `slotsim batch` wrote)")
        mf = folder / "manifest.json"
        if not mf.is_file():
            raise BadInput(f"{folder}: no manifest.json here; is it a `slotsim batch` results folder?")
        try:
            self.manifest = json.loads(mf.read_text(encoding="utf-8"))
            self.variants: list[str] = list(self.manifest["variants"])
            self.points: list[str] = list(self.manifest["points"])
            self.reference: str = self.manifest["reference"]
            self.sweep: dict = dict(self.manifest.get("sweep", {}))
        except (ValueError, KeyError, TypeError) as e:
            raise BadInput(f"{mf}: not a manifest written by `slotsim batch` ({e.__class__.__name__}: {e})")
        try:
            self.runs = pd.read_parquet(folder / "replications.parquet")
            self.daily = pd.read_parquet(folder / "daily.parquet")
            wf = folder / "waits.parquet"
            self.waits = pd.read_parquet(wf) if wf.is_file() else pd.DataFrame()
        except (OSError, ValueError) as e:
            raise BadInput(f"{folder}: results files missing or unreadable ({e.__class__.__name__}: {e})")
        if self.runs.empty or "variant" not in self.runs.columns:
            raise BadInput(f"{folder}/replications.parquet: no replications in it")
        self.params = list(self.sweep)
        self.summary = summarise(self.runs, self.reference, self.params)
        self.colors = {v: _palette(i) for i, v in enumerate(self.variants)}
        cells = self.manifest.get("cells", [])
        self.scenarios = {(c["variant"], c["point"]): c.get("scenario", {}) for c in cells}

    @property
    def name(self) -> str:
        return self.manifest["experiment"]["name"]

    def window(self) -> tuple[int, int]:
        sc = next(iter(self.scenarios.values()), {})
        run = sc.get("run", {})
        return int(run.get("warmup_days", 0)), int(run.get("days", 0))

    def point_suffix(self, i: int) -> str:
        return "" if len(self.points) == 1 else f"_p{i}"

    def point_title(self, point: str) -> str:
        return "" if point == BASE_POINT else f" [{point}]"


def _palette(i: int) -> str:
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False, "font.size": 9,
                         "axes.titlesize": 10, "figure.titlesize": 11})
    return plt


def save(fig, folder: Path, stem: str) -> list[str]:
    out = []
    for ext in ("png", "pdf"):
        with atomic_path(folder / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight")
        out.append(f"{stem}.{ext}")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


# --------------------------------------------------------------------------- figures


def fig_outcomes(r: Results, folder: Path) -> str:
    plt = _setup()
    n_pts = len(r.points)
    cols = n_pts if n_pts <= 4 else 3
    rows = math.ceil(n_pts / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(6.5, 0.85 * len(r.variants) * cols + 1.5), 3.6 * rows + 0.6),
                             squeeze=False, sharey=True)
    for ax in axes.flat[n_pts:]:
        ax.set_visible(False)
    for ax, point in zip(axes.flat, r.points):
        at = r.runs[r.runs.point == point]
        x = np.arange(len(r.variants))
        bottom = np.zeros(len(r.variants))
        for col, label, color in OUTCOME_PARTS:
            means, hws = [], []
            for v in r.variants:
                g = at[at.variant == v]
                share = (g[col] / g["slots_released"]).to_numpy(float) if len(g) else np.array([np.nan])
                d = describe(share)
                means.append(d["mean"])
                hws.append(d["half_width"])
            means, hws = np.nan_to_num(np.array(means)), np.array(hws)
            ax.bar(x, means, 0.65, bottom=bottom, color=color, label=label, edgecolor="white", linewidth=0.5)
            top = bottom + means
            # each share's CI drawn at the middle of its own segment, right of its label
            ax.errorbar(x + 0.2, bottom + means / 2, yerr=np.nan_to_num(hws), fmt="none", ecolor="black",
                        elinewidth=0.9, capsize=2.5)
            for xi, m, b in zip(x, means, bottom):
                if m >= 0.06:
                    ax.text(xi - 0.04, b + m / 2, f"{m:.0%}", ha="center", va="center", fontsize=7.5)
            bottom = top
        ax.set_xticks(x, r.variants, rotation=30, ha="right")
        ax.set_ylim(0, 1.04)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
        ax.set_title(point if point != BASE_POINT else "", fontsize=8.5)
        ax.grid(axis="x", visible=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of released slots")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="upper center", ncol=3, frameon=False,
               bbox_to_anchor=(0.5, 1.0 - 0.02 / rows))
    n = _reps_text(r)
    fig.suptitle(f"{r.name}: where the released slots went (mean of {n}; error bars: 95% CI of each share)",
                 y=1.04)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return save(fig, folder, "outcomes")


def _reps_text(r: Results) -> str:
    n = r.runs.groupby(["variant", "point"]).size()
    return f"{n.min()} replications" if n.min() == n.max() else f"{n.min()}-{n.max()} replications"


def fig_differences(r: Results, folder: Path, i: int, point: str, metrics=DIFF_METRICS) -> list[str]:
    plt = _setup()
    s = r.summary[(r.summary.point == point) & (r.summary.variant != r.reference)]
    metrics = [m for m in metrics if m in set(s.metric)]
    others = [v for v in r.variants if v != r.reference]
    if not metrics or not others:
        return []
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 0.45 * len(others) + 1.6),
                             sharey=True, squeeze=False)
    y = np.arange(len(others))[::-1]
    for ax, m in zip(axes[0], metrics):
        sm = s[s.metric == m].set_index("variant")
        for yi, v in zip(y, others):
            if v not in sm.index:
                continue
            row = sm.loc[v]
            c = r.colors[v]
            ax.errorbar(row.diff_mean, yi + 0.15, xerr=_nz(row.diff_half_width), fmt="o", color=c, capsize=3,
                        lw=2, ms=4)
            ax.errorbar(row.diff_mean, yi - 0.15, xerr=_nz(row.unpaired_half_width), fmt="none", ecolor=c,
                        alpha=0.55, capsize=2, lw=1)
        ax.axvline(0, color="black", lw=0.8)
        title, unit = LABELS.get(m, (m, ""))
        ax.set_title(title, fontsize=8.5)
        if unit.startswith("share"):
            ax.set_xlabel("percentage points")
            ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{100 * x:+.0f}" if x else "0"))
        else:
            ax.set_xlabel(unit)
            ax.xaxis.set_major_formatter(plt.FuncFormatter(_axis_number))
        ax.grid(axis="y", visible=False)
        ax.set_ylim(-0.6, len(others) - 0.4)
    axes[0][0].set_yticks(y, others)
    from matplotlib.lines import Line2D
    proxies = [Line2D([], [], color="0.2", lw=2, marker="o", ms=4), Line2D([], [], color="0.2", lw=1, alpha=0.55)]
    fig.legend(proxies, ["paired CI (common random numbers)", "unpaired CI (Welch), same replications"],
               loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"{r.name}{r.point_title(point)}: each variant minus {r.reference}, 95% CIs "
                 f"({_reps_text(r)})")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return save(fig, folder, f"differences{r.point_suffix(i)}")


def _axis_number(x: float, _=None) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.1f}M"
    if abs(x) >= 1000:
        return f"{x / 1000:,.0f}k"
    return f"{x:g}"


def _nz(x: float) -> float:
    return 0.0 if x is None or (isinstance(x, float) and math.isnan(x)) else x


def fig_waits(r: Results, folder: Path, i: int, point: str) -> list[str]:
    if r.waits.empty:
        return []
    plt = _setup()
    w = r.waits[r.waits.point == point]
    seg_of = w.segment.astype(str).to_numpy()
    status = w.status.astype(str).to_numpy()
    variant = w.variant.astype(str).to_numpy()
    waits = w.wait_days.to_numpy(float)
    present = set(np.unique(seg_of))
    segments = [s for s in ("first_time", "renewal", "circulation") if s in present]
    panels = [("all applicants", None)] + [(s.replace("_", " "), s) for s in segments]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.8), sharey=True, squeeze=False)
    served_all = (status == "served_direct") | (status == "served_via_reseller")
    xmax = 0.0
    for ax, (title, seg) in zip(axes[0], panels):
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
            if len(x) > 600:                       # 600 points draw the same curve, and a light PDF
                keep = np.unique(np.linspace(0, len(x) - 1, 600).round().astype(int))
                x, y = x[keep], y[keep]
            ax.step(x, y, where="post", color=r.colors[v], lw=1.4,
                    label=f"{v} ({gave_up:.0%} gave up)" if seg is None else v)
        ax.set_title(title)
        ax.set_xlabel("days from need to appointment")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    for ax in axes[0]:
        ax.set_xlim(0, xmax * 1.02 if xmax else None)
    axes[0][0].set_ylabel("share of served applicants\nwaiting at most x days")
    h, lab = axes[0][0].get_legend_handles_labels()
    ncol = min(4, len(lab))
    fig.legend(h, lab, loc="lower center", ncol=ncol, frameon=False, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"{r.name}{r.point_title(point)}: waiting-time distribution (served applicants of the "
                 f"measured window, replication 0; legend: share who gave up)")
    fig.tight_layout(rect=(0, 0.06 * math.ceil(len(lab) / ncol) if lab else 0, 1, 1))
    return save(fig, folder, f"waits{r.point_suffix(i)}")


def _band(daily: pd.DataFrame, col: str) -> pd.DataFrame:
    g = daily.groupby("day")[col]
    mean, sd, n = g.mean(), g.std(ddof=1), g.count()
    hw = pd.Series([t_half_width(s, int(k)) for s, k in zip(sd, n)], index=mean.index)
    return pd.DataFrame({"mean": mean, "low": mean - hw, "high": mean + hw})


def fig_activity(r: Results, folder: Path, i: int, point: str) -> list[str]:
    plt = _setup()
    d = r.daily[r.daily.point == point]
    fig, axes = plt.subplots(2, 1, figsize=(8, 5.6), sharex=True)
    w0, end = r.window()
    for v in r.variants:
        g = d[d.variant == v]
        if g.empty:
            continue
        dates = pd.to_datetime(g.groupby("day")["date"].first())
        for ax, col in zip(axes, ("bot_requests", "reseller_price_eur")):
            b = _band(g, col)
            if b["mean"].notna().any():
                ax.plot(dates.to_numpy(), b["mean"].to_numpy(), color=r.colors[v], lw=1.3, label=v)
                ax.fill_between(dates.to_numpy(), b["low"].to_numpy(), b["high"].to_numpy(), color=r.colors[v],
                                alpha=0.2, lw=0)
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
        if w0 and w0 in dates_all.index:
            ax.axvspan(dates_all.iloc[0], dates_all.loc[w0], color="grey", alpha=0.12, lw=0,
                       label="warm-up (not measured)")
        for sw in _switch_days(r, point):
            if sw in dates_all.index:
                ax.axvline(dates_all.loc[sw], color="black", ls=":", lw=1, label="policy switch")
    h, lab = axes[0].get_legend_handles_labels()
    uniq = dict(zip(lab, h))
    axes[0].legend(uniq.values(), uniq.keys(), fontsize=7.5, ncol=2, loc="best")
    fig.autofmt_xdate()
    fig.suptitle(f"{r.name}{r.point_title(point)}: mean over {_reps_text(r)}, band: pointwise 95% CI")
    fig.tight_layout()
    return save(fig, folder, f"activity{r.point_suffix(i)}")


def _switch_days(r: Results, point: str) -> list[int]:
    days = set()
    for (v, p), sc in r.scenarios.items():
        if p == point:
            days |= {int(s["day"]) for s in sc.get("timeline", [])}
    return sorted(days)


def fig_sweep(r: Results, folder: Path, metrics=SWEEP_METRICS) -> list[str]:
    if not r.params:
        return []
    plt = _setup()
    xp = r.params[0]
    rest = r.params[1:]
    metrics = [m for m in metrics if m in set(r.summary.metric)]
    cols = 2 if len(metrics) > 1 else 1
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.7 * rows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    values = list(r.sweep[xp])
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    styles = ["-", "--", ":", "-."]
    rest_combos = list(dict.fromkeys(tuple(row) for row in r.summary[rest].itertuples(index=False))) \
        if rest else [()]
    for ax, m in zip(axes.flat, metrics):
        s = r.summary[r.summary.metric == m]
        for v in r.variants:
            for j, combo in enumerate(rest_combos):
                g = s[s.variant == v]
                for p, val in zip(rest, combo):
                    g = g[g[p] == val]
                if g.empty:
                    continue
                xs = g[xp].to_numpy() if numeric else np.array([values.index(x) for x in g[xp]])
                order = np.argsort(xs)
                label = v + ("" if not rest else " (" + ", ".join(f"{_short(p)}={c}" for p, c in zip(rest, combo))
                             + ")")
                ax.errorbar(xs[order], g["mean"].to_numpy()[order], yerr=np.nan_to_num(g["half_width"].to_numpy()[order]),
                            color=r.colors[v], ls=styles[j % len(styles)], marker="o", ms=3.5, capsize=3, lw=1.4,
                            label=label)
        title, unit = LABELS.get(m, (m, ""))
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_xlabel(textwrap.fill(r.manifest.get("labels", {}).get(xp) or PATH_LABELS.get(xp, xp), 60))
        if not numeric:
            ax.set_xticks(range(len(values)), [str(x) for x in values])
        elif max(abs(x) for x in values) >= 10_000:
            ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:,.0f}"))
        if unit.startswith("share"):
            ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    h, lab = axes.flat[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="upper center", ncol=min(4, len(lab)), frameon=False, bbox_to_anchor=(0.5, 0.955))
    fig.suptitle(f"{r.name}: sweep of {_short(xp)} (mean of {_reps_text(r)}, bars: 95% CI; common random numbers)")
    fig.tight_layout(rect=(0, 0, 1, 0.93 - 0.02 * (math.ceil(len(lab) / 4) - 1)))
    return save(fig, folder, "sweep")


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


# --------------------------------------------------------------------------- report.md


def markdown(r: Results, figures: dict[str, list[str]], fig_dir: str) -> str:
    m = r.manifest
    exp = m["experiment"]
    pkg = m.get("package", {})
    ver = m.get("versions", {})
    ex = m.get("executor", {})
    lines = [f"# Experiment `{exp['name']}`", ""]
    if exp.get("description"):
        lines += [exp["description"], ""]
    commit = pkg.get("git_commit") or "unknown"
    lines += [
        f"- File: `{exp.get('file')}`; seed {m.get('seed')}; {_reps_text(r)} per cell "
        f"({m.get('replications_mode')}); {len(r.variants)} variant(s) x {len(r.points)} point(s).",
        f"- Variants: {', '.join(r.variants)}; reference for differences: **{r.reference}**.",
        f"- slotsim {pkg.get('version')} at commit `{commit[:12]}`"
        f"{' (uncommitted changes)' if pkg.get('git_dirty') else ''}; Python {ver.get('python')}, "
        f"numpy {ver.get('numpy')}, SimPy {ver.get('simpy')}, pandas {ver.get('pandas')}.",
        f"- Run {m.get('started')} on {ex.get('kind')}, {m.get('wall_time_s')} s wall time; "
        f"{m.get('tasks', {}).get('computed')} replications computed, "
        f"{m.get('tasks', {}).get('from_checkpoints')} taken from checkpoints.",
        "",
        "Replication k of every variant and sweep point replays the same demand (common random "
        "numbers), so differences between variants are measured replication by replication (paired). "
        "Intervals are 95% Student-t intervals across replications.",
        "",
    ]
    for i, point in enumerate(r.points):
        if point != BASE_POINT:
            lines += [f"## Point {i}: {point}", ""]
        lines += _table_means(r, point) + [""] + _table_diffs(r, point) + [""]
    lines += ["## Figures", ""]
    titles = {"outcomes": "Where the released slots went", "sweep": "Sweep",
              "differences": "Paired differences to the reference", "waits": "Waiting-time distributions",
              "activity": "Bot activity and resale price over time"}
    for kind, files in figures.items():
        for f in files:
            if f.endswith(".png"):
                stem = f[:-4]
                label = titles.get(stem.split("_p")[0], stem)
                suffix = ""
                if "_p" in stem:
                    suffix = f" ({r.points[int(stem.rsplit('_p', 1)[1])]})"
                lines += [f"### {label}{suffix}", "", f"![{label}]({fig_dir}/{f})", "",
                          f"PDF: [{stem}.pdf]({fig_dir}/{stem}.pdf)", ""]
    return "\n".join(lines)


def _table_means(r: Results, point: str) -> list[str]:
    s = r.summary[r.summary.point == point]
    metrics = [m for m in HEADLINE if m in set(s.metric)]
    head = "| metric | " + " | ".join(r.variants) + " |"
    out = ["Mean ± 95% CI half-width:", "", head, "|---|" + "---:|" * len(r.variants)]
    cells = {(x.variant, x.metric): x for x in s.itertuples()}
    for m in metrics:
        row = [m] + [fmt_ci(cells[(v, m)].mean, cells[(v, m)].half_width) if (v, m) in cells else ""
                     for v in r.variants]
        out.append("| " + " | ".join(row) + " |")
    return out


def _table_diffs(r: Results, point: str) -> list[str]:
    s = r.summary[(r.summary.point == point) & (r.summary.variant != r.reference)]
    if s.empty:
        return []
    metrics = [m for m in HEADLINE if m in set(s.metric)]
    out = [f"Paired difference to {r.reference} (variant - reference): mean ± paired half-width "
           f"[unpaired Welch half-width]:", "",
           "| metric | " + " | ".join(v for v in r.variants if v != r.reference) + " |",
           "|---|" + "---:|" * (len(r.variants) - 1)]
    cells = {(x.variant, x.metric): x for x in s.itertuples()}
    for m in metrics:
        row = [m]
        for v in r.variants:
            if v == r.reference:
                continue
            x = cells.get((v, m))
            row.append("" if x is None else f"{_signed(x.diff_mean)} ±{fmt(x.diff_half_width)} "
                       f"[±{fmt(x.unpaired_half_width)}]")
        out.append("| " + " | ".join(row) + " |")
    return out


def _signed(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return ("+" if x >= 0 else "-") + fmt(abs(x))


# --------------------------------------------------------------------------- command


def make_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write figures and report.md for a results folder; returns the path of report.md."""
    from .cli import BadInput

    folder = Path(folder)
    r = Results(folder)
    out = Path(out) if out else folder
    fig_dir = out / "figures"
    for f in (out, fig_dir):
        if msg := check_writable(f):
            raise BadInput(msg)
    figures: dict[str, list[str]] = {"outcomes": fig_outcomes(r, fig_dir)}
    if r.params:
        figures["sweep"] = fig_sweep(r, fig_dir)
    for i, point in enumerate(r.points):
        figures[f"differences{i}"] = fig_differences(r, fig_dir, i, point)
        figures[f"waits{i}"] = fig_waits(r, fig_dir, i, point)
        figures[f"activity{i}"] = fig_activity(r, fig_dir, i, point)
    rel = Path("figures")
    text = markdown(r, figures, rel.as_posix())
    write_text(out / "report.md", text + "\n")
    return out / "report.md"


def cmd_report(args) -> int:
    from .cli import EXIT_OK

    path = make_report(args.results, args.out)
    print(f"wrote {path} and figures in {path.parent / 'figures'}")
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="figures (PNG, PDF) and report.md from a `slotsim batch` results folder")
    p.add_argument("results", metavar="RESULTS_DIR", help="folder written by slotsim batch")
    p.add_argument("--out", metavar="DIR", help="write report.md and figures/ here (default: RESULTS_DIR)")
    p.set_defaults(func=cmd_report)
