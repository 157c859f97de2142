"""Shared test helpers: small scenarios built from plain dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.scenario import Scenario, validate_scenario

#: a visit-billed setting with an interior optimum under every payment model
VISIT_SETTING: dict[str, Any] = {
    "unit": "visit",
    "per_visit_codes": ["99213"],
    "minutes_per_unit": 20.0,
    "need_probability": 0.5,
    "episode_months": 1.0,
    "elective_share": 0.0,
    "optimal_units": 4.0,
    "need_risk_elasticity": 0.5,
    "benefit_curvature": 40.0,
    "value_per_function_point": 300.0,
    "marginal_cost": 40.0,
    "max_units": 12,
    "low_value_threshold": 40.0,
    "adverse_events": {"base_rate": 0.002, "shortfall_risk": 0.0, "cost": 9000.0},
    "providers": {
        "count": 5,
        "altruism": {"a": 2.0, "b": 2.0, "low": 0.5, "high": 0.9},
        "adaptation_speed": {"a": 2.0, "b": 2.0, "low": 0.4, "high": 0.6},
        "for_profit_share": 0.0,
        "fixed_cost": 1000.0,
    },
}

ARMS = [
    {"name": "ffs", "contracts": [{"model": "ffs"}]},
    {"name": "capitation", "contracts": [{"model": "capitation", "pmpm": 40.0}]},
    {"name": "blended", "contracts": [{"model": "blended", "pmpm": 30.0, "fee_fraction": 0.25}]},
    {"name": "bundled", "contracts": [{"model": "bundled", "base_rate": 300.0}]},
]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def one_setting(**over: Any) -> Scenario:
    """One payer (no cost sharing), one region, one visit-billed setting."""
    data: dict[str, Any] = {
        "name": "test_one_setting",
        "months": 12,
        "seed": 7,
        "population": {"patients": 5_000},
        "payers": {"medicare": {"share": 1.0, "deductible": 0.0}},
        "settings": {"clinic": VISIT_SETTING},
        "behaviour": {"imitation_probability": 0.0},
        "arms": ARMS,
        "outputs": {"figure": False},
    }
    return validate_scenario(merge(data, over))


def default_world(**over: Any) -> Scenario:
    """The package defaults (two settings, two payers) with small sizes."""
    data: dict[str, Any] = {
        "name": "test_default_world",
        "months": 6,
        "seed": 11,
        "population": {"patients": 4_000},
        "arms": [
            {"name": "ffs", "contracts": [{"model": "ffs"}]},
            {"name": "capitation", "contracts": [{"model": "capitation", "pmpm": 12.0}]},
            {"name": "bundled", "contracts": [{"model": "bundled", "base_rate": 500.0}]},
            {
                "name": "blended",
                "contracts": [{"model": "blended", "pmpm": 6.0, "fee_fraction": 0.5}],
            },
        ],
        "outputs": {"figure": False, "provider_panel": True},
    }
    return validate_scenario(merge(data, over))


@pytest.fixture
def small_world() -> Scenario:
    return default_world()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow end-to-end tests (``@pytest.mark.slow``) first, each group in its collected
    order: with several workers (``make test``: pytest-xdist) they start at once instead of
    one of them ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
