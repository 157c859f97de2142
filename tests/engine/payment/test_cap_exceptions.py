"""The annual therapy cap with exceptions as decisions (``therapy_threshold``,
``exceptions = "decision"``): what is paid, denied and owed by the patient with and without an
exception, the provider's request at known prices, the patient's choice to go on, deterrence
at care seeking by the world's elasticity, money conserved, bad values refused."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import default_world, one_setting

from sim.engine import draws
from sim.engine.features.exceptions import CapExceptions
from sim.engine.model import HealthSystemModel
from sim.engine.month import needs
from sim.engine.payment import REGISTRY, Claims, Panel, terms
from sim.engine.payment.therapy_threshold import (
    COVERED,
    UNCOVERED,
    UNCOVERED_NEW,
    UNDECIDED,
    continuation,
    exception_gain,
    requests,
)
from sim.errors import ScenarioError
from sim.experiments.run import run


def contract(**params):
    cls = REGISTRY["therapy_threshold"]
    return cls(cls.Params.model_validate({"exceptions": "decision", **params}))


def claims(fee, patient, year=2006) -> Claims:
    n = len(fee)
    return Claims(
        provider=np.zeros(n, int),
        fee_value=np.asarray(fee, float),
        units=np.ones(n, int),
        visits=np.ones(n, int),
        new_episode=np.zeros(n, bool),
        condition=np.zeros(n, int),
        function_at_start=np.full(n, 50.0),
        risk=np.ones(n),
        rate_multiplier=1.0,
        patient=np.asarray(patient),
        year=year,
    )


PANEL = Panel(members=np.ones(1), risk_sum=np.ones(1), rate_multiplier=1.0)


# ---------------------------------------------------------------------------------------------
# what is paid, denied and owed


def test_with_an_exception_the_care_above_the_cap_is_paid_and_without_one_the_patient_owes_it():
    """T = 1000. Three patients at 800 so far, 400 this month: 200 below the cap, 200 above.
    Approved: 400 allowed. Left without cover, or not yet decided: 200 allowed, the patient
    owes the other 200 in full. Nothing is denied."""
    c = contract(threshold=1000.0)
    c.settle(claims([800.0, 800.0, 800.0], [0, 1, 2]), PANEL)
    c.decide(np.array([0, 1]), np.array([True, False]), np.array([0.0, 0.3]))
    st = c.settle(claims([400.0, 400.0, 400.0], [0, 1, 2]), PANEL)
    np.testing.assert_allclose(st.allowed, [400.0, 200.0, 200.0])
    np.testing.assert_allclose(st.liable, [0.0, 200.0, 200.0])
    np.testing.assert_allclose(st.denied, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(st.allowed + st.liable + st.denied, 400.0)


def test_review_denies_part_of_the_covered_care_and_none_of_the_patients_own():
    """T = 1000, review at 1100 denying half. 800 + 400: covered, 200 + 100 + 50 allowed and
    50 denied; uncovered, 200 allowed and 200 owed by the patient (nothing reviewed)."""
    c = contract(threshold=1000.0, review_threshold=1100.0, review_denial_rate=0.5)
    c.settle(claims([800.0, 800.0], [0, 1]), PANEL)
    c.decide(np.array([0, 1]), np.array([True, False]), np.array([0.0, 0.0]))
    st = c.settle(claims([400.0, 400.0], [0, 1]), PANEL)
    np.testing.assert_allclose(st.allowed, [350.0, 200.0])
    np.testing.assert_allclose(st.denied, [50.0, 0.0])
    np.testing.assert_allclose(st.liable, [0.0, 200.0])


def test_a_new_year_starts_every_beneficiary_afresh():
    """Left without cover in 2006 at 1200: in 2007 its first 300 are paid again, undecided."""
    c = contract(threshold=1000.0)
    c.settle(claims([1200.0], [0]), PANEL)
    c.decide(np.array([0]), np.array([False]), np.array([0.5]))
    st = c.settle(claims([300.0], [0], year=2007), PANEL)
    assert float(st.allowed[0]) == 300.0 and float(st.liable[0]) == 0.0
    assert c.status(np.array([0]))[0] == UNDECIDED


def test_the_expected_rule_is_unchanged_and_leaves_nothing_to_the_patient():
    """exceptions = 'expected' (the default): the 90% exception share is paid, the rest is
    denied (paid by no one), nothing is the patient's, and care seeking sees no uncovered part."""
    cls = REGISTRY["therapy_threshold"]
    c = cls(cls.Params.model_validate({"threshold": 1000.0, "exception_rate": 0.9}))
    c.settle(claims([800.0], [0]), PANEL)
    st = c.settle(claims([400.0], [0]), PANEL)
    assert float(st.allowed[0]) == pytest.approx(380.0)
    assert float(st.denied[0]) == pytest.approx(20.0)
    assert st.liable is None
    assert c.expected_uncovered(np.array([500.0]), np.array([0])) is None


def test_the_patient_expects_to_pay_in_full_what_no_exception_is_expected_to_cover():
    """T = 1000, 800 so far, an episode worth 500: 300 above the cap. Undecided with approval
    0.6: 0.4 × 300 = 120 uncovered; approved: 0; left without cover: 300; a patient far below
    the cap: 0. A fee level of 1.2 scales the episode's value to 600 (400 above)."""
    c = contract(threshold=1000.0, exception_approval=0.6)
    c.settle(claims([800.0] * 4 + [100.0], [0, 1, 2, 3, 4]), PANEL)
    c.decide(np.array([1, 2, 3]), np.array([True, False, False]), np.array([0.0, 0.1, 0.1]))
    c.patients_to_decide()  # patient 2 and 3 decided: still without cover
    got = c.expected_uncovered(np.full(5, 500.0), np.arange(5))
    np.testing.assert_allclose(got, [120.0, 0.0, 300.0, 300.0, 0.0])
    c2 = contract(threshold=1000.0, exception_approval=0.0, fee_multiplier=1.2)
    c2.settle(claims([800.0], [0]), PANEL)  # 800 × 1.2 = 960 so far
    np.testing.assert_allclose(c2.expected_uncovered(np.array([500.0]), np.array([0])), [560.0])


# ---------------------------------------------------------------------------------------------
# the provider's request and the patient's choice, at known prices


def test_going_on_is_the_care_seeking_rule_at_the_new_price_relative_to_the_old():
    """Full price 500 instead of 100, reference 100, elasticity −1.79: (6/2)^−1.79; the same
    price: 1; a lower one is capped at 1."""
    got = continuation(
        np.array([500.0, 100.0, 50.0]), np.array([100.0, 100.0, 100.0]), -1.79, 100.0
    )
    np.testing.assert_allclose(got, [3.0**-1.79, 1.0, 1.0])


def test_the_provider_requests_exactly_when_the_expected_gain_exceeds_the_cost():
    """Approval 0.5 of 600 at stake, the patient going on with 0.25 without cover: the
    exception earns 0.5 × 600 × 0.75 = 225. Cost 224.99: request; 225: not (a tie does not pay);
    225.01: not. A patient who would go on anyway (π = 1) is never worth a request."""
    gain = exception_gain(0.5, np.array([600.0]), np.array([0.25]))
    assert float(gain[0]) == pytest.approx(225.0)
    assert requests(gain, 224.99).tolist() == [True]
    assert requests(gain, 225.0).tolist() == [False]
    assert requests(gain, 225.01).tolist() == [False]
    assert requests(exception_gain(1.0, np.array([600.0]), np.array([1.0])), 0.0).tolist() == [
        False
    ]


CAP = {
    "model": "therapy_threshold",
    "setting": "outpatient_therapy",
    "threshold": 300.0,
    "exceptions": "decision",
}


def _capped_world(months=8, start="2006-01-01", **params):
    contracts = [{"model": "ffs"}, {**CAP, **params}]
    return default_world(
        months=months,
        start=start,
        arms=[{"name": "cap", "contracts": contracts}],
        population={"patients": 6_000},
    )


def _watch_decisions(model):
    """Wrap the feature's decision so that the state it decides from (each payer's standing
    and amounts so far, the deductibles left, the episodes' months left) is kept."""
    world = model.world
    feature = next(f for f in world.hooks.features if isinstance(f, CapExceptions))
    decide = feature.after_care
    seen: dict[str, object] = {}

    def watched(world_, s, care):
        if s != 0:  # the cap is outpatient therapy's
            decide(world_, s, care)
            return
        n = world_.population.n
        seen["status"] = [p.contracts[s].status(np.arange(n)).copy() for p in world_.payers]
        seen["ytd"] = [p.contracts[s].year_to_date(np.arange(n)).copy() for p in world_.payers]
        seen["deductible"] = world_.population.deductible_remaining.copy()
        seen["left"] = world_.population.episode_left[s].copy()
        decide(world_, s, care)

    feature.after_care = watched
    return seen


@pytest.mark.parametrize(
    ("cost", "start"),
    [(0.0, "2006-01-01"), (40.0, "2006-01-01"), (1e9, "2006-01-01"), (40.0, "2006-09-01")],
)
def test_in_a_run_providers_request_exactly_where_the_closed_form_gain_exceeds_the_cost(
    cost, start
):
    """Approval certain: a patient taken over the cap with care still planned is covered
    exactly when approval × the revenue at stake × (1 − its chance of going on) > the cost,
    recomputed from the month's care and the state it was decided from; the others are left
    without cover. The revenue at stake ends in December (from September: across a new year,
    when every beneficiary starts afresh). Each request's cost is the provider's, on the
    patient's row."""
    sc = _capped_world(start=start, exception_approval=1.0, exception_cost=cost)
    model = HealthSystemModel(sc)
    world = model.world
    seen = _watch_decisions(model)
    s = 0
    assert world.settings[s].name == "outpatient_therapy"
    crossed = requested = 0
    for _ in range(6):
        model.step()
        care = world.month[s]
        for g, payer in enumerate(world.payers):
            c = payer.contracts[s]
            b = care.by_payer[g]
            idx = care.patients[b]
            prm = c.params
            value = care.fee_value[b] * payer.rate_multiplier * prm.fee_multiplier
            months = np.minimum(seen["left"][idx].astype(np.int64), 12 - world.date.month)
            at_stake = value * months
            crossing = (
                care.sought[b]
                & (seen["status"][g][idx] == UNDECIDED)
                & (seen["ytd"][g][idx] + value > prm.threshold)
                & (at_stake > 0)
            )
            who = idx[crossing]
            revenue = at_stake[crossing]
            cfg = world.settings[s].cfg
            cov = terms.expected_oop(prm, revenue, seen["deductible"][who], np.zeros(who.size))
            ratio = (1 + revenue / cfg.oop_reference) / (1 + cov / cfg.oop_reference)
            pi = np.minimum(ratio**cfg.oop_elasticity, 1.0)
            ask = revenue * (1 - pi) > cost
            st = c.status(who)
            np.testing.assert_array_equal(st == COVERED, ask)
            np.testing.assert_array_equal(st == UNCOVERED_NEW, ~ask)
            np.testing.assert_allclose(c._going_on[who], np.where(ask, 0.0, pi))
            # the request's cost is borne on the patient's row, and only there
            extra = care.extra_cost[b]
            np.testing.assert_allclose(extra[crossing], np.where(ask, cost, 0.0))
            np.testing.assert_allclose(extra[~crossing], 0.0)
            crossed += who.size
            requested += int(ask.sum())
    assert crossed > 20
    if cost == 0.0:
        assert requested > 0
    if cost == 1e9:
        assert requested == 0


def test_a_patient_left_without_cover_goes_on_with_its_chance():
    """Approval 0.5: some requests are denied. The month after, each patient left without
    cover and still in care is taken to its provider exactly when its CAP_GO_ON draw of that
    month is below its chance of going on; then it counts as decided."""
    sc = _capped_world(exception_approval=0.5)
    model = HealthSystemModel(sc)
    world = model.world
    s, n = 0, world.population.n
    pop = world.population
    stopped = went_on = 0
    for _ in range(7):
        model.step()
        watch, chance = [], []
        for g in range(world.n_payers):
            c = world.payers[g].contracts[s]
            new = np.flatnonzero(c.status(np.arange(n)) == UNCOVERED_NEW)
            keep = (pop.episode_left[s][new] > 0) & pop.sought[s][new]
            watch.append(new[keep])
            chance.append(c._going_on[new[keep]].copy())
        model.step()
        for g in range(world.n_payers):
            c = world.payers[g].contracts[s]
            u = pop.uniforms(watch[g], s, draws.CAP_GO_ON)
            still = pop.sought[s][watch[g]]
            np.testing.assert_array_equal(still, u < chance[g])
            assert (c.status(watch[g]) == UNCOVERED).all()
            stopped += int((~still).sum())
            went_on += int(still.sum())
    assert stopped > 0


def test_approval_is_the_draw_below_the_approval_probability():
    """With a cost of 0 a request is made for every patient with care at stake who might not
    go on without cover (π < 1); approved exactly when its CAP_EXCEPTION draw of the month is
    below 0.3."""
    sc = _capped_world(exception_approval=0.3)
    model = HealthSystemModel(sc)
    world = model.world
    s, n = 0, world.population.n
    checked = 0
    for _ in range(6):
        before = [world.payers[g].contracts[s].status(np.arange(n)).copy() for g in range(2)]
        model.step()
        for g in range(world.n_payers):
            c = world.payers[g].contracts[s]
            after = c.status(np.arange(n))
            decided = (before[g] == UNDECIDED) & (after != UNDECIDED)
            # with no cost a request is made wherever going on is not certain
            decided = np.flatnonzero(decided & ((after == COVERED) | (c._going_on < 1.0)))
            u = world.population.uniforms(decided, s, draws.CAP_EXCEPTION)
            np.testing.assert_array_equal(after[decided] == COVERED, u < 0.3)
            checked += decided.size
    assert checked > 20


# ---------------------------------------------------------------------------------------------
# deterrence at care seeking


def test_deterrence_lowers_care_seeking_by_exactly_the_elasticitys_factor():
    """Patients above the cap and left without cover expect to pay an episode worth V in full:
    their seeking probability is (1 + V/ref)^ε, against (1 + oop(V)/ref)^ε with an approved
    exception (the uncapped contract's), the world's calibrated elasticity and reference."""
    sc = _capped_world(months=1)
    model = HealthSystemModel(sc)
    world = model.world
    model.step()
    s = 0
    setting = world.settings[s]
    pop = world.population
    idx = np.arange(0, pop.n, 7)
    need = np.full(idx.size, 10.0)
    length = np.full(idx.size, 2)
    g_of = pop.payer[idx]
    for g in range(world.n_payers):
        c = world.payers[g].contracts[s]
        mine = idx[g_of == g]
        c.year_to_date(mine)
        c._allowed[mine] = 5_000.0  # far above the cap
        c.decide(mine, np.zeros(mine.size, bool), np.zeros(mine.size))
    deterred = needs.seek_probability(world, setting, idx, need, length)
    rate = np.array([world.payers[g].rate_multiplier for g in g_of])
    value = setting.fee_per_unit[pop.region[idx]] * need * length * rate
    cfg = setting.cfg
    np.testing.assert_allclose(
        deterred, (1 + value / cfg.oop_reference) ** cfg.oop_elasticity, rtol=1e-12
    )
    for g in range(world.n_payers):
        c = world.payers[g].contracts[s]
        mine = idx[g_of == g]
        c.decide(mine, np.ones(mine.size, bool), np.zeros(mine.size))
    covered = needs.seek_probability(world, setting, idx, need, length)
    visits = np.ceil(need * length / setting.units_per_visit)
    oop = np.array(
        [
            terms.expected_oop(
                world.payers[g].contracts[s].params,
                np.array([v]),
                pop.deductible_remaining[[i]],
                np.array([vv]),
            )[0]
            for g, v, i, vv in zip(g_of, value, idx, visits, strict=True)
        ]
    )
    np.testing.assert_allclose(covered, (1 + oop / cfg.oop_reference) ** cfg.oop_elasticity)
    assert (deterred <= covered).all() and (deterred < covered).any()
    np.testing.assert_allclose(
        deterred / covered,
        ((1 + value / cfg.oop_reference) / (1 + oop / cfg.oop_reference)) ** cfg.oop_elasticity,
        rtol=1e-12,
    )


# ---------------------------------------------------------------------------------------------
# money and refusals


def test_money_is_conserved_with_exceptions_as_decisions():
    """Over 14 months across a new year: payers pay what providers receive net of what
    patients paid (cost sharing and the care they owe in full), in the ledgers and the table;
    patients paid something in full (the cap bound)."""
    sc = _capped_world(months=14, exception_approval=0.5, exception_cost=20.0)
    sc = sc.model_copy(update={"start": sc.start.replace(month=11)})
    result = run(sc)
    m = result.monthly
    np.testing.assert_allclose(m["provider_revenue"], m["payer_payments"] + m["oop"])
    ledger = result.ledgers[0]
    assert ledger["providers_received"] == pytest.approx(
        ledger["payer_paid"] + ledger["patients_paid"], rel=1e-9
    )
    assert m["payer_payments"].sum() == pytest.approx(ledger["payer_paid"], rel=1e-9)


def test_the_patient_pays_in_full_what_is_not_covered_in_the_payment_stage():
    """Month by month: allowed + owed + denied = the fee-schedule value of what was given,
    the patient's out of pocket includes what it owes, and the provider receives it."""
    sc = _capped_world(months=8, exception_approval=0.5)
    model = HealthSystemModel(sc)
    world = model.world
    owed = 0.0
    for _ in range(8):
        model.step()
        care = world.month[0]
        paid = care.paid
        for g, b in enumerate(care.by_payer):
            rate = world.payers[g].rate_multiplier
            value = np.where(care.sought[b], care.fee_value[b] * rate, 0.0)
            liable = paid.revenue[b] - paid.allowed[b]
            np.testing.assert_allclose(paid.allowed[b] + liable + paid.denied[b], value)
            assert (paid.oop[b] >= liable - 1e-9).all()
            owed += float(liable.sum())
    assert owed > 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"exceptions": "always"}, "exceptions"),
        ({"exceptions": "decision", "exception_approval": 1.5}, "exception_approval"),
        ({"exceptions": "decision", "exception_cost": -1.0}, "exception_cost"),
        ({"exceptions": "decision", "exception_rate": 0.5}, "exception_rate"),
        ({"exception_cost": 10.0}, "exception_cost"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(params, field):
    arm = {
        "name": "cap",
        "contracts": [{"model": "therapy_threshold", "threshold": 1740.0, **params}],
    }
    with pytest.raises(ScenarioError, match=field):
        one_setting(arms=[arm])


def test_the_payers_benefit_design_is_refused_with_exceptions_as_decisions():
    """What the patient pays above the cap is the contract's benefit design."""
    arm = {
        "name": "cap",
        "benefit_design": "payer",
        "contracts": [
            {"model": "therapy_threshold", "threshold": 1740.0, "exceptions": "decision"}
        ],
    }
    with pytest.raises(ScenarioError, match="benefit_design"):
        one_setting(arms=[arm])


def test_the_feature_is_on_only_with_exceptions_as_decisions():
    assert CapExceptions.from_world(HealthSystemModel(_capped_world(months=1)).world)
    plain = default_world(
        months=1,
        arms=[{"name": "cap", "contracts": [{"model": "therapy_threshold", "threshold": 300.0}]}],
    )
    assert not CapExceptions.from_world(HealthSystemModel(plain).world)
