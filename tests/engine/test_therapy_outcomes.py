"""Therapy intensity acts on health the way days of stay do: function gains with diminishing
returns up to the patient-optimal intensity (none past it), and each day short of it adds
adverse-event (and so readmission) risk, which a provider bearing event costs weighs in its
closed-form best minutes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from paths import FROZEN
from scipy import integrate, optimize

from sim.engine.behaviour import optimal_therapy, therapy_day_value
from sim.experiments.run import run
from sim.scenario import load_scenario, validate_scenario

ALPHA, E, K, D, M_B, C = 0.5, 0.9, 0.8, 0.1, 90.0, 0.8


def _best(shortfall_cost: float, sd: float) -> float:
    m, _ = optimal_therapy(
        lambda m: np.zeros(m.shape),
        cost_per_minute=C,
        staff=np.array([K]),
        effective=np.array([E]),
        altruism=np.array([ALPHA]),
        curvature=D,
        optimal_minutes=M_B,
        sd=sd,
        max_minutes=240.0,
        step=0.01,
        shortfall_cost=np.array([shortfall_cost]),
    )
    return float(m[0])


@pytest.mark.parametrize("c_s", [0.0, 50.0, 400.0])
def test_best_minutes_with_event_costs_match_the_closed_form(c_s):
    """Without spread, g(m) = −c·k·m + α·d·(m_B·e·m − e²m²/2 − m_B²/2) − c_s·(1 − e·m/m_B)²
    below m_B/e, so m* = (α·d·m_B·e − c·k + 2·c_s·e/m_B) / (α·d·e² + 2·c_s·e²/m_B²)."""
    closed = (ALPHA * D * M_B * E - C * K + 2 * c_s * E / M_B) / (
        ALPHA * D * E * E + 2 * c_s * E * E / M_B**2
    )
    assert closed < M_B / E  # the shortfall term is active at the optimum
    assert _best(c_s, 0.0) == pytest.approx(closed, abs=0.01)


def test_expected_shortfall_over_the_spread_of_minutes_matches_quadrature():
    """With lognormal spread X (mean 1, log-sd 0.3), g's shortfall term is
    c_s·E[max(0, 1 − e·m·X/m_B)²]; its maximiser agrees with one found by quadrature."""
    sd, c_s = 0.3, 200.0

    def g(m: float) -> float:
        def integrand(z: float) -> float:
            x = m * math.exp(sd * z - 0.5 * sd * sd)
            short = max(0.0, 1.0 - E * x / M_B)
            return short * short * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

        short, _ = integrate.quad(integrand, -10, 10, limit=200)
        benefit = D * (M_B * E * m - 0.5 * E * E * m * m * math.exp(sd * sd) - 0.5 * M_B**2)
        return -C * K * m + ALPHA * benefit - c_s * short

    res = optimize.minimize_scalar(lambda m: -g(m), bounds=(0, 240), method="bounded")
    # Gauss-Hermite on a kinked integrand: a tenth of a minute
    assert _best(c_s, sd) == pytest.approx(res.x, abs=0.2)
    # and the value function itself agrees at a few points
    for m in (20.0, 60.0, 95.0):
        v = therapy_day_value(
            np.array([[m]]),
            np.zeros((1, 1)),
            cost_per_minute=C,
            staff=np.array([[K]]),
            effective=np.array([[E]]),
            altruism=np.array([[ALPHA]]),
            curvature=D,
            optimal_minutes=M_B,
            sd=sd,
            shortfall_cost=np.array([[c_s]]),
        )
        assert v[0, 0] == pytest.approx(g(m), rel=1e-4, abs=1e-3)


def test_bearing_event_costs_raises_the_best_minutes():
    """The more of an event's cost a provider bears, the more minutes it plans; with spread
    it plans past m_B/e to keep low days from falling short."""
    assert _best(0.0, 0.2) < _best(100.0, 0.2) < M_B / E < _best(1000.0, 0.2) < 240.0


def _snf(offset: float, risk: float | None = None, months: int = 25):
    extra = [
        "population.patients=20000",
        f"months={months}",
        "behaviour.mode=fixed",
        "replications=1",
        "settings.snf.therapy.minutes_sd=0",
        "settings.snf.therapy.staffing.slack=1",  # staff never ration minutes here
        f"settings.snf.therapy.initial_offset={offset}",
    ]
    if risk is not None:
        extra.append(f"settings.snf.therapy.shortfall_risk={risk}")
    scn = load_scenario(FROZEN / "snf_payment_reform.toml", extra)
    # therapy's own effect, in the closed cohort (the scenario without its life course)
    scn = validate_scenario({**scn.model_dump(mode="json"), "life": None}, "test")
    df = run(scn).monthly
    # from month 12: therapist staff have grown with the SNF's first admissions
    return (
        df[(df["arm"] == "legacy") & (df["month"] >= 12)]
        .groupby("setting")[["function_gain", "adverse_events", "service_units"]]
        .sum()
    )


@pytest.fixture(scope="module")
def at_optimum():
    """Planned 10 minutes a day past m_B: with 2% of minutes shared (worth 0.6 of an individual
    minute) the effective minutes are ≈ 99 ≥ m_B, so no patient falls short."""
    return _snf(10.0)


def test_therapy_past_the_optimum_does_not_lower_function(at_optimum):
    """Minutes above m_B add no function (the days' gain stops at q_B the same way) and no
    risk: the SNF's function outcomes and events are those of optimal therapy. (The plan of
    +60 minutes a day is also what staffing rations first; both stay above m_B.)"""
    over = _snf(60.0)
    assert over.loc["snf", "service_units"] == at_optimum.loc["snf", "service_units"]
    assert over.loc["snf", "function_gain"] == pytest.approx(at_optimum.loc["snf", "function_gain"])
    assert over.loc["snf", "adverse_events"] == at_optimum.loc["snf", "adverse_events"]


def test_therapy_short_of_the_optimum_lowers_function_and_adds_events(at_optimum):
    """Same patients, same draws: half the optimal minutes loses function, and the added risk
    can only turn draws into events (more events, and more readmitted to hospital); with the
    risk switched off the events are those of optimal therapy."""
    short = _snf(-45.0)
    assert short.loc["snf", "function_gain"] < at_optimum.loc["snf", "function_gain"]
    assert short.loc["snf", "adverse_events"] > at_optimum.loc["snf", "adverse_events"]
    no_risk = _snf(-45.0, risk=0.0)
    assert no_risk.loc["snf", "adverse_events"] == at_optimum.loc["snf", "adverse_events"]
