"""The shipped scenarios use the calibrated parameters (calibration/levels_parameters.toml,
written by `sim calibrate calibration/levels.toml`): every field the parameter file sets that
a shipped scenario has holds the calibrated value, rounded to three significant digits in the
file (so a new calibration cannot be forgotten in one scenario)."""

from __future__ import annotations

import math

import pytest
from paths import ROOT

from sim.scenario import load_scenario
from sim.scenario.parameters import apply_parameters, read_parameter_file

PARAMETERS = ROOT / "calibration" / "levels_parameters.toml"
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
def test_shipped_scenarios_hold_the_calibrated_values(path):
    params = read_parameter_file(PARAMETERS)["parameters"]
    full = load_scenario(path).model_dump(mode="json")
    calibrated, _ = apply_parameters(full, params)
    for field, mine, fitted in _leaves(full, calibrated):
        if mine != fitted:
            assert isinstance(fitted, float) and math.isclose(mine, fitted, rel_tol=5e-3), (
                f"{path.name}: {field} = {mine}, calibrated {fitted}"
            )
