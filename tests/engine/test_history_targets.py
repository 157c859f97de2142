"""Contracts that set a number from the run's own past (``PaymentModel.base_period``): an
all-payer global budget whose target is each hospital's revenue over base months before the
switch (``all_payer_budget.base_months``), as the HSCRC set each Maryland hospital's budget
from its own base-year revenue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import run
from sim.errors import ScenarioError
from sim.scenario import load_scenario

SCENARIO = """
name = "gbr"
months = 8
seed = 5
[population]
patients = 8000
[payers.medicare]
share = 1.0
deductible = 0.0
# a setting before the hospital: the history is kept by (setting, payer), not the reverse
[settings.primary_care]
need_probability = 0.0
[settings.hospital]
unit = "inpatient day"
per_visit_rate = 2500.0
minutes_per_unit = 60.0
need_probability = 0.02
episode_months = 1.0
optimal_units = 4.5
benefit_curvature = 2000.0
value_per_function_point = 6750.0
marginal_cost = 1500.0
max_units = 20
[settings.hospital.providers]
members_per_provider = 2000
[behaviour]
mode = "{mode}"
[[arms]]
name = "per_case"
contracts = [{{ model = "ffs" }}, {{ {per_case} }}]
[[arms]]
name = "budget"
contracts = [{{ model = "ffs" }}, {{ {per_case} }}]
switches = [{{ month = {month}, contracts = [{{ {budget} }}] }}]
"""
PER_CASE = (
    'setting = "hospital", model = "bundled", base_rate = 13_000.0, coinsurance = 0.0, '
    "deductible_applies = false"
)
BUDGET = (
    'setting = "hospital", model = "all_payer_budget", base_months = {base}, '
    "volume_share = 0.0, risk_adjusted = false"
)


def _load(tmp_path: Path, *, base="[2, 4]", month=4, mode="best_response"):
    path = tmp_path / "gbr.toml"
    budget = BUDGET.format(base=base)
    path.write_text(SCENARIO.format(per_case=PER_CASE, budget=budget, month=month, mode=mode))
    return load_scenario(path)


@pytest.mark.parametrize("mode", ["best_response", "learning"])
def test_a_budget_from_the_base_months_pays_their_mean_monthly_revenue(tmp_path, mode):
    """A fixed budget (v = 0) per member from each hospital's own revenue in months 2-3: with
    no one entering or leaving, every hospital's members stay the same, so each month after
    the switch the payer pays exactly the hospitals' mean monthly revenue of months 2-3,
    whatever they then do; before it both arms are the same month for month."""
    m = run(_load(tmp_path, mode=mode)).monthly
    h = m[m.setting == "hospital"].set_index(["arm", "month"])
    rev = h.provider_revenue
    assert (h.members.groupby("arm").nunique() == 1).all()
    for month in range(4):
        assert rev["budget", month] == rev["per_case", month]
    base = (rev["budget", 2] + rev["budget", 3]) / 2
    assert base > 0
    for month in range(4, 8):
        assert rev["budget", month] == pytest.approx(base, rel=1e-12)
        assert h.spending["budget", month] == pytest.approx(base, rel=1e-12)
    # the per-case arm's revenue moves with its admissions: not the same figure
    assert rev["per_case", 5] != pytest.approx(base, rel=1e-6)


def test_a_base_period_after_the_switch_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match=r"base_months: \[2, 6\] must end by the switch"):
        _load(tmp_path, base="[2, 6]")


def test_a_budget_from_history_at_month_zero_is_refused(tmp_path):
    budget = BUDGET.format(base="[0, 2]")
    text = SCENARIO.format(per_case=budget, budget=budget, month=4, mode="best_response")
    path = tmp_path / "gbr.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="can only come in by a switch"):
        load_scenario(path)


def test_a_price_per_stay_from_the_base_months_is_budget_neutral(tmp_path):
    """``bundled.base_months``: the price per stay at weight 1 is what the payer paid over
    months 2-3 (cost-based) per stay started then, so every month after the switch pays that
    price for each stay it starts (every case-mix weight 1 here)."""
    cost_based = 'setting = "hospital", model = "cost_based"'
    pps = (
        'setting = "hospital", model = "bundled", base_months = [2, 4], coinsurance = 0.0, '
        "function_cutoffs = [], function_weights = [1.0], comorbidity_cutoffs = [], "
        "comorbidity_weights = [1.0]"
    )
    path = tmp_path / "pps.toml"
    path.write_text(SCENARIO.format(per_case=cost_based, budget=pps, month=4, mode="best_response"))
    m = run(load_scenario(path)).monthly
    h = m[(m.setting == "hospital") & (m.arm == "budget")].set_index("month")
    price = h.payer_payments.loc[2:3].sum() / h.episodes.loc[2:3].sum()
    assert price > 0
    for month in range(4, 8):
        assert h.episodes[month] > 0
        assert h.payer_payments[month] == pytest.approx(price * h.episodes[month], rel=1e-12)


CJR = """
world = "{world}"
name = "cjr_history"
months = 16
seed = 11
[population]
patients = 6000
[payers.medicare]
share = 1.0
deductible = 0.0
[settings.hospital.providers]
members_per_provider = 1500
[settings.snf]
[settings.home_health]
[pathway]
[[arms]]
name = "ffs"
contracts = [{{ model = "ffs" }}]
[[arms]]
name = "cjr"
contracts = [{{ model = "ffs" }}]
switches = [{{ month = 9, contracts = [{{ {cjr} }}] }}]
"""
EPISODE = (
    'setting = "hospital", model = "episode_bundle", scope = "pathway", base_months = [3, 9], '
    "hospital_share = {share}, discount = 0.03, episode_months = 3, downside_share_by_year = "
    "[1.0], stop_gain = 100.0, stop_loss = 100.0, function_cutoffs = [], function_weights = "
    "[1.0], comorbidity_cutoffs = [], comorbidity_weights = [1.0], coinsurance = 0.0, "
    "deductible_applies = false"
)


def _cjr(tmp_path: Path, share: float):
    from tests.paths import SCENARIOS

    path = tmp_path / "cjr.toml"
    world = (SCENARIOS / "worlds" / "medicare.toml").as_posix()
    path.write_text(CJR.format(world=world, cjr=EPISODE.format(share=share)))
    return load_scenario(path)


def test_cjr_targets_from_the_base_months_reconcile_each_pathway_against_them(tmp_path):
    """``episode_bundle.base_months`` with every hospital's spending alone (hospital_share 0),
    a 3% discount, flat case mix, full downside and no stop-loss or stop-gain: each pathway's
    target is 0.97 × the mean spending of the pathways that closed in months 3-8, so every
    month after the switch the hospitals are paid 0.97 × that mean × the pathways closing,
    less their spending, exactly (from the monthly table's own pathway columns)."""
    m = run(_cjr(tmp_path, 0.0)).monthly
    h = m[(m.setting == "hospital") & (m.arm == "cjr")].set_index("month")
    base = h.loc[3:8]
    assert base.pathways_closed.sum() > 50
    mean = base.pathway_spending.sum() / base.pathways_closed.sum()
    after = h.loc[9:]
    assert (after.pathways_closed > 0).all()
    expect = 0.97 * mean * after.pathways_closed - after.pathway_spending
    np.testing.assert_allclose(after.reconciliation, expect, rtol=1e-9)
    # before the switch nothing is reconciled and the two arms are the same
    f = m[(m.setting == "hospital") & (m.arm == "ffs")].set_index("month")
    assert (h.loc[:8].reconciliation == 0).all()
    np.testing.assert_array_equal(h.loc[:8].provider_revenue, f.loc[:8].provider_revenue)


def test_cjr_targets_blend_each_hospitals_own_spending(tmp_path):
    """hospital_share 2/3 (CJR's performance years 1-2): the targets differ by hospital, and
    their mean weighed by the base pathways is still 0.97 × the mean spending (the blend of
    each hospital's mean and the mean of all, weighed by each hospital's pathways, is the mean
    of all). Read from the contract the switch brought in."""
    from sim.engine.model import HealthSystemModel

    sc = _cjr(tmp_path, 2.0 / 3.0)
    model = HealthSystemModel(sc, "cjr", rng=sc.seed, replicate=0)
    for _ in range(10):
        model.step()
    world = model.world
    s = [x.name for x in world.settings].index("hospital")
    contract = world.payers[0].contracts[s]
    base = world.history.of(s, 0, contract.base_period()).pathways
    n = contract.hospital_target.size
    count = np.bincount(base.hospital, minlength=n)[:n]
    spend = np.bincount(base.hospital, base.spending, minlength=n)[:n]
    every = spend.sum() / count.sum()
    own = np.divide(spend, count, out=np.full(n, every), where=count > 0)
    np.testing.assert_allclose(contract.hospital_target, 0.97 * (2 / 3 * own + 1 / 3 * every))
    assert np.ptp(contract.hospital_target) > 0
    assert np.average(contract.hospital_target, weights=count) == pytest.approx(0.97 * every)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("target_price = 20000.0, base_months = [3, 9]", "not both"),
        ("", "give target_price"),
        ('base_months = [3, 9], scope = "setting"', "needs scope = 'pathway'"),
    ],
)
def test_a_cjr_target_is_given_or_taken_from_history_in_pathway_scope(tmp_path, fields, message):
    path = tmp_path / "bad.toml"
    parts = ['setting = "hospital"', 'model = "episode_bundle"', fields]
    if "scope" not in fields:
        parts.append('scope = "pathway"')
    bad = ", ".join(p for p in parts if p)
    from tests.paths import SCENARIOS

    world = (SCENARIOS / "worlds" / "medicare.toml").as_posix()
    path.write_text(CJR.format(world=world, cjr=bad))
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)
