"""What contracts pay for the provider's decisions (sim/engine/payment/prices.py): every
shipped payment model's schedule of units and price of a case, against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.payment import REGISTRY, Claims, Panel
from sim.engine.payment.prices import Position, Prices, straight

CONDITIONS = ("general",)


def position(n=1, **kw) -> Position:
    """``n`` patients of provider 0 at the start of a period, fee $30 a unit, weight 1."""
    base = dict(
        provider=np.zeros(n, np.int64),
        patient=np.arange(n, dtype=np.int64),
        fee_per_unit=np.full(n, 30.0),
        condition=np.zeros(n, np.int64),
        function=np.full(n, 60.0),
        risk=np.ones(n),
        rate_multiplier=1.0,
        marginal_cost=20.0,
        units_per_visit=1.0,
        period_units=np.zeros(n, np.int64),
        episode_units=np.zeros(n, np.int64),
        months_left=np.ones(n, np.int64),
        episode_month=np.zeros(n, np.int64),
        period_value=np.zeros(n),
        new_episode=np.ones(n, bool),
        readmission=np.zeros(n, bool),
        month=0,
        year=2025,
        month_of_year=1,
    )
    base.update(kw)
    return Position(**base)


def contract(name: str, **params):
    cls = REGISTRY[name]
    return cls(cls.Params(**params), CONDITIONS)


def test_a_fee_is_a_straight_schedule():
    """FFS: every unit earns the fee × the contract's multiplier; a case earns nothing."""
    p = contract("ffs", fee_multiplier=1.1).prices(position(rate_multiplier=1.0), 4)
    np.testing.assert_allclose(p.schedule[0], [0, 33, 66, 99, 132])
    np.testing.assert_allclose(p.unit_price()[0], 33.0)
    assert p.case[0] == 0.0


def test_per_member_payments_price_no_decision():
    """Capitation pays per member whatever is done: no unit and no case earns anything; the
    blend's units earn the fee fraction."""
    p = contract("capitation", pmpm=100.0).prices(position(), 3)
    assert not p.schedule.any() and not p.case.any()
    p = contract("blended", pmpm=50.0, fee_fraction=0.4).prices(position(), 3)
    np.testing.assert_allclose(p.schedule[0], [0, 12, 24, 36])


def test_a_price_per_case_pays_the_case_not_its_units():
    """A DRG-like bundle: the case earns base rate × weight × the payer's level when it
    starts, nothing in later months; days earn nothing."""
    c = contract("bundled", base_rate=3_000.0, comorbidity_weights=[0.9, 1.0, 1.25])
    pos = position(2, risk=np.array([1.0, 2.0]), new_episode=np.array([True, False]),
                   rate_multiplier=1.5)  # fmt: skip
    p = c.prices(pos, 5)
    assert not p.schedule.any()
    np.testing.assert_allclose(p.case, [3_000.0 * 1.0 * 1.5, 0.0])


def test_the_readmission_penalty_prices_a_readmission():
    """HRRP: a stay earns its price less the hospital's penalty rate; a readmission costs the
    hospital, in addition, what it adds to its penalties (its readmission margin)."""
    c = contract("readmission_penalty", base_rate=10_000.0)
    c.rates = np.array([0.02, 0.0])
    c.margin = np.array([5_000.0, 0.0])
    pos = position(
        3,
        provider=np.array([0, 0, 1]),
        readmission=np.array([False, True, True]),
    )
    p = c.prices(pos, 3)
    np.testing.assert_allclose(p.case, [9_800.0, 9_800.0 - 5_000.0, 10_000.0])


def _ips(**limits):
    return contract(
        "cost_based", per_beneficiary_limit=limits.get("ben"), per_visit_limit=limits.get("visit")
    )


def _settle_months(c, months: int, visits_per_patient: int, patients: int, cost_per_visit: float):
    """Settle ``months`` months of one provider's claims: ``patients`` beneficiaries a month,
    new ones each month, each with ``visits_per_patient`` visits of cost ``cost_per_visit``."""
    for m in range(months):
        pat = np.arange(m * patients, (m + 1) * patients, dtype=np.int64)
        n = pat.size
        claims = Claims(
            provider=np.zeros(n, np.int64),
            fee_value=np.zeros(n),
            units=np.full(n, visits_per_patient),
            visits=np.full(n, visits_per_patient),
            new_episode=np.ones(n, bool),
            condition=np.zeros(n, np.int64),
            function_at_start=np.full(n, 60.0),
            risk=np.ones(n),
            rate_multiplier=1.0,
            patient=pat,
            cost=np.full(n, visits_per_patient * cost_per_visit),
            year=1998,
            month_of_year=m + 1,
        )
        c.settle(claims, Panel(np.ones(1), np.ones(1), 1.0))


def test_a_binding_per_beneficiary_limit_prices_the_beneficiary_not_the_visit():
    """IPS: an agency whose year is heading to its per-beneficiary limit (30 visits a
    beneficiary at $60 = $1,800 of cost against a $1,000 limit) earns nothing for one more
    visit and the limit for one more beneficiary — none for one it already served this year."""
    c = _ips(ben=1_000.0, visit=100.0)
    _settle_months(c, 3, visits_per_patient=30, patients=10, cost_per_visit=60.0)
    assert c.binding(1, 1998)[0] == 2
    pos = position(2, patient=np.array([5, 10_000]), year=1998, month_of_year=4,
                   marginal_cost=60.0)  # fmt: skip
    p = c.prices(pos, 4)
    assert not p.schedule.any()  # the marginal visit earns 0
    np.testing.assert_allclose(p.case, [0.0, 1_000.0])  # served already; a new beneficiary


def test_below_the_limits_a_unit_earns_its_reimbursed_cost():
    """IPS: an agency of light users (3 visits at $60 against a $1,000 limit and a $100
    per-visit limit) is paid its cost: a unit earns (1 − s)·(c + overhead), a case nothing."""
    c = _ips(ben=1_000.0, visit=100.0)
    _settle_months(c, 3, visits_per_patient=3, patients=10, cost_per_visit=60.0)
    assert c.binding(1, 1998)[0] == 0
    p = c.prices(position(1, patient=np.array([10_000]), year=1998, marginal_cost=60.0), 2)
    np.testing.assert_allclose(p.schedule[0], [0.0, 60.0, 120.0])
    assert p.case[0] == 0.0


def test_a_binding_per_visit_limit_pays_the_limit_per_visit():
    """IPS: visits costing $150 against a $100 per-visit limit (and no beneficiary limit):
    one more visit earns the limit; with 2 units a visit, a unit earns half of it."""
    c = _ips(visit=100.0)
    _settle_months(c, 2, visits_per_patient=3, patients=10, cost_per_visit=150.0)
    assert c.binding(1, 1998)[0] == 1
    p = c.prices(position(1, year=1998, units_per_visit=2.0), 2)
    np.testing.assert_allclose(p.schedule[0], [0.0, 50.0, 100.0])


def test_the_therapy_cap_lowers_the_price_where_the_patient_reaches_it():
    """Therapy threshold $2,410 with half of the claims above it excepted: a beneficiary with
    $2,350 so far this year is paid $30 for each of two more units, then $15."""
    c = contract("therapy_threshold", threshold=2_410.0, exception_rate=0.5)
    c._year = 2025
    c._allowed = np.array([2_350.0])
    p = c.prices(position(1, year=2025), 4)
    np.testing.assert_allclose(p.schedule[0], [0.0, 30.0, 60.0, 75.0, 90.0])
    np.testing.assert_allclose(p.unit_price()[0], [30.0, 30.0, 15.0, 15.0])


def test_home_health_thresholds_make_the_schedule_jump():
    """Legacy home health, weight 1: per visit ($160) below the LUPA of 5 visits, then the
    episode price $2,000, $2,500 from the 10th visit; from 4 visits so far, one more visit
    earns $2,000 − 4·$160."""
    c = contract("hh_legacy", base_rate=2_000.0, thresholds=[10], steps=[500.0], lupa_visits=5,
                 per_visit=160.0, comorbidity_weights=[1.0, 1.0, 1.0],
                 function_weights=[1.0, 1.0, 1.0])  # fmt: skip
    p = c.prices(position(2, period_units=np.array([0, 4])), 8)
    np.testing.assert_allclose(p.schedule[0, :6], [0, 160, 320, 480, 640, 2_000])
    np.testing.assert_allclose(p.schedule[1, 1], 2_000.0 - 640.0)
    np.testing.assert_allclose(p.schedule[1, 6], 2_500.0 - 640.0)  # the 10th visit


def test_pdgm_pays_per_visit_below_the_lupa_then_the_period():
    """PDGM: below the group's LUPA threshold (4) each visit earns the per-visit rate; the
    4th visit brings the period's price; later visits earn nothing."""
    c = contract("pdgm", base_rate=2_000.0, default_lupa=4, per_visit=150.0,
                 comorbidity_weights=[1.0, 1.0, 1.0], function_weights=[1.0, 1.0, 1.0])  # fmt: skip
    p = c.prices(position(1), 6)
    np.testing.assert_allclose(p.schedule[0], [0, 150, 300, 450, 2_000, 2_000, 2_000])


def test_the_variable_per_diem_lowers_later_days():
    """PDPM: from the 20th day of a stay, the 21st day earns 2% less PT and OT than the
    20th; days past the 100 covered earn nothing."""
    c = contract("snf_pdpm", comorbidity_weights=[1.0, 1.0, 1.0], function_weights=[1.0, 1.0, 1.0])
    prm = c.params
    p = c.prices(position(2, period_units=np.array([19, 99])), 2)
    day20, day21 = p.unit_price()[0]
    assert day20 - day21 == pytest.approx(0.02 * prm.case_mix_index * (prm.pt + prm.ot))
    np.testing.assert_allclose(p.unit_price()[1, 1], 0.0)  # day 101


def test_a_reconciled_episode_takes_back_what_spending_adds():
    """CJR-like (setting scope, full downside risk, target $1,000, stop-gain and stop-loss
    20%): from $700 spent, the first $100 unit costs no savings (they are capped at $200),
    later units are taken back from the savings (net 0); past the stop-loss ($1,200) the fee
    is the provider's again."""
    c = contract("episode_bundle", target_price=1_000.0, downside_share_by_year=[1.0],
                 stop_gain=0.2, stop_loss=0.2, comorbidity_weights=[1.0, 1.0, 1.0],
                 function_weights=[1.0, 1.0, 1.0])  # fmt: skip
    pos = position(3, fee_per_unit=np.full(3, 100.0),
                   period_value=np.array([700.0, 1_200.0, 950.0]))  # fmt: skip
    p = c.prices(pos, 3)
    np.testing.assert_allclose(p.schedule[0], [0, 100, 100, 100])
    np.testing.assert_allclose(p.schedule[1], [0, 100, 200, 300])
    # from $950: the unit's fee is $50 of savings lost and $50 of overrun repaid, and so on
    # up to the stop-loss at $1,200, past which the fee is kept
    np.testing.assert_allclose(p.schedule[2], [0, 0, 0, 50])
    # half the downside in the phase-in year: overruns cost half
    c = contract("episode_bundle", target_price=1_000.0, downside_share_by_year=[0.5],
                 comorbidity_weights=[1.0, 1.0, 1.0], function_weights=[1.0, 1.0, 1.0])  # fmt: skip
    p = c.prices(position(1, fee_per_unit=np.full(1, 100.0), period_value=np.array([1_000.0])), 2)
    np.testing.assert_allclose(p.schedule[0], [0, 50, 100])


def test_a_global_budget_pays_only_its_volume_share():
    """All-payer budget with a 50% volume share: a unit earns half its charge."""
    c = contract("all_payer_budget", budget_pmpm=100.0, volume_share=0.5, rate_level=1.2)
    p = c.prices(position(), 2)
    np.testing.assert_allclose(p.schedule[0], [0.0, 18.0, 36.0])


@pytest.mark.parametrize("name", ["ffs", "capitation", "blended", "aco", "all_payer_budget",
                                  "cost_based"])  # fmt: skip
def test_a_straight_schedule_is_the_closed_forms_margin(name):
    """Where the price does not depend on the patient's state, a unit earns what the closed
    form's marginal revenue says (plus the cost a cost-based contract pays back)."""
    params = {
        "capitation": {"pmpm": 10.0},
        "blended": {"pmpm": 5.0, "fee_fraction": 0.3},
        "aco": {"benchmark_pmpm": 100.0},
        "all_payer_budget": {"budget_pmpm": 50.0},
    }
    c = contract(name, **params.get(name, {}))
    pos = position(3, fee_per_unit=np.array([10.0, 30.0, 50.0]), rate_multiplier=1.2)
    mr = np.asarray(c.marginal_revenue(pos.fee_per_unit, 1.2), float) + c.cost_margin() * 20.0
    want = np.broadcast_to(mr, (3,))
    got = c.prices(pos, 3).unit_price()
    np.testing.assert_allclose(got, np.repeat(want[:, None], 3, 1))


def test_straight_helpers():
    """A straight schedule and a price lookup."""
    p = straight(np.array([2.0, 3.0]), 2, 3, case=np.array([1.0, 0.0]))
    assert isinstance(p, Prices)
    np.testing.assert_allclose(p.at(np.array([2, 9])), [4.0, 9.0])
    np.testing.assert_allclose(p.scaled(0.5).case, [0.5, 0.0])


def test_a_deferred_position_makes_each_field_once_when_read():
    """Position.deferred: the fields left for later are made on first read, once; take and
    dataclasses.replace see every field; each field is given once, now or later."""
    import dataclasses

    names = [n for n in Position.__slots__ if n != "_later"]
    now = {n: np.arange(4) for n in names if n not in ("risk", "condition")}
    made = []

    def risk():
        made.append("risk")
        return np.full(4, 1.5)

    later = {"risk": risk, "condition": lambda: np.arange(4, dtype=np.int8)}
    pos = Position.deferred(later, **now)
    assert made == []
    assert (pos.risk == 1.5).all() and (pos.risk == 1.5).all()
    assert made == ["risk"]
    assert (pos.take(np.array([1, 3])).condition == [1, 3]).all()
    again = dataclasses.replace(Position.deferred(later, **now), month=7)
    assert again.month == 7 and (again.risk == 1.5).all() and again.condition.dtype == np.int8
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = pos.nothing
    with pytest.raises(TypeError, match="every field once"):
        Position.deferred({}, **now)
    with pytest.raises(TypeError, match="every field once"):
        Position.deferred({**later, "month": lambda: 1}, **now)
