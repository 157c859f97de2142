"""Payment rules of the reforms against worked examples computed by hand
[@cms_snf_fy2019; @cms_hh_cy2019; @cms_cjr2015]."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine import rules

RATES = dict(pt=60.0, ot=55.0, slp=20.0, nursing=110.0, nta=80.0, non_case_mix=95.0)


def test_pdpm_variable_per_diem_days_20_21_28():
    """PT+OT fall 2% on day 21 and again on day 28; the other components do not."""
    # day 20: 60 + 55 + 20 + 110 + 80 + 95 = 420
    # day 21: (60 + 55)·0.98 + 20 + 110 + 80 + 95 = 112.7 + 305 = 417.7
    # day 28: (60 + 55)·0.96 + 305 = 110.4 + 305 = 415.4
    got = rules.pdpm_per_diem(np.array([20, 21, 27, 28, 34, 35]), **RATES)
    np.testing.assert_allclose(got, [420.0, 417.7, 417.7, 415.4, 415.4, 413.1])


def test_pdpm_nta_is_tripled_on_days_1_to_3():
    """NTA is paid at 300% on days 1-3: 420 + 2·80 = 580, then back to 420 on day 4."""
    np.testing.assert_allclose(rules.pdpm_per_diem(np.array([1, 3, 4]), **RATES), [580, 580, 420])


def test_pdpm_day_numbering_starts_at_one():
    """Day 0 does not exist."""
    with pytest.raises(ValueError, match="numbered from 1"):
        rules.pdpm_therapy_factor(0)


def test_stay_payment_sums_per_diems_and_stops_at_100_days():
    """Days 19-22 pay 420 + 420 + 417.7 + 417.7; days past day 100 pay nothing."""
    table = rules.pdpm_per_diem(np.arange(1, 101), **RATES)
    np.testing.assert_allclose(rules.stay_payment(np.array([19]), np.array([4]), table), [1675.4])
    np.testing.assert_allclose(
        rules.stay_payment(np.array([99]), np.array([5]), table), [table[98] + table[99]]
    )


def test_snf_coinsurance_days():
    """Coinsurance is owed on covered days 21 to 100 only."""
    got = rules.snf_coinsurance_days(np.array([15, 95, 1, 21]), np.array([10, 10, 20, 1]))
    np.testing.assert_array_equal(got, [4, 6, 0, 1])


def test_group_concurrent_cap_25_percent():
    """60/20/20 minutes exceed the 25% limit: shared minutes scale to 25, the rest individual."""
    ind, conc, grp = rules.cap_group_concurrent(
        np.array([60.0, 80.0]), np.array([20.0, 10.0]), np.array([20.0, 10.0])
    )
    np.testing.assert_allclose(ind, [75.0, 80.0])
    np.testing.assert_allclose(conc, [12.5, 10.0])
    np.testing.assert_allclose(grp, [12.5, 10.0])
    np.testing.assert_allclose(ind + conc + grp, [100.0, 100.0])


def test_rug_counting_and_levels():
    """RUG-IV counts concurrent minutes ÷ 2 and group ÷ 4; ultra high starts at 720/week."""
    assert rules.rug_counted_minutes(300, 200, 400) == 500
    levels = rules.rug_level(np.array([0, 44, 45, 149, 150, 324, 325, 499, 500, 719, 720, 900]))
    np.testing.assert_array_equal(levels, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    assert rules.RUG_LEVELS[5] == "ultra_high"


def test_home_health_legacy_thresholds():
    """6/14/20 visits add 500, 800 and 600 to a $2,000 base; the single 10-visit threshold too."""
    got = rules.threshold_payment(
        np.array([5, 6, 13, 14, 19, 20, 30]), 2000.0, rules.HH_THRESHOLDS_2008_2019, (500, 800, 600)
    )
    np.testing.assert_allclose(got, [2000, 2500, 2500, 3300, 3300, 3900, 3900])
    single = rules.threshold_payment(
        np.array([9, 10]), 2000.0, rules.HH_THRESHOLDS_2000_2007, [1100]
    )
    np.testing.assert_allclose(single, [2000, 3100])


def test_lupa_switches_to_per_visit_payment():
    """Below the threshold (4 visits) a period is paid per visit; at or above it, in full."""
    got = rules.lupa_payment(np.array([0, 3, 4, 9]), 4, 2600.0, 160.14)
    np.testing.assert_allclose(got, [0.0, 3 * 160.14, 2600.0, 2600.0])


def test_reconciliation_arithmetic():
    """Savings paid up to the stop-gain; overruns repaid by the downside share to the stop-loss."""
    target = np.full(5, 25_000.0)
    spending = np.array([22_000.0, 27_000.0, 10_000.0, 40_000.0, 25_000.0])
    np.testing.assert_allclose(
        rules.reconcile(spending, target, downside_share=0.0), [3000, 0, 5000, 0, 0]
    )
    np.testing.assert_allclose(
        rules.reconcile(spending, target, downside_share=0.5), [3000, -1000, 5000, -5000, 0]
    )
    np.testing.assert_allclose(
        rules.reconcile(spending, target, downside_share=1.0), [3000, -2000, 5000, -5000, 0]
    )
    with pytest.raises(ValueError, match="downside_share"):
        rules.reconcile(spending, target, downside_share=1.5)
