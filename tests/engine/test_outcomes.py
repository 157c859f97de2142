"""Function outcomes (sim/engine/clinical.py) carry information: gains per stay on a clinically
recognisable scale, with the 0-100 ceiling binding for few patients, in every shipped scenario.

The ranges are the model's documented assumptions (docs/ODD.md, "Function scale"), of the
order that functional-outcome measures report: a hospital stay treats the acute event but
many older patients lose function in hospital (Covinsky et al. 2011, JAMA 306:1782)
[@covinsky2011], so its
net gain is small; a skilled-nursing or home-health episode of rehabilitation gains of the
order of 5-15% of the scale (FIM-like measures; approx., assumption); an outpatient therapy
episode somewhat less; a primary-care episode little.
"""

from __future__ import annotations

import pytest
from reference_outputs import _shipped, _small

from sim.experiments.run import run
from sim.scenario import validate_scenario

#: mean function gained per episode that ended (points of 0-100), by setting
GAIN_PER_EPISODE = {
    "hospital": (1.0, 6.0),
    "snf": (6.0, 20.0),
    "home_health": (3.0, 12.0),
    "outpatient_therapy": (4.0, 15.0),
    "primary_care": (0.2, 2.0),
}
#: the largest share of episodes that may end with the patient at the ceiling (100)
CEILING_SHARE = 0.12


def _case(name: str) -> dict:
    data = _small(name)
    data["population"]["patients"] = 20_000
    data["months"] = 18
    for arm in data.get("arms", []):
        for sw in arm.get("switches", []):
            sw.pop("date", None)
            sw["month"] = 9
    return data


@pytest.mark.parametrize("name", _shipped())
def test_gains_per_stay_are_on_a_clinical_scale(name):
    """Per setting and arm: the mean gain per ended episode lies in the documented range and
    few episodes end at the ceiling."""
    result = run(validate_scenario(_case(name), name))
    m = result.monthly[result.monthly["month"] >= 6]
    g = m.groupby(["arm", "setting"])[
        ["function_gain", "episodes_ended", "episodes_ended_at_ceiling"]
    ].sum()
    checked = 0
    for (arm, setting), row in g.iterrows():
        if row["episodes_ended"] < 100:
            continue
        low, high = GAIN_PER_EPISODE[setting]
        per_episode = row["function_gain"] / row["episodes_ended"]
        assert low <= per_episode <= high, (arm, setting, per_episode)
        share = row["episodes_ended_at_ceiling"] / row["episodes_ended"]
        assert share <= CEILING_SHARE, (arm, setting, share)
        checked += 1
    assert checked > 0


def test_function_gain_is_the_change_patients_had():
    """function_gain is the change after the ceiling and adverse events: never more than what
    care adds (function_gain_from_care), and less where either binds."""
    data = _case("compare_payment_models")
    data["months"] = 6
    result = run(validate_scenario(data, "compare_payment_models"))
    m = result.monthly
    assert (m["function_gain"] <= m["function_gain_from_care"] + 1e-9).all()
    assert (m["function_gain"] < m["function_gain_from_care"]).any()
