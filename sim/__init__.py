"""payment-sim: an agent-based simulation of how health-care payment models shape what
providers do (fee-for-service, capitation, bundled and blended payment).

Public API::

    from sim import load_scenario, run, HealthSystemModel
    scenario = load_scenario("scenarios/compare_payment_models.toml")
    result = run(scenario)            # every arm, common random numbers
    result.monthly, result.summary    # tidy pandas tables
"""

from sim.model import HealthSystemModel
from sim.run import RunResult, evaluate, make_function, run
from sim.scenario import Scenario, load_scenario, validate_scenario

__all__ = [
    "HealthSystemModel",
    "RunResult",
    "Scenario",
    "evaluate",
    "load_scenario",
    "make_function",
    "run",
    "validate_scenario",
]
__version__ = "0.1.0"
