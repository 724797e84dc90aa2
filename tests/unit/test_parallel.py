"""sim/parallel.py: a pool stopped at once on an error, workers that watch their parent, Dask addresses checked.

No test here waits on a clock to pass: each waits for an event (a file, a process state, a
return) under a generous deadline that only a hang reaches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import sim.parallel as parallel
from sim.errors import InputError

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0  # far beyond the seconds each step takes, even on a loaded 2-core machine


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition, what: str, deadline_s: float = DEADLINE_S) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline_s:g} s: {what}")
        time.sleep(0.05)


def call_with_deadline(fn, deadline_s: float = DEADLINE_S):
    """fn() in a thread; its result or exception, or a failure if it has not returned by the deadline."""
    box: list = []

    def run():
        try:
            box.append(("value", fn()))
        except BaseException as e:
            box.append(("error", e))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(deadline_s)
    if t.is_alive():
        pytest.fail(f"still running after {deadline_s:g} s")
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


# --------------------------------------------------------------------------- the process pool


def fail_or_sleep(task: tuple[str, str]):
    """Task "sleep": note this worker's pid in a file, then sleep far longer than any test.
    Task "fail": wait until the sleeper runs, then raise."""
    kind, folder = task
    if kind == "sleep":
        Path(folder, "sleeper.pid").write_text(str(os.getpid()))
        time.sleep(600)
        return "slept"
    while not Path(folder, "sleeper.pid").exists():
        time.sleep(0.02)
    raise ValueError("a task failed")


def test_a_failed_task_stops_the_pool_without_waiting_for_running_tasks(tmp_path):
    tasks = [("sleep", str(tmp_path)), ("fail", str(tmp_path))]
    with pytest.raises(ValueError, match="a task failed"):
        # Before: the pool waited for the sleeping task (600 s) before raising.
        call_with_deadline(lambda: parallel.execute(fail_or_sleep, tasks, jobs=2, progress=False))
    sleeper = int((tmp_path / "sleeper.pid").read_text())
    assert sleeper != os.getpid()
    wait_until(lambda: not alive(sleeper), "the worker running the sleeping task ends")


def test_an_error_in_on_done_stops_the_pool(tmp_path):
    def on_done(i, value):
        raise OSError("disk full")

    tasks = [("sleep", str(tmp_path)), ("quick", str(tmp_path))]
    with pytest.raises(OSError, match="disk full"):
        call_with_deadline(lambda: parallel.execute(quick_or_sleep, tasks, jobs=2, progress=False, on_done=on_done))
    wait_until(lambda: not alive(int((tmp_path / "sleeper.pid").read_text())), "the sleeping worker ends")


def quick_or_sleep(task: tuple[str, str]):
    kind, folder = task
    if kind == "sleep":
        return fail_or_sleep(task)
    while not Path(folder, "sleeper.pid").exists():
        time.sleep(0.02)
    return "quick"


def test_results_unchanged_by_the_pool():
    tasks = list(range(-5, 5))
    assert parallel.execute(abs, tasks, jobs=2, progress=False) == [abs(t) for t in tasks]


# --------------------------------------------------------------------------- a worker watches its parent

# A stand-in worker: watches the pid given, through a pidfd or (without os.pidfd_open) by polling.
WATCHER = """
import os, sys, sim.parallel as p
if sys.argv[2] == "poll":
    del os.pidfd_open
p._exit_with_parent(int(sys.argv[1]))
"""


@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_a_worker_exits_once_its_parent_has_exited_even_unreaped(how):
    parent = subprocess.Popen(["sleep", "600"])
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER, str(parent.pid), how], cwd=REPO)
    try:
        with pytest.raises(subprocess.TimeoutExpired):  # the parent lives: the watcher waits
            watcher.wait(timeout=1.5)
        parent.kill()  # and is not reaped: a zombie has exited all the same
        assert watcher.wait(timeout=DEADLINE_S) == parallel.EXIT_PARENT_GONE
        assert parent.poll() is not None
    finally:
        for p in (watcher, parent):
            p.kill()
            p.wait()


def test_a_worker_whose_parent_is_already_gone_exits():
    gone = subprocess.Popen(["true"])
    gone.wait()
    watcher = subprocess.run(
        [sys.executable, "-c", WATCHER, str(gone.pid), "pidfd"], cwd=REPO, timeout=DEADLINE_S, check=False
    )
    assert watcher.returncode == parallel.EXIT_PARENT_GONE


def test_wait_for_exit_returns_once_a_process_has_exited():
    child = subprocess.Popen(["true"])
    call_with_deadline(lambda: parallel._wait_for_exit(child.pid))  # a zombie: exited, not reaped
    child.wait()
    call_with_deadline(lambda: parallel._wait_for_exit(child.pid))  # gone


# --------------------------------------------------------------------------- Dask: the scheduler's address


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setattr(parallel, "SCHEDULER_TIMEOUT_S", 1.0)


def serve(reply: bytes | None):
    """A TCP server on a free port that sends `reply` and closes, or (None) accepts and says nothing."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if reply is None:
                held.append(conn)
            else:
                conn.sendall(reply)
                conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return server, f"tcp://127.0.0.1:{server.getsockname()[1]}"


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def run_on(address: str):
    return call_with_deadline(lambda: parallel.execute(abs, [-1, 2], scheduler=address, progress=False))


@pytest.mark.parametrize(
    "address, says",
    [
        ("tcp://127.0.0.1:notaport", "not the address of a Dask scheduler"),
        ("tcp://127.0.0.1", "missing port"),
        ("tcp://127.0.0.1:99999", "port 99999 out of range"),
        ("foo://host:8786", "unknown address scheme"),
        ("127.0.0.1:8786", "expected tcp://HOST:PORT"),
    ],
)
def test_a_malformed_scheduler_address_is_an_input_error(address, says):
    with pytest.raises(InputError, match="--scheduler") as e:
        run_on(address)
    assert says in str(e.value) and address in str(e.value)


def test_a_silent_server_is_no_scheduler(short_timeout):
    server, address = serve(None)  # Client(address, timeout=...) waited for its handshake for ever
    with server, pytest.raises(InputError) as e:
        run_on(address)
    assert str(e.value).startswith(f"--scheduler {address}: no Dask scheduler answered within 1 s")


def test_a_closed_port_is_no_scheduler(short_timeout):
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(InputError) as e:
        run_on(address)
    # Its reason ("Connection refused") too, unless a loaded machine delays the last attempt past the deadline.
    assert str(e.value).startswith(f"--scheduler {address}: no Dask scheduler answered within 1 s (")


def test_another_protocol_is_no_scheduler(short_timeout):
    server, address = serve(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with server, pytest.raises(InputError) as e:  # was a MemoryError (a frame length of exabytes)
        run_on(address)
    assert "something answered, but not in Dask's protocol" in str(e.value)


def test_a_scheduler_is_used_and_a_worker_is_not_one():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        assert run_on(cluster.scheduler_address) == [1, 2]
        worker = next(iter(cluster.scheduler.workers))
        with pytest.raises(InputError, match=r"not a Dask scheduler \(it is a Worker\)"):
            run_on(worker)
