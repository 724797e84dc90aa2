"""slotsim: what an appointment-allocation policy does when bots and resellers are in the game.

The run contract shared by the CLI, the app, the experiments and the tests:

    >>> import sim
    >>> sc = sim.load_scenario("scenarios/no_bots_fcfs.yaml", ["run.days=60"])
    >>> result = sim.run(sc, seed=1)
    >>> result.metrics["slots_released"] > 0
    True
"""

from .metrics import CONTRACT, RunResult, result_of
from .records import Records
from .scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__version__ = "0.1.0"


def run(scenario: Scenario, seed: int | None = None, replication: int = 0) -> RunResult:
    """One replication of a scenario: metrics, per-applicant and per-slot records, daily series
    (and every record, typed, in `result.records`)."""
    from .model import simulate

    return result_of(simulate(scenario, seed, replication).records())


__all__ = ["CONTRACT", "Records", "RunResult", "Scenario", "ScenarioError", "load_scenario", "parse_scenario", "run",
           "__version__"]
