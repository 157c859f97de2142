"""Providers adapt in one pass per setting (adaptation.move_all): the same bits as the scalar
rule provider by provider (tests/learning_reference.py) and as every Provider agent stepping
on its own, with imitation, foresight, payer-specific styles and income effects all on."""

from __future__ import annotations

from pathlib import Path

import learning_reference
import numpy as np
import pytest

from sim.engine.agents import Provider
from sim.engine.model import HealthSystemModel
from sim.engine.month import adaptation
from sim.scenario import load_scenario

SCENARIO = """
name = "moves"
months = 14
seed = 3
[population]
patients = 6000
[settings.outpatient_therapy.providers]
members_per_provider = 300
[settings.primary_care.providers]
members_per_provider = 300
[behaviour]
imitation_probability = 0.5
foresight = 0.5
payer_specificity = {specificity}
income_effect = {income}
min_patients = 5
[payers.medicare]
share = 0.6
[payers.commercial]
share = 0.4
rate_multiplier = 1.3
[[arms]]
name = "switch"
contracts = [{{ model = "ffs" }}]
switches = [{{ month = 8, announced = 4, contracts = [{{ model = "capitation", pmpm = 12.0 }}] }}]
"""


def _styles(model):
    out = []
    for p in model.world.providers:
        for st in p.styles:
            out.append(st.value.copy())
            if st.separate is not None:
                out.append(st.separate.copy())
    return out


_MOVE_ALL = adaptation.move_all


def _per_agent(world, s, which=None):
    if which is not None:  # an agent's own step: the one-pass move for it alone
        return _MOVE_ALL(world, s, which)
    for agent in world.providers[s].agents:
        agent.step()
    return None


def _scalar_reference(world, s):
    for i in range(world.providers[s].n):
        learning_reference.move(world, s, i)


@pytest.mark.parametrize("one_by_one", [_scalar_reference, _per_agent])
@pytest.mark.parametrize(("specificity", "income"), [(0.0, 0.0), (0.5, 0.0), (0.5, 0.4)])
def test_one_pass_moves_are_the_scalar_rules_moves(
    tmp_path: Path, monkeypatch, specificity, income, one_by_one
):
    """The one-pass move gives every style the bits of the scalar rule, provider by provider
    (and of each agent stepping alone)."""
    path = tmp_path / "moves.toml"
    path.write_text(SCENARIO.format(specificity=specificity, income=income))
    sc = load_scenario(path)
    a = HealthSystemModel(sc)
    b = HealthSystemModel(sc)
    assert all(isinstance(p, Provider) for p in a.world.providers[0].agents)
    moved = 0
    for _ in range(sc.months):
        a.step()
        with monkeypatch.context() as m:
            m.setattr(adaptation, "move_all", one_by_one)
            b.step()
        for x, y in zip(_styles(a), _styles(b), strict=True):
            assert np.array_equal(x, y)
        moved += sum(int(p.imitate.sum()) for p in a.world.providers)
    assert moved > 0  # imitation was drawn
    assert a.rows == b.rows
