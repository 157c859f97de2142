"""Providers on every margin, in the model (sim/engine/practice.py): best responses to the
contract's prices patient by patient, partial adjustment after a change of rules, and the
extensive margin's signs (admissions at the contract's price of a case)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import run
from sim.scenario import load_scenario

BASE = """
name = "margins"
months = {months}
seed = 11
replications = 1
[population]
patients = {patients}
[behaviour]
mode = "{mode}"
[behaviour.admission]
enabled = {admission}
[settings.outpatient_therapy]
need_probability = 0.03
minimum_care = {floor}
[settings.outpatient_therapy.admission]
discretionary_share = {discretionary}
alternative_benefit = 0.95
case_cost = {case_cost}
[settings.primary_care]
need_probability = 0.0
{arms}
"""


def scenario(tmp_path: Path, arms: str, *, months=12, patients=20_000, mode="best_response",
             admission="true", discretionary=0.6, case_cost=0.0, floor=0.0):  # fmt: skip
    path = tmp_path / "margins.toml"
    path.write_text(BASE.format(months=months, patients=patients, mode=mode, admission=admission,
                                discretionary=discretionary, arms=arms, case_cost=case_cost,
                                floor=floor))  # fmt: skip
    return load_scenario(path)


def therapy(monthly: pd.DataFrame, arm: str, column: str, ratio: str | None = None) -> float:
    d = monthly[(monthly.arm == arm) & (monthly.setting == "outpatient_therapy")]
    return float(d[column].sum() / (d[ratio].sum() if ratio else 1.0))


def _units_per_treated(m):
    """Therapy units per patient treated, by month (rows) and arm (columns)."""
    d = (
        m[m.setting == "outpatient_therapy"]
        .groupby(["arm", "month"])[["service_units", "patients_treated"]]
        .sum()
    )
    return (d.service_units / d.patients_treated).unstack("arm")


def test_best_response_on_a_fee_is_the_closed_form_on_average(tmp_path):
    """Under a straight fee the best responses, whole units patient by patient, average to the
    closed-form style of ``optimal`` mode (within half a unit per treated patient-month)."""
    arms = '[[arms]]\nname = "ffs"\ncontracts = [{ model = "ffs" }]'
    out = {}
    for mode in ("best_response", "optimal"):
        sc = scenario(tmp_path, arms, mode=mode, admission="false", months=6)
        m = run(sc).monthly
        out[mode] = therapy(m, "ffs", "service_units", "patients_treated")
    assert out["best_response"] == pytest.approx(out["optimal"], abs=0.5)


ARM = (
    '[[arms]]\nname = "{name}"\n'
    'contracts = [{{ model = "ffs" }}, {{ setting = "outpatient_therapy", {contract} }}]\n'
)


def test_a_fee_rise_raises_the_patients_treated(tmp_path):
    """With providers deciding which cases to take, and a case costing them something to take
    on, a 20% higher fee makes cases worth more to them: more are admitted and more patients
    are treated (the sign the literature finds; the patients' own response to the higher
    coinsurance is switched off here to isolate the providers')."""
    arms = ARM.format(name="base", contract='model = "ffs", coinsurance = 0.0') + ARM.format(
        name="fee_up", contract='model = "ffs", fee_multiplier = 1.2, coinsurance = 0.0'
    )
    m = run(scenario(tmp_path, arms, case_cost=0.7)).monthly  # ≈ $400: 0.7 × $18 × 16 × 2
    assert therapy(m, "fee_up", "patients_treated") > therapy(m, "base", "patients_treated")
    assert therapy(m, "fee_up", "admission_rate") > therapy(m, "base", "admission_rate")


def test_a_higher_price_per_case_raises_admissions(tmp_path):
    """Under a price per episode, raising it raises the discretionary cases admitted."""
    arms = ARM.format(name="low", contract='model = "bundled", base_rate = 250.0') + ARM.format(
        name="high", contract='model = "bundled", base_rate = 400.0'
    )
    m = run(scenario(tmp_path, arms)).monthly

    def rate(arm):
        return therapy(m, arm, "discretionary_cases") and therapy(
            m, arm, "discretionary_admission_rate"
        )

    d = m[m.setting == "outpatient_therapy"]
    took = d.groupby("arm").apply(
        lambda g: (
            (g.discretionary_admission_rate * g.discretionary_cases).sum()
            / g.discretionary_cases.sum()
        ),
        include_groups=False,
    )
    assert took["high"] > took["low"]
    assert rate("low") >= 0


def test_a_global_budget_lowers_discretionary_admissions(tmp_path):
    """A global budget that pays only half of each unit's charge (the rest is a fixed budget)
    makes discretionary cases worth less than under the full fee: fewer are admitted."""
    arms = ARM.format(name="ffs", contract='model = "ffs"') + ARM.format(
        name="budget", contract='model = "all_payer_budget", budget_pmpm = 10.0, volume_share = 0.5'
    )
    m = run(scenario(tmp_path, arms)).monthly
    d = m[m.setting == "outpatient_therapy"]
    took = d.groupby("arm").apply(
        lambda g: (
            (g.discretionary_admission_rate * g.discretionary_cases).sum()
            / g.discretionary_cases.sum()
        ),
        include_groups=False,
    )
    assert took["budget"] < took["ffs"]


def test_a_per_beneficiary_limit_drops_heavy_users_first(tmp_path):
    """Cost-based payment with a binding aggregate per-beneficiary limit (the 1997 interim
    payment system): once the limit binds, a beneficiary earns the limit and its visits
    nothing; an agency that must give at least a share φ of a patient's optimum and weighs its
    benefit at α values a case at L − c·φ·q_B + α·d·φ·(1 − φ/2)·q_B², which falls with the
    patient's need q_B below q̄ = c/(2·α·d·(1 − φ/2)) (tests/engine/test_decisions.py). With every
    agency's α low enough that every patient's need lies below q̄, the highest-risk
    (heaviest) users are turned away most."""
    arms = ARM.format(
        name="ips",
        contract='model = "cost_based", per_beneficiary_limit = 200.0, per_visit_limit = 60.0',
    )
    arms += (
        "[settings.outpatient_therapy.providers]\n"
        "altruism = { a = 2.0, b = 2.0, low = 0.02, high = 0.1 }\n"
    )
    sc = scenario(tmp_path, arms, months=18, discretionary=0.0, floor=0.6)
    st = sc.settings["outpatient_therapy"]
    phi = st.minimum_care
    q_bar = st.marginal_cost / (2 * 0.1 * st.benefit_curvature * (1 - phi / 2))
    assert st.optimal_units * 4.0**st.need_risk_elasticity < q_bar  # risk scores below 4
    m = run(sc).monthly
    d = m[(m.setting == "outpatient_therapy") & (m.month >= 12)]
    rates = []
    for q in range(1, 5):
        col = f"admission_rate_risk_q{q}"
        rates.append(float((d[col] * d["cases_decided"]).sum() / d["cases_decided"].sum()))
    assert rates[0] > rates[3]
    assert np.all(np.diff(rates) <= 0.02)


def test_practice_moves_toward_a_new_best_response_at_the_adjustment_speed(tmp_path):
    """After a switch from fee-for-service to capitation, units per patient do not jump to the
    new best response: each month providers move a share λ (their speed) of the rest of the
    way, so the month after the switch lies between the old and new levels."""
    arms = (
        '[[arms]]\nname = "switch"\ncontracts = [{ model = "ffs" }]\n'
        'switches = [{ month = 6, contracts = [{ setting = "outpatient_therapy", '
        'model = "capitation", pmpm = 9.0 }] }]\n'
        + ARM.format(name="cap", contract='model = "capitation", pmpm = 9.0')
        + ARM.format(name="ffs", contract='model = "ffs"')
    )
    sc = scenario(tmp_path, arms, months=14, admission="false")
    per = _units_per_treated(run(sc).monthly)
    ffs, cap, sw = per["ffs"], per["cap"], per["switch"]
    assert sw.loc[5] == pytest.approx(ffs.loc[5], rel=0.02)
    # the switch lands between months 5 and 6: month 6 is still played at the old rules'
    # best response, month 7 has moved part of the way, the last month most of it
    share = (ffs - sw) / (ffs - cap)
    assert share.loc[6] == pytest.approx(0.0, abs=0.05)
    assert 0.05 < share.loc[7] < 0.6
    assert share.loc[7] < share.loc[9] < share.loc[13]
    assert share.loc[13] > 0.6


@pytest.mark.parametrize("share", [0.25, 0.7])
def test_a_case_costs_its_share_of_the_episodes_cost(tmp_path, share):
    """``admission.case_cost`` is a share of the cost of an average episode's units at its
    optimum (marginal cost × optimal units × episode months at risk score 1), whatever the
    setting's prices: in the first month, when the same cases seek care in both runs, the mean
    value of a case to its provider falls by exactly that many dollars."""
    arms = ARM.format(name="ffs", contract='model = "ffs"')
    values = {}
    for c in (0.0, share):
        sc = scenario(tmp_path, arms, months=1, case_cost=c)
        m = run(sc).monthly
        d = m[m.setting == "outpatient_therapy"]
        assert d.cases_decided.sum() > 100
        values[c] = float((d.case_value * d.cases_decided).sum() / d.cases_decided.sum())
    st = sc.settings["outpatient_therapy"]
    dollars = share * st.marginal_cost * st.optimal_units * st.episode_months
    assert values[0.0] - values[share] == pytest.approx(dollars, rel=1e-9)


def test_payer_specificity_blends_the_payers_best_responses(tmp_path):
    """``behaviour.payer_specificity`` λ in best-response practice: a provider plays its norm
    (the mean of its best responses to each payer's prices, weighted by the payers' shares of
    its members) plus λ × the way to the patient's own payer's. Under fee-for-service the
    commercial payer's 1.4× fees buy its patients more units than Medicare's at λ = 1; at
    λ = 0 both payers' patients get the provider's one practice; units are linear in λ (the
    same patients and draws in every run, so λ = ½ lies halfway, up to the rounding)."""
    arms = ARM.format(name="ffs", contract='model = "ffs"')
    per = {}
    for lam in (0.0, 0.5, 1.0):
        sc = scenario(tmp_path, arms, months=3, admission="false")
        sc = sc.model_copy(
            update={"behaviour": sc.behaviour.model_copy(update={"payer_specificity": lam})}
        )
        m = run(sc).monthly
        d = (
            m[m.setting == "outpatient_therapy"]
            .groupby("payer")[["service_units", "patients_treated"]]
            .sum()
        )
        per[lam] = d.service_units / d.patients_treated
    own, one = per[1.0], per[0.0]
    assert own["commercial"] > 1.1 * own["medicare_ffs"]
    # one practice: the payers' patients alike up to their needs' sampling (a few %)
    assert one["commercial"] == pytest.approx(one["medicare_ffs"], rel=0.03)
    # between the payers' own responses: Medicare's patients get more, commercial's fewer
    assert own["medicare_ffs"] < one["medicare_ffs"] and one["commercial"] < own["commercial"]
    half = (per[0.0] + per[1.0]) / 2
    gap = (per[1.0] - per[0.0]).abs()
    assert ((per[0.5] - half).abs() < 0.05 * gap).all()


def test_a_second_change_of_rules_moves_practice_on_from_where_it_stands(tmp_path):
    """A change of rules while practice is still moving starts the next move from where
    practice stands, not from the rules before the first change. A second switch to the very
    same contract, three months into the move from fee-for-service to capitation, then changes
    nothing: from there practice moves on to capitation's best response as it would have
    (start + w·(target − start) continued from the point reached is the same path, closed
    form), so units per patient match the arm with one switch month by month (up to the
    rounding of units to whole numbers), where restarting from fee-for-service would put the
    month after the second switch back near fee-for-service's level."""
    cap = '{ setting = "outpatient_therapy", model = "capitation", pmpm = 9.0 }'
    arms = (
        '[[arms]]\nname = "once"\ncontracts = [{ model = "ffs" }]\n'
        f"switches = [{{ month = 4, contracts = [{cap}] }}]\n"
        '[[arms]]\nname = "twice"\ncontracts = [{ model = "ffs" }]\n'
        f"switches = [{{ month = 4, contracts = [{cap}] }}, {{ month = 7, contracts = [{cap}] }}]\n"
        + ARM.format(name="ffs", contract='model = "ffs"')
        + ARM.format(name="cap", contract='model = "capitation", pmpm = 9.0')
    )
    sc = scenario(tmp_path, arms, months=12, admission="false")
    per = _units_per_treated(run(sc).monthly)
    share = (per["ffs"] - per["twice"]) / (per["ffs"] - per["cap"])
    once = (per["ffs"] - per["once"]) / (per["ffs"] - per["cap"])
    assert once.loc[7] > 0.3  # the first move is well under way at the second switch
    for month in range(8, 12):
        assert share.loc[month] == pytest.approx(once.loc[month], abs=0.02)
