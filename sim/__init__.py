"""payment-sim: an agent-based simulation of how health-care payment models shape what
providers do (fee-for-service, capitation, bundled and blended payment).

Public API::

    from sim import load_scenario, run, HealthSystemModel
    scenario = load_scenario("scenarios/compare_payment_models.toml")
    result = run(scenario)            # every arm, common random numbers
    result.monthly, result.summary    # tidy pandas tables

The names are imported on first use, so ``import sim`` (and ``sim --help``) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.engine.model import HealthSystemModel
    from sim.experiments.run import RunResult, evaluate, make_function, run
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
__version__ = "0.2.0"

_HOMES = {
    "HealthSystemModel": "sim.engine.model",
    "RunResult": "sim.experiments.run",
    "evaluate": "sim.experiments.run",
    "make_function": "sim.experiments.run",
    "run": "sim.experiments.run",
    "Scenario": "sim.scenario",
    "load_scenario": "sim.scenario",
    "validate_scenario": "sim.scenario",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
