"""slotsim: what an appointment-allocation policy does when bots and resellers are in the game.

The run contract shared by the CLI, the app, the experiments and the tests:

    >>> import sim
    >>> sc = sim.load_scenario("scenarios/no_bots_fcfs.yaml", ["run.days=60"])
    >>> result = sim.run(sc, seed=1)
    >>> result.metrics["slots_released"] > 0
    True
"""

from . import resources
from .errors import InputError, SlotsimError
from .metrics import CONTRACT, RunResult, result_of
from .records import Records
from .resources import Limits
from .scenario import Scenario, ScenarioError, check_run_args, load_scenario, parse_scenario

__version__ = "0.1.0"


def run(
    scenario: Scenario, seed: int | None = None, replication: int = 0, *, limits: Limits | None = None
) -> RunResult:
    """One replication of a scenario: metrics, per-applicant and per-slot records, daily series
    (and every record, typed, in `result.records`).

    The run is refused (InputError, with the estimate) when its estimated size exceeds `limits`
    (default: `Limits.default()`, see sim.resources); `seed` defaults to the scenario's run.seed."""
    from .model import simulate

    check_run_args(scenario, seed, replication)
    resources.check(scenario, limits)
    return result_of(simulate(scenario, seed, replication).records())


def experiment(spec: dict, **options):
    """Variants x sweep x replications of a scenario in one call, from a plain dict (keys of an
    experiment file: base, variants, sweep, replications, seed, jobs...): the tidy runs (`.runs`,
    one row per run) and their summary with 95% t-intervals (`.summary`). See sim.runner.run_plan."""
    from .runner import run_plan

    return run_plan(spec, **options)


__all__ = [
    "CONTRACT",
    "InputError",
    "Limits",
    "Records",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SlotsimError",
    "experiment",
    "load_scenario",
    "parse_scenario",
    "run",
    "__version__",
]
