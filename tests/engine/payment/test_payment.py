"""Each payment model against hand-computed payments."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.payment import REGISTRY, Claims, ContractParams, Panel
from sim.engine.payment.blended import Blended, BlendedParams
from sim.engine.payment.bundled import Bundled, BundledParams
from sim.engine.payment.capitation import Capitation, CapitationParams
from sim.engine.payment.ffs import FeeForService, FFSParams


def claims(**over) -> Claims:
    base = dict(
        provider=np.array([0, 1, 1]),
        fee_value=np.array([100.0, 50.0, 0.0]),
        units=np.array([4, 2, 0]),
        visits=np.array([1, 1, 0]),
        new_episode=np.array([True, False, True]),
        condition=np.array([0, 1, 0]),
        function_at_start=np.array([30.0, 55.0, 90.0]),
        risk=np.array([0.5, 1.0, 2.0]),
        rate_multiplier=1.0,
    )
    base.update(over)
    return Claims(**base)


PANEL = Panel(members=np.array([10.0, 20.0]), risk_sum=np.array([8.0, 25.0]), rate_multiplier=1.2)


#: the payment models the package ships (a model added by the how-to joins them)
BUILT_IN = {
    "ffs",
    "capitation",
    "bundled",
    "blended",
    "hh_legacy",
    "pdgm",
    "episode_bundle",
    "snf_legacy",
    "snf_pdpm",
}


def test_registry_names_every_model():
    """Scenario files name payment models by their keys: every built-in one is registered,
    each under its own name, with parameters that derive from ContractParams."""
    assert set(REGISTRY) >= BUILT_IN
    for name, cls in REGISTRY.items():
        assert cls.name == name
        assert issubclass(cls.Params, ContractParams)


def test_ffs_pays_the_fee_schedule():
    """FFS allows the fee-schedule value of every claim and pays no lump sums."""
    m = FeeForService(FFSParams(fee_multiplier=1.1))
    s = m.settle(claims(), PANEL)
    np.testing.assert_allclose(s.allowed, [110.0, 55.0, 0.0])
    np.testing.assert_array_equal(s.lump, [0.0, 0.0])
    assert m.marginal_revenue(30.0) == pytest.approx(33.0)
    assert m.params.coinsurance == 0.2 and m.params.deductible_applies
    assert m.params.adverse_event_liability == 0.0


def test_capitation_pays_per_member_whatever_is_used():
    """Capitation pays PMPM × members' risk × payer rate, independent of claims."""
    m = Capitation(CapitationParams(pmpm=10.0))
    s = m.settle(claims(), PANEL)
    np.testing.assert_allclose(s.lump, [10.0 * 8.0 * 1.2, 10.0 * 25.0 * 1.2])
    np.testing.assert_array_equal(s.allowed, 0.0)
    s2 = m.settle(claims(fee_value=np.zeros(3)), PANEL)
    np.testing.assert_array_equal(s2.lump, s.lump)
    flat = Capitation(CapitationParams(pmpm=10.0, risk_adjusted=False)).settle(claims(), PANEL)
    np.testing.assert_allclose(flat.lump, [120.0, 240.0])
    assert m.marginal_revenue(30.0) == 0.0
    assert m.params.adverse_event_liability == 1.0 and m.params.coinsurance == 0.0


def test_bundle_price_by_case_mix_group():
    """Price = base × condition × function-level × comorbidity weights, at episode start."""
    p = BundledParams(base_rate=1000.0, condition_weights={"b": 1.5})
    m = Bundled(p, ("a", "b"))
    # patient 0: cond a (1.0), function 30 -> low (1.3), risk 0.5 -> low (0.9)
    # patient 1: cond b (1.5), function 55 -> mid (1.0), risk 1.0 -> mid (1.0); not new
    # patient 2: cond a (1.0), function 90 -> high (0.8), risk 2.0 -> high (1.25)
    np.testing.assert_allclose(
        m.price(np.array([0, 1, 0]), np.array([30.0, 55.0, 90.0]), np.array([0.5, 1.0, 2.0])),
        [1170.0, 1500.0, 1000.0],
    )
    s = m.settle(claims(rate_multiplier=1.2), PANEL)
    np.testing.assert_allclose(s.allowed, [1170.0 * 1.2, 0.0, 1000.0 * 1.2])
    # cut-offs: exactly 40 is the middle level, exactly 1.5 is the high comorbidity level
    np.testing.assert_allclose(m.price(np.array([0]), np.array([40.0]), np.array([1.5])), [1250.0])


def test_bundle_rejects_unknown_condition_and_bad_levels():
    """Case-mix tables must match the scenario's conditions and have one weight per level."""
    with pytest.raises(ValueError, match="unknown condition"):
        Bundled(BundledParams(base_rate=1.0, condition_weights={"zz": 1.0}), ("a",))
    with pytest.raises(ValueError, match="function_weights needs"):
        BundledParams(base_rate=1.0, function_weights=[1.0, 1.0])


def test_blended_pays_fixed_part_and_reduced_fee():
    """Blended: PMPM × risk plus fee_fraction of the fee schedule."""
    m = Blended(BlendedParams(pmpm=5.0, fee_fraction=0.4))
    s = m.settle(claims(), PANEL)
    np.testing.assert_allclose(s.allowed, [40.0, 20.0, 0.0])
    np.testing.assert_allclose(s.lump, [5.0 * 8.0 * 1.2, 5.0 * 25.0 * 1.2])
    assert m.marginal_revenue(30.0) == pytest.approx(12.0)


def test_pdgm_pays_periods_by_group_with_lupa():
    """PDGM: at a period's end, the group price (late periods 85%), or per visit below LUPA."""
    from sim.engine.payment.home_health import PDGM, PDGMParams

    m = PDGM(
        PDGMParams(base_rate=2000.0, lupa_thresholds={"b": 2}, default_lupa=4, per_visit=150.0),
        ("a", "b"),
    )
    c = claims(
        period_units=np.array([3, 3, 5]),
        period_end=np.array([True, True, False]),
        episode_month=np.array([0, 1, 0]),
    )
    s = m.settle(c, PANEL)
    # patient 0: cond a, LUPA 4, 3 visits -> 3 × 150 = 450
    # patient 1: cond b, LUPA 2, 3 visits, late period, function 55 (1.0), risk 1.0 (1.0)
    #            -> 2000 × 1.0 × 1.0 × 1.0 × 0.85 = 1700
    # patient 2: period not ended -> 0
    np.testing.assert_allclose(s.allowed, [450.0, 1700.0, 0.0])
    np.testing.assert_array_equal(m.thresholds(np.array([0, 1]), None, None), [[4.0], [2.0]])
    assert m.marginal_revenue(160.0) == 0.0 and m.period_months == 1


def test_home_health_legacy_episode_price():
    """Legacy: (base + steps reached) × case-mix weight; per visit below 5 visits."""
    from sim.engine.payment.home_health import HomeHealthLegacy, LegacyParams

    m = HomeHealthLegacy(LegacyParams(base_rate=2000.0, per_visit=150.0), ("a", "b"))
    c = claims(
        period_units=np.array([4, 14, 20]),
        period_end=np.array([True, True, True]),
        episode_month=np.array([1, 1, 1]),
    )
    s = m.settle(c, PANEL)
    # 0: 4 visits < 5 -> 600; 1: (2000 + 500 + 800) × w(cond b 1, fn 55 -> 1.0, risk 1 -> 1.0)
    # 2: (2000 + 500 + 800 + 600) × w(cond a 1, fn 90 -> 0.8, risk 2 -> 1.25 ) = 3900
    np.testing.assert_allclose(s.allowed, [600.0, 3300.0, 3900.0])
    assert m.period_months == 2
    with pytest.raises(ValueError, match="one entry per threshold"):
        LegacyParams(base_rate=1.0, thresholds=[10], steps=[1.0, 2.0])
