"""The CJR-like episode bundle in the engine: FFS during the episode, then reconciliation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import one_setting

from sim.engine import rules
from sim.engine.model import HealthSystemModel
from sim.experiments.run import run

CONTRACT = {
    "model": "episode_bundle",
    "target_price": 900.0,
    "episode_months": 3,
    "downside_share_by_year": [0.0, 1.0],
}


def world(months: int = 18):
    return one_setting(
        months=months,
        population={"patients": 4000},
        settings={"clinic": {"episode_months": 4.0, "need_probability": 0.05}},
        arms=[{"name": "cjr", "contracts": [CONTRACT]}],
    )


def test_reconciliation_at_each_episode_period_end():
    """Each 3-month period's fee-schedule spending is reconciled against the case-mix target,
    with no downside in year 1 and full downside in year 2; FFS is paid throughout."""
    sc = world()
    m = HealthSystemModel(sc, "cjr")
    contract = m.payers[0].contracts[0]
    running: dict[int, float] = {}
    negative_in_year_one = negative_in_year_two = 0
    for month in range(18):
        m.step()
        mc = m.month_care[0]
        pop = m.population
        for k, i in enumerate(mc.patients):
            i = int(i)
            if mc.episode_month[k] % 3 == 0:
                running[i] = 0.0
            running[i] += float(mc.fee_value[k])
            assert mc.period_value[k] == pytest.approx(running[i], rel=1e-5)
        target = 900.0 * contract.case_mix.weight(
            pop.condition[mc.patients], mc.function_at_start, pop.risk[mc.patients]
        )
        share = 0.0 if month < 12 else 1.0
        want = rules.reconcile(mc.period_value, target, downside_share=share)
        want = np.where(mc.period_end, want, 0.0)
        np.testing.assert_allclose(mc.paid.adjustment, want, rtol=1e-9, atol=1e-9)
        if month < 12:
            negative_in_year_one += int((mc.paid.adjustment < 0).sum())
        else:
            negative_in_year_two += int((mc.paid.adjustment < 0).sum())
        # FFS claims are paid as usual
        np.testing.assert_allclose(mc.paid.revenue - mc.paid.adjustment, mc.fee_value, rtol=1e-12)
    assert negative_in_year_one == 0 and negative_in_year_two > 0


def test_episode_bundle_conserves_money():
    """Reconciliations are paid by (or repaid to) the payer; the ledgers balance."""
    res = run(world(months=15))
    df = res.monthly
    np.testing.assert_allclose(df["payer_payments"] + df["oop"], df["provider_revenue"])
    (led,) = res.ledgers
    assert led["providers_received"] == pytest.approx(led["payer_paid"] + led["patients_paid"])
    assert df["reconciliation"].abs().sum() > 0
