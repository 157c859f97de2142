"""Contracts that set a number from the run's own past (``PaymentModel.base_period``): an
all-payer global budget whose target is each hospital's revenue over base months before the
switch (``all_payer_budget.base_months``), as the HSCRC set each Maryland hospital's budget
from its own base-year revenue."""

from __future__ import annotations

from pathlib import Path

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
