"""Subgroup tables (sim/engine/subgroups.py): groups partition the members, add up to the monthly
table, leave the other tables' bytes alone, and map function to utility as stated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.experiments.run import run
from sim.results.tables import summarize_subgroups
from sim.scenario import load_scenario, validate_scenario

MAIN = "scenarios/compare_payment_models.toml"
SMALL = ["population.patients=3000", "months=6", "replications=2", "outputs.figure=false"]
DIMS = '["risk_quantile", "condition", "payer", "region", "function_band", "payer*risk_quantile"]'


@pytest.fixture(scope="module")
def result():
    # the closed cohort (the main comparison without its life course): groups fixed from month 0
    sc = load_scenario(MAIN, [*SMALL, f"analysis.subgroups={DIMS}"])
    sc = validate_scenario({**sc.model_dump(mode="json"), "life": None}, "test")
    return run(sc, arms=["ffs", "capitation", "blended"])


def test_groups_partition_the_members_every_month(result):
    """Each dimension's groups hold every member once, the same members every month."""
    sub = result.subgroups
    n = result.scenario.population.patients
    per = sub.groupby(["arm", "replicate", "month", "subgroup"])["members"].sum()
    assert (per == n).all()
    assert sub.groupby(["arm", "replicate", "subgroup", "group"])["members"].nunique().max() == 1


@pytest.mark.parametrize("column", ["spending", "oop", "adverse_events", "service_units"])
def test_groups_add_up_to_the_monthly_table(result, column):
    """Spending (capitation and blended fixed parts included), OOP, events and units of the
    groups of every dimension sum to the monthly table's totals over settings and payers."""
    keys = ["arm", "replicate", "month"]
    total = result.monthly.groupby(keys)[column].sum()
    for dim, d in result.subgroups.groupby("subgroup"):
        parts = d.groupby(keys)[column].sum()
        np.testing.assert_allclose(parts.loc[total.index], total, rtol=1e-9, atol=1e-6, err_msg=dim)


def test_combination_is_the_product_of_its_dimensions(result):
    """payer*risk_quantile has one group per payer and quartile, and summing it over payers
    gives the risk_quantile groups."""
    sub = result.subgroups
    combo = sub[sub["subgroup"] == "payer*risk_quantile"].copy()
    assert combo["group"].nunique() == len(result.scenario.payers) * 4
    combo["quartile"] = combo["group"].str.split(" & ").str[1]
    keys = ["arm", "replicate", "month"]
    summed = combo.groupby([*keys, "quartile"])["oop"].sum()
    q = sub[sub["subgroup"] == "risk_quantile"].set_index([*keys, "group"])["oop"]
    np.testing.assert_allclose(summed.to_numpy(), q.loc[summed.index].to_numpy(), rtol=1e-9)


def test_risk_quartiles_are_quarters_and_the_sickest_pay_most_under_ffs(result):
    """Quartiles of the risk score hold a quarter of the members each; under FFS, with need
    rising with risk, the top quartile pays more out of pocket than the bottom one."""
    s = summarize_subgroups(result.subgroups)
    q = s[(s["subgroup"] == "risk_quantile")].set_index(["arm", "group"])
    n = result.scenario.population.patients
    assert (abs(q["members"] - n / 4) <= 1).all()
    assert q.loc[("ffs", "Q4"), "oop_pmpm"] > q.loc[("ffs", "Q1"), "oop_pmpm"]
    assert q.loc[("capitation", "Q4"), "oop_pmpm"] == 0


def test_linear_utility_of_the_mean_function(result):
    """With the default linear mapping, mean utility = u(0) + (u(100) − u(0))·mean function/100,
    and a month's QALYs are Σ utility / 12."""
    d = result.subgroups
    u = result.scenario.analysis.utility_values
    expected = u[0] + (u[1] - u[0]) * d["mean_function"] / 100
    np.testing.assert_allclose(d["mean_utility"], expected, rtol=1e-12)
    np.testing.assert_allclose(d["qalys"], d["mean_utility"] * d["members"] / 12, rtol=1e-12)


def test_asking_for_subgroups_changes_no_other_table():
    """The monthly table and summary are the same, value for value, with and without
    [analysis]; without it no subgroup table is made."""
    with_analysis = run(load_scenario(MAIN, SMALL), arms=["ffs", "bundled"])
    plain = load_scenario(MAIN, SMALL).model_dump(mode="json")
    plain["analysis"] = None
    from sim.scenario import validate_scenario

    without = run(validate_scenario(plain), arms=["ffs", "bundled"])
    assert without.subgroups is None and with_analysis.subgroups is not None
    pd.testing.assert_frame_equal(with_analysis.monthly, without.monthly)
    pd.testing.assert_frame_equal(with_analysis.summary, without.summary)


def test_function_bands_follow_the_edges():
    """function_band groups are the bands of the month-0 function between the given edges."""
    sc = load_scenario(
        MAIN,
        [*SMALL, 'analysis.subgroups=["function_band"]', "analysis.function_bands=[50.0, 70.0]"],
    )
    sub = run(sc, arms=["ffs"]).subgroups
    first = sub[(sub["subgroup"] == "function_band") & (sub["month"] == 0)]
    assert set(first["group"]) == {"F<50", "F50-70", "F>=70"}
    mean = first.groupby("group")["mean_function"].mean()
    assert mean["F<50"] < mean["F50-70"] < mean["F>=70"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('analysis.subgroups=["zip_code"]', "unknown subgroup dimension 'zip_code'"),
        ('analysis.subgroups=["payer*payer"]', "a dimension is repeated"),
        ("analysis.function_bands=[60.0, 40.0]", "strictly increasing"),
        ('analysis.baseline="nope"', "analysis.baseline: unknown arm 'nope'"),
        (
            'analysis.key_measures=["therapy_minutes_per_day"]',
            "write therapy_minutes_per_day:<setting>",
        ),
        ('analysis.key_measures=["length_of_stay:snf"]', "unknown setting 'snf'"),
        ("analysis.utility_values=[0.3, 0.5, 0.9]", "the same number of points"),
        ("analysis.wtp=[-1.0]", "none negative"),
    ],
)
def test_bad_analysis_is_named(override, message):
    """Each bad [analysis] value is refused with a message naming the field and what is allowed."""
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=message.replace("*", r"\*").replace("[", r"\[")):
        load_scenario(MAIN, [override])


def test_cells_by_unique_columns_give_the_same_rows(monkeypatch):
    """Too many combinations for one integer: the cells come from the unique columns of the
    codes instead, and the subgroup rows are the same."""
    import sim.engine.subgroups as sg

    sc = load_scenario(MAIN, [*SMALL, f"analysis.subgroups={DIMS}"])
    usual = run(sc, arms=["ffs"]).subgroups
    monkeypatch.setattr(sg.math, "prod", lambda sizes: 2**63)
    fallback = run(sc, arms=["ffs"]).subgroups
    pd.testing.assert_frame_equal(usual, fallback, check_exact=False, rtol=1e-12)
