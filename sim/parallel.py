"""Run independent tasks (replications) sequentially, on local processes, or on Dask.

Results never depend on the executor: each task carries its own (seed,
replication) and draws its own streams, and results are returned in task order,
never completion order. `on_done(index, result)` is called in the parent as each
task finishes, so a caller can checkpoint completed work (resume after Ctrl-C).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing.context import BaseContext
from typing import Any, Callable, Sequence


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
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as pool:
        pending = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    done(pending.pop(f), f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def _run_dask(fn, tasks, scheduler: str | None, workers: int | None, done) -> None:
    from distributed import Client, LocalCluster, as_completed  # imported lazily: ~0.5 s

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(fn, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for f in as_completed(futures):
            done(index[f.key], f.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
