"""Run independent tasks (replications) sequentially, on local processes, or on Dask.

Results never depend on the executor: each task carries its own (seed,
replication) and draws its own streams, and results are returned in task order,
never completion order. `on_done(index, result)` is called in the parent as each
task finishes, so a caller can checkpoint completed work (resume after Ctrl-C).

Processes never outlive the process that started them (the "parent"):

- Ctrl-C, SIGTERM (the command line turns it into KeyboardInterrupt), an error in
  a task or in `on_done`: the pool's workers are terminated at once, not left to
  finish the replications they are running (that can take minutes); finished
  replications have already been handed to `on_done`.
- The parent killed outright (SIGKILL, a crash, a closed terminal): nothing in
  the parent runs, so each worker watches it (`_exit_with_parent`) and exits
  within about a second. Once the workers are gone the forkserver and the
  resource tracker exit by themselves: each waits for the end of a pipe that only
  the parent and the workers hold open.
- Workers ignore SIGINT: Ctrl-C reaches the whole process group, and the parent
  alone decides what to do (stop them); otherwise every worker would print a
  KeyboardInterrupt traceback of its own.
- Dask: a `--scheduler` that does not answer as a Dask scheduler within
  SCHEDULER_TIMEOUT_S is an `InputError` (exit 2), never a hang; the workers of a
  `LocalCluster` exit with the parent through distributed's own mechanism (each
  worker process exits when a pipe held by its parent closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import select
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing.context import BaseContext
from typing import Any, Callable, Iterator, Sequence

from .errors import InputError

# How long a Dask scheduler has to answer (connect, handshake, identify itself).
SCHEDULER_TIMEOUT_S = 10.0
# How often a worker without pidfd support checks that its parent is still alive.
PARENT_POLL_S = 1.0
# How long stopped workers get to exit after SIGTERM before they are sent SIGKILL.
STOP_GRACE_S = 5.0
# The exit status of a worker that ends because its parent is gone (nobody reads it).
EXIT_PARENT_GONE = 1


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _progress(total: int, enabled: bool | None, desc: str):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, disable=None if enabled is None else not enabled, desc=desc, unit="run", dynamic_ncols=True
    )


def execute(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    progress: bool | None = None,
    desc: str = "replications",
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Apply `fn` to every task; return the results in task order.

    jobs: local worker processes (1 = in this process). scheduler: address of an
    existing Dask scheduler (tcp://host:port). dask_workers: start a local Dask
    cluster of that many workers (the code path a real cluster uses).
    """
    tasks = list(tasks)
    results: list[Any] = [None] * len(tasks)
    if not tasks:
        return results
    bar = _progress(len(tasks), progress, desc)

    def done(i: int, value: Any) -> None:
        results[i] = value
        if on_done is not None:
            on_done(i, value)
        bar.update(1)

    try:
        if scheduler or dask_workers:
            _run_dask(fn, tasks, scheduler, dask_workers, done)
        elif (jobs or default_jobs()) <= 1 or len(tasks) == 1:
            for i, t in enumerate(tasks):
                done(i, fn(t))
        else:
            _run_pool(fn, tasks, jobs or default_jobs(), done)
    finally:
        bar.close()
    return results


def _run_pool(fn, tasks, jobs: int, done) -> None:
    ctx: BaseContext
    if "forkserver" in mp.get_all_start_methods():
        forkserver = mp.get_context("forkserver")
        forkserver.set_forkserver_preload(["sim.model", "sim.metrics"])  # import pandas/simpy once, not per worker
        ctx = forkserver
    else:
        ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
    )
    try:
        pending = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                done(pending.pop(f), f.result())
    except BaseException:  # Ctrl-C, SIGTERM, a failed task or on_done: stop now, not after the running tasks
        # The workers, taken before shutdown() forgets them; the pool starts them in submit().
        procs = list((getattr(pool, "_processes", None) or {}).values())
        _uninterrupted(lambda: _stop_now(pool, procs))
        raise
    pool.shutdown(wait=True)


def _stop_now(pool: ProcessPoolExecutor, procs: list) -> None:
    """Cancel the queued tasks and end the workers `procs` without waiting for their tasks.

    `shutdown(cancel_futures=True)` alone lets the running tasks finish (a long
    replication: minutes) and `with ProcessPoolExecutor()` waits for them; their
    results are not wanted any more, so the workers get SIGTERM, then SIGKILL after
    STOP_GRACE_S. Python 3.14 has `terminate_workers()`; on 3.11 the worker
    processes are the executor's `_processes`. Idempotent (see `_uninterrupted`).
    """
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


def _uninterrupted(step: Callable[[], None], attempts: int = 3) -> None:
    """Run a clean-up step to its end even if Ctrl-C (or SIGTERM) arrives again meanwhile.

    A second Ctrl-C while the workers are being stopped would otherwise leave them
    running their tasks, and the parent would then wait for them at exit. The step
    is run again (it is idempotent); the exception already on its way (the first
    interrupt, an error) is the one that propagates.
    """
    for _ in range(attempts):
        try:
            step()
            return
        except KeyboardInterrupt:
            continue


def _worker_init(parent_pid: int) -> None:
    """Pool initializer: ignore SIGINT (the parent handles Ctrl-C) and exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="slotsim-parent-watch", daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    """Block until the process `parent_pid` has exited, then end this worker at once (os._exit).

    Why a watching thread: a parent killed with SIGKILL cannot tell anyone, and a
    worker blocked on the task queue never sees it (each worker holds both ends of
    that queue's pipe, so no EOF comes). `os.getppid()` and `prctl(PR_SET_PDEATHSIG)`
    do not help: a forkserver worker's parent is the forkserver, which itself stays
    alive as long as a worker does. So the worker watches the pid of the process that
    made the pool (passed in `initargs`, taken while that process waits for its
    workers), through a pidfd (Linux >= 5.3): it stands for that very process (a pid
    used again later is another process) and becomes readable once it has exited,
    even as a zombie its own parent has not reaped. Without pidfds, `_wait_for_exit`
    polls. Nothing is lost: only the parent writes checkpoints.
    """
    try:
        fd = os.pidfd_open(parent_pid)
    except ProcessLookupError:  # gone already
        os._exit(EXIT_PARENT_GONE)
    except (AttributeError, OSError):  # not Linux, an old kernel, a sandbox refusing pidfd_open
        _wait_for_exit(parent_pid)
        os._exit(EXIT_PARENT_GONE)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll():
        pass
    os._exit(EXIT_PARENT_GONE)


def _wait_for_exit(pid: int) -> None:
    """Return once process `pid` has exited (or is a zombie), asking psutil every PARENT_POLL_S.

    psutil comes with distributed; its Process notices a pid used again by another
    process (start times differ). Never `os.kill(pid, 0)`: on Windows that kills.
    """
    import psutil  # type: ignore[import-untyped]  # (no stubs; installed with distributed)

    try:
        process = psutil.Process(pid)
        while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
            time.sleep(PARENT_POLL_S)
    except psutil.NoSuchProcess:
        pass


def _run_dask(fn, tasks, scheduler: str | None, workers: int | None, done) -> None:
    from distributed import Client, LocalCluster, as_completed  # imported lazily: ~0.5 s

    cluster = None
    if scheduler:
        client = _connect(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)

    def close() -> None:
        client.close()
        if cluster is not None:
            cluster.close()

    try:
        futures = client.map(fn, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for f in as_completed(futures):
            done(index[f.key], f.result())
    except BaseException:
        # Stopping mid-run makes distributed log warnings that say only that: tasks cancelled, a busy
        # worker killed after its nanny's 4 s of grace (a run holds the GIL). Errors still show.
        with _quieter("distributed", logging.ERROR):
            _uninterrupted(close)
        raise
    close()


@contextlib.contextmanager
def _quieter(logger: str, level: int) -> Iterator[None]:
    log = logging.getLogger(logger)
    before = log.level
    log.setLevel(max(level, log.getEffectiveLevel()))
    try:
        yield
    finally:
        log.setLevel(before)


def check_scheduler(address: str) -> None:
    """InputError within SCHEDULER_TIMEOUT_S when no Dask scheduler answers at `address`: a command
    can ask before it creates any output."""
    problem = _identify(address, SCHEDULER_TIMEOUT_S)
    if problem is not None:
        raise InputError(f"--scheduler {address}: {problem}")


def _connect(address: str):
    """A `distributed.Client` of the scheduler at `address`, or InputError once SCHEDULER_TIMEOUT_S (+20%) are up.

    `Client(address, timeout=...)` alone is not enough: its timeout covers opening
    the connection, not the handshake after it, so an address where something else
    listens (a dashboard, any other server) hangs for ever or fails with an
    unrelated error (a MemoryError on a garbled frame length). So the scheduler is
    first asked who it is (`_identify`), under a deadline of our own.
    """
    from distributed import Client

    problem = _identify(address, SCHEDULER_TIMEOUT_S)
    if problem is None:
        try:
            return Client(address, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as e:  # it went away between the two
            problem = f"could not connect ({_os_reason(e) or e})"
    raise InputError(f"--scheduler {address}: {problem}")


def _identify(address: str, timeout: float) -> str | None:
    """None if a Dask scheduler at `address` identifies itself within `timeout` seconds, else what went wrong.

    The exchange runs on its own event loop in a daemon thread, so that nothing it
    waits for (a handshake that never comes, a slow name lookup) can hold up the
    caller past the deadline; a thread still waiting then is left behind.
    """
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    try:
        scheme, location = parse_address(address, strict=True)
        get_backend(scheme)  # a scheme distributed knows
        if scheme != "inproc":  # inproc://: a scheduler in this very process (tests)
            _, port = parse_host_port(location)
            if not 0 < port < 65536:
                raise ValueError(f"port {port} out of range")
    except ValueError as e:
        return f"not the address of a Dask scheduler ({e}); expected tcp://HOST:PORT"

    async def ask() -> Any:
        comm = await connect(address, timeout=timeout, **Security().get_connection_args("client"))
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    outcome: list[Any] = []
    finished = threading.Event()

    # connect() gives up after `timeout` with its reason (refused, unknown host); the deadlines around
    # it, a little later, catch what it does not time (a handshake never answered).
    grace = max(1.0, timeout / 5)

    def run() -> None:
        loop = asyncio.new_event_loop()
        try:
            outcome.append(loop.run_until_complete(asyncio.wait_for(ask(), timeout + grace)))
        except BaseException as e:  # reported by the caller, not raised here
            outcome.append(e)
        finally:
            finished.set()
            loop.close()

    threading.Thread(target=run, name="slotsim-scheduler-probe", daemon=True).start()
    answer = outcome[0] if finished.wait(timeout + 2 * grace) else TimeoutError()
    if isinstance(answer, OSError):  # refused, reset, unknown host, no answer in time (TimeoutError)
        why = _os_reason(answer)
        return (
            f"no Dask scheduler answered within {timeout:g} s ({why + '; ' if why else ''}is it running, and are "
            f"the host and port right? A scheduler listens on 8786 unless told otherwise)"
        )
    if isinstance(answer, ValueError):  # an address that parses but cannot be used (inproc://x)
        return f"not the address of a Dask scheduler ({answer}); expected tcp://HOST:PORT"
    if isinstance(answer, BaseException):  # a garbled answer: a frame length of exabytes, undecodable bytes
        return f"something answered, but not in Dask's protocol ({type(answer).__name__}: {str(answer)[:100]})"
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != "Scheduler":
        return f"something answered, but it is not a Dask scheduler ({f'it is a {kind}' if kind else 'no identity'})"
    return None


def _os_reason(e: BaseException) -> str | None:
    """The operating system's words for the deepest cause of `e` ("Connection refused"), if any."""
    found = None
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            found = cause.strerror
        cause = cause.__cause__ or cause.__context__
    return found
