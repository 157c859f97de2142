"""The payment designs the validation cases replay, against hand-worked examples: cost-based
reimbursement with the interim payment system's limits, the readmission penalty, the all-payer
global budget, the ACO, the annual therapy threshold and capitation's risk-sharing terms; and
money conserved under each of them."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import VISIT_SETTING, default_world, one_setting

from sim.engine.model import HealthSystemModel
from sim.engine.payment import REGISTRY, Claims, Panel
from sim.engine.payment.aco import reconcile
from sim.engine.payment.base import Base
from sim.engine.payment.capitation import corridor, stop_loss
from sim.engine.payment.readmission_penalty import penalty_rates
from sim.engine.payment.therapy_threshold import paid_share
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import load_scenario


def claims(
    provider,
    *,
    fee=None,
    cost=None,
    visits=None,
    patient=None,
    new=None,
    year=2000,
    month_of_year=1,
    adverse=None,
    readmission=None,
    risk=None,
    rate=1.0,
) -> Claims:
    """Claims of a few patients, with the fields a test names and neutral values elsewhere."""
    provider = np.asarray(provider)
    n = provider.size
    ones = np.ones(n)
    return Claims(
        provider=provider,
        fee_value=np.asarray(fee if fee is not None else np.zeros(n), float),
        units=np.asarray(visits if visits is not None else np.ones(n, int)),
        visits=np.asarray(visits if visits is not None else np.ones(n, int)),
        new_episode=np.asarray(new if new is not None else np.ones(n, bool)),
        condition=np.zeros(n, int),
        function_at_start=np.full(n, 50.0),
        risk=np.asarray(risk if risk is not None else ones, float),
        rate_multiplier=rate,
        patient=np.asarray(patient if patient is not None else np.arange(n)),
        cost=None if cost is None else np.asarray(cost, float),
        adverse=None if adverse is None else np.asarray(adverse, bool),
        readmission=None if readmission is None else np.asarray(readmission, bool),
        year=year,
        month_of_year=month_of_year,
    )


def panel(members, risk_sum=None, rate=1.0) -> Panel:
    members = np.asarray(members, float)
    return Panel(
        members=members,
        risk_sum=members if risk_sum is None else np.asarray(risk_sum, float),
        rate_multiplier=rate,
    )


def contract(model: str, **params):
    cls = REGISTRY[model]
    return cls(cls.Params.model_validate(params))


# ---------------------------------------------------------------------------------------------
# cost-based reimbursement


def test_cost_based_pays_reported_cost_less_the_cost_share():
    """With no limits the provider is paid (1 − s) × (cost + overhead × units)."""
    c = contract("cost_based", cost_share=0.2, overhead_per_unit=10.0)
    st = c.settle(claims([0, 0, 1], cost=[100.0, 300.0, 50.0], visits=[2, 3, 1]), panel([2, 1]))
    np.testing.assert_allclose(st.allowed, [0.8 * 120, 0.8 * 330, 0.8 * 60])
    np.testing.assert_allclose(st.lump, [0.0, 0.0])


def test_the_per_visit_limit_caps_the_year_and_spreads_by_cost():
    """Provider 0: cost 400 over 5 visits, limit $70 a visit → paid 350, split 100:300;
    provider 1: cost 50 for 1 visit, under the limit → 50."""
    c = contract("cost_based", per_visit_limit=70.0)
    st = c.settle(claims([0, 0, 1], cost=[100.0, 300.0, 50.0], visits=[2, 3, 1]), panel([2, 1]))
    np.testing.assert_allclose(st.allowed, [87.5, 262.5, 50.0])


def test_the_per_beneficiary_limit_counts_each_beneficiary_once_a_year():
    """Limit $150 per beneficiary. Month 1: patients 0 and 1, cost 200 → paid 200 (2 × 150 =
    300 allows it). Month 2: patient 0 again, cost 200 → year cost 400, limit still 300 → paid
    100 more. Next year the count starts afresh: patient 0, cost 200 → 150."""
    c = contract("cost_based", per_beneficiary_limit=150.0)
    p = panel([2])
    st = c.settle(claims([0, 0], cost=[100.0, 100.0], patient=[0, 1]), p)
    np.testing.assert_allclose(st.allowed, [100.0, 100.0])
    st = c.settle(claims([0], cost=[200.0], patient=[0]), p)
    np.testing.assert_allclose(st.allowed, [100.0])
    st = c.settle(claims([0], cost=[200.0], patient=[0], year=2001), p)
    np.testing.assert_allclose(st.allowed, [150.0])


def test_agency_specific_limits_blend_the_agencys_own_and_every_agencys_payment():
    """base_months: agency 0 was paid 1,000 for 5 episodes (200 each), agency 1 600 for 2
    (300), agency 2 none: every agency's 1,600 / 7. Limits 0.98 × (0.75 × own + 0.25 ×
    every): agency 0 at 2 beneficiaries and cost 1,000 is paid 2 × its limit."""
    c = contract("cost_based", base_months=[0, 12])
    every = 1600.0 / 7.0
    c.begin(Base(np.array([1000.0, 600.0, 0.0]), np.ones(3), np.ones(3), np.array([5.0, 2.0, 0.0])))
    expect = 0.98 * (0.75 * np.array([200.0, 300.0, every]) + 0.25 * every)
    np.testing.assert_allclose(c._limits(3), expect)
    st = c.settle(claims([0, 0], cost=[500.0, 500.0], patient=[0, 1]), panel([2, 1, 1]))
    np.testing.assert_allclose(st.allowed.sum(), 2 * expect[0])


def test_one_limit_or_agency_specific_ones():
    with pytest.raises(ValueError, match="not both"):
        contract("cost_based", per_beneficiary_limit=100.0, base_months=[0, 12])


def _cost_based_world(**params):
    arm = {"name": "cost", "contracts": [{"model": "cost_based", **params}]}
    return one_setting(arms=[arm], behaviour={"mode": "optimal"})


def test_full_cost_reimbursement_puts_the_closed_form_at_the_patient_optimum():
    """s = 0, no overhead: a unit earns its marginal cost, so θ* = 0 ([@ellis1986]:
    α·B'(q) = s·C'(q))."""
    m = HealthSystemModel(_cost_based_world())
    np.testing.assert_allclose(m.optimal_theta(0), 0.0, atol=1e-12)


def test_cost_share_and_overhead_move_the_closed_form_as_ellis_mcguire():
    """θ* = ((1 − s)(c + o) − c) / (α·d) above the optimum (overhead, s = 0: o/(α·d)), and
    below it the curvature adds the shortfall term."""
    c, d = VISIT_SETTING["marginal_cost"], VISIT_SETTING["benefit_curvature"]
    m = HealthSystemModel(_cost_based_world(overhead_per_unit=20.0))
    alpha = m.world.providers[0].altruism
    np.testing.assert_allclose(m.optimal_theta(0), 20.0 / (alpha * d))
    m = HealthSystemModel(_cost_based_world(cost_share=0.5))
    kappa = m.world.providers[0].shortfall_curvature
    np.testing.assert_allclose(m.optimal_theta(0), -0.5 * c / (alpha * d + kappa))


# ---------------------------------------------------------------------------------------------
# readmission penalty


def test_penalty_rates_from_the_excess_readmission_ratio():
    """O = (3, 1), R = (10, 10): ρ = 0.2, E = (2, 2), ERR = (1.5, 0.5); the first pays the cap
    (3%) with all payments targeted, 1% with 2% of them targeted; the second nothing."""
    o, r = np.array([3.0, 1.0]), np.array([10.0, 10.0])
    np.testing.assert_allclose(penalty_rates(o, r, 0.03, 1.0), [0.03, 0.0])
    np.testing.assert_allclose(penalty_rates(o, r, 0.03, 0.02), [0.01, 0.0])


def test_the_expectation_is_risk_adjusted():
    """Same readmissions, but the first hospital's stays are twice as risky: E = (4, 2) for
    O = (4, 2), so neither is in excess."""
    np.testing.assert_allclose(
        penalty_rates(np.array([4.0, 2.0]), np.array([20.0, 10.0]), 0.03, 1.0), [0.0, 0.0]
    )


def test_the_penalty_applies_the_year_after_the_performance_period():
    """Year 1: no penalty; hospital 0 has 3 readmissions in 10 stays and hospital 1 has 1.
    Year 2: hospital 0's stays pay 3% less, hospital 1's the full price."""
    c = contract("readmission_penalty", base_rate=1000.0, targeted_share=1.0)
    p = panel([10, 10])
    prov = np.repeat([0, 1], 10)
    readm = np.zeros(20, bool)
    readm[[0, 1, 2, 10]] = True
    st = c.settle(claims(prov, readmission=readm, year=2010), p)
    base = st.allowed.copy()
    assert (base > 0).all()
    st = c.settle(claims(prov, readmission=np.zeros(20, bool), year=2011), p)
    np.testing.assert_allclose(st.allowed[:10], 0.97 * base[:10])
    np.testing.assert_allclose(st.allowed[10:], base[10:])


def test_a_readmission_is_priced_at_the_penalties_it_adds():
    """O = (3, 1), R = (10, 10), 2% of payments targeted: hospital 0 pays 1% (below the cap),
    E_0 = 2 readmissions a year, so one more raises its rate by 0.02/2 of a year's base
    payments B_0: its margin is 0.01·B_0; hospital 1 (not in excess) and a hospital at the cap
    (all payments targeted) see none; the model's investments weigh it."""
    prov = np.repeat([0, 1], 10)
    readm = np.zeros(20, bool)
    readm[[0, 1, 2, 10]] = True
    c = contract("readmission_penalty", base_rate=1000.0, targeted_share=0.02)
    p = panel([10, 10])
    np.testing.assert_allclose(c.readmission_margin(2), [0.0, 0.0])  # no history yet
    base = c.settle(claims(prov, readmission=readm, year=2010), p).allowed.copy()
    c.settle(claims(prov, readmission=np.zeros(20, bool), year=2011), p)
    np.testing.assert_allclose(c.rates, [0.01, 0.0])
    np.testing.assert_allclose(c.readmission_margin(2), [0.02 * base[:10].sum() / 2.0, 0.0])
    capped = contract("readmission_penalty", base_rate=1000.0, targeted_share=1.0)
    capped.settle(claims(prov, readmission=readm, year=2010), p)
    capped.settle(claims(prov, readmission=np.zeros(20, bool), year=2011), p)
    np.testing.assert_allclose(capped.readmission_margin(2), [0.0, 0.0])


def test_no_penalty_before_the_first_penalty_year():
    """With first_penalty_year 2012 the 2011 stays pay the full price despite the 2010
    excess; 2012's pay the cap."""
    c = contract("readmission_penalty", base_rate=1000.0, first_penalty_year=2012)
    p = panel([10, 10])
    prov = np.repeat([0, 1], 10)
    readm = np.zeros(20, bool)
    readm[[0, 1, 2, 10]] = True
    full = c.settle(claims(prov, readmission=readm, year=2010), p).allowed.copy()
    np.testing.assert_allclose(
        c.settle(claims(prov, readmission=readm, year=2011), p).allowed, full
    )
    st = c.settle(claims(prov, readmission=readm, year=2012), p)
    np.testing.assert_allclose(st.allowed[:10], 0.97 * full[:10])


# ---------------------------------------------------------------------------------------------
# all-payer global budget


def test_the_global_budget_pays_v_of_the_charges_and_1_minus_v_of_the_target():
    """Target $100 per risk-month, 2 and 3 risk-months, v = 0.25, rates 1.2 × the fee schedule:
    claims 0.3 × fee; lumps 0.75 × (200, 300); the next year the target grows 5%."""
    c = contract(
        "all_payer_budget", budget_pmpm=100.0, volume_share=0.25, rate_level=1.2, annual_update=0.05
    )
    p = panel([2, 3])
    st = c.settle(claims([0, 1], fee=[1000.0, 500.0], year=2014), p)
    np.testing.assert_allclose(st.allowed, [300.0, 150.0])
    np.testing.assert_allclose(st.lump, [150.0, 225.0])
    st = c.settle(claims([0, 1], fee=[1000.0, 500.0], year=2015), p)
    np.testing.assert_allclose(st.lump, [157.5, 236.25])
    assert c.marginal_revenue(np.array([10.0])) == pytest.approx(3.0)


def test_a_fixed_budget_meets_the_target_whatever_the_volume():
    """v = 0: revenue is the target with no charges or with many."""
    c = contract("all_payer_budget", budget_pmpm=100.0, volume_share=0.0)
    for fee in ([0.0], [5000.0]):
        st = c.settle(claims([0], fee=fee), panel([4]))
        assert st.allowed.sum() + st.lump.sum() == pytest.approx(400.0)


def test_a_budget_from_history_is_each_hospitals_own_revenue_per_risk():
    """base_months: hospital 0 earned 600 over 6 risk-months, hospital 1 900 over 3, hospital 2
    nothing on no members: targets 100 and 300 per risk-month (hospital 2 the mean, 1500/9);
    this month's risk sums 2, 3 and 1 give lumps 200, 900 and 166.7 at v = 0."""
    c = contract("all_payer_budget", base_months=[2, 4], volume_share=0.0)
    assert c.base_period() == (2, 4)
    six_three = np.array([6.0, 3.0, 0.0])
    c.begin(Base(np.array([600.0, 900.0, 0.0]), six_three, six_three, np.zeros(3)))
    st = c.settle(claims([0], fee=[1000.0]), panel([2, 3, 1]))
    np.testing.assert_allclose(st.lump, [200.0, 900.0, 1500.0 / 9.0])
    assert st.allowed.sum() == 0.0


@pytest.mark.parametrize(
    "fields", [{}, {"budget_pmpm": 10.0, "base_months": [0, 2]}], ids=["neither", "both"]
)
def test_a_budget_needs_one_target(fields):
    with pytest.raises(ValueError, match="budget_pmpm"):
        contract("all_payer_budget", **fields)


# ---------------------------------------------------------------------------------------------
# ACO


def _reconcile(benchmark, spending, quality=True, loss_rate=0.0):
    return reconcile(
        np.array([benchmark]),
        np.array([spending]),
        np.array([quality]),
        0.5,
        loss_rate,
        0.02,
        0.02,
        0.10,
        0.05,
    )[0]


def test_aco_shares_savings_above_the_minimum_savings_rate():
    """Benchmark 1000: spending 950 saves 5% ≥ 2% → 25; 990 saves 1% → 0; 700 saves 30% →
    150, capped at 10% of the benchmark → 100; failing the quality gate → 0."""
    assert _reconcile(1000.0, 950.0) == pytest.approx(25.0)
    assert _reconcile(1000.0, 990.0) == 0.0
    assert _reconcile(1000.0, 700.0) == pytest.approx(100.0)
    assert _reconcile(1000.0, 950.0, quality=False) == 0.0


def test_aco_losses_are_repaid_only_with_downside_risk():
    """Spending 1100 on a benchmark of 1000: one-sided → 0; loss rate 0.5 → −50; spending
    1200 → −100 capped at 5% → −50; 1010 (1% < 2%) → 0."""
    assert _reconcile(1000.0, 1100.0) == 0.0
    assert _reconcile(1000.0, 1100.0, loss_rate=0.5) == pytest.approx(-50.0)
    assert _reconcile(1000.0, 1200.0, loss_rate=0.5) == pytest.approx(-50.0)
    assert _reconcile(1000.0, 1010.0, loss_rate=0.5) == 0.0


def test_aco_reconciles_each_december_and_rebases_on_its_own_spending():
    """Benchmark $10 per risk-month × 10 risk-months a month, $90 a month of claims: in
    December 12 × 10 saved (10% ≥ MSR) → half, 60; after a one-year agreement the benchmark
    becomes $9 per risk-month (its own spending), so the next year saves nothing."""
    c = contract("aco", benchmark_pmpm=10.0, rebase_years=1, interim_accrual=False)
    p = panel([10])
    paid = []
    for year in (2013, 2014):
        for month in range(1, 13):
            st = c.settle(claims([0], fee=[90.0], year=year, month_of_year=month), p)
            assert st.adjustment is None
            paid.append(float(st.lump.sum()))
    assert paid[11] == pytest.approx(60.0)
    assert sum(paid) == pytest.approx(paid[11])
    np.testing.assert_allclose(c.benchmark_rate, 9.0)


def test_aco_benchmark_is_its_own_history_before_the_first_performance_year():
    """Two ACOs spend $8 and $12 per risk-month in 2011-2012 (paid FFS, nothing moves); from
    2013 each is measured against its own rate: spending 10% below it saves 10% → half."""
    c = contract("aco", first_performance_year=2013, benchmark_years=2, interim_accrual=False)
    p = panel([10, 10])
    for year in (2011, 2012):
        for month in range(1, 13):
            st = c.settle(claims([0, 1], fee=[80.0, 120.0], year=year, month_of_year=month), p)
            np.testing.assert_allclose(st.allowed, [80.0, 120.0])
            assert st.lump.sum() == 0.0
    for month in range(1, 13):
        st = c.settle(claims([0, 1], fee=[72.0, 108.0], year=2013, month_of_year=month), p)
    np.testing.assert_allclose(c.benchmark_rate, [8.0, 12.0])
    np.testing.assert_allclose(st.lump, [0.5 * 12 * 8.0, 0.5 * 12 * 12.0])


def test_aco_without_benchmark_years_says_so():
    """A first performance year at or before the contract's first year leaves no history:
    a clear error, not a zero benchmark."""
    c = contract("aco", first_performance_year=2013)
    with pytest.raises(ValueError, match="no benchmark year"):
        c.settle(claims([0], fee=[10.0], year=2013), panel([1]))


def test_aco_needs_a_benchmark():
    """Neither a benchmark nor a first performance year: a clear error naming both."""
    arm = {"name": "aco", "contracts": [{"model": "aco"}]}
    with pytest.raises(ScenarioError, match="first_performance_year"):
        one_setting(arms=[arm])


@pytest.mark.parametrize("fee", [90.0, 99.0, 120.0])
def test_interim_accrual_trues_up_to_the_rule_payment(fee):
    """Accrued month by month (half the benchmark as a lump, minus half of each claim), the
    year's lumps and reconciliations still add up to the rule's payment: savings of 10%
    → 60; 1% (below the MSR) → 0; a loss (one-sided) → 0. Each month's claim carries −50% of
    its allowed amount."""
    c = contract("aco", benchmark_pmpm=10.0)
    p = panel([10])
    total = 0.0
    for month in range(1, 13):
        st = c.settle(claims([0], fee=[fee], month_of_year=month), p)
        np.testing.assert_allclose(st.adjustment, [-0.5 * fee])
        total += float(st.lump.sum() + st.adjustment.sum())
    want = _reconcile(1200.0, 12 * fee)
    assert total == pytest.approx(want)


def test_aco_quality_gate_counts_adverse_events_per_treated_month():
    """One adverse event in 4 treated patient-months (0.25): gate 0.2 fails; 0.3 passes and
    half of the savings (40 − 20) is paid up to the cap, 10% of the benchmark of 40."""
    for gate, want in ((0.2, 0.0), (0.3, 4.0)):
        c = contract(
            "aco",
            benchmark_pmpm=10.0,
            max_adverse_rate=gate,
            minimum_savings_rate=0.0,
            interim_accrual=False,
        )
        st = c.settle(
            claims(
                [0, 0, 0, 0], fee=[5.0] * 4, adverse=[True, False, False, False], month_of_year=12
            ),
            panel([4]),
        )
        assert st.lump.sum() == pytest.approx(want)


# ---------------------------------------------------------------------------------------------
# therapy threshold


def test_threshold_pays_exceptions_and_denies_at_review():
    """T = 1000, R = 3000, 90% exceptions, half of reviewed claims denied. 800 so far + 400:
    200 below, 200 between → 380 paid, 20 denied. 2900 + 200: 100 between, 100 above →
    90 + 45 = 135 paid, 65 denied."""
    paid, denied = paid_share(
        np.array([800.0, 2900.0]), np.array([400.0, 200.0]), 1000.0, 3000.0, 0.9, 0.5
    )
    np.testing.assert_allclose(paid, [380.0, 135.0])
    np.testing.assert_allclose(denied, [20.0, 65.0])


def test_the_threshold_follows_each_beneficiary_through_the_year():
    """A hard cap of $500: patient 0 is paid 300, then 200 of 300, then nothing; a new
    year starts afresh."""
    c = contract("therapy_threshold", threshold=500.0, exception_rate=0.0)
    p = panel([1])
    got = [
        float(c.settle(claims([0], fee=[300.0], year=y), p).allowed[0])
        for y in (2014, 2014, 2014, 2015)
    ]
    assert got == [300.0, 200.0, 0.0, 300.0]


def test_review_threshold_below_the_threshold_is_refused():
    """A review threshold below the cap is a clear error naming both."""
    arm = {
        "name": "cap",
        "contracts": [
            {"model": "therapy_threshold", "threshold": 2000.0, "review_threshold": 1000.0}
        ],
    }
    with pytest.raises(ScenarioError, match="review_threshold"):
        one_setting(arms=[arm])


# ---------------------------------------------------------------------------------------------
# capitation: stop-loss, risk corridors, quality bonus


def test_stop_loss_reinsures_the_cost_above_the_attachment_point():
    """Attachment 1000, 80%: 900 so far + 200 → 80; 1200 + 100 → 80; 100 + 100 → 0."""
    np.testing.assert_allclose(
        stop_loss(np.array([900.0, 1200.0, 100.0]), np.array([200.0, 100.0, 100.0]), 1000.0, 0.8),
        [80.0, 80.0, 0.0],
    )


def test_risk_corridors_share_beyond_the_band():
    """Target 1000, ±3%, half shared: cost 1100 → payer pays 35; 900 → recovers 35; 1020 →
    nothing."""
    np.testing.assert_allclose(
        corridor(np.array([1100.0, 900.0, 1020.0]), np.full(3, 1000.0), 0.03, 0.5),
        [35.0, -35.0, 0.0],
    )


def test_capitation_settles_stop_loss_monthly_and_corridors_and_bonus_in_december():
    """PMPM 100 × 10 members; one member's cost 1500 a month over an attachment of 2000:
    month 1 nothing, month 2 80% of 1000. December: the year's cost net of recoveries against
    the PMPM revenue, beyond ±5%, half shared; a 2% bonus with no gate."""
    c = contract(
        "capitation",
        pmpm=100.0,
        stop_loss_attachment=2000.0,
        corridor_band=0.05,
        quality_bonus=0.02,
    )
    p = panel([10])
    st = c.settle(claims([0], cost=[1500.0], month_of_year=11), p)
    np.testing.assert_allclose(st.adjustment, [0.0])
    np.testing.assert_allclose(st.lump, [1000.0])
    st = c.settle(claims([0], cost=[1500.0], month_of_year=12), p)
    np.testing.assert_allclose(st.adjustment, [800.0])
    revenue, cost = 2000.0, 3000.0 - 800.0
    want = 0.5 * (cost - 1.05 * revenue) + 0.02 * revenue
    np.testing.assert_allclose(st.lump, [1000.0 + want])


def test_capitation_defaults_share_no_risk():
    """The new terms are off by default: PMPM only, no adjustment."""
    c = contract("capitation", pmpm=100.0)
    st = c.settle(claims([0], cost=[1e6], month_of_year=12), panel([10]))
    assert st.adjustment is None
    np.testing.assert_allclose(st.lump, [1000.0])


# ---------------------------------------------------------------------------------------------
# money conserved under every design

DESIGNS = {
    "cost_based": {
        "model": "cost_based",
        "per_visit_limit": 45.0,
        "per_beneficiary_limit": 120.0,
        "cost_share": 0.1,
    },
    "readmission_penalty": {"model": "readmission_penalty", "base_rate": 200.0},
    "all_payer_budget": {"model": "all_payer_budget", "budget_pmpm": 10.0, "volume_share": 0.5},
    "aco": {
        "model": "aco",
        "benchmark_pmpm": 12.0,
        "loss_rate": 0.5,
        "max_adverse_rate": 0.5,
        "rebase_years": 1,
    },
    "therapy_threshold": {
        "model": "therapy_threshold",
        "threshold": 150.0,
        "exception_rate": 0.7,
        "review_threshold": 300.0,
        "review_denial_rate": 0.5,
    },
    "capitation_shared": {
        "model": "capitation",
        "pmpm": 12.0,
        "stop_loss_attachment": 200.0,
        "corridor_band": 0.02,
        "quality_bonus": 0.01,
    },
}


@pytest.mark.parametrize("design", list(DESIGNS))
def test_money_is_conserved_under_each_design(design):
    """Over 14 months (two Decembers), what payers paid equals what providers received net of
    patients' cost sharing, in the ledgers and the monthly table."""
    sc = default_world(
        months=14, start="2013-11-01", arms=[{"name": design, "contracts": [DESIGNS[design]]}]
    )
    result = run(sc)
    m = result.monthly
    np.testing.assert_allclose(m["provider_revenue"], m["payer_payments"] + m["oop"])
    ledger = result.ledgers[0]
    received = ledger["providers_received"]
    assert received == pytest.approx(ledger["payer_paid"] + ledger["patients_paid"], rel=1e-9)
    assert m["payer_payments"].sum() == pytest.approx(ledger["payer_paid"], rel=1e-9)


def test_money_is_conserved_under_the_readmission_penalty_with_penalties_applied():
    """The HRRP replay (a care pathway, so readmissions exist), small: by 2014 some hospitals
    pay a penalty, stays are paid less than the DRG arm's, and the ledgers still balance. (The
    penalty is relative to the hospitals' average: small hospitals, so that there are several.)"""
    sc = load_scenario(
        "validation/scenarios/hrrp.toml",
        [
            "population.patients=8000",
            "replications=1",
            "months=62",
            "settings.hospital.providers.members_per_provider=1500",
        ],
    )
    m = HealthSystemModel(sc, "hrrp")
    for _ in range(62):
        m.step()
    penalty = m.payers[0].contracts[0]
    assert penalty.name == "readmission_penalty" and (penalty.rates > 0).any()
    assert (penalty.rates <= penalty.params.penalty_cap).all()  # 30% of the modelled stays
    result = run(sc)
    ledger = result.ledgers[1]
    assert ledger["arm"] == "hrrp"
    assert ledger["providers_received"] == pytest.approx(
        ledger["payer_paid"] + ledger["patients_paid"], rel=1e-9
    )
    x = result.monthly[(result.monthly["setting"] == "hospital") & (result.monthly["month"] >= 48)]
    by_arm = x.groupby("arm")["payer_payments"].sum()
    assert by_arm["hrrp"] < by_arm["drg"]


def test_denied_claims_are_reported_and_paid_by_nobody():
    """Under a hard cap the denied amounts are the fee-schedule value not paid: allowed +
    denied = the fee schedule (payer rate level included), and claims_denied sums them."""
    arm = {
        "name": "cap",
        "contracts": [{"model": "therapy_threshold", "threshold": 100.0, "exception_rate": 0.0}],
    }
    sc = default_world(months=4, arms=[arm])
    m = HealthSystemModel(sc)
    denied = 0.0
    for _ in range(4):
        m.step()
        for care in m.month_care:
            paid = care.paid
            for g, b in enumerate(care.by_payer):
                rate = m.payers[g].rate_multiplier
                value = np.where(care.sought[b], care.fee_value[b] * rate, 0.0)
                np.testing.assert_allclose(paid.allowed[b] + paid.denied[b], value)
            denied += float(paid.denied.sum())
    assert denied > 0
    assert run(sc).monthly["claims_denied"].sum() == pytest.approx(denied)


def test_contract_fields_are_validated_with_the_field_named():
    """A bad value of a new contract field names the field."""
    bad = {"name": "x", "contracts": [{"model": "cost_based", "cost_share": 1.5}]}
    with pytest.raises(ScenarioError, match="cost_share"):
        one_setting(arms=[bad])
