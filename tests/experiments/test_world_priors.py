"""The world's prior-only parameters (calibration/world.toml, ``prior_only = true``) are what
the flag claims: no target depends on them. Each target scenario, run small at the point where
every parameter sits at its prior's median, gives the same columns the targets are measured on
(their numerators and denominators, by month, setting and arm), value for value, with each
prior-only parameter moved to either end of its range. (A prior-only parameter may move other
columns: the adjustment speed moves skilled nursing's therapy minutes, and so its costs, toward
their best response from where they start.)"""

from __future__ import annotations

import pandas as pd
import pytest
from paths import ROOT

from sim.experiments.calibrate import load_calibration
from sim.experiments.run import run
from sim.scenario import validate_scenario

CAL = ROOT / "calibration" / "world.toml"


def _monthly(cal, g: int, values: dict[str, float]) -> pd.DataFrame:
    """The columns group ``g``'s targets are measured on, at ``values``."""
    data = cal.scenario(g, values)
    data["population"]["patients"] = 1_500
    sc = validate_scenario(data, "x")
    m = run(sc, arms=list(cal.groups[g].arms)).monthly
    targets = [cal.config.targets[i] for i in cal.groups[g].targets]
    used = sorted({c for t in targets for c in (*t.numerator, *t.denominator)})
    assert used and all(c in m.columns for c in used)
    return m[["arm", "month", "setting", *used]]


def test_no_target_depends_on_a_prior_only_parameter():
    cal = load_calibration(CAL)
    alone = [p for p in cal.config.parameters if p.prior_only]
    assert alone, "the world declares its prior-only parameters"
    point = {p.name: p.value(0.5) for p in cal.config.parameters}
    for g in range(len(cal.groups)):
        base = _monthly(cal, g, point)
        for p in alone:
            for end in (0.0, 1.0):
                moved = _monthly(cal, g, {**point, p.name: p.value(end)})
                pd.testing.assert_frame_equal(moved, base, obj=f"{p.name} at {p.value(end)}")


def test_the_check_can_fail():
    """The same comparison sees a simulated parameter move the targets."""
    cal = load_calibration(CAL)
    point = {p.name: p.value(0.5) for p in cal.config.parameters}
    base = _monthly(cal, 0, point)
    with pytest.raises(AssertionError):
        pd.testing.assert_frame_equal(_monthly(cal, 0, {**point, "hospital_need": 0.03}), base)
