"""No process outlives `slotsim`: its workers, the forkserver and the resource tracker end with it
(SIGINT, SIGTERM, SIGKILL), and an unreachable --scheduler is exit 2 with a message, not a hang.

Each test starts a real process, waits (events, under generous deadlines) until its workers
exist, signals it and waits until none of its descendants is left: a loaded 2-core machine
only makes the waits longer, never the outcome different.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sim.cli.main import main
from sim.cli.status import EXIT_BAD_INPUT, EXIT_INTERRUPTED

cli_main = importlib.import_module("sim.cli.main")  # `sim.cli.main` as an attribute is the function

REPO = Path(__file__).resolve().parents[2]
NO_BOTS = (REPO / "scenarios" / "no_bots_fcfs.yaml").as_posix()
DEADLINE_S = 60.0  # far beyond the seconds each step takes

# Replications long enough (~10 s each) that the batch is still running when it is signalled.
ENDLESS = f"""
name: endless
base: {NO_BOTS}
overrides:
  run.days: 400
  run.warmup_days: 5
variants:
  first_come: {{preset: first_come}}
replications: 40
seed: 3
"""

# `slotsim` as its console script runs it, with SIGINT and SIGTERM as a terminal gives them even
# where this test runs with them ignored (a background job): the test then sees what a user sees.
CLI = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); from sim.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def started(tmp_path):
    """Start processes; whatever is left of them and their descendants is killed afterwards."""
    procs: list[subprocess.Popen] = []
    seen: list[psutil.Process] = []

    def start(*args: str, code: str = CLI) -> tuple[subprocess.Popen, Path]:
        stderr = tmp_path / f"stderr{len(procs)}.txt"
        with open(stderr, "wb") as err:  # a file, not a pipe: a leftover process cannot hold it open
            proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=err, stderr=err)
        procs.append(proc)
        return proc, stderr

    start.seen = seen  # type: ignore[attr-defined]
    yield start
    for p in seen:
        try:
            p.kill()
        except psutil.Error:
            pass
    for proc in procs:
        proc.kill()
        proc.wait()


def ignores_sigint(p: psutil.Process) -> bool:
    """Whether process `p` ignores SIGINT (Linux: the SigIgn mask of /proc/PID/status)."""
    for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def wait_for_workers(proc: subprocess.Popen, workers: int, started, ready=lambda p: True) -> list[psutil.Process]:
    """The descendants of `proc` once `workers` of them are worker processes (of a pool or Dask) and `ready`."""
    parent = psutil.Process(proc.pid)
    end = time.monotonic() + DEADLINE_S
    while True:
        assert proc.poll() is None, "the command ended before its workers started"
        try:
            found = parent.children(recursive=True)
            working = [p for p in found if p.ppid() != proc.pid or "dask worker" in " ".join(p.cmdline())]
            working = [p for p in working if ready(p)]
        except (psutil.Error, OSError):
            found, working = [], []
        if len(working) >= workers:
            started.seen.extend(found)
            return found
        assert time.monotonic() < end, f"{workers} workers not started within {DEADLINE_S:g} s: {found}"
        time.sleep(0.1)


def survivors(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except psutil.NoSuchProcess:
            pass
    return left


def assert_all_end(procs: list[psutil.Process]) -> None:
    end = time.monotonic() + DEADLINE_S
    while left := survivors(procs):
        if time.monotonic() > end:
            described = [(p.pid, " ".join(p.cmdline())[:80]) for p in left]
            pytest.fail(f"still running {DEADLINE_S:g} s after their parent ended: {described}")
        time.sleep(0.1)


def endless(tmp_path: Path) -> Path:
    p = tmp_path / "endless.yaml"
    p.write_text(ENDLESS, encoding="utf-8")
    return p


def batch_args(tmp_path: Path, *executor: str) -> list[str]:
    return ["batch", str(endless(tmp_path)), "--out", str(tmp_path / "out"), "--no-progress", *executor]


@pytest.mark.parametrize(
    "sig, status",
    [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 128 + signal.SIGTERM)],
    ids=["SIGKILL", "SIGTERM"],  # SIGINT: test_ctrl_c_in_a_terminal_leaves_no_worker_traceback
)
@pytest.mark.slow  # end-to-end: a real batch killed; CI runs it
def test_batch_workers_end_with_the_command(tmp_path, started, sig, status):
    proc, stderr = started(*batch_args(tmp_path, "--jobs", "2"))
    descendants = wait_for_workers(proc, 2, started)
    assert len(descendants) >= 4  # the forkserver, the resource tracker, two workers
    proc.send_signal(sig)
    assert proc.wait(timeout=DEADLINE_S) == status
    assert_all_end(descendants)
    text = stderr.read_text()
    assert "Traceback" not in text
    if sig != signal.SIGKILL:
        assert "interrupted" in text and "run the same command again to resume" in text


@pytest.mark.slow  # end-to-end: a real batch killed; CI runs it
def test_ctrl_c_in_a_terminal_leaves_no_worker_traceback(tmp_path, started):
    """A terminal's Ctrl-C reaches the whole process group: the workers ignore it, the command stops them."""
    code = "import os; os.setpgid(0, 0); " + CLI  # a group of its own, as a shell gives a job
    proc, stderr = started(*batch_args(tmp_path, "--jobs", "2"), code=code)
    # Once started: a worker still starting up has Python's own SIGINT handler for a moment.
    descendants = wait_for_workers(proc, 2, started, ready=ignores_sigint)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=DEADLINE_S) == EXIT_INTERRUPTED
    assert_all_end(descendants)
    text = stderr.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text and "interrupted" in text


# A program using sim.parallel itself (as the Streamlit app does), its tasks sleeping for 10 minutes.
SLEEPER = """
import signal, sys, time
import sim.parallel as p
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    p.execute(time.sleep, [600] * 4, jobs=2, progress=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_stops_the_pool_at_once(started):
    """Ctrl-C stops the pool at once instead of waiting 10 minutes for the running tasks. (Without
    any clean-up, as after SIGKILL, the workers notice by themselves: test_batch_workers_end...)"""
    proc, stderr = started(code=SLEEPER)
    descendants = wait_for_workers(proc, 2, started)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=DEADLINE_S) == EXIT_INTERRUPTED
    assert_all_end(descendants)
    assert "Traceback" not in stderr.read_text()


@pytest.mark.slow  # end-to-end: a real batch killed; CI runs it
def test_dask_local_workers_end_with_the_command_killed(tmp_path, started):
    proc, _ = started(*batch_args(tmp_path, "--dask-local", "2"))
    descendants = wait_for_workers(proc, 2, started)
    proc.kill()
    proc.wait(timeout=DEADLINE_S)
    assert_all_end(descendants)  # distributed's own mechanism: a pipe from the parent closes


# --------------------------------------------------------------------------- SIGTERM and SIGHUP in the CLI


def test_sigterm_interrupts_like_ctrl_c_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with cli_main.stop_signals_interrupt() as received:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next bytecode boundaries
                time.sleep(0.001)
    assert received == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_signal_stays_ignored():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        with cli_main.stop_signals_interrupt() as received:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
        assert received == []
    finally:
        signal.signal(signal.SIGHUP, before)


# --------------------------------------------------------------------------- an unreachable scheduler


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def test_unreachable_scheduler_is_exit_2_with_a_message(tmp_path, capsys, monkeypatch):
    import sim.parallel

    monkeypatch.setattr(sim.parallel, "SCHEDULER_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{closed_port()}"
    assert main([*batch_args(tmp_path, "--scheduler", address)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"--scheduler {address}: no Dask scheduler answered within 1 s" in err
    assert "Traceback" not in err


@pytest.mark.slow  # the real timeout: 10 s
def test_unreachable_scheduler_from_the_command_line(tmp_path, started):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers: Dask's handshake waited for ever
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    with silent:
        proc, stderr = started(*batch_args(tmp_path, "--scheduler", address))
        assert proc.wait(timeout=DEADLINE_S) == EXIT_BAD_INPUT
    text = stderr.read_text()
    assert f"--scheduler {address}: no Dask scheduler answered within 10 s" in text
    assert "Traceback" not in text
