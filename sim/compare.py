"""Compare schemes on the same demand: common random numbers, side-by-side table.

Every variant of replication k runs with the same (seed, k), so it replays the
same applicants; the differences in the table come from the policies alone.
"""

from __future__ import annotations

import math

import pandas as pd

from .metrics import CONTRACT
from .metrics import format_value as _fmt
from .presets import PRESETS, apply_preset
from .resources import Limits
from .runner import RunPlan, run
from .scenario import Scenario, ScenarioError, load_scenario
from .stats import t_interval

# Extra keys worth a policy maker's eye, shown after the contract when present.
EXTRA = (
    "applicants_abandoned",
    "slots_wasted_unsold",
    "slots_wasted_no_show",
    "slots_wasted_unpaid",
    "reassignments",
    "human_defence_minutes_per_appointment",
    "bots_end",
)


def compare(
    variants: dict[str, Scenario],
    seed: int,
    replications: int = 1,
    jobs: int | None = None,
    progress: bool | None = None,
    limits: Limits | None = None,
) -> pd.DataFrame:
    """Per-replication metrics of every variant, one row per (variant, replication), in variant order."""
    done = run(RunPlan.of(variants, seed, replications), jobs=jobs, progress=progress, desc="compare", limits=limits)
    return done.frames(ident=("variant", "replication")).runs


def summarise(runs: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Mean per variant and metric, with a 95% half-width when there are replications."""
    metrics = [m for m in (metrics or CONTRACT + EXTRA) if m in runs.columns]
    out = {}
    for v in dict.fromkeys(runs.variant):
        g = runs[runs.variant == v]
        ci = {m: t_interval(g[m]) for m in metrics}
        out[(v, "mean")] = pd.Series({m: i.mean for m, i in ci.items()}, index=metrics, dtype=float)
        out[(v, "ci95")] = pd.Series({m: i.half_width for m, i in ci.items()}, index=metrics, dtype=float)
    return pd.DataFrame(out)


def table(runs: pd.DataFrame, metrics=None) -> str:
    """Side-by-side text table: each variant's mean, and its difference to the first column."""
    summary = summarise(runs, metrics)
    variants = list(dict.fromkeys(runs.variant))
    first = variants[0]
    reps = int(runs.replication.nunique())
    header = ["metric"] + variants
    rows = []
    for metric in summary.index:
        ref = summary.loc[metric, (first, "mean")]
        cells = [metric]
        for v in variants:
            mean = summary.loc[metric, (v, "mean")]
            cell = _fmt(mean)
            if reps > 1 and not math.isnan(summary.loc[metric, (v, "ci95")]):
                cell += f" ±{_fmt(summary.loc[metric, (v, 'ci95')])}"
            if v != first and not (math.isnan(mean) or math.isnan(ref)):
                cell += f" ({_signed(mean - ref)})"
            cells.append(cell)
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    note = (
        f"{reps} replication(s) per scheme on the same demand (common random numbers); "
        f"(±) 95% CI half-width, (+/-) difference to {first}"
    )
    return "\n".join([note, line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "-") + _fmt(abs(x))


def build_variants(files: list[str], base: str | None, presets: list[str], overrides: list[str]) -> dict:
    """Variants from scenario files, or from presets applied to one base file."""
    variants: dict[str, Scenario] = {}
    for f in files:
        sc = load_scenario(f, overrides)
        variants[_unique(variants, sc.name)] = sc
    if presets:
        if not base:
            raise ScenarioError(["--presets: needs --base FILE, the scenario the presets apply to"])
        unknown = [p for p in presets if p not in PRESETS]
        if unknown:
            raise ScenarioError([f"--presets: unknown preset {p!r}; choose from {', '.join(PRESETS)}" for p in unknown])
        b = load_scenario(base, overrides)
        for p in presets:
            variants[_unique(variants, p)] = apply_preset(b, p)
    if not variants:
        raise ScenarioError(["compare: give scenario files, or --base FILE with --presets (or --all-presets)"])
    return variants


def _unique(existing: dict, name: str) -> str:
    k, out = 2, name
    while out in existing:
        out, k = f"{name}#{k}", k + 1
    return out
