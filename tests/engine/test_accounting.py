"""Money where it belongs: the allowed amount is the provider's total, patients' cost sharing
comes out of it, and each perspective (public payer, plan, patient) is reported apart."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import default_world

from sim.engine.model import HealthSystemModel
from sim.experiments.run import run
from sim.scenario import load_scenario

SMALL = ["population.patients=6000", "months=6"]


def test_copays_come_out_of_the_allowed_amount():
    """A copay is the patient's part of the allowed amount, not an add-on: providers receive
    the allowed amount whatever the patient pays, and no patient pays more than it."""
    sc = load_scenario("scenarios/capitated_plan_vs_ffs.toml", SMALL)
    m = HealthSystemModel(sc, "capitated_plan")
    copay = sc.arm("capitated_plan").contracts[0].params.copay_per_visit
    assert copay > 0
    checked = 0
    for _ in range(4):
        m.step()
        for care in m.month_care:
            paid = care.paid
            np.testing.assert_array_equal(paid.revenue, paid.allowed + paid.p4p + paid.adjustment)
            assert (paid.oop <= paid.allowed).all()
            sought = care.sought
            want = np.minimum(copay * care.visits, paid.allowed)
            np.testing.assert_allclose(paid.oop[sought], want[sought])
            checked += int((paid.oop[sought] > 0).sum())
    assert checked > 0


CONTRACTS = {
    "ffs": {"model": "ffs"},
    "capitation": {"model": "capitation", "pmpm": 12.0},
    "bundled": {"model": "bundled", "base_rate": 500.0},
    "blended": {"model": "blended", "pmpm": 6.0, "fee_fraction": 0.5},
}


@pytest.mark.parametrize("arm", list(CONTRACTS))
def test_provider_revenue_is_allowed_amounts_plus_lumps(arm):
    """Whatever the cost sharing (here a copay on top of the deductible and coinsurance), what
    providers receive is their claims' allowed amounts, pay-for-performance, reconciliations
    and lumps: no more (patients pay out of it)."""
    contract = {**CONTRACTS[arm], "copay_per_visit": 15.0}
    sc = default_world(months=3, arms=[{"name": arm, "contracts": [contract]}])
    m = HealthSystemModel(sc, arm)
    for _ in range(3):
        m.step()
        for s, care in enumerate(m.month_care):
            paid = care.paid
            lumps = sum(float(x.sum()) for x in paid.lump_by_payer)
            claims = float((paid.allowed + paid.p4p + paid.adjustment).sum())
            received = float(np.bincount(care.provider, paid.revenue).sum()) + lumps
            assert received == pytest.approx(claims + lumps, rel=1e-12)
            del s


def test_each_perspective_in_its_own_column():
    """Under a capitated plan the public payer pays the plan (plan_revenue), the plan pays
    providers (spending) and keeps the difference; under traditional Medicare the public payer
    pays providers itself; a commercial payer's spending is not the public payer's."""
    sc = load_scenario("scenarios/capitated_plan_vs_ffs.toml", SMALL)
    result = run(sc)
    m = result.monthly
    plan = m[m["arm"] == "capitated_plan"]
    ffs = m[m["arm"] == "traditional_ffs"]
    np.testing.assert_allclose(plan["public_payer_spending"], plan["plan_revenue"])
    np.testing.assert_allclose(plan["plan_spending"], plan["spending"])
    np.testing.assert_allclose(plan["plan_margin"], plan["plan_revenue"] - plan["spending"])
    np.testing.assert_allclose(ffs["public_payer_spending"], ffs["spending"])
    assert (ffs["plan_spending"] == 0).all() and (ffs["plan_revenue"] == 0).all()
    summary = result.summary.set_index(["arm", "setting"])
    # Medicare pays the plan more than traditional Medicare costs ([@medpac2024]: ≈ 120%)
    assert (
        summary.loc[("capitated_plan", "all"), "public_payer_pmpm"]
        > summary.loc[("traditional_ffs", "all"), "public_payer_pmpm"]
    )
    # a payer marked private spends nothing of the public payer's
    mixed = run(default_world(months=2)).monthly
    commercial = mixed[mixed["payer"] == "commercial"]
    assert (commercial["public_payer_spending"] == 0).all() and commercial["spending"].gt(0).any()


def test_a_common_benefit_design_separates_payment_from_cost_sharing():
    """With benefit_design = "payer" patients face their payer's cost sharing on the
    fee-schedule value of their care whatever pays the provider: in the first month every arm
    sees the same patients seek the same care, and capitated members pay coinsurance too;
    with each contract's own design capitated members pay nothing and seek more."""
    arms = [
        {"name": arm, "contracts": [contract], "benefit_design": design}
        for arm, contract in CONTRACTS.items()
        for design in ("payer", "contract")
    ]
    for a in arms:
        a["name"] = f"{a['name']}_{a['benefit_design']}"
    sc = default_world(months=1, arms=arms)
    sought = {}
    oop = {}
    for a in arms:
        m = HealthSystemModel(sc, a["name"])
        m.step()
        sought[a["name"]] = [care.sought.copy() for care in m.month_care]
        oop[a["name"]] = sum(float(care.paid.oop.sum()) for care in m.month_care)
    for arm in CONTRACTS:
        for s, x in enumerate(sought[f"{arm}_payer"]):
            np.testing.assert_array_equal(x, sought["ffs_payer"][s])
    assert oop["capitation_payer"] > 0 and oop["capitation_contract"] == 0
    more = sum(int(x.sum()) for x in sought["capitation_contract"])
    assert more > sum(int(x.sum()) for x in sought["capitation_payer"])
