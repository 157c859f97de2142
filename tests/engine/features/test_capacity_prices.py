"""Capacity priced by the contract (``supply.capacity.target = "price"``) and rationing that
acts on admissions (``supply.capacity.ration_admissions``): the newsvendor's capacity against
its closed form, the shadow price of capacity by hand, and their signs in the model — a payer
price rise expands capacity, a contract that pays nothing per unit holds none beyond planned
demand, a congested provider turns away discretionary cases before urgent ones."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import default_world, one_setting
from scipy.stats import norm

from sim.engine.features.capacity import price_target, shadow_price
from sim.errors import ScenarioError
from sim.experiments.run import run


def test_the_price_target_is_the_newsvendors_quantity():
    """A unit earning m = $50 and costing c_K = $4 to hold is worth holding while the chance
    it is used exceeds c_K/m: K* = D·(1 + cv·Φ⁻¹(1 − 4/50)); more earnings, more capacity; at
    most planned demand's median (K* = D) where a unit earns less than twice its cost, or
    nothing (capitation: −marginal cost)."""
    demand = np.full(5, 1_000.0)
    earnings = np.array([50.0, 80.0, 8.0, 0.0, -40.0])
    got = price_target(demand, earnings, 4.0, 0.1)
    assert got[0] == pytest.approx(1_000.0 * (1.0 + 0.1 * norm.ppf(1.0 - 4.0 / 50.0)))
    assert got[1] > got[0] > 1_000.0
    np.testing.assert_allclose(got[2:], 1_000.0)
    assert price_target(np.array([10.0]), np.array([1e9]), 1.0, 0.1)[0] == pytest.approx(
        10.0 * (1.0 + 0.1 * norm.ppf(0.999))
    )


def test_the_shadow_price_is_what_a_rationed_unit_was_worth():
    """Provider 0 cut 2 units worth $10 each and 3 worth $20 ($16 a unit); provider 1 cut one
    unit it was glad to lose (−$5: floored at 0); provider 2 cut nothing."""
    got = shadow_price(
        np.array([2.0, 3.0, 1.0, 0.0]),
        np.array([10.0, 20.0, -5.0, 99.0]),
        np.array([0, 0, 1, 2]),
        3,
    )
    np.testing.assert_allclose(got, [16.0, 0.0, 0.0])


#: providers at their closed-form practice from the start (planned demand does not drift while
#: capacity follows it with a lag)
PRICE = {
    "supply": {"capacity": {"enabled": True, "target": "price", "warmup_months": 2}},
    "behaviour": {"mode": "optimal", "imitation_probability": 0.0},
}


def _late(m, column):
    return m[m.month >= 8].groupby("arm")[column].sum()


def test_a_payer_price_rise_expands_capacity():
    """Under fee-for-service a 30% higher fee makes a unit of capacity earn more, so providers
    hold more of it over their planned units (and a lower fee, less); capitation, which pays
    nothing per unit, holds none beyond planned demand. With capacity following demand alone
    the buffer is the same 10% under every fee."""
    arms = [
        {"name": "low", "contracts": [{"model": "ffs", "fee_multiplier": 0.8}]},
        {"name": "base", "contracts": [{"model": "ffs"}]},
        {"name": "high", "contracts": [{"model": "ffs", "fee_multiplier": 1.3}]},
        {"name": "capitation", "contracts": [{"model": "capitation", "pmpm": 40.0}]},
    ]
    m = run(one_setting(**PRICE, arms=arms, months=14)).monthly
    earned = _late(m, "unit_earnings")
    assert earned["low"] < earned["base"] < earned["high"]
    buffer = _late(m, "capacity_units") / _late(m, "demand_units")
    assert buffer["low"] < buffer["base"] < buffer["high"]
    # capitation: no buffer (and, losing money here, it expands no further and shrinks)
    assert buffer["capitation"] < 1.0 < buffer["low"]
    demand = one_setting(
        supply={"capacity": {"enabled": True, "warmup_months": 2}},
        behaviour=PRICE["behaviour"],
        arms=arms,
        months=14,
    )
    m = run(demand).monthly
    same = (_late(m, "capacity_units") / _late(m, "demand_units"))[["low", "base", "high"]]
    assert same.max() - same.min() < 0.1 * (buffer["high"] - buffer["low"])


CONGESTED = {
    "behaviour": {"mode": "best_response", "admission": {"enabled": True}},
    "supply": {
        "participation": {"enabled": False},
        "capacity": {"enabled": True, "initial": 0.8, "warmup_months": 24},
    },
    "settings": {
        "outpatient_therapy": {"need_probability": 0.03, "admission": {"discretionary_share": 0.5}},
        "primary_care": {"need_probability": 0.0},
    },
    "arms": [{"name": "ffs", "contracts": [{"model": "ffs"}]}],
    "months": 8,
    "population": {"patients": 10_000},
}


def test_a_congested_provider_turns_away_discretionary_cases_first():
    """Providers short of capacity (20% below planned demand throughout): weighing the shadow
    price of capacity against each new case, they turn away discretionary cases — worth little
    more than their alternative — far more than urgent ones, which remain worth taking."""
    rates = {}
    for ration in (False, True):
        over = {**CONGESTED, "supply": {**CONGESTED["supply"]}}
        over["supply"]["capacity"] = {
            **CONGESTED["supply"]["capacity"],
            "ration_admissions": ration,
        }
        m = run(default_world(**over)).monthly
        d = m[(m.setting == "outpatient_therapy") & (m.month >= 2)]
        taken = (d.admission_rate * d.cases_decided).sum()
        disc = (d.discretionary_admission_rate * d.discretionary_cases).sum()
        n_disc = d.discretionary_cases.sum()
        urgent = (taken - disc) / (d.cases_decided.sum() - n_disc)
        rates[ration] = (disc / n_disc, urgent)
        if ration:
            assert (d.shadow_price > 0).any()
    (d_off, u_off), (d_on, u_on) = rates[False], rates[True]
    assert d_on < d_off and u_on <= u_off
    assert d_off - d_on > 2 * (u_off - u_on)
    assert u_on > d_on


def test_rationing_admissions_needs_the_extensive_margin():
    """Capacity rations cases through the providers' admission decisions: refused without
    them, naming the field."""
    with pytest.raises((ScenarioError, ValueError), match="ration_admissions"):
        one_setting(supply={"capacity": {"enabled": True, "ration_admissions": True}})
