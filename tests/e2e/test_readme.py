"""The README's contract is the code's: every metric key, daily-series column, record file or
column and command-line flag it names in backticks exists, and no project doc points at a
file outside the repository.

The parsing helpers take the text as an argument, so that a doctored copy of the README can
be checked to fail (a bogus metric key, column, flag or outside link must be caught).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

import sim
import sim.cli
from sim.scenario import SEGMENTS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = sorted([README, REPO / "CONTRIBUTING.md", REPO / "benchmarks" / "README.md", *(REPO / "docs").glob("*.md")])

# Short runs (a small centre, 30 days): together they take a few seconds.
SHORT = [
    "run.days=30",
    "run.warmup_days=10",
    "centre.capacity_per_day=80",
    "demand.applicants_per_year=22000",
    "resellers.0.bots=15",
    "resellers.1.bots=10",
    "resellers.2.bots=8",
    "resellers.3.bots=4",
]
# The Rabat timeline with its switch moved inside a 70-day run (the timeline metrics).
TIMELINE = [
    "run.days=70",
    "run.warmup_days=10",
    "timeline.0.day=35",
    "centre.capacity_per_day=60",
    "demand.applicants_per_year=18000",
    "resellers.0.bots=15",
    "resellers.1.bots=10",
    "resellers.2.bots=8",
    "resellers.3.bots=4",
]

FENCE = re.compile(r"```.*?```", re.DOTALL)
SPAN = re.compile(r"`([^`]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Names of the notes that lived outside the repository; no project file may point at them.
# (Spelt in pieces so that a grep of the repository for them does not find this file.)
_S, _MD = "shared" + "/", "." + "md"
OUTSIDE = (
    ".." + "/" + _S[:-1],
    _S,
    "CALIBRATION" + _MD,
    "MODEL" + _MD,
    "ENGINEERING" + _MD,
    "STYLE" + _MD,
    "seeds" + "/",
)


# --------------------------------------------------------------------------- parsing


def prose(text: str) -> str:
    """The text without fenced code blocks."""
    return FENCE.sub("", text)


def spans(text: str) -> list[str]:
    """Inline code spans of the prose (a span may run over a line break)."""
    return [" ".join(s.split()) for s in SPAN.findall(prose(text))]


def comma_list(span: str) -> list[str]:
    return [n.strip() for n in span.split(",") if n.strip()]


def contract_paragraph(text: str) -> str:
    m = re.search(r"The metrics contract.*?Definitions:", prose(text), re.DOTALL)
    assert m, "README: the metrics contract paragraph ('The metrics contract ... Definitions:') is gone"
    return m.group(0)


def expand(name: str, groups: list[str]) -> list[str]:
    """`served_share_<habit|segment>` -> one name per group; `week1..4` -> week1 ... week4."""
    if "<" in name:
        return [re.sub(r"<[^>]*>", g, name) for g in groups]
    m = re.fullmatch(r"(.*?)(\d+)\.\.(\d+)", name)
    if m:
        return [f"{m.group(1)}{i}" for i in range(int(m.group(2)), int(m.group(3)) + 1)]
    return [name]


def contract_keys(text: str) -> list[str]:
    """The list of contract keys: the first comma-separated span of the paragraph."""
    for s in SPAN.findall(contract_paragraph(text)):
        if "," in s:
            return comma_list(" ".join(s.split()))
    raise AssertionError("README: no comma-separated list of contract keys")


def other_metric_names(text: str, groups: list[str]) -> list[str]:
    """The other metric names of the paragraph (fairness, timeline keys), expanded."""
    names = []
    for s in SPAN.findall(contract_paragraph(text)):
        s = " ".join(s.split())
        if "," in s or s.startswith("-"):
            continue
        names += expand(s, groups)
    return names


def run_bullet(text: str) -> str:
    """The bullet of the README that documents `--timeseries` and `--records`."""
    for para in re.split(r"\n(?=- )|\n\n", prose(text)):
        if "`--timeseries" in para:
            return para
    raise AssertionError("README: no sentence documents --timeseries")


def timeseries_columns(text: str) -> list[str]:
    bullet = run_bullet(text)
    after = bullet[bullet.index("`--timeseries") :]
    for s in SPAN.findall(after):
        s = " ".join(s.split())
        if "," in s:
            return comma_list(s)
    raise AssertionError("README: the --timeseries sentence names no columns")


def record_names(text: str) -> list[str]:
    """Names in backticks after `--records` in the same bullet: files (*.csv) or columns."""
    bullet = run_bullet(text)
    if "`--records" not in bullet:
        return []
    after = bullet[bullet.index("`--records") :]
    out = []
    for s in SPAN.findall(after):
        if s.startswith("-"):
            continue
        for n in comma_list(" ".join(s.split())):
            if n.endswith(".csv") or NAME.match(n):
                out.append(n)
    return out


def command_flags(text: str) -> list[tuple[str | None, str]]:
    """(subcommand or None, flag) for every flag the README shows: in code blocks and in inline
    spans. A flag after `slotsim CMD` on the same line or span belongs to CMD; a flag on its own
    belongs to the first command its section (## heading) shows, or to none (any command)."""
    out = []
    for section in re.split(r"^(?=## )", text, flags=re.MULTILINE):
        first = re.search(r"\bslotsim\s+([a-z]+)", section)
        default = first.group(1) if first else None
        pieces = [line for block in FENCE.findall(section) for line in block.splitlines()]
        pieces += spans(section)
        for piece in pieces:
            piece = piece.split("#", 1)[0] if piece.lstrip().startswith("slotsim") else piece
            m = re.search(r"\bslotsim\s+([a-z]+)", piece)
            cmd = m.group(1) if m else default
            rest = piece[m.end() :] if m else piece
            out += [(cmd, f) for f in FLAG.findall(rest)]
    return out


def outside_references(text: str, md_path: Path) -> list[str]:
    """Links whose target is missing or outside the repository, and mentions of outside files."""
    problems = []
    body = prose(text)
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", body)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?\s*$", body, re.MULTILINE)
    for t in targets:
        if re.match(r"[a-z][a-z0-9+.-]*:", t, re.IGNORECASE) or t.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = t.split("#", 1)[0]
        if not path:
            continue
        resolved = (md_path.parent / path).resolve()
        try:
            resolved.relative_to(REPO)
        except ValueError:
            problems.append(f"link {t!r} points outside the repository")
            continue
        if not resolved.exists():
            problems.append(f"link {t!r}: no such file in the repository")
    for word in OUTSIDE:
        for line_no, line in enumerate(text.splitlines(), 1):
            if word in line:
                problems.append(f"line {line_no} mentions {word!r}: {line.strip()[:80]}")
    return problems


# --------------------------------------------------------------------------- the code's side


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = sim.cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subs = dict(action.choices)
            break
    else:
        raise AssertionError("slotsim has no subcommands")
    # `slotsim bench` passes its options to benchmarks/bench.py: take them from there.
    spec = importlib.util.spec_from_file_location("_bench_for_readme", sim.cli.BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up while being defined
    spec.loader.exec_module(bench)
    subs["bench"] = argparse.ArgumentParser(prog="slotsim bench")
    bench.add_arguments(subs["bench"])
    subs[""] = parser  # top-level options (--version)
    return subs


def flag_problems(pairs: list[tuple[str | None, str]], subs: dict[str, argparse.ArgumentParser]) -> list[str]:
    def known(p: argparse.ArgumentParser, flag: str) -> bool:
        return any(flag in a.option_strings for a in p._actions) and flag in p.format_help()

    problems = []
    for cmd, flag in pairs:
        if cmd is not None:
            if cmd not in subs:
                problems.append(f"`slotsim {cmd}`: no such subcommand")
            elif not known(subs[cmd], flag):
                problems.append(f"`slotsim {cmd} {flag}`: not in `slotsim {cmd} --help`")
        elif not any(known(p, flag) for p in subs.values()):
            problems.append(f"`{flag}`: no subcommand of slotsim has this option")
    return problems


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One `slotsim run` of a short baseline writing metrics, the daily series and the records."""
    out = tmp_path_factory.mktemp("readme")
    argv = [
        "run",
        str(REPO / "scenarios" / "baseline_fcfs.yaml"),
        "--json",
        "--out",
        str(out / "metrics.json"),
        "--timeseries",
        str(out / "daily.csv"),
        "--records",
        str(out / "records"),
    ]
    for o in SHORT:
        argv += ["--set", o]
    assert sim.cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def timeline_metrics():
    sc = sim.load_scenario(REPO / "scenarios" / "rabat_2024.yaml", TIMELINE)
    return sim.run(sc).metrics


def header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


# --------------------------------------------------------------------------- the tests


def test_contract_keys_are_the_codes(cli_run):
    keys = contract_keys(README.read_text(encoding="utf-8"))
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert set(keys) == set(sim.CONTRACT), (
        f"README names {sorted(set(keys) - set(sim.CONTRACT))} not in sim.CONTRACT and omits "
        f"{sorted(set(sim.CONTRACT) - set(keys))}"
    )
    missing = [k for k in keys if k not in metrics]
    assert not missing, f"contract keys named in the README that a run does not report: {missing}"


def test_other_metric_names_exist(cli_run, timeline_metrics):
    sc = sim.load_scenario(REPO / "scenarios" / "baseline_fcfs.yaml", SHORT)
    groups = [*sc.humans.habits, *SEGMENTS]
    names = other_metric_names(README.read_text(encoding="utf-8"), groups)
    assert any(n.startswith("served_share_") for n in names)  # the parser still finds them
    reported = set(json.loads((cli_run / "metrics.json").read_text())) | set(timeline_metrics)
    missing = [n for n in names if n not in reported]
    assert not missing, f"metric names in the README that no run reports: {missing}"


def test_timeseries_columns_are_the_daily_frame(cli_run):
    named = timeseries_columns(README.read_text(encoding="utf-8"))
    written = header(cli_run / "daily.csv")
    unknown = [c for c in named if c not in written]
    assert not unknown, f"README names daily columns that --timeseries does not write: {unknown}"
    unnamed = [c for c in written if c not in named]
    assert not unnamed, f"--timeseries writes columns the README does not list: {unnamed}"


def test_record_files_and_columns_exist(cli_run):
    names = record_names(README.read_text(encoding="utf-8"))
    folder = cli_run / "records"
    files = [n for n in names if n.endswith(".csv")]
    assert files, "README no longer names the files --records writes"
    for f in files:
        assert (folder / f).is_file(), f"--records does not write {f}"
    columns = set(header(folder / "applicants.csv")) | set(header(folder / "slots.csv"))
    unknown = [n for n in names if not n.endswith(".csv") and n not in columns]
    assert not unknown, f"README names record columns that do not exist: {unknown}"


def test_flags_exist():
    pairs = command_flags(README.read_text(encoding="utf-8"))
    assert ("run", "--timeseries") in pairs and ("compare", "--base") in pairs  # the parser works
    problems = flag_problems(pairs, subcommands())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("md", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_docs_point_only_inside_the_repository(md):
    problems = outside_references(md.read_text(encoding="utf-8"), md)
    assert not problems, f"{md.relative_to(REPO)}:\n" + "\n".join(problems)


def test_no_file_of_the_project_points_at_outside_notes():
    """Code, scenarios and docs cite sources by name, never by a path outside the repository."""
    pattern = re.compile(r"\.\./shared|shared[/](?:CALIBRATION|MODEL|ENGINEERING|STYLE)|\bseeds[/]\d")
    hits = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if (
            rel.parts[0] in {".git", "mutants", "results", "build", "dist", ".venv"}
            or rel.parts[0].endswith(".egg-info")
            or path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".cff", ".cfg", ".txt"}
            or not path.is_file()
        ):
            continue
        for line_no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{rel}:{line_no}: {line.strip()[:80]}")
    assert not hits, "\n".join(hits)
