"""Output files: result sets replaced as a whole, folders locked, outputs checked before simulating,
write errors (full disk, denied, read-only, a folder in the way) as exit 2 with nothing half-written.

Faults are injected where the bytes are written (pandas' writers, Path.write_text, os.rename), in
the process that runs `sim.cli.main`: the files a failure leaves are then the real ones. Two tiny
experiments (seeds 7 and 8, two variants, one replication, 30 days) are run once per module;
every other batch here loads their checkpoints and simulates nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
import sim.cli.compare as cli_compare
import sim.experiments as ex
import sim.fileio as fileio
import sim.report as rep
from sim.cli import main

REPO = Path(__file__).resolve().parents[2]
BASELINE = (REPO / "scenarios" / "baseline_fcfs.yaml").as_posix()
SHORT = ["--set", "run.days=30", "--set", "run.warmup_days=10", "--set", "centre.capacity_per_day=40"]
TABLES = ["replications.parquet", "replications.csv", "daily.parquet", "waits.parquet", "summary.csv"]

EXPERIMENT = """
name: tiny
base: {base}
overrides:
  run.days: 30
  run.warmup_days: 10
  centre.capacity_per_day: 50
  demand.applicants_per_year: 10000.0
  resellers.0.bots: 8
  resellers.1.bots: 5
  resellers.2.bots: 4
  resellers.3.bots: 2
variants:
  first_come: {{preset: first_come}}
  random: {{preset: random_allocation}}
replications: 1
seed: {seed}
"""


def batch(exp: Path, out: Path, *more: str) -> int:
    return main(["batch", str(exp), "--out", str(out), "--jobs", "1", "--no-progress", *more])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Experiment files for seeds 7 and 8 and a complete results folder of each."""
    root = tmp_path_factory.mktemp("made")
    exps, folders = {}, {}
    for seed in (7, 8):
        exps[seed] = root / f"tiny{seed}.yaml"
        exps[seed].write_text(EXPERIMENT.format(base=BASELINE, seed=seed), encoding="utf-8")
        folders[seed] = root / f"res{seed}"
        assert batch(exps[seed], folders[seed]) == 0
    return exps, folders


@pytest.fixture
def old_set(made, tmp_path):
    """A folder holding the complete seed-7 result set, and the checkpoints of both seeds."""
    exps, folders = made
    out = tmp_path / "out"
    shutil.copytree(folders[7], out)
    for f in (folders[8] / "runs").iterdir():
        shutil.copy2(f, out / "runs" / f.name)
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too: a staging folder left behind shows), but runs/."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] != "runs"
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def disk_full_at(monkeypatch, victim: str, partial: bytes = b"PAR1 half a file") -> list[str]:
    """Writing a file whose name contains `victim` puts a few bytes there, then fails like a full disk."""
    hit: list[str] = []

    def fail(path) -> None:
        Path(path).write_bytes(partial)
        hit.append(str(path))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def failing(original):
        def write(frame, path, *a, **k):
            if victim in Path(path).name:
                fail(path)
            return original(frame, path, *a, **k)

        return write

    def write_text(path, *a, original=Path.write_text, **k):
        if victim in path.name:
            fail(path)
        return original(path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing(pd.DataFrame.to_parquet))
    monkeypatch.setattr(pd.DataFrame, "to_csv", failing(pd.DataFrame.to_csv))
    monkeypatch.setattr(Path, "write_text", write_text)
    return hit


def no_simulation(monkeypatch) -> None:
    def boom(*a, **k):
        raise AssertionError("simulated although an output is unusable")

    monkeypatch.setattr(sim, "run", boom)
    monkeypatch.setattr(ex, "run_experiment", boom)
    monkeypatch.setattr(cli_compare, "compare", boom)


# --------------------------------------------------------------------------- a batch's result set


def test_the_manifest_lists_every_file_of_the_set_with_its_sha256(made):
    _, folders = made
    out = folders[7]
    m = json.loads((out / "manifest.json").read_text())
    assert m["files"] == TABLES + ["manifest.json"]
    assert set(m["sha256"]) == set(TABLES)
    for name, digest in m["sha256"].items():
        assert sha((out / name).read_bytes()) == digest, name
    assert not list(out.glob(".slotsim-tmp-*"))


@pytest.mark.parametrize("victim", ["replications.csv", "summary.csv", "manifest.json"])
@pytest.mark.parametrize("previous", [True, False], ids=["over-a-set", "first-set"])
def test_a_full_disk_while_writing_results_changes_nothing(made, old_set, monkeypatch, capsys, victim, previous):
    exps, folders = made
    out = old_set
    if not previous:
        for name in TABLES + ["manifest.json"]:
            (out / name).unlink()
    before = snapshot(out)
    hit = disk_full_at(monkeypatch, victim)
    assert batch(exps[8], out) == 2
    err = capsys.readouterr().err
    assert hit, "the fault was never met"
    assert f"{out / victim}: cannot write (No space left on device); nothing was replaced" in err
    assert f"finished replications are kept in {out / 'runs'}: run the same command again" in err
    assert "Traceback" not in err
    assert snapshot(out) == before  # byte for byte; no half-written or staged file anywhere
    if not previous:
        assert set(before) == {".slotsim.lock"}

    monkeypatch.undo()  # the disk has room again: the same command writes the set, simulating nothing
    assert batch(exps[8], out) == 0
    assert "0 run now, 2 from checkpoints" in capsys.readouterr().err
    for name in TABLES:
        assert (out / name).read_bytes() == (folders[8] / name).read_bytes(), name


def test_a_swap_that_fails_half_way_is_undone(made, old_set, monkeypatch, capsys):
    exps, _ = made
    out = old_set
    before = snapshot(out)
    rename = os.rename
    renames: list[str] = []

    def failing_rename(src, dst):
        renames.append(Path(dst).name)
        if Path(src).name == "new-summary.csv":  # after the first tables went in
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(src))
        rename(src, dst)

    monkeypatch.setattr(fileio.os, "rename", failing_rename)
    assert batch(exps[8], out) == 2
    err = capsys.readouterr().err
    assert "daily.parquet" in renames  # some of the new set was in place when it failed
    assert f"{out / 'summary.csv'}: cannot write (Permission denied); the previous files were put back" in err
    assert snapshot(out) == before


def test_a_reader_never_finds_a_manifest_over_files_of_another_run(made, old_set, monkeypatch, capsys):
    """After every rename of a swap (old seed-7 set with its report -> new seed-8 set): if
    manifest.json is there, every file it lists is there with its digest, and a report.md beside
    it is the one of that manifest."""
    exps, _ = made
    out = old_set
    (out / "report.md").write_text("report of seed 7\n")
    (out / "figures").mkdir()
    (out / "figures" / "outcomes.png").write_bytes(b"seed 7 figure")
    old_manifest = (out / "manifest.json").read_bytes()
    rename = os.rename
    states: list[str] = []

    def check(src, dst):
        rename(src, dst)
        if not (out / "manifest.json").exists():
            states.append("no manifest")
            return
        raw = (out / "manifest.json").read_bytes()
        for name, digest in json.loads(raw)["sha256"].items():
            assert sha((out / name).read_bytes()) == digest, f"{name} does not match the manifest after {dst}"
        if (out / "report.md").exists():
            assert raw == old_manifest, "a report.md beside the manifest of another run"
        states.append("old" if raw == old_manifest else "new")

    monkeypatch.setattr(fileio.os, "rename", check)
    assert batch(exps[8], out) == 0
    assert "the previous report.md and figures/ went with the previous results" in capsys.readouterr().err
    assert states[-1] == "new" and "no manifest" in states
    assert states.count("new") == 1  # the manifest comes in last
    assert not (out / "report.md").exists() and not (out / "figures").exists()
    assert json.loads((out / "manifest.json").read_text())["seed"] == 8
    assert not list(out.glob(".slotsim-tmp-*"))


def test_a_set_without_waits_removes_the_old_waits(made, old_set, monkeypatch):
    """A table the new set lacks goes with the old set: the folder holds exactly the manifest's files."""
    exps, _ = made
    real = ex.run_experiment

    def no_waits(*a, **k):
        outcome = real(*a, **k)
        outcome.waits = outcome.waits.iloc[0:0]
        return outcome

    monkeypatch.setattr(ex, "run_experiment", no_waits)
    assert batch(exps[8], old_set) == 0
    m = json.loads((old_set / "manifest.json").read_text())
    assert "waits.parquet" not in m["sha256"] and not (old_set / "waits.parquet").exists()
    assert sorted(p.name for p in old_set.iterdir() if p.is_file() and p.name[0] != ".") == sorted(m["files"])


# --------------------------------------------------------------------------- one writer at a time


def _hold(folder: str, ready) -> None:
    with fileio.folder_lock(folder, "slotsim batch"):
        ready.set()
        time.sleep(120)  # until killed (a killed waiter on an Event would leave the Event unusable)


def test_a_second_writer_is_refused_at_once_and_a_dead_holder_leaves_no_lock(made, old_set, monkeypatch, capsys):
    exps, _ = made
    out = old_set
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(out), ready))
    holder.start()
    try:
        assert ready.wait(30)
        before = snapshot(out)
        with monkeypatch.context() as m:
            no_simulation(m)
            assert batch(exps[8], out) == 2
            assert f"{out} is in use by another slotsim batch (pid {holder.pid})" in capsys.readouterr().err
            assert main(["report", str(out)]) == 2
            assert f"{out} is in use by another slotsim batch (pid {holder.pid})" in capsys.readouterr().err
        assert snapshot(out) == before
        os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock: the kernel releases it
        holder.join(30)
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join(30)
    assert batch(exps[8], out) == 0
    assert json.loads((out / "manifest.json").read_text())["seed"] == 8


def test_leftovers_of_a_killed_writer_are_cleaned_up(made, old_set):
    exps, _ = made
    out = old_set
    dead = multiprocessing.get_context("fork").Process(target=int)
    dead.start()
    dead.join()
    stale = out / f"{fileio.STAGE_PREFIX}{dead.pid}-abcd"
    (stale / "new-summary.csv").parent.mkdir()
    (stale / "new-summary.csv").write_text("half")
    alive = out / f"{fileio.STAGE_PREFIX}{os.getppid()}-abcd"  # a live process's: left alone
    alive.mkdir()
    tmp = out / "runs" / ".0123.json.xyz.tmp"  # a checkpoint a killed batch was writing
    tmp.write_text("{")
    assert batch(exps[8], out) == 0
    assert not stale.exists() and alive.exists() and not tmp.exists()


# --------------------------------------------------------------------------- checked before simulating


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", BASELINE, "--out", "{dir}"], "--out {dir}: is a folder; give the name of a file to write"),
        (["run", BASELINE, "--timeseries", "{dir}"], "--timeseries {dir}: is a folder"),
        (["run", BASELINE, "--records", "{file}"], "--records {file}: not a folder"),
        (["run", BASELINE, "--out", "{tmp}/x", "--timeseries", "{tmp}/x"], "name different files"),
        (["run", BASELINE, "--out", "{file}/m.json"], "--out {file}: cannot write there"),
        (["compare", BASELINE, "--out", "{dir}"], "--out {dir}: is a folder"),
        (["batch", "{exp}", "--out", "{file}"], "--out: {file}: not a folder"),
        (["batch", "{exp}", "--out", "{tmp}"], "--out: {tmp}/summary.csv: is in the way"),
    ],
    ids=[
        "run-out-dir",
        "run-timeseries-dir",
        "run-records-file",
        "run-same-file",
        "run-out-under-file",
        "compare-out-dir",
        "batch-out-file",
        "batch-file-is-dir",
    ],
)
def test_unusable_outputs_exit_2_before_simulating(made, tmp_path, monkeypatch, capsys, argv, expected):
    exps, _ = made
    d = tmp_path / "a_folder"
    d.mkdir()
    (tmp_path / "summary.csv").mkdir()  # a folder where batch writes a file
    f = tmp_path / "a_file"
    f.write_text("x")
    names = {"dir": d, "file": f, "tmp": tmp_path, "exp": exps[7]}
    no_simulation(monkeypatch)
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert expected.format(**names) in err and "Traceback" not in err
    assert d.is_dir() and not list(d.iterdir()) and f.read_text() == "x"


def test_read_only_outputs_exit_2_before_simulating(made, tmp_path, monkeypatch, capsys):
    """A read-only file system, as the probe write meets it (chmod does not stop root: faked)."""
    exps, _ = made
    real = tempfile.mkstemp

    def read_only(*a, **k):
        if str(k.get("dir", "")).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*a, **k)

    no_simulation(monkeypatch)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    for argv in (
        ["run", BASELINE, "--out", str(tmp_path / "m.json")],
        ["run", BASELINE, "--records", str(tmp_path / "rec")],
        ["compare", BASELINE, "--out", str(tmp_path / "c.csv")],
        ["batch", str(exps[7]), "--out", str(tmp_path / "res")],
    ):
        assert main(argv) == 2, argv
        assert "cannot write there (Read-only file system)" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_exits_2(made, tmp_path, capsys):
    exps, _ = made
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert batch(exps[7], ro / "res") == 2
        assert "cannot write there (Permission denied)" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


# --------------------------------------------------------------------------- slotsim run: its outputs as a set


def test_run_outputs_are_replaced_together(tmp_path, monkeypatch, capsys):
    rec = tmp_path / "rec"
    argv = ["run", BASELINE, *SHORT, "--json", "--out", str(tmp_path / "m.json")]
    argv += ["--timeseries", str(tmp_path / "daily.csv"), "--records", str(rec)]
    assert main(argv) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)
    assert set(before) == {"m.json", "daily.csv", "rec/applicants.csv", "rec/slots.csv"}

    disk_full_at(monkeypatch, "slots.csv")  # the third of four files
    assert main([*argv, "--seed", "2"]) == 2
    err = capsys.readouterr()
    assert f"{rec / 'slots.csv'}: cannot write (No space left on device); nothing was replaced" in err.err
    assert err.out == ""  # no metrics printed for outputs that were not written
    assert snapshot(tmp_path) == before

    monkeypatch.undo()
    assert main([*argv, "--seed", "2"]) == 0
    after = snapshot(tmp_path)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)
    assert json.loads(after["m.json"]) == json.loads(capsys.readouterr().out)


def test_compare_output_written_whole_or_not_at_all(tmp_path, monkeypatch, capsys):
    out = tmp_path / "c.csv"
    out.write_text("previous\n")
    disk_full_at(monkeypatch, "c.csv")  # atomic_path's temporary: .c.csv.XXXX.tmp
    assert main(["compare", BASELINE, *SHORT, "--out", str(out)]) == 2
    assert f"{out}: cannot write (No space left on device)" in capsys.readouterr().err
    assert out.read_text() == "previous\n" and [p.name for p in tmp_path.iterdir()] == ["c.csv"]


# --------------------------------------------------------------------------- slotsim report


def fake_figures(monkeypatch) -> None:
    """Figures as tiny files (the drawing is tested in test_report.py): the report's files, fast."""

    def fig(stem):
        def draw(r, folder, i=0, point=None):
            name = f"{stem}{r.point_suffix(i)}.png" if point is not None else f"{stem}.png"
            (folder / name).write_bytes(f"{stem} seed {r.manifest['seed']}".encode())
            return [name]

        return draw

    for stem in ("outcomes", "differences", "waits", "activity", "sweep"):
        monkeypatch.setattr(rep, f"fig_{stem}", fig(stem))


def test_report_refuses_files_that_do_not_match_the_manifest(made, tmp_path, monkeypatch, capsys):
    _, folders = made
    fake_figures(monkeypatch)
    mixed = tmp_path / "mixed"
    shutil.copytree(folders[7], mixed, ignore=shutil.ignore_patterns("runs"))
    shutil.copy2(folders[8] / "replications.parquet", mixed)  # a table of another run
    assert main(["report", str(mixed)]) == 2
    err = capsys.readouterr().err
    assert f"{mixed / 'replications.parquet'} does not match {mixed / 'manifest.json'} (SHA-256 differs)" in err
    assert not (mixed / "report.md").exists() and not (mixed / "figures").exists()

    # a manifest without digests (slotsim 0.1): the tables are still held against it
    m = json.loads((mixed / "manifest.json").read_text())
    del m["sha256"]
    (mixed / "manifest.json").write_text(json.dumps(m))
    assert main(["report", str(mixed)]) == 2
    err = capsys.readouterr().err
    assert f"{mixed / 'replications.parquet'} does not match {mixed / 'manifest.json'}: seed 8" in err
    assert "the manifest says seed 7" in err
    shutil.copy2(folders[7] / "replications.parquet", mixed)
    assert main(["report", str(mixed)]) == 0  # consistent again: reported
    assert (mixed / "report.md").read_text().count("![") == 4


def test_report_is_replaced_whole_and_a_full_disk_leaves_the_previous_one(made, tmp_path, monkeypatch, capsys):
    _, folders = made
    fake_figures(monkeypatch)
    out = tmp_path / "res"
    shutil.copytree(folders[7], out, ignore=shutil.ignore_patterns("runs"))
    (out / "figures").mkdir()
    (out / "figures" / "stale.png").write_bytes(b"a figure of an older report")
    assert main(["report", str(out)]) == 0
    capsys.readouterr()
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["activity.png", "differences.png", "outcomes.png", "waits.png"]  # stale.png went
    before = snapshot(out)

    def full(r, folder, i=0, point=None):
        (folder / "waits.png").write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "waits.png"))

    monkeypatch.setattr(rep, "fig_waits", full)
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'figures' / 'waits.png'}: cannot write (No space left on device); nothing was replaced" in err
    assert snapshot(out) == before


def test_a_planted_lock_link_or_hard_link_never_truncates_another_file(tmp_path):
    from sim.errors import InputError
    from sim.fileio import LOCK_NAME, folder_lock

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for plant in (os.symlink, os.link):
        folder = tmp_path / f"out_{plant.__name__}"
        folder.mkdir()
        plant(victim, folder / LOCK_NAME)
        with pytest.raises(InputError, match="not a lock file slotsim made"):
            with folder_lock(folder, "test"):
                pass
    assert victim.read_text() == "precious\n"


def test_checking_an_output_folder_creates_nothing(tmp_path):
    from sim.fileio import check_writable

    target = tmp_path / "a" / "b" / "c"
    assert check_writable(target) is None
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    assert "is a file" in (check_writable(tmp_path / "file" / "sub") or "")
