"""The shipped scenarios run on the calibrated base world (issue 26): every scenario file of
``scenarios/`` names the world, sets none of the world's calibrated or behavioural fields
(only policy and the population it studies, as a validation case may), and so holds the
world's calibrated parameters (its posterior medians, the world's parameter file) wherever the
scenario runs the fields they set."""

from __future__ import annotations

import math
import tomllib

import pytest
from paths import ROOT

from sim.scenario import load_scenario
from sim.scenario.parameters import apply_parameters, read_parameter_file
from sim.scenario.world import calibrated_fields, read_world, sets_calibrated, world_path

SCENARIOS = [
    p for p in sorted((ROOT / "scenarios").glob("*.toml")) if "[design]" not in p.read_text()
]


def _leaves(a, b, path=""):
    if isinstance(a, dict):
        for k in a:
            yield from _leaves(a[k], b[k], f"{path}.{k}" if path else k)
    elif isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _leaves(x, y, f"{path}.{i}")
    else:
        yield path, a, b


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_are_on_the_base_world(path):
    """The scenario names the base world and sets none of its calibrated fields."""
    raw = tomllib.loads(path.read_text())
    where = world_path(raw, path, str(path))
    assert where == ROOT / "scenarios" / "worlds" / "medicare.toml"
    patterns = calibrated_fields(raw, path, str(path))
    assert patterns, "the base world lists its calibrated fields"
    assert sets_calibrated(raw, patterns) == []


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_hold_the_worlds_calibrated_values(path):
    """Every field the world's parameter file sets holds the fitted value in the loaded
    scenario (nothing after the world's parameters moved it)."""
    raw = tomllib.loads(path.read_text())
    where = world_path(raw, path, str(path))
    assert where is not None
    head = read_world(where, str(where))["world"]
    params = read_parameter_file(where.parent / head["parameters"])["parameters"]
    full = load_scenario(path).model_dump(mode="json")
    calibrated, _ = apply_parameters(full, params)
    for field, mine, fitted in _leaves(full, calibrated):
        if mine != fitted:
            assert isinstance(fitted, float) and math.isclose(mine, fitted, rel_tol=1e-12), (
                f"{path.name}: {field} = {mine}, calibrated {fitted}"
            )


def test_the_worlds_parameter_file_is_the_calibrations():
    """The world's parameter file (beside it, so that it travels with the package) holds the
    posterior medians the calibration wrote, field for field."""
    world = ROOT / "scenarios" / "worlds"
    head = read_world(world / "medicare.toml", "world")["world"]
    beside = read_parameter_file(world / head["parameters"])
    written = read_parameter_file(ROOT / "calibration" / "world_posterior" / "parameters.toml")
    assert beside["parameters"] == written["parameters"]
    assert beside["calibration"] == written["calibration"]
