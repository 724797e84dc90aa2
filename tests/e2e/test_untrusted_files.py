"""Results folders and baselines are untrusted (docs/security.md): reading them never hangs, never
exhausts memory, never prints a traceback. A bad checkpoint is recomputed; a bad results file or
baseline is refused with exit status 2 and a message naming the file.

The repros that would hang without the fix (a FIFO, /dev/zero) run the command line in a
subprocess with a timeout, so a regression fails in seconds instead of hanging the suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import experiments as ex
from sim.cli import main
from sim.fileio import RefusedFile, read_limited

REPO = Path(__file__).resolve().parents[2]
BASELINE = (REPO / "scenarios" / "baseline_fcfs.yaml").as_posix()

EXP = f"""
name: untrusted
base: {BASELINE}
overrides:
  run.days: 30
  run.warmup_days: 10
  centre.capacity_per_day: 50
  demand.applicants_per_year: 8000.0
variants:
  first_come: {{preset: first_come}}
  random: {{preset: random_allocation}}
replications: 1
seed: 3
"""

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`slotsim ARGS` in a subprocess: a hang fails the test after `timeout` seconds."""
    code = "import sys; from sim.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def refused(proc: subprocess.CompletedProcess, *named: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    for name in named:
        assert name in proc.stderr, (name, proc.stderr)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[Path, Path]:
    """(experiment file, a results folder `slotsim batch` wrote): copy the folder before editing."""
    root = tmp_path_factory.mktemp("untrusted")
    exp = root / "exp.yaml"
    exp.write_text(EXP, encoding="utf-8")
    assert main(["batch", str(exp), "--out", str(root / "out"), "--jobs", "1", "--no-progress"]) == 0
    return exp, root / "out"


@pytest.fixture
def results(batch, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(batch[1], out)
    return out


class Counting:
    def __init__(self):
        self.keys: list[str] = []

    def __call__(self, task):
        self.keys.append(task.key)
        return ex.run_rep(task)


# --------------------------------------------------------------------------- the shared reader


def test_read_limited_refuses_what_is_not_a_small_regular_file(tmp_path):
    f = tmp_path / "f.json"
    f.write_bytes(b"x" * 100)
    assert read_limited(f, 100) == b"x" * 100
    link = tmp_path / "link"
    link.symlink_to(f)
    assert read_limited(link, 100) == b"x" * 100  # links to regular files are followed
    with pytest.raises(RefusedFile, match="larger than 99 bytes"):
        read_limited(f, 99)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(RefusedFile, match="a FIFO"):  # at once: no writer is waited for
        read_limited(fifo, 100)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    with pytest.raises(RefusedFile, match="character device"):
        read_limited(zero, 100)
    with pytest.raises(RefusedFile, match="a folder"):
        read_limited(tmp_path, 100)
    with pytest.raises(FileNotFoundError):
        read_limited(tmp_path / "missing", 100)
    e = RefusedFile(fifo, "not a regular file (a FIFO)")
    assert isinstance(e, OSError) and e.filename == str(fifo)


# --------------------------------------------------------------------------- checkpoints (B2, B3)


@pytest.mark.slow  # end-to-end: a batch in a subprocess; CI runs it
def test_batch_recomputes_a_checkpoint_replaced_by_a_fifo(batch, results):
    exp, _ = batch
    victim = sorted((results / "runs").glob("*.json"))[0]
    victim.unlink()
    os.mkfifo(victim)
    proc = cli("batch", str(exp), "--out", str(results), "--jobs", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "1 run now, 1 from checkpoints" in proc.stderr
    assert victim.is_file()  # rewritten as a regular checkpoint
    pd.testing.assert_frame_equal(
        pd.read_parquet(results / "replications.parquet"), pd.read_parquet(batch[1] / "replications.parquet")
    )


@pytest.mark.slow  # end-to-end: a batch in a subprocess; CI runs it
def test_batch_recomputes_a_table_replaced_by_a_fifo(batch, results):
    exp, _ = batch
    victim = sorted((results / "runs").glob("*.daily.parquet"))[0]
    victim.unlink()
    os.mkfifo(victim)
    proc = cli("batch", str(exp), "--out", str(results), "--jobs", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "1 run now, 1 from checkpoints" in proc.stderr


def _edited(meta: dict, what: str) -> dict:
    m = json.loads(json.dumps(meta))
    if what == "extra metric":
        m["metrics"]["x"] = "evil"
    elif what == "column name":
        m["metrics"]["variant"] = 1.0
    elif what == "text value":
        m["metrics"]["applicants_arrived"] = "lots"
    elif what == "bool value":
        m["metrics"]["applicants_arrived"] = True
    elif what == "list value":
        m["metrics"]["wait_days_mean"] = [1, 2]
    elif what == "no metrics":
        m["metrics"] = {}
    elif what == "metrics a list":
        m["metrics"] = [1]
    elif what == "other seed":
        m["seed"] += 1
    elif what == "other replication":
        m["replication"] = 5
    elif what == "other digest":
        m["digest"] = "0" * 16
    elif what == "seed a string":
        m["seed"] = str(m["seed"])
    elif what == "table name":
        m["tables"]["../../escape"] = None
    elif what == "table digest":
        m["tables"]["daily"] = 12
    else:
        raise AssertionError(what)
    return m


EDITS = [
    "extra metric",
    "column name",
    "text value",
    "bool value",
    "list value",
    "no metrics",
    "metrics a list",
    "other seed",
    "other replication",
    "other digest",
    "seed a string",
    "table name",
    "table digest",
]


def test_checkpoint_shape_is_checked_on_load(batch, results):
    """Each edited checkpoint is recomputed; the results are those of the untouched folder."""
    exp, ref = batch
    plan = ex.load_experiment(exp)
    store = ex.Store(results)
    metas = sorted((results / "runs").glob("*.json"))
    original = {p: json.loads(p.read_text()) for p in metas}
    assert all(store.load(p.stem) is not None for p in metas)  # untouched checkpoints load
    reference = pd.read_parquet(ref / "replications.parquet")
    for what in EDITS:
        victim = metas[0]
        victim.write_text(json.dumps(_edited(original[victim], what)))
        assert store.load(victim.stem) is None, what
        counting = Counting()
        out = ex.run_experiment(plan, results, jobs=1, progress=False, runner=counting)
        assert counting.keys == [victim.stem], what
        assert list(out.runs.columns) == list(reference.columns), what
        assert store.load(victim.stem) is not None, what  # rewritten


# --------------------------------------------------------------------------- report (B2, B4)


def test_report_refuses_a_table_replaced_by_a_fifo(results):
    (results / "replications.parquet").unlink()
    os.mkfifo(results / "replications.parquet")
    refused(cli("report", str(results)), "replications.parquet", "FIFO")


def test_report_refuses_a_manifest_replaced_by_a_fifo(results):
    (results / "manifest.json").unlink()
    os.mkfifo(results / "manifest.json")
    refused(cli("report", str(results)), "manifest.json")


def test_report_refuses_a_table_linked_to_a_device(results):
    (results / "daily.parquet").unlink()
    (results / "daily.parquet").symlink_to("/dev/zero")
    refused(cli("report", str(results)), "daily.parquet", "character device")


MANIFEST_EDITS = {
    "cells.0.variant": lambda m: m["cells"][0].__setitem__("variant", [1]),
    "cells.0": lambda m: m.__setitem__("cells", [1, 2]),
    "experiment": lambda m: m.__setitem__("experiment", "x"),
    "experiment.name": lambda m: m["experiment"].__setitem__("name", None),
    "variants": lambda m: m.__setitem__("variants", "first_come"),
    "reference": lambda m: m.__setitem__("reference", ["first_come"]),
    "sweep": lambda m: m.__setitem__("sweep", [1]),
    "seed": lambda m: m.__setitem__("seed", "3"),
    "sha256": lambda m: m.__setitem__("sha256", {"daily.parquet": 1}),
    "cells.0.scenario.run.days": lambda m: m["cells"][0]["scenario"]["run"].__setitem__("days", "many"),
    "cells.0.scenario.timeline": lambda m: m["cells"][0]["scenario"].__setitem__("timeline", [{"day": "x"}]),
    "package.git_commit": lambda m: m["package"].__setitem__("git_commit", 12),
    "tasks": lambda m: m.__setitem__("tasks", [1]),
}


@pytest.mark.parametrize("field", sorted(MANIFEST_EDITS))
def test_report_refuses_an_edited_manifest(results, field, capsys):
    mf = results / "manifest.json"
    m = json.loads(mf.read_text())
    MANIFEST_EDITS[field](m)
    mf.write_text(json.dumps(m))
    assert main(["report", str(results)]) == 2
    err = capsys.readouterr().err
    assert str(mf) in err and field in err and "Traceback" not in err, err
    assert not (results / "report.md").exists()


def test_report_of_an_untouched_folder_still_works(results, capsys):
    assert main(["report", str(results)]) == 0
    assert (results / "report.md").is_file()


# --------------------------------------------------------------------------- regression baselines (B2)


@pytest.fixture
def baselines(tmp_path) -> Path:
    copy = tmp_path / "baselines"
    shutil.copytree(REPO / "results" / "baselines" / "baseline_fcfs", copy / "baseline_fcfs")
    return copy


@pytest.mark.parametrize("name", ["metrics.csv", "manifest.json"])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_regress_refuses_a_baseline_file_that_is_not_a_regular_file(baselines, name, kind):
    target = baselines / "baseline_fcfs" / name
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    proc = cli("regress", "--only", "baseline_fcfs", "--baselines", str(baselines), timeout=60)
    refused(proc, f"baseline_fcfs/{name}", "not a regular file")


def test_regress_refuses_a_huge_baseline_file(baselines, monkeypatch):
    from sim import regress

    folder = baselines / "baseline_fcfs"
    limit = (folder / "manifest.json").stat().st_size
    with open(folder / "metrics.csv", "a") as f:
        f.write("\n" * (limit + 1))
    monkeypatch.setattr(regress, "MAX_SMALL_FILE", limit)
    with pytest.raises(regress.BaselineError, match=rf"metrics\.csv: cannot read \(larger than {limit} bytes"):
        regress.load_baseline(baselines / "baseline_fcfs", "baseline_fcfs")


def test_an_untouched_baseline_still_loads(baselines):
    from sim import regress

    b = regress.load_baseline(baselines / "baseline_fcfs", "baseline_fcfs")
    assert b.values and all(len(v) == b.manifest.replications for v in b.values.values())
