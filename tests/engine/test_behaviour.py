"""Provider decisions against the closed forms of Ellis & McGuire [@ellis1986]."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import one_setting
from learning_reference import adapt

from sim.engine import rules
from sim.engine.behaviour import capped_share, newton_steps, optimal_offset
from sim.engine.model import HealthSystemModel

#: 99213 at the national GPCI and the 2025 conversion factor: 2.81 RVU × $32.3465
FEE_99213 = 2.81 * 32.3465
C = 40.0  # marginal cost per visit in the test setting
D = 40.0  # benefit curvature d


def _oracle_offset(arm: str, alpha: np.ndarray) -> np.ndarray:
    """θ from [@ellis1986], written out independently of the engine."""
    p = {"ffs": FEE_99213, "capitation": 0.0, "blended": 0.25 * FEE_99213}[arm]
    return (p - C) / (alpha * D)


@pytest.mark.parametrize("arm", ["ffs", "capitation", "blended"])
def test_optimal_mode_plays_closed_form(arm):
    """With adaptation off, every patient's planned quantity is q_B + (p − c)/(α·d)."""
    sc = one_setting(behaviour={"mode": "optimal"})
    m = HealthSystemModel(sc, arm)
    m.run_for(3)
    mc = m.month_care[0]
    alpha = m.world.providers[0].altruism[mc.provider]
    expected = np.clip(mc.optimal_units + _oracle_offset(arm, alpha), 0.0, 12.0)
    treated = mc.sought
    assert treated.sum() > 1000
    np.testing.assert_allclose(mc.planned_units[treated], expected[treated], rtol=1e-12, atol=1e-12)


def test_optimal_mode_with_liability_closed_form():
    """With adverse-event liability κ = 2·L·cost·h, capitation's θ is −c/(α·d + κ)."""
    h, cost = 0.002, 9000.0
    sc = one_setting(
        behaviour={"mode": "optimal"},
        settings={"clinic": {"adverse_events": {"shortfall_risk": h, "cost": cost}}},
    )
    m = HealthSystemModel(sc, "capitation")
    m.run_for(1)
    alpha = m.world.providers[0].altruism
    kappa = 2 * 1.0 * cost * h
    np.testing.assert_allclose(m.world.providers[0].theta, -C / (alpha * D + kappa), rtol=1e-12)
    # under FFS the payer bears adverse events: no liability term
    m = HealthSystemModel(sc, "ffs")
    m.run_for(1)
    np.testing.assert_allclose(
        m.world.providers[0].theta, (FEE_99213 - C) / (alpha * D), rtol=1e-12
    )


def test_delivered_units_are_unbiased_rounding_of_plan():
    """Stochastic rounding delivers the planned quantity on average."""
    sc = one_setting(behaviour={"mode": "optimal"}, population={"patients": 20_000})
    m = HealthSystemModel(sc, "ffs")
    m.run_for(2)
    mc = m.month_care[0]
    diff = mc.service_units - mc.planned_units
    assert np.all((diff > -1) & (diff < 1))
    se = diff.std() / np.sqrt(diff.size)
    assert abs(diff.mean()) < 4 * se


@pytest.mark.parametrize("arm", ["ffs", "capitation", "blended"])
def test_learning_converges_to_closed_form(arm):
    """Providers that start at the patient optimum learn their way to the incentive optimum.

    The world is the one the closed form describes: no adverse events, so the only noise is
    rounding and patient heterogeneity."""
    sc = one_setting(
        months=60,
        population={"patients": 20_000},
        settings={"clinic": {"adverse_events": {"base_rate": 0.0}}},
    )
    m = HealthSystemModel(sc, arm)
    m.run_for(60)
    target = _oracle_offset(arm, m.world.providers[0].altruism)
    assert np.all(np.abs(target) > 0.4)  # styles start at 0: far from the optimum
    # seeds 1-5 end within 0.008 visits of the optimum; 0.05 leaves room for noise
    np.testing.assert_allclose(m.world.providers[0].theta, target, atol=0.05)


def test_learning_converges_with_liability():
    """Under capitation with adverse-event liability, learning finds −c/(α·d + κ).

    Realised adverse events ($9,000 each) make each month's signal noisy, so providers with a
    long memory are used and the band is wider than without them."""
    h, cost = 0.002, 9000.0
    sc = one_setting(
        months=120,
        population={"patients": 20_000},
        behaviour={"memory": 0.03},
        settings={"clinic": {"adverse_events": {"shortfall_risk": h, "cost": cost}}},
    )
    m = HealthSystemModel(sc, "capitation")
    m.run_for(120)
    target = -C / (m.world.providers[0].altruism * D + 2 * cost * h)
    # seeds 1-5 end within 0.06-0.18 visits (noise, not bias: the sign varies by provider)
    np.testing.assert_allclose(m.world.providers[0].theta, target, atol=0.25)


def test_ordering_capitation_below_optimum_below_ffs():
    """For α < 1: units under capitation < patient optimum < units under FFS."""
    sc = one_setting(months=36, population={"patients": 10_000})
    mean_units, mean_need = {}, {}
    for arm in ("capitation", "ffs"):
        m = HealthSystemModel(sc, arm)
        m.run_for(36)
        mc = m.month_care[0]
        mean_units[arm] = mc.service_units[mc.sought].mean()
        mean_need[arm] = mc.optimal_units[mc.sought].mean()
        assert np.all(m.world.providers[0].altruism < 1)
    assert mean_units["capitation"] < mean_need["capitation"]
    assert mean_need["ffs"] < mean_units["ffs"]


def test_optimal_offset_edge_cases():
    """α = 0 sends FFS to the cap and capitation to zero; no division warnings."""
    theta = optimal_offset(
        np.array([50.0, 0.0, 40.0]), 40.0, np.array([0.0, 0.0, 0.0]), 10.0, np.zeros(3), 12.0
    )
    np.testing.assert_array_equal(theta, [12.0, -12.0, 0.0])


def test_adapt_newton_step_and_cap():
    """A concave estimate gives a damped Newton step, capped at max_step."""
    assert adapt(0.0, slope=2.0, curvature_estimate=-4.0, speed=0.5, max_step=10.0) == 0.25
    assert adapt(0.0, slope=100.0, curvature_estimate=-1.0, speed=1.0, max_step=3.0) == 3.0
    # non-concave estimate: move uphill by the capped step
    assert adapt(1.0, slope=-1.0, curvature_estimate=0.5, speed=0.5, max_step=2.0) == 0.0


def test_newton_steps_are_the_scalar_steps():
    """The engine's array step gives the scalar rule's numbers, and keeps a provider whose
    slope is not known (NaN) where it is."""
    value = np.array([0.0, 0.0, 1.0, 2.0])
    slope = np.array([2.0, 100.0, -1.0, np.nan])
    curvature = np.array([-4.0, -1.0, 0.5, -1.0])
    speed = np.array([0.5, 1.0, 0.5, 0.7])
    steps = newton_steps(value, slope, curvature, speed, 3.0)
    np.testing.assert_array_equal(steps, [0.25, 3.0, -0.5, 2.0])
    for i in range(3):
        assert steps[i] == adapt(value[i], slope[i], curvature[i], speed[i], 3.0)


def test_pay_for_performance_closed_form_and_learning():
    """Paying k per point of function gained adds k·d/v below the optimum: capitation's θ
    becomes −c/(α·d + k·d/v), played at once in optimal mode and found by learning.

    Function gain stops at the patient optimum (a kink), so the learning check uses a world
    where every patient stays well below it (large q_B, high cost, small experiments): there
    the closed form is the optimum of the realised objective too."""
    k, v, c, d = 150.0, 300.0, 200.0, 40.0
    arms = [{"name": "cap_p4p", "contracts": [
        {"model": "capitation", "pmpm": 40.0, "outcome_payment": k}]}]  # fmt: skip
    setting = {
        "optimal_units": 20.0,
        "marginal_cost": c,
        "max_units": 40,
        "adverse_events": {"base_rate": 0.0},
    }
    sc = one_setting(behaviour={"mode": "optimal"}, arms=arms, settings={"clinic": setting})
    m = HealthSystemModel(sc, "cap_p4p")
    m.run_for(1)
    target = -c / (m.world.providers[0].altruism * d + k * d / v)
    np.testing.assert_allclose(m.world.providers[0].theta, target, rtol=1e-12)
    assert np.all(target < -3.5)
    sc = one_setting(
        months=60,
        population={"patients": 20_000},
        behaviour={"experiment_step": 0.05},
        arms=arms,
        settings={"clinic": setting},
    )
    m = HealthSystemModel(sc, "cap_p4p")
    m.run_for(60)
    np.testing.assert_allclose(
        m.world.providers[0].theta, target, atol=0.05
    )  # seeds 1-3: within 0.004


def test_shared_savings_closed_form():
    """Two-sided shared savings at rate s give back s of the payer's share of each unit:
    FFS's θ becomes (p·(1 − s·(1 − coinsurance)) − c)/(α·d) (no deductible)."""
    s_rate = 0.5
    arms = [{"name": "ffs_ss", "contracts": [
        {"model": "ffs", "shared_savings_rate": s_rate, "benchmark_pmpm": 30.0}]}]  # fmt: skip
    sc = one_setting(behaviour={"mode": "optimal"}, arms=arms)
    m = HealthSystemModel(sc, "ffs_ss")
    m.run_for(1)
    p_eff = FEE_99213 * (1 - s_rate * (1 - 0.2))
    np.testing.assert_allclose(
        m.world.providers[0].theta, (p_eff - C) / (m.world.providers[0].altruism * D), rtol=1e-12
    )


def test_capped_share_is_the_published_cap_rule():
    """Capping the shared share at the contract's cap splits minutes exactly as
    rules.cap_group_concurrent does (excess shared minutes become individual ones)."""
    rng = np.random.default_rng(3)
    share, per_day, fc = rng.random(200), 200 * rng.random(200), 0.4
    for cap in (0.0, 0.25, 0.6):
        s = capped_share(share, cap)
        mine = ((1 - s) * per_day, s * fc * per_day, s * (1 - fc) * per_day)
        published = rules.cap_group_concurrent(
            (1 - share) * per_day, share * fc * per_day, share * (1 - fc) * per_day, cap
        )
        for a, b in zip(mine, published, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(capped_share(share, None), share)
