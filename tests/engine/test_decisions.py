"""The provider's decisions at the contract's prices (sim/engine/decisions.py): the closed-form
optima [@ellis1986] on the whole-unit grid, plans drawn to thresholds and stopped by
declining per diems, and the extensive margin's signs."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.decisions import Terms, acceptance, case_value, objective, plan
from sim.engine.payment.prices import Prices, from_total, straight

D = 60.0  # benefit curvature d (USD per unit²)
C = 20.0  # marginal cost per unit


def terms(n: int, alpha: float = 0.5, per_event: float = 0.0, h: float = 0.0) -> Terms:
    return Terms(
        benefit_weight=np.full(n, alpha),
        per_event=np.full(n, per_event),
        per_point=np.zeros(n),
        marginal_cost=C,
        curvature=D,
        shortfall_risk=h,
        value_per_point=1_000.0,
    )


@pytest.mark.parametrize(
    ("fee", "closed_form"),
    [
        (30.0, lambda qb, a: qb + (30.0 - C) / (a * D)),  # FFS: q_B + (p − c)/(α·d)
        (0.0, lambda qb, a: qb - C / (a * D)),  # capitation / bundle: q_B − c/(α·d)
        (12.0, lambda qb, a: qb - (C - 12.0) / (a * D)),  # blend: q_B − (c − p')/(α·d)
    ],
)
def test_a_straight_schedule_gives_the_closed_form_to_the_nearest_unit(fee, closed_form):
    """With a price per unit p the best plan is the whole number nearest the closed form of
    [@ellis1986], for patients of different needs and providers of different altruism."""
    need = np.array([8.0, 12.3, 20.0, 15.5])
    alpha = np.array([0.5, 0.8, 1.0, 0.3])
    t = Terms(alpha, np.zeros(4), np.zeros(4), C, D, 0.0, 1.0)
    best = plan(straight(fee, 4, 60), need, np.ones(4), t)
    want = np.clip(closed_form(need, alpha), 0, 60)
    assert np.all(np.abs(best.units - want) <= 0.5 + 1e-9)
    # and it is the best whole number: no neighbour does better
    value = objective(straight(fee, 4, 60), need, np.ones(4), t)
    for i, k in enumerate(best.units):
        assert value[i, k] >= value[i, max(k - 1, 0)] and value[i, k] >= value[i, min(k + 1, 60)]


def test_a_months_long_plan_spreads_the_units():
    """Over m months the plan is m times the monthly closed form (the units spread evenly)."""
    need = np.array([10.0])
    best = plan(straight(50.0, 1, 90), need, np.array([3.0]), terms(1))
    assert best.units[0] == 3 * 11  # 3 × (10 + 30/(0.5·60))
    assert best.per_month[0] == pytest.approx(11.0)


def test_a_threshold_draws_the_plan_to_it():
    """A period paid per visit ($30) below 4 visits and $900 from the 4th: a patient whose
    optimum under the per-visit price is 2 visits gets 4 (bunching at the threshold)."""

    def total(v):
        return np.where(v < 4, 30.0 * v, 900.0)

    prices = from_total(total, np.zeros(1), 20)
    straight_best = plan(straight(30.0, 1, 20), np.array([2.0]), np.ones(1), terms(1))
    assert straight_best.units[0] == round(2 + (30.0 - C) / (0.5 * D))  # 2
    assert plan(prices, np.array([2.0]), np.ones(1), terms(1)).units[0] == 4
    # once the period has its 4 visits, further visits earn nothing: q_B − c/(α·d)
    after = from_total(total, np.array([4.0]), 20)
    assert plan(after, np.array([2.0]), np.ones(1), terms(1)).units[0] == round(2 - C / (0.5 * D))


def test_a_declining_per_diem_stops_the_stay_where_a_day_stops_paying():
    """Day-based pay ($400 a day to day 20, $150 after; cost $300 a day, a patient who would
    gain from 30 days): the provider stops at day 20 when altruism adds little (optimal
    stopping), and keeps going when it weighs the patient's benefit."""
    days = np.arange(61, dtype=np.float64)
    sched = np.cumsum(np.concatenate([[0.0], np.where(days[:-1] < 20, 400.0, 150.0)]))
    prices = Prices(sched[None, :], np.zeros(1))
    t = Terms(np.array([0.02]), np.zeros(1), np.zeros(1), 300.0, 1.0, 0.0, 1.0)
    assert plan(prices, np.array([30.0]), np.ones(1), t).units[0] == 20
    t = Terms(np.array([40.0]), np.zeros(1), np.zeros(1), 300.0, 1.0, 0.0, 1.0)
    assert plan(prices, np.array([30.0]), np.ones(1), t).units[0] > 20


def test_under_treatment_risk_bends_the_objective_below_the_optimum():
    """What an adverse event costs the provider, with risk rising with the shortfall, keeps a
    capitated plan nearer the patient optimum (q_B − c/(α·d + 2·e·h) instead of
    q_B − c/(α·d))."""
    need = np.array([10.0])
    loose = plan(straight(0.0, 1, 30), need, np.ones(1), terms(1)).units[0]
    tight = plan(straight(0.0, 1, 30), need, np.ones(1), terms(1, per_event=5_000.0, h=0.01))
    assert loose == round(10 - C / (0.5 * D))
    assert tight.units[0] == round(10 - C / (0.5 * D + 2 * 5_000.0 * 0.01))


def _case(prices, need, alt, alpha=0.5, periods=1.0):
    n = need.size
    t = terms(n, alpha=alpha)
    best = plan(prices, need, np.ones(n), t)
    return case_value(prices, best, need, np.full(n, periods), alt, t)


def test_a_higher_price_per_case_raises_admissions():
    """A per-case price rise raises the value of every case and so the probability of taking
    it, most for discretionary cases (whose value is near the margin)."""
    need = np.array([8.0, 8.0])
    alt = np.array([0.0, 0.9])  # an urgent case, a discretionary one
    low = _case(straight(0.0, 2, 30, case=np.full(2, 100.0)), need, alt)
    high = _case(straight(0.0, 2, 30, case=np.full(2, 300.0)), need, alt)
    np.testing.assert_allclose(high - low, 200.0)
    assert np.all(acceptance(high, 100.0) > acceptance(low, 100.0))
    assert acceptance(low, 100.0)[0] > 0.99  # an urgent case is taken whatever the price
    rise = acceptance(high, 100.0) - acceptance(low, 100.0)
    assert rise[1] > rise[0]


def test_a_fee_rise_raises_the_patients_treated():
    """Under fee-for-service a higher fee makes every case worth more: more patients are
    treated (the sign the issue found wrong)."""
    need = np.array([4.0, 8.0, 12.0])
    alt = np.full(3, 0.95)
    low = _case(straight(18.0, 3, 40), need, alt)
    high = _case(straight(26.0, 3, 40), need, alt)
    assert np.all(high > low)
    assert acceptance(high, 200.0).sum() > acceptance(low, 200.0).sum()


def test_a_per_beneficiary_limit_drops_heavy_users_first():
    """At a binding per-beneficiary limit L a case earns L and its units nothing; a provider
    that must give a patient it takes on at least a share φ of its optimum (the standard of
    care) and weighs its benefit little plans exactly that floor, so a case is worth
    V = L − c·φ·q_B + α·d·φ·(1 − φ/2)·q_B²: it falls with the patient's need below
    q̄ = c/(2·α·d·(1 − φ/2)), and heavy users are turned away first."""
    alpha, phi, limit = 0.01, 0.6, 1_500.0
    need = np.array([3.0, 10.0, 20.0])  # light, average and heavy users, all below q̄
    assert need.max() < C / (2 * alpha * D * (1 - phi / 2))
    n = need.size
    t = terms(n, alpha=alpha)
    prices = straight(0.0, n, 60, case=np.full(n, limit))
    floor = phi * need
    best = plan(prices, need, np.ones(n), t, floor=np.ceil(floor))
    v = case_value(prices, best, need, np.ones(n), np.zeros(n), t)
    k = best.units.astype(float)
    np.testing.assert_allclose(k, np.ceil(floor))  # the floor binds
    np.testing.assert_allclose(v, limit - C * k + alpha * D * k * (need - 0.5 * k))
    assert v[0] > v[1] > v[2]
    p = acceptance(v, 100.0)
    assert p[0] > p[1] > p[2]


def test_a_global_budgets_volume_share_lowers_discretionary_admissions():
    """A global budget pays only its volume share of each unit's fee: cases are worth less
    than under the fee, and discretionary cases, near the margin, are taken less often;
    urgent ones still are."""
    need = np.array([6.0, 6.0])
    alt = np.array([0.0, 0.85])
    fee = _case(straight(40.0, 2, 30), need, alt)
    budget = _case(straight(0.5 * 40.0, 2, 30), need, alt)
    assert np.all(budget < fee)
    p_fee, p_budget = acceptance(fee, 50.0), acceptance(budget, 50.0)
    assert p_budget[1] < p_fee[1]
    assert p_budget[0] > 0.99


def test_acceptance_is_a_logit_or_a_threshold():
    """σ > 0: the logistic curve, ½ at value 0; σ = 0: take exactly the cases worth ≥ 0."""
    np.testing.assert_allclose(acceptance(np.array([0.0, 100.0]), 100.0),
                               [0.5, 1 / (1 + np.exp(-1))])  # fmt: skip
    np.testing.assert_array_equal(acceptance(np.array([-1.0, 0.0, 5.0]), 0.0), [0, 1, 1])
