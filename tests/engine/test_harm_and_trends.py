"""Harm on both sides of the optimum (adverse_events.overtreatment_risk) and the trends a reform
is measured against ([trends]: price updates, intensity growth; a global budget's cap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import one_setting

from sim.engine.behaviour import optimal_offset
from sim.engine.model import HealthSystemModel
from sim.engine.month import incentives
from sim.experiments.run import run

OVER = {"settings": {"clinic": {"adverse_events": {"overtreatment_risk": 0.003}}}}


def test_the_closed_form_bends_on_both_sides():
    """θ* = (m − c)/(α·d + κ) below the optimum and (m − c)/(α·d + κ_o) above it."""
    alpha, d = np.array([0.5, 0.5]), 40.0
    theta = optimal_offset(np.array([70.0, 20.0]), 40.0, alpha, d, np.array(3.0), 12.0, 5.0)
    np.testing.assert_allclose(theta, [30.0 / (20.0 + 5.0), -20.0 / (20.0 + 3.0)])
    plain = optimal_offset(np.array([70.0, 20.0]), 40.0, alpha, d, np.array(3.0), 12.0)
    np.testing.assert_allclose(plain, [30.0 / 20.0, -20.0 / 23.0])


def test_overtreatment_adds_risk_above_the_optimum():
    """Each patient's adverse-event probability is the base risk plus
    overtreatment_risk·(q − q_B)² above the optimum (shortfall risk 0 here), capped at 1, in
    the month's care; fee-for-service over-treats, so some patients carry the extra risk."""
    sc = one_setting(months=4, **OVER)
    model = HealthSystemModel(sc, "ffs")
    ae = sc.settings["clinic"].adverse_events
    over_seen = 0
    for _ in range(sc.months):
        model.step()
        care = model.world.month[0]
        pop = model.population
        base = ae.base_rate * pop.risk[care.patients].astype(np.float64)
        base = base * (1.0 + ae.function_slope * (100.0 - care.function_at_start) / 100.0)
        over = np.maximum(care.service_units - care.optimal_units, 0.0)
        expected = np.minimum(np.minimum(base, 1.0) + 0.003 * over * over, 1.0)
        np.testing.assert_allclose(care.adverse_probability, expected, rtol=1e-6)  # risk is float32
        over_seen += int((over > 0).sum())
    assert over_seen > 100


def test_overtreatment_harm_raises_events_under_ffs():
    """Fee-for-service, which over-treats, has more adverse events with the harm on."""
    off = run(one_setting(months=6), arms=["ffs"]).monthly["adverse_events"].sum()
    on = run(one_setting(months=6, **OVER), arms=["ffs"]).monthly["adverse_events"].sum()
    assert on > off * 1.2


def test_a_provider_bearing_the_harm_over_treats_less():
    """Under fee-for-service with the adverse-event cost on the provider, its closed-form best
    style is (m − c)/(α·d + 2·cost·overtreatment_risk) above the optimum."""
    contract = {"model": "ffs", "adverse_event_liability": 1.0}
    arms = [{"name": "ffs", "contracts": [contract]}]
    sc = one_setting(months=1, arms=arms, **OVER)
    model = HealthSystemModel(sc, "ffs")
    providers = model.world.providers[0]
    cost = sc.settings["clinic"].adverse_events.cost
    np.testing.assert_allclose(providers.overtreatment_curvature, 2 * cost * 0.003)
    gap = providers.marginal_revenue - sc.settings["clinic"].marginal_cost
    assert (gap > 0).all()
    expected = gap / (providers.altruism * 40.0 + 2 * cost * 0.003)
    np.testing.assert_allclose(incentives.optimal_theta(model.world, 0), expected)
    plain = HealthSystemModel(one_setting(months=1, arms=arms), "ffs")
    bent, flat = incentives.optimal_theta(model.world, 0), incentives.optimal_theta(plain.world, 0)
    assert (bent < flat).all()


def _revenue_per_visit(monthly: pd.DataFrame) -> pd.Series:
    by = monthly.groupby("month")
    return by["provider_revenue"].sum() / by["visits"].sum()


def test_price_updates_each_january():
    """With price_update = 10% every payment rate rises 10% each calendar January after the
    start: revenue per visit under fee-for-service (one fee per visit) is 1.1× December's in
    January and 1.21× in the next; the panels carry the rate level."""
    sc = one_setting(months=26, trends={"price_update": 0.1}, start="2025-01-01")
    model = HealthSystemModel(sc, "ffs")
    for _ in range(sc.months):
        model.step()
    monthly = pd.DataFrame(model.rows)
    per_visit = _revenue_per_visit(monthly)
    assert per_visit[12] / per_visit[11] == pytest.approx(1.1, rel=1e-9)
    assert per_visit[24] / per_visit[23] == pytest.approx(1.1, rel=1e-9)
    assert per_visit[11] == pytest.approx(per_visit[0], rel=1e-9)
    assert model.world.payers[0].rate_multiplier == pytest.approx(1.21)
    assert model.world.providers[0].panels[0].rate_multiplier == pytest.approx(1.21)


def test_intensity_grows_the_optimum_of_new_episodes():
    """intensity_growth g: a new episode's patient-optimal units in month m are the flat run's
    × (1 + g)^(m/12), patient for patient (the same draws)."""
    trend = HealthSystemModel(one_setting(months=13, trends={"intensity_growth": 0.05}), "ffs")
    flat = HealthSystemModel(one_setting(months=13), "ffs")
    for m in range(13):
        trend.step()
        flat.step()
        a, b = trend.world.month[0], flat.world.month[0]
        new_a = a.patients[a.new_episode]
        new_b = b.patients[b.new_episode]
        both = np.intersect1d(new_a, new_b)
        qa = a.optimal_units[np.searchsorted(a.patients, both)]
        qb = b.optimal_units[np.searchsorted(b.patients, both)]
        np.testing.assert_allclose(qa, qb * 1.05 ** (m / 12), rtol=1e-6)  # stored as float32


def test_a_global_budget_saves_against_a_trend():
    """A global budget's target grows by its own annual update, not by the trends' price
    updates: its lump is the same with and without a 5% price trend, while fee-for-service
    spending follows the trend, so the budget's saving against FFS grows with the trend."""
    budget = {"model": "all_payer_budget", "budget_pmpm": 40.0, "volume_share": 0.0}
    arms = [
        {"name": "ffs", "contracts": [{"model": "ffs"}]},
        {"name": "budget", "contracts": [budget]},
    ]
    common = {"months": 36, "arms": arms, "start": "2025-01-01"}
    flat = run(one_setting(**common)).monthly
    trend = run(one_setting(**common, trends={"price_update": 0.05})).monthly

    def year3(df, arm):
        d = df[(df["arm"] == arm) & (df["month"] >= 24)]
        return d["spending"].sum()

    np.testing.assert_array_equal(
        flat[flat["arm"] == "budget"]["spending"].to_numpy(),
        trend[trend["arm"] == "budget"]["spending"].to_numpy(),
    )
    assert year3(trend, "ffs") > 1.09 * year3(flat, "ffs")
    saving_flat = year3(flat, "ffs") - year3(flat, "budget")
    saving_trend = year3(trend, "ffs") - year3(trend, "budget")
    assert saving_trend > saving_flat
