"""Values the month reads several times, made once until what they come from changes (issue 27:
a small run's fixed cost per month): each one equals what it is made from at every read."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import one_setting
from paths import SCENARIOS

from sim.engine.model import HealthSystemModel
from sim.engine.world import Providers
from sim.scenario.loading import load_scenario


def _fresh_weight(providers: Providers) -> np.ndarray:
    """A provider's share of members by payer, made from its panels now (the definition)."""
    members = np.stack([pn.members for pn in providers.panels], 1)
    total = members.sum(axis=1, keepdims=True)
    w = np.divide(members, total, out=np.zeros(members.shape), where=total > 0)
    w[total[:, 0] == 0] = 1.0 / len(providers.panels)
    return w


@pytest.fixture
def checked_weights(monkeypatch):
    """Every read of ``Providers.payer_weight`` checked against the panels as they are then;
    yields the count of reads."""
    made = Providers.payer_weight
    reads = [0]

    def checked(self: Providers) -> np.ndarray:
        w = made(self)
        assert np.array_equal(w, _fresh_weight(self))
        assert not w.flags.writeable  # shared by every reader: nobody may write into it
        reads[0] += 1
        return w

    monkeypatch.setattr(Providers, "payer_weight", checked)
    return reads


def test_payer_weight_follows_deaths_entries_and_a_contract_switch(checked_weights):
    """The shipped main comparison's first arm (the life course: members die and enter every
    month) with a contract switch in month 3: the weights read by practice, capacity and the
    incentives are the panels' at every read."""
    sc = load_scenario(
        SCENARIOS / "compare_payment_models.toml",
        ["population.patients=1500", "months=6", "replications=1"],
    )
    arm = sc.arms[0]
    other = sc.arms[1].contracts
    data = arm.model_dump()
    data["switches"] = [{"month": 3, "contracts": [c.model_dump() for c in other]}]
    sc = sc.model_copy(update={"arms": [type(arm).model_validate(data)]})
    m = HealthSystemModel(sc, arm.name)
    for _ in range(6):
        m.step()
    assert checked_weights[0] > 6


@pytest.mark.parametrize("churn", [0.0, 0.05])
def test_payer_weight_follows_members_moved_between_providers(checked_weights, churn):
    """Participation sends turned-away patients to another provider (``World.move_members``),
    and churn rebuilds the panels (a new list each month): the weights follow both."""
    sc = one_setting(
        months=6,
        behaviour={"mode": "best_response", "payer_specificity": 0.5},
        settings={
            "clinic": {
                "providers": {
                    "count": 10,
                    "churn": churn,
                    "altruism": {"low": 0.0, "high": 0.3, "a": 1.0, "b": 1.0},
                }
            }
        },
        supply={"participation": {"enabled": True, "search": 3}},
        payers={
            "medicare": {"share": 0.5, "deductible": 0.0},
            "cheap": {"share": 0.5, "deductible": 0.0, "rate_multiplier": 0.3},
        },
        arms=[{"name": "ffs", "contracts": [{"model": "ffs", "coinsurance": 0.0}]}],
    )
    m = HealthSystemModel(sc, "ffs")
    moved = 0
    for _ in range(6):
        before = m.population.provider[0].copy()
        m.step()
        moved += int(np.count_nonzero(m.population.provider[0] != before))
    assert moved > 0
    assert checked_weights[0] > 6
