"""`slotsim batch`: run an experiment file and store its results (sim/experiments.py does the work)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from .. import experiments as ex
from ..errors import InputError
from ..fileio import folder_lock
from ..parallel import check_scheduler
from ..runner import fit_jobs
from . import types
from .limits import add_limit_args, limits_of
from .status import EXIT_INTERRUPTED, EXIT_OK


def cmd_batch(args) -> int:
    problems = []
    if args.scheduler and args.dask_local:
        problems.append("--scheduler and --dask-local: give one of them")
    if args.scheduler and "://" not in args.scheduler:
        problems.append(f"--scheduler {args.scheduler!r}: expected an address like tcp://host:8786")
    if problems:
        raise InputError(*problems)
    plan = ex.load_experiment(args.experiment)
    out = Path(args.out) if args.out else Path("results") / plan.experiment.name
    if args.dry_run:
        print(ex.describe_plan(plan))
        return EXIT_OK
    # Before any simulation or file: each scenario's size against the limits (sim/resources.py),
    # then the results folder and its checkpoint folder must accept files, and no other batch (or
    # report) may be writing there: the lock is held until the results are in.
    limits = limits_of(args)
    target = plan.experiment.target
    n_runs = len(plan.cells) * (plan.experiment.replications or (target.min_replications if target else 1))
    distributed = bool(args.scheduler or args.dask_local)
    fit_jobs([c.scenario for c in plan.cells], limits, n_runs, args.jobs, distributed)
    if args.scheduler:
        check_scheduler(args.scheduler)  # within seconds, before the results folder is made
    if problems := ex.output_problems(out):
        raise InputError(*(f"--out: {m}" for m in problems))
    with folder_lock(out, ex.LOCK_HOLDER):
        ex.Store(out).remove_temporaries()
        executor = ex.executor_info(args.jobs, args.scheduler, args.dask_local)
        started = dt.datetime.now(dt.timezone.utc)
        print(ex.describe_plan(plan).splitlines()[0], file=sys.stderr)
        try:
            outcome = ex.run_experiment(
                plan,
                out,
                jobs=args.jobs,
                scheduler=args.scheduler,
                dask_workers=args.dask_local,
                progress=False if args.no_progress else None,
                fresh=args.fresh,
                limits=limits,
            )
        except KeyboardInterrupt:
            saved = len(list((out / ex.RUNS_DIR).glob("*.json")))
            print(
                f"interrupted: finished replications are kept in {out / ex.RUNS_DIR} ({saved} files); "
                f"run the same command again to resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except Exception:
            saved = len(list((out / ex.RUNS_DIR).glob("*.json")))
            if saved:  # nothing to say about resuming when nothing ran (a refused scheduler, say)
                print(
                    f"batch stopped by an error; finished replications are kept in {out / ex.RUNS_DIR} "
                    f"({saved} files): run the same command again to resume",
                    file=sys.stderr,
                )
            raise
        had_report = (out / ex.REPORT_FILE).is_file()
        ex.write_results(outcome, out, executor, started)
    print(ex.headline_table(outcome.summary))
    missed = [f"{v} @ {p}" for (v, p), d in outcome.decisions.items() if not d.met]
    if missed:
        print(f"target precision not reached within max_replications for: {', '.join(missed)}", file=sys.stderr)
    if had_report:
        print(
            f"the previous report.md and figures/ went with the previous results: run slotsim report {out}",
            file=sys.stderr,
        )
    print(
        f"wrote {out}/: {int(outcome.runs.shape[0])} replications ({outcome.computed} run now, "
        f"{outcome.loaded} from checkpoints) in {outcome.wall_s:.1f} s; next: slotsim report {out}",
        file=sys.stderr,
    )
    return EXIT_OK


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "batch",
        help="run an experiment file (variants x sweep x replications) and store "
        "its results; resumes an interrupted run",
    )
    p.add_argument("experiment", help="experiment YAML file (scenarios/experiments/*.yaml)")
    p.add_argument(
        "--jobs",
        type=types.count,
        default=None,
        help="local worker processes (default: all cores; 1 = in this process)",
    )
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    p.add_argument(
        "--dask-local", type=types.count, metavar="N", default=None, help="start a local Dask cluster of N workers"
    )
    p.add_argument("--out", metavar="DIR", help="results folder (default: results/<experiment name>)")
    p.add_argument("--fresh", action="store_true", help="ignore saved replications and run everything again")
    p.add_argument("--dry-run", action="store_true", help="print the cells and exit without simulating")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_limit_args(p)
    p.set_defaults(func=cmd_batch)
