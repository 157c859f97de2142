"""Income effects (``behaviour.income_effect``): a provider with diminishing marginal utility of
income weighs profit by (reference income / income)^η, against the closed form."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import one_setting

from sim.engine.behaviour import income_weight
from sim.engine.model import HealthSystemModel
from sim.experiments.run import run

FEE_99213 = 2.81 * 32.3465
C = 40.0
D = 40.0
CUT = 14  # after the 12 months of reference income


def fee_change(eta: float, multiplier: float, mode: str = "optimal", months: int = 30):
    """One FFS payer; from month 14 the fee schedule is scaled by ``multiplier``."""
    switch = {"month": CUT, "contracts": [{"model": "ffs", "fee_multiplier": multiplier}]}
    return one_setting(
        months=months,
        behaviour={"mode": mode, "income_effect": eta},
        arms=[{"name": "change", "contracts": [{"model": "ffs"}], "switches": [switch]}],
    )


def test_income_weight_is_crra_marginal_utility():
    """u' = (Y_ref / Y)^η: 1 at the reference, 2^η at half of it, 1 while unknown."""
    ref = np.array([100.0, 100.0, np.nan, 0.0])
    y = np.array([100.0, 50.0, 10.0, 10.0])
    np.testing.assert_allclose(income_weight(y, ref, 1.5), [1.0, 2**1.5, 1.0, 1.0])
    # income is floored (a provider with no revenue does not get an infinite weight)
    assert income_weight(np.array([0.0]), np.array([100.0]), 1.0)[0] == pytest.approx(20.0)


def test_closed_form_with_income_effect():
    """Optimal mode: after the fee cut θ = u'·(p' − c)/(α·d), u' = (Y_ref/Y)^η, with Y_ref the
    mean revenue of the first 12 months and Y the revenue smoothed at ``memory``."""
    eta = 1.0
    sc = fee_change(eta, 0.9, months=CUT + 6)
    sc = sc.model_copy(update={"outputs": sc.outputs.model_copy(update={"provider_panel": True})})
    m = HealthSystemModel(sc, "change")
    m.run_for(sc.months)
    providers = m.world.providers[0]
    panel = m.provider_rows
    n = providers.n
    revenue = np.array([[r["revenue"] for r in panel if r["month"] == t] for t in range(sc.months)])
    assert revenue.shape == (sc.months, n)
    ref = revenue[:12].mean(axis=0)
    y = revenue[0].copy()
    for t in range(1, sc.months):
        y += sc.behaviour.memory * (revenue[t] - y)
    u = (ref / y) ** eta
    assert np.all(u > 1.0)  # the cut lowered income
    alpha = providers.altruism
    np.testing.assert_allclose(providers.theta, u * (0.9 * FEE_99213 - C) / (alpha * D), rtol=1e-9)


@pytest.mark.parametrize("multiplier", [0.9, 1.1])
def test_income_effect_against_the_fee_change(multiplier):
    """Under FFS a fee cut lowers volume less with income effects (income fell: the provider
    supplies more than without them) and a fee rise raises it less (income rose)."""
    theta = {}
    for eta in (0.0, 1.5):
        m = HealthSystemModel(fee_change(eta, multiplier, months=CUT + 6), "change")
        m.run_for(CUT + 6)
        theta[eta] = m.world.providers[0].theta.copy()
    if multiplier < 1:
        assert np.all(theta[1.5] > theta[0.0])
    else:
        assert np.all(theta[1.5] < theta[0.0])


@pytest.mark.parametrize("multiplier", [0.9, 1.1])
def test_learning_converges_to_the_closed_form_with_income_effect(multiplier):
    """Learning providers end at u'·(p' − c)/(α·d) at the marginal utility of income their
    income gives them (no adverse events: the world the closed form describes)."""
    sc = fee_change(1.5, multiplier, "learning", months=96)
    sc = one_setting(
        months=96,
        population={"patients": 20_000},
        settings={"clinic": {"adverse_events": {"base_rate": 0.0}}},
        behaviour=sc.behaviour.model_dump(),
        arms=[a.model_dump(exclude_defaults=True) for a in sc.arms],
    )
    m = HealthSystemModel(sc, "change")
    m.run_for(96)
    p = m.world.providers[0]
    u = p.income_weight
    assert np.all(u > 1.1) if multiplier < 1 else np.all(u < 0.9)
    # seed 7 ends within 0.016 visits; 0.05 leaves room for noise
    target = u * (multiplier * FEE_99213 - C) / (p.altruism * D)
    np.testing.assert_allclose(p.theta, target, atol=0.05)


def test_off_is_absent():
    """η = 0 (the default) is the model without income effects: same bytes."""
    sc = fee_change(0.0, 0.9, "learning", months=16)
    data = sc.model_dump()
    del data["behaviour"]["income_effect"]
    from sim.scenario import validate_scenario

    assert run(sc).monthly.equals(run(validate_scenario(data)).monthly)
    assert HealthSystemModel(sc).world.providers[0].income_weight is None


@pytest.mark.parametrize("multiplier", [0.9, 1.1])
def test_income_effect_under_best_response(multiplier):
    """Providers deciding by best response (patient by patient) weigh benefit by α/u' too: after
    a fee cut they give more units with income effects than without (income fell below the
    reference), after a fee rise fewer."""
    units = {}
    for eta in (0.0, 1.5):
        sc = fee_change(eta, multiplier, "best_response", months=CUT + 6)
        m = HealthSystemModel(sc, "change")
        m.run_for(CUT + 6)
        rows = [r for r in m.rows if r["month"] >= CUT + 2]
        units[eta] = sum(r["service_units"] for r in rows) / sum(
            r["patients_treated"] for r in rows
        )
    if multiplier < 1:
        assert units[1.5] > units[0.0]
    else:
        assert units[1.5] < units[0.0]
