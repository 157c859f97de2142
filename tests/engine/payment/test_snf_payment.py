"""Skilled nursing payment models (legacy RUG-IV-like and PDPM-like) against hand-computed
payments. One unit is one day of stay; the stay day of a month's first day is
period_units − units + 1."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from sim.engine.payment import REGISTRY, Claims, Panel
from sim.engine.payment.snf import PDPM, LegacyParams, PDPMParams, SNFLegacy

#: rehabilitation add-ons used by the worked examples (none ... ultra high)
REHAB = [0.0, 60.0, 130.0, 190.0, 245.0, 300.0]

PANEL = Panel(members=np.array([10.0, 20.0]), risk_sum=np.array([8.0, 25.0]), rate_multiplier=1.0)

#: round PDPM rates for hand computation: PT + OT = 100/day
ROUND = dict(pt=60.0, ot=40.0, slp=20.0, nursing=100.0, nta=80.0, non_case_mix=90.0)
FLAT = dict(function_weights=[1.0, 1.0, 1.0], comorbidity_weights=[1.0, 1.0, 1.0])


def stay(units, period_units, *, individual=None, concurrent=None, group=None, **over) -> Claims:
    """Claims of one payer's SNF patients: ``units`` days this month, ``period_units`` days of
    the stay so far (this month included)."""
    n = len(units)
    base = dict(
        provider=np.zeros(n, int),
        fee_value=np.zeros(n),
        units=np.asarray(units),
        visits=np.zeros(n, int),
        new_episode=np.asarray(units) == np.asarray(period_units),
        condition=np.zeros(n, int),
        function_at_start=np.full(n, 55.0),  # middle level: weight 1.0
        risk=np.full(n, 1.0),  # middle comorbidity level: weight 1.0
        rate_multiplier=1.0,
        period_units=np.asarray(period_units),
        therapy_individual=None if individual is None else np.asarray(individual, float),
        therapy_concurrent=None if concurrent is None else np.asarray(concurrent, float),
        therapy_group=None if group is None else np.asarray(group, float),
    )
    base.update(over)
    return Claims(**base)


def test_registry_names_both_snf_models():
    """Scenario files name the SNF contracts snf_legacy and snf_pdpm."""
    assert REGISTRY["snf_legacy"] is SNFLegacy
    assert REGISTRY["snf_pdpm"] is PDPM


def test_class_rules_and_cost_sharing_defaults():
    """A stay is one payment period; minute counting and the group/concurrent cap differ;
    Medicare SNF cost sharing is the daily coinsurance only."""
    # a whole stay is one payment period (the longest episode the engine draws is 240 months)
    assert SNFLegacy.period_months == 240 and PDPM.period_months == 240
    assert SNFLegacy.therapy_minute_weights == (1.0, 0.5, 0.25)
    assert SNFLegacy.group_concurrent_cap is None
    assert PDPM.therapy_minute_weights == (1.0, 1.0, 1.0)
    assert PDPM.group_concurrent_cap == 0.25
    for p in (LegacyParams(), PDPMParams()):
        assert p.daily_coinsurance == 209.50
        assert p.coinsurance == 0.0 and not p.deductible_applies
        assert p.adverse_event_liability == 0.0
    assert SNFLegacy.summary and PDPM.summary


# ---------------------------------------------------------------------------------------------
# PDPM-like


def test_pdpm_month_on_days_18_to_27_with_weights_1():
    """Days 18..27 (10 days; period_units 27), every weight 1, case_mix_index 1:
    PT+OT: 100 × (3 days × 1.00 [18-20] + 7 days × 0.98 [21-27]) = 100 × 9.86 = 986
    SLP 20 × 10 = 200; nursing 100 × 10 = 1000; NTA 80 × 10 = 800 (past day 3);
    non-case-mix 90 × 10 = 900; total 3886.
    Coinsurance on days 21..27: 7 × 209.50 = 1466.50."""
    m = PDPM(PDPMParams(**ROUND, **FLAT, case_mix_index=1.0), ("a",))
    s = m.settle(stay([10], [27]), PANEL)
    np.testing.assert_allclose(s.allowed, [3886.0])
    np.testing.assert_allclose(s.patient_share, [1466.50])
    np.testing.assert_array_equal(s.lump, [0.0, 0.0])
    # the same month for a payer paying 120% of the rates: 3886 × 1.2 = 4663.2; the daily
    # coinsurance is a statutory amount and does not scale
    s12 = m.settle(stay([10], [27], rate_multiplier=1.2), PANEL)
    np.testing.assert_allclose(s12.allowed, [4663.2])
    np.testing.assert_allclose(s12.patient_share, [1466.50])


def test_pdpm_first_days_pay_nta_at_300_percent():
    """Days 1..10 of a new stay: NTA 80 × (3 × 3 + 7 × 1) = 1280; PT+OT 100 × 10 = 1000;
    SLP 200; nursing 1000; non-case-mix 900; total 4380; no coinsurance before day 21."""
    m = PDPM(PDPMParams(**ROUND, **FLAT, case_mix_index=1.0), ("a",))
    s = m.settle(stay([10], [10]), PANEL)
    np.testing.assert_allclose(s.allowed, [4380.0])
    np.testing.assert_allclose(s.patient_share, [0.0])


def test_pdpm_pays_nothing_past_day_100():
    """Days 95..110 (16 days): only 95..100 are covered.
    PT+OT factor: days 95-97 0.78 (step 11: 1 + (95−21)//7), days 98-100 0.76 (step 12):
    100 × (3 × 0.78 + 3 × 0.76) = 462; SLP 20 × 6 = 120; nursing 600; NTA 480;
    non-case-mix 540; total 2202. Coinsurance 6 × 209.50 = 1257.
    A month wholly past day 100 (days 101..120) pays 0 and owes 0."""
    m = PDPM(PDPMParams(**ROUND, **FLAT, case_mix_index=1.0), ("a",))
    s = m.settle(stay([16, 20], [110, 120]), PANEL)
    np.testing.assert_allclose(s.allowed, [2202.0, 0.0])
    np.testing.assert_allclose(s.patient_share, [1257.0, 0.0])


def test_pdpm_component_weights_and_case_mix_index():
    """Condition b weighs 1.5, function 30 is the low level (1.3), risk 2.0 the high
    comorbidity level (1.25). Weights: PT/OT 1.5 × 1.3 = 1.95; SLP 1.5; nursing 1.3 × 1.25 =
    1.625; NTA 1.25. One day (day 5):
    100 × 1.95 + 20 × 1.5 + 100 × 1.625 + 80 × 1.25 = 195 + 30 + 162.5 + 100 = 487.5,
    + 90 non-case-mix = 577.5; with case_mix_index 2: 2 × 487.5 + 90 = 1065."""
    c = stay(
        [1], [5], condition=np.array([1]), function_at_start=np.array([30.0]), risk=np.array([2.0])
    )
    one = PDPM(PDPMParams(**ROUND, condition_weights={"b": 1.5}, case_mix_index=1.0), ("a", "b"))
    two = PDPM(PDPMParams(**ROUND, condition_weights={"b": 1.5}, case_mix_index=2.0), ("a", "b"))
    np.testing.assert_allclose(one.settle(c, PANEL).allowed, [577.5])
    np.testing.assert_allclose(two.settle(c, PANEL).allowed, [1065.0])


def test_pdpm_therapy_minutes_do_not_pay():
    """Under PDPM the same stay-month pays the same whatever therapy is delivered."""
    m = PDPM(PDPMParams(), ("a",))
    none = m.settle(stay([10], [27]), PANEL).allowed
    lots = m.settle(stay([10], [27], individual=[1500.0], group=[300.0]), PANEL).allowed
    np.testing.assert_allclose(lots, none)
    np.testing.assert_array_equal(m.therapy_revenue_per_day(np.array([0.0, 120.0])), [0.0, 0.0])


def test_pdpm_marginal_revenue_is_the_day_21_per_diem():
    """Round rates, weights 1: (60 + 40) × 0.98 + 20 + 100 + 80 + 90 = 388; × 1.2 = 465.6.
    Defaults (FY2021 urban rates, case_mix_index 1.3): (62.04 + 57.75) × 0.98 = 117.3942;
    + 23.16 + 108.16 + 81.60 = 330.3142; × 1.3 = 429.40846; + 96.85 = 526.25846."""
    m = PDPM(PDPMParams(**ROUND, case_mix_index=1.0))
    assert m.marginal_revenue(np.array([1.0]), 1.2) == pytest.approx(465.6)
    assert PDPM(PDPMParams()).marginal_revenue(0.0) == pytest.approx(526.25846)


# ---------------------------------------------------------------------------------------------
# Legacy (RUG-IV-like)


@pytest.mark.parametrize(
    ("days", "individual", "concurrent", "group", "level"),
    [
        (7, 560.0, 0.0, 0.0, 4),  # 80 min/day × 7 = 560/week ≥ 500 -> very high
        # 100 min/day, 30% concurrent: 70 + 30/2 = 85 counted/day -> 595/week -> very high
        (7, 490.0, 210.0, 0.0, 4),
        (7, 735.0, 0.0, 0.0, 5),  # 105 min/day individual -> 735/week ≥ 720 -> ultra high
        (7, 720.0, 0.0, 0.0, 5),  # exactly 720 -> ultra high
        (7, 719.0, 0.0, 0.0, 4),  # one minute short -> very high
        (7, 0.0, 0.0, 700.0, 2),  # 100 min/day all group: 25 counted/day = 175/week -> medium
        (14, 1120.0, 0.0, 0.0, 4),  # 1120 over 14 days = 80/day = 560/week -> very high
        (7, 44.0, 0.0, 0.0, 0),  # below 45/week -> no rehabilitation level
    ],
)
def test_legacy_rehab_level_from_counted_minutes_per_week(
    days, individual, concurrent, group, level
):
    """RUG-IV counting: individual + concurrent/2 + group/4, per week = counted / days × 7."""
    m = SNFLegacy(LegacyParams(), ("a",))
    c = stay([days], [days], individual=[individual], concurrent=[concurrent], group=[group])
    assert m.rehab_level(c).tolist() == [level]


def test_legacy_settles_per_diem_days_and_coinsurance():
    """nursing_rate 270, default add-ons (very high 245, ultra high 300).
    A: weight 1, days 1..7, 560 individual minutes -> very high: (270 + 245) × 7 = 3605; owes 0.
    B: function 30 (1.3) × risk 2.0 (1.25) = 1.625, days 15..40 (26 days), 105 min/day
       individual (2730) -> 735/week -> ultra high: 270 × 1.625 + 300 = 738.75/day;
       × 26 = 19207.5; coinsurance days 21..40 = 20 × 209.50 = 4190.
    C: weight 1, days 95..110 with no therapy: 270/day on the 6 covered days = 1620;
       coinsurance 6 × 209.50 = 1257."""
    m = SNFLegacy(LegacyParams(nursing_rate=270.0, rehab_rates=REHAB), ("a",))
    c = stay(
        [7, 26, 16],
        [7, 40, 110],
        individual=[560.0, 2730.0, 0.0],
        concurrent=[0.0, 0.0, 0.0],
        group=[0.0, 0.0, 0.0],
        function_at_start=np.array([55.0, 30.0, 55.0]),
        risk=np.array([1.0, 2.0, 1.0]),
    )
    s = m.settle(c, PANEL)
    np.testing.assert_allclose(s.allowed, [3605.0, 19207.5, 1620.0])
    np.testing.assert_allclose(s.patient_share, [0.0, 4190.0, 1257.0])
    np.testing.assert_array_equal(s.lump, [0.0, 0.0])
    # within a payer paying 120%: allowed × 1.2, coinsurance unchanged
    s12 = m.settle(replace(c, rate_multiplier=1.2), PANEL)
    np.testing.assert_allclose(s12.allowed, [4326.0, 23049.0, 1944.0])
    np.testing.assert_allclose(s12.patient_share, [0.0, 4190.0, 1257.0])


def test_legacy_missing_minutes_count_as_none_and_coinsurance_is_capped():
    """No therapy arrays: level none. With nursing_rate 100 and days 21..22 the month allows
    200, less than 2 × 209.50 = 419 of coinsurance: the patient owes the 200."""
    m = SNFLegacy(LegacyParams(nursing_rate=100.0), ("a",))
    s = m.settle(stay([2], [22]), PANEL)
    np.testing.assert_allclose(s.allowed, [200.0])
    np.testing.assert_allclose(s.patient_share, [200.0])


def test_legacy_therapy_revenue_steps_with_minutes():
    """Counted minutes per day × 7 against 45, 150, 325, 500, 720:
    6 -> 42 none; 7 -> 49 low; 21 -> 147 low; 22 -> 154 medium; 46 -> 322 medium;
    47 -> 329 high; 71 -> 497 high; 72 -> 504 very high; 102 -> 714 very high;
    103 -> 721 ultra high."""
    m = SNFLegacy(LegacyParams(rehab_rates=REHAB), ("a",))
    mins = np.array([0.0, 6.0, 7.0, 21.0, 22.0, 46.0, 47.0, 71.0, 72.0, 102.0, 103.0])
    np.testing.assert_allclose(
        m.therapy_revenue_per_day(mins),
        [0.0, 0.0, 60.0, 60.0, 130.0, 130.0, 190.0, 190.0, 245.0, 245.0, 300.0],
    )


def test_legacy_marginal_revenue_and_no_elective_demand():
    """One more day apart from its therapy minutes: the nursing rate, 270 × 1.2 = 324 (the
    rehabilitation add-on comes through therapy_revenue_per_day). SNF stays are referrals:
    nothing is expected by patients choosing elective care."""
    m = SNFLegacy(LegacyParams(nursing_rate=270.0), ("a",))
    assert m.marginal_revenue(np.array([50.0]), 1.2) == pytest.approx(324.0)
    z = np.zeros(3)
    for model in (m, PDPM(PDPMParams(), ("a",))):
        np.testing.assert_array_equal(
            model.expected_allowed(np.array([1.0, 2.0, 3.0]), z.astype(int), z, z, 1.0), z
        )


def test_params_validation():
    """Six non-decreasing, non-negative rehabilitation rates; no negative rates."""
    with pytest.raises(ValidationError, match="needs 6 entries"):
        LegacyParams(rehab_rates=[0.0, 50.0, 100.0, 150.0, 200.0])
    with pytest.raises(ValidationError, match="must not decrease"):
        LegacyParams(rehab_rates=[0.0, 50.0, 40.0, 150.0, 200.0, 250.0])
    with pytest.raises(ValidationError, match=">= 0"):
        LegacyParams(rehab_rates=[-1.0, 50.0, 100.0, 150.0, 200.0, 250.0])
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        LegacyParams(nursing_rate=-1.0)
    for field in ("pt", "ot", "slp", "nursing", "nta", "non_case_mix", "daily_coinsurance"):
        with pytest.raises(ValidationError, match="greater than or equal to 0"):
            PDPMParams(**{field: -0.01})
    with pytest.raises(ValueError, match="unknown condition"):
        PDPM(PDPMParams(condition_weights={"zz": 1.0}), ("a",))
