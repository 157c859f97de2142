"""Scenario schema: every field documented with a unit; validation rules."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from sim.engine.payment import REGISTRY
from sim.errors import ScenarioError
from sim.scenario import Scenario, apply_override, parse_override, validate_scenario
from sim.scenario.sweep import SweepConfig


def _models(root: type[BaseModel], seen: set | None = None):
    seen = seen if seen is not None else set()
    if root in seen:
        return
    seen.add(root)
    yield root
    for f in root.model_fields.values():
        for t in (*getattr(f.annotation, "__args__", ()), f.annotation):
            if isinstance(t, type) and issubclass(t, BaseModel):
                yield from _models(t, seen)
            for a in getattr(t, "__args__", ()):
                if isinstance(a, type) and issubclass(a, BaseModel):
                    yield from _models(a, seen)


@pytest.mark.parametrize(
    "model",
    [*_models(Scenario), *_models(SweepConfig), *[c.Params for c in REGISTRY.values()]],
    ids=lambda m: m.__name__,
)
def test_every_field_has_description_and_unit(model):
    """Each scenario and contract field documents its meaning and unit."""
    for name, f in model.model_fields.items():
        assert f.description, f"{model.__name__}.{name} has no description"
        assert (f.json_schema_extra or {}).get("unit"), f"{model.__name__}.{name} has no unit"


def test_defaults_need_only_arms():
    """A scenario of just its arms is complete: every other field has a default."""
    sc = validate_scenario({"arms": [{"name": "ffs", "contracts": [{"model": "ffs"}]}]})
    assert set(sc.settings) == {"outpatient_therapy", "primary_care"}
    assert sc.payers["medicare_ffs"].deductible == 257.0  # Part B 2025 [@cms_partb2025]


def test_contract_must_cover_every_payer_and_setting():
    """An arm that leaves a (payer, setting) without a contract is rejected."""
    with pytest.raises(ScenarioError, match="no contract covers payer"):
        validate_scenario(
            {"arms": [{"name": "x", "contracts": [{"model": "ffs", "setting": "primary_care"}]}]}
        )


def test_later_contracts_override_earlier():
    """A payer-specific contract after a wildcard one wins for that payer."""
    sc = validate_scenario(
        {
            "arms": [
                {
                    "name": "x",
                    "contracts": [
                        {"model": "ffs"},
                        {"model": "capitation", "payer": "commercial", "pmpm": 9.0},
                    ],
                }
            ]
        }
    )
    arm = sc.arms[0]
    assert arm.contract_for("commercial", "primary_care").model == "capitation"
    assert arm.contract_for("medicare_ffs", "primary_care").model == "ffs"


def test_duplicate_arm_names_rejected():
    """Arm names are output keys and must be unique."""
    arm = {"name": "x", "contracts": [{"model": "ffs"}]}
    with pytest.raises(ScenarioError, match="names must be unique"):
        validate_scenario({"arms": [arm, arm]})


def test_override_parsing():
    """--set values are read as TOML, falling back to a bare string; lists index by number."""
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=hello") == (["a"], "hello")
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    data = {"arms": [{"name": "x"}]}
    apply_override(data, ["arms", "0", "name"], "y", "test")
    assert data["arms"][0]["name"] == "y"
    with pytest.raises(ScenarioError, match="index must be"):
        apply_override(data, ["arms", "3", "name"], "y", "test")


def test_override_into_builtin_table_keeps_the_rest():
    """--set into a built-in named table changes one field and keeps every other default."""
    from sim.scenario import load_scenario

    sc = load_scenario(
        "scenarios/compare_payment_models.toml",
        ["settings.outpatient_therapy.marginal_cost=20", "payers.commercial.deductible=900"],
    )
    assert set(sc.settings) == {"outpatient_therapy", "primary_care"}
    assert sc.settings["outpatient_therapy"].marginal_cost == 20
    assert sc.settings["outpatient_therapy"].timed_codes  # the built-in codes are kept
    assert sc.payers["commercial"].deductible == 900 and sc.payers["commercial"].share == 0.3


def test_entry_named_like_builtin_inherits_its_values():
    """A [settings.primary_care] table in a file starts from the built-in primary care."""
    sc = validate_scenario(
        {
            "settings": {"primary_care": {"marginal_cost": 50.0}},
            "arms": [{"name": "ffs", "contracts": [{"model": "ffs"}]}],
        }
    )
    assert list(sc.settings) == ["primary_care"]
    pc = sc.settings["primary_care"]
    assert pc.marginal_cost == 50.0 and pc.per_visit_codes == ["99213"]


def test_errors_survive_pickling():
    """A scenario error raised in a worker process reaches the parent intact (pickled)."""
    import pickle

    from sim.errors import ResultsError, ScenarioError

    err = ScenarioError("a.toml", "months", "must be at least 1")
    err.problems.append(("seed", "must be >= 0"))
    err.args = (err._text(),)
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, ScenarioError) and back.problems == err.problems
    assert str(back) == str(err) and "seed: must be >= 0" in str(back)
    results = pickle.loads(pickle.dumps(ResultsError("x: corrupt")))
    assert str(results) == "x: corrupt"
