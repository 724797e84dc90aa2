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

sim/figures.py draws them (the app's figures too: one colour per scheme and outcome);
this module names the files and writes report.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from . import figures as F
from .errors import InputError
from .experiments import BASE_POINT, FIGURES_DIR, HEADLINE, MANIFEST, REPORT_FILE, fmt, fmt_ci
from .figures import DIFF_METRICS, SWEEP_METRICS
from .fileio import MAX_SMALL_FILE, MAX_TABLE_FILE, FileSet, check_folder_target, folder_lock, read_limited, text_writer
from .scenario import format_errors
from .stats import summarise


# The parts of manifest.json the report reads, with their types: an edited manifest is refused
# (InputError naming the field), never a traceback. Other fields are allowed and ignored.
class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Run(_Shape):
    warmup_days: StrictInt = 0
    days: StrictInt = 0


class _Switch(_Shape):
    day: StrictInt


class _Scenario(_Shape):
    run: _Run = _Run()
    timeline: list[_Switch] = []


class _Cell(_Shape):
    variant: StrictStr
    point: StrictStr
    replications: StrictInt | None = None
    scenario: _Scenario = _Scenario()


class _Experiment(_Shape):
    name: StrictStr
    description: StrictStr | None = None
    file: StrictStr | None = None


class _Package(_Shape):
    version: StrictStr | None = None
    git_commit: StrictStr | None = None


class _Manifest(_Shape):
    experiment: _Experiment
    variants: list[StrictStr]
    points: list[StrictStr]
    reference: StrictStr
    sweep: dict[StrictStr, Any] = {}
    seed: StrictInt | None = None
    cells: list[_Cell] = []
    sha256: dict[StrictStr, StrictStr] | None = None
    package: _Package = _Package()
    versions: dict[StrictStr, Any] = {}
    executor: dict[StrictStr, Any] = {}
    tasks: dict[StrictStr, Any] = {}


class Results:
    """A results folder written by `slotsim batch`, checked against its manifest.

    manifest.json lists the SHA-256 of every file of the set (slotsim 0.2 on): each is read once,
    checked, and parsed from the bytes checked, so a folder that mixes files of two runs, or a
    file edited since, is refused (InputError naming the file), never described. Whatever the
    manifest's age, the tables must hold the variants, sweep points, seed and replication counts
    the manifest describes."""

    def __init__(self, folder: Path):
        self.folder = folder
        mf = self.check_folder(folder)
        try:
            self.manifest = json.loads(read_limited(mf, MAX_SMALL_FILE).decode("utf-8"))
        except (OSError, ValueError, RecursionError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else f"{e.__class__.__name__}: {e}"
            raise InputError(f"{mf}: not a manifest written by `slotsim batch` ({why})") from None
        try:
            shape = _Manifest.model_validate(self.manifest)
        except ValidationError as e:
            raise InputError(
                *(f"{mf}: not a manifest written by `slotsim batch`: {m}" for m in format_errors(e))
            ) from None
        self.variants: list[str] = list(shape.variants)
        self.points: list[str] = list(shape.points)
        self.reference: str = shape.reference
        self.sweep: dict = dict(shape.sweep)
        digests = shape.sha256
        data = self._checked_files(mf, digests)
        try:
            self.runs = self._table(data, "replications.parquet")
            self.daily = self._table(data, "daily.parquet")
            has_waits = "waits.parquet" in data if digests is not None else (folder / "waits.parquet").is_file()
            self.waits = self._table(data, "waits.parquet") if has_waits else pd.DataFrame()
        except (OSError, ValueError) as e:
            raise InputError(f"{folder}: results files missing or unreadable ({e.__class__.__name__}: {e})") from None
        if self.runs.empty or "variant" not in self.runs.columns:
            raise InputError(f"{folder}/replications.parquet: no replications in it")
        if problems := self._mismatches():
            raise InputError(
                *(f"{folder}/{file} does not match {mf}: {what}" for file, what in problems),
                f"{folder}: the folder holds files of different runs: run slotsim batch again",
            )
        self.params = list(self.sweep)
        self.summary = summarise(self.runs, self.reference, self.params)
        self.styles = F.variant_styles(self.variants)  # colour by variant name, never by position
        raw_cells = self.manifest.get("cells", [])
        self.scenarios = {(c.variant, c.point): raw_cells[i].get("scenario", {}) for i, c in enumerate(shape.cells)}

    @staticmethod
    def check_folder(folder: Path) -> Path:
        """The manifest's path, if `folder` is a folder with one (InputError otherwise)."""
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder (give the folder `slotsim batch` wrote)")
        mf = folder / MANIFEST
        if not mf.is_file():
            raise InputError(f"{folder}: no manifest.json here; is it a `slotsim batch` results folder?")
        try:  # a quick look before the output folder is locked (and its lock file made)
            head = json.loads(read_limited(mf, MAX_SMALL_FILE))
        except (OSError, ValueError, RecursionError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else e.__class__.__name__
            raise InputError(f"{mf}: not a manifest written by `slotsim batch` ({why})") from None
        missing = [k for k in ("variants", "points", "reference") if not isinstance(head, dict) or k not in head]
        if missing:
            raise InputError(f"{mf}: not a manifest written by `slotsim batch` (no {', '.join(missing)})")
        return mf

    def _checked_files(self, mf: Path, digests: dict | None) -> dict[str, bytes]:
        """The bytes of every file the manifest lists, each checked against its SHA-256."""
        if digests is None:
            return {}  # a manifest of slotsim 0.1: no digests; the tables are still checked below
        folder = self.folder
        out: dict[str, bytes] = {}
        for name in ("replications.parquet", "daily.parquet"):
            if name not in digests:
                raise InputError(f"{mf}: does not list {name}; not a complete `slotsim batch` result set")
        for name, digest in digests.items():
            if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
                raise InputError(f"{mf}: lists {name!r}, not a file of its own folder")
            try:
                data = read_limited(folder / name, MAX_TABLE_FILE)
            except FileNotFoundError:
                raise InputError(
                    f"{folder}: results files missing or unreadable ({name}: listed in manifest.json but missing)"
                ) from None
            except OSError as e:
                raise InputError(f"{folder}: results files missing or unreadable ({name}: {e.strerror or e})") from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise InputError(
                    f"{folder / name} does not match {mf} (SHA-256 differs): the file was changed after "
                    f"the manifest was written, or belongs to another run: run slotsim batch again"
                )
            out[name] = data
        return out

    def _table(self, data: dict[str, bytes], name: str) -> pd.DataFrame:
        raw = data[name] if name in data else read_limited(self.folder / name, MAX_TABLE_FILE)
        return pd.read_parquet(io.BytesIO(raw))

    def _mismatches(self) -> list[tuple[str, str]]:
        """(file, what) for every way the tables contradict the manifest."""
        m, runs, out = self.manifest, self.runs, []
        rep = "replications.parquet"
        for col, listed in (("variant", self.variants), ("point", self.points)):
            found = sorted(map(str, runs[col].unique())) if col in runs.columns else []
            if found != sorted(map(str, listed)):
                out.append((rep, f"{col}s {found}, the manifest lists {sorted(map(str, listed))}"))
        if "seed" in runs.columns and isinstance(m.get("seed"), int):
            seeds = sorted(int(x) for x in runs.seed.unique())
            if seeds != [m["seed"]]:
                out.append((rep, f"seed {', '.join(map(str, seeds))}, the manifest says seed {m['seed']}"))
        if not out and {"variant", "point"} <= set(runs.columns):
            have = runs.groupby(["variant", "point"], observed=True).size()
            for c in m.get("cells", []):
                if not isinstance(c, dict) or not isinstance(c.get("replications"), int):
                    continue
                n = int(have.get((c.get("variant"), c.get("point")), 0))
                if n != c.get("replications"):
                    out.append(
                        (
                            rep,
                            f"{n} replications of {c.get('variant')} @ {c.get('point')}, "
                            f"the manifest says {c.get('replications')}",
                        )
                    )
        keys = ["variant", "point", "replication"]
        if not out and set(keys) <= set(runs.columns) and set(keys) <= set(self.daily.columns):
            a = set(map(tuple, runs[keys].astype(str).drop_duplicates().to_numpy().tolist()))
            b = set(map(tuple, self.daily[keys].astype(str).drop_duplicates().to_numpy().tolist()))
            if a != b:
                out.append(("daily.parquet", f"{len(b)} runs, not the {len(a)} of replications.parquet"))
        return out

    @property
    def name(self) -> str:
        return self.manifest["experiment"]["name"]

    def window(self) -> tuple[int, int]:
        sc: dict[str, Any] = next(iter(self.scenarios.values()), {})
        run = sc.get("run", {})
        return int(run.get("warmup_days", 0)), int(run.get("days", 0))

    def point_suffix(self, i: int) -> str:
        return "" if len(self.points) == 1 else f"_p{i}"

    def point_label(self, point: str) -> str:
        """A sweep point as a figure names it: parameter paths shortened ('' without a sweep)."""
        return "" if point == BASE_POINT else F.point_label(point, self.params)

    def point_title(self, point: str) -> str:
        return "" if point == BASE_POINT else f" [{self.point_label(point)}]"

    def reps_text(self) -> str:
        n = self.runs.groupby(["variant", "point"]).size()
        return f"{n.min()} replications" if n.min() == n.max() else f"{n.min()}-{n.max()} replications"

    def switch_days(self, point: str) -> list[int]:
        """The days of the policy switches of the timelines at `point`."""
        days = set()
        for (_, p), sc in self.scenarios.items():
            if p == point:
                days |= {int(s["day"]) for s in sc.get("timeline", [])}
        return sorted(days)


# --------------------------------------------------------------------------- figures (sim/figures.py draws)


def fig_outcomes(r: Results, folder: Path) -> list[str]:
    return F.save(F.report_outcomes(r), folder, "outcomes")


def fig_differences(r: Results, folder: Path, i: int, point: str, metrics=DIFF_METRICS) -> list[str]:
    return _saved(F.report_differences(r, point, metrics), folder, f"differences{r.point_suffix(i)}")


def fig_waits(r: Results, folder: Path, i: int, point: str) -> list[str]:
    return _saved(F.report_waits(r, point), folder, f"waits{r.point_suffix(i)}")


def fig_activity(r: Results, folder: Path, i: int, point: str) -> list[str]:
    return _saved(F.report_activity(r, point), folder, f"activity{r.point_suffix(i)}")


def fig_sweep(r: Results, folder: Path, metrics=SWEEP_METRICS) -> list[str]:
    return _saved(F.report_sweep(r, metrics), folder, "sweep")


def _saved(fig, folder: Path, stem: str) -> list[str]:
    return [] if fig is None else F.save(fig, folder, stem)


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
        f"- File: `{exp.get('file')}`; seed {m.get('seed')}; {r.reps_text()} per cell "
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
    titles = {
        "outcomes": "Where the released slots went",
        "sweep": "Sweep",
        "differences": "Paired differences to the reference",
        "waits": "Waiting-time distributions",
        "activity": "Bot activity and resale price over time",
    }
    for files in figures.values():
        for f in files:
            if f.endswith(".png"):
                stem = f[:-4]
                label = titles.get(stem.split("_p")[0], stem)
                suffix = ""
                if "_p" in stem:
                    suffix = f" ({r.points[int(stem.rsplit('_p', 1)[1])]})"
                lines += [
                    f"### {label}{suffix}",
                    "",
                    f"![{label}]({fig_dir}/{f})",
                    "",
                    f"PDF: [{stem}.pdf]({fig_dir}/{stem}.pdf)",
                    "",
                ]
    return "\n".join(lines)


def _table_means(r: Results, point: str) -> list[str]:
    s = r.summary[r.summary.point == point]
    metrics = [m for m in HEADLINE if m in set(s.metric)]
    head = "| metric | " + " | ".join(r.variants) + " |"
    out = ["Mean ± 95% CI half-width:", "", head, "|---|" + "---:|" * len(r.variants)]
    cells = {(x.variant, x.metric): x for x in s.itertuples()}
    for m in metrics:
        row = [m] + [
            fmt_ci(cells[(v, m)].mean, cells[(v, m)].half_width) if (v, m) in cells else "" for v in r.variants
        ]
        out.append("| " + " | ".join(row) + " |")
    return out


def _table_diffs(r: Results, point: str) -> list[str]:
    s = r.summary[(r.summary.point == point) & (r.summary.variant != r.reference)]
    if s.empty:
        return []
    metrics = [m for m in HEADLINE if m in set(s.metric)]
    out = [
        f"Paired difference to {r.reference} (variant - reference): mean ± paired half-width "
        f"[unpaired Welch half-width]:",
        "",
        "| metric | " + " | ".join(v for v in r.variants if v != r.reference) + " |",
        "|---|" + "---:|" * (len(r.variants) - 1),
    ]
    cells = {(x.variant, x.metric): x for x in s.itertuples()}
    for m in metrics:
        row = [m]
        for v in r.variants:
            if v == r.reference:
                continue
            x = cells.get((v, m))
            row.append(
                "" if x is None else f"{_signed(x.diff_mean)} ±{fmt(x.diff_half_width)} [±{fmt(x.unpaired_half_width)}]"
            )
        out.append("| " + " | ".join(row) + " |")
    return out


def _signed(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return ("+" if x >= 0 else "-") + fmt(abs(x))


# --------------------------------------------------------------------------- the report


REPORT, FIGURES = REPORT_FILE, FIGURES_DIR  # one definition: batch removes them with an old result set


def make_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write figures and report.md for a results folder; returns the path of report.md.

    Raises InputError when the folder is not a `slotsim batch` folder, or its files do not match
    its manifest, or `out` cannot be written (WriteError, naming the file, on a full disk...).
    The report is written as a whole (sim.fileio.FileSet): figures/ and report.md are staged
    completely, then the old report.md goes out, figures/ is swapped, the new report.md comes in
    last; a failure leaves the previous report as it was. `out` is locked meanwhile, so a batch
    cannot swap results under a report being written into the same folder."""
    folder = Path(folder)
    out = Path(out) if out else folder
    Results.check_folder(folder)
    if problems := check_folder_target(out, [REPORT], [FIGURES]):
        raise InputError(*problems)
    with folder_lock(out, "slotsim report"), FileSet() as fs:
        r = Results(folder)
        figures: dict[str, list[str]] = {}

        def draw(fig_dir: Path) -> None:
            fig_dir.mkdir()
            figures["outcomes"] = fig_outcomes(r, fig_dir)
            if r.params:
                figures["sweep"] = fig_sweep(r, fig_dir)
            for i, point in enumerate(r.points):
                figures[f"differences{i}"] = fig_differences(r, fig_dir, i, point)
                figures[f"waits{i}"] = fig_waits(r, fig_dir, i, point)
                figures[f"activity{i}"] = fig_activity(r, fig_dir, i, point)

        fs.write(out / FIGURES, draw)
        fs.write(out / REPORT, text_writer(markdown(r, figures, FIGURES) + "\n"))
        fs.commit(record=out / REPORT)
    return out / REPORT
