"""Health-economic outcomes (sim/results/economics.py) against closed forms and simple cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.results import economics
from sim.scenario import AnalysisConfig


def test_discount_weights_are_annual_compounding_by_month():
    """(1 + r)^(−m/12): a year on is 1/(1 + r), two years 1/(1 + r)²; r = 0 weighs all 1."""
    w = economics.discount(np.array([0, 6, 12, 24]), 0.03)
    np.testing.assert_allclose(w, [1, 1.03**-0.5, 1 / 1.03, 1 / 1.03**2])
    assert (economics.discount(np.arange(30), 0.0) == 1).all()


def _per_rep(rows):
    cols = ["arm", "replicate", "cost_per_member_health_system", "qalys_per_member"]
    df = pd.DataFrame(rows, columns=cols)
    for p in economics.PERSPECTIVE_COLUMNS:
        if p != "health_system":
            df[f"cost_per_member_{p}"] = 0.0
    return df


CFG = AnalysisConfig(wtp=[50_000.0, 100_000.0])


def test_increments_icer_and_nmb():
    """Paired increments per replication, ICER = mean ΔC / mean ΔQ, NMB = λ·ΔQ − ΔC."""
    pr = _per_rep(
        [
            ("a", 0, 100.0, 1.000),
            ("b", 0, 130.0, 1.001),
            ("a", 1, 110.0, 1.000),
            ("b", 1, 150.0, 1.0006),
        ]
    )
    inc = economics.increments(pr, CFG, "a", ["replicate"])
    b = inc[inc["arm"] == "b"].set_index("replicate")
    np.testing.assert_allclose(b["d_cost"], [30.0, 40.0])
    np.testing.assert_allclose(b["d_qalys"], [0.001, 0.0006], rtol=1e-9)
    np.testing.assert_allclose(b["nmb_50000"], 50_000 * b["d_qalys"] - b["d_cost"])
    t = economics.table(pr, inc, CFG, "a", ["replicate"]).set_index("arm")
    assert t.loc["b", "icer"] == pytest.approx(35.0 / 0.0008)
    assert t.loc["b", "icer_note"] == "dearer, better"
    assert t.loc["a", "icer_note"] == "baseline" and np.isnan(t.loc["a", "icer"])
    assert t.loc["a", "incremental_cost"] == 0
    # with 2 replications a t-interval exists and holds the mean
    assert t.loc["b", "incremental_cost_ci_low"] < 35 < t.loc["b", "incremental_cost_ci_high"]


def test_a_dominant_arm_has_no_icer():
    """Cheaper and better: 'dominant', no ratio; dearer and worse: 'dominated'."""
    pr = _per_rep([("a", 0, 100.0, 1.0), ("b", 0, 90.0, 1.01), ("c", 0, 120.0, 0.99)])
    inc = economics.increments(pr, CFG, "a", ["replicate"])
    t = economics.table(pr, inc, CFG, "a", ["replicate"]).set_index("arm")
    assert t.loc["b", "icer_note"] == "dominant" and np.isnan(t.loc["b", "icer"])
    assert t.loc["c", "icer_note"] == "dominated" and np.isnan(t.loc["c", "icer"])
    assert t.loc["b", "prob_cost_effective_50000"] == 1.0


def test_acceptability_curve():
    """Probabilities sum to 1 at every λ; at λ = 0 the cheapest arm wins, at a large λ the arm
    with the most QALYs; in between, the share of draws where its NMB is highest."""
    pr = _per_rep(
        [
            ("a", 0, 100.0, 1.000),
            ("b", 0, 150.0, 1.001),
            ("a", 1, 100.0, 1.000),
            ("b", 1, 150.0, 1.002),
        ]
    )
    inc = economics.increments(pr, CFG, "a", ["replicate"])
    curve = economics.ceac(inc, ["replicate"], np.array([0.0, 30_000.0, 1e6]))
    p = curve.pivot(index="wtp", columns="arm", values="probability")
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p.loc[0.0, "a"] == 1.0
    assert p.loc[1e6, "b"] == 1.0
    # at 30,000/QALY: draw 0 (ΔC 50 for 0.001 QALY: 50,000/QALY) favours a, draw 1 favours b
    assert p.loc[30_000.0, "b"] == 0.5


def test_a_run_carries_discounted_qalys_and_costs():
    """On a real run (the main comparison, with its life course): undiscounted QALYs per
    person = Σ QALYs / persons ever members; discounting at a positive rate lowers both QALYs
    and costs; at rate 0 they equal the plain sums per person."""
    from sim.experiments.run import run
    from sim.results.tables import persons_ever
    from sim.scenario import load_scenario

    sc = load_scenario(
        "scenarios/compare_payment_models.toml",
        ["population.patients=2000", "months=13", "replications=2", "outputs.figure=false"],
    )
    res = run(sc, arms=["ffs", "capitation"])
    keys = ["arm", "replicate"]
    pr = economics.per_replicate(res.monthly, res.subgroups, sc.analysis, keys)
    everyone = res.subgroups[res.subgroups["subgroup"] == "all"]
    persons = everyone.groupby(keys)[["month", "members", "entries", "replicate"]].apply(
        persons_ever
    )
    plain = everyone.groupby(keys)["qalys"].sum() / persons
    np.testing.assert_allclose(
        pr.set_index(keys)["qalys_per_member_undiscounted"].loc[plain.index], plain, rtol=1e-12
    )
    assert (pr["qalys_per_member"] < pr["qalys_per_member_undiscounted"]).all()
    zero = AnalysisConfig(discount_rate=0.0)
    pr0 = economics.per_replicate(res.monthly, res.subgroups, zero, keys).set_index(keys)
    cost = res.monthly.groupby(keys)[["spending", "oop"]].sum().sum(axis=1)
    expected = cost / persons.loc[cost.index]
    np.testing.assert_allclose(pr0["cost_per_member_health_system"].loc[expected.index], expected)
    discounted = pr.set_index(keys)["cost_per_member_health_system"].loc[expected.index]
    assert (discounted < expected).all()
    # capitated members pay nothing: the patients' perspective costs them nothing
    assert (pr0.xs("capitation", level="arm")["cost_per_member_patients"] == 0).all()


def test_results_folder_carries_economics(tmp_path):
    """sim run of the main comparison writes economics.csv (every arm, against ffs), its
    replications and the acceptability curve, with their columns in metadata.json."""
    import json

    from sim.cli import main

    out = tmp_path / "r"
    assert (
        main(
            [
                "run",
                "scenarios/compare_payment_models.toml",
                "--quiet",
                "--arms",
                "ffs,capitation,bundled",
                "--set",
                "population.patients=1500",
                "--set",
                "months=4",
                "--set",
                "replications=2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    eco = pd.read_csv(out / "economics.csv").set_index("arm")
    assert list(eco.index) == ["ffs", "capitation", "bundled"]
    assert (eco["baseline"] == "ffs").all() and (eco["replicates"] == 2).all()
    assert eco.loc["ffs", "incremental_qalys"] == 0
    meta = json.loads((out / "metadata.json").read_text())
    for name in (
        "economics.csv",
        "economics_replicates.csv",
        "ceac.csv",
        "subgroups.parquet",
        "summary_subgroups.csv",
    ):
        assert name in meta["files"] and name in meta["columns"]
    names = {c["name"] for c in meta["columns"]["economics.csv"]}
    assert names == set(eco.reset_index().columns)
    reps = pd.read_csv(out / "economics_replicates.csv")
    assert {c["name"] for c in meta["columns"]["economics_replicates.csv"]} == set(reps.columns)


def _cohort(arm: str, h: float, months: int, n0: float = 1000.0, u: float = 0.8, c: float = 50.0):
    """A closed cohort of ``n0`` at a constant monthly death probability ``h``, utility ``u``
    and cost ``c`` per member-month, as the monthly, subgroup and life tables carry it."""
    m = np.arange(months)
    members = n0 * (1.0 - h) ** m  # members during month m (deaths at its end)
    base = {"arm": arm, "replicate": 0, "month": m}
    monthly = pd.DataFrame(
        {
            **base,
            "setting": "clinic",
            "payer": "medicare",
            "members": members,
            "spending": c * members,
            "oop": 0.0,
            "public_payer_spending": c * members,
            "plan_margin": 0.0,
            "provider_margin": 0.0,
        }
    )
    subgroups = pd.DataFrame(
        {
            **base,
            "subgroup": "all",
            "group": "all",
            "members": members,
            "qalys": u * members / 12.0,
            "entries": 0.0,
            "deaths": members * h,
            "life_years": members / 12.0,
        }
    )
    life = pd.DataFrame(
        {
            **base,
            "setting": "clinic",
            "payer": "medicare",
            "members_start": members,
            "entries": 0,
            "deaths": members * h,
            "members": members,
            "cohort_alive": members * (1.0 - h),
            "members_end": members * (1.0 - h),
            "in_care": 0,
            "deaths_in_care": 0,
            "admissions": 0,
            "deaths_after_admission": 0,
            "adverse_events": 0,
            "deaths_after_adverse_event": 0,
        }
    )
    return monthly, subgroups, life


@pytest.mark.parametrize("rate", [0.0, 0.03])
def test_qalys_and_life_years_at_a_constant_hazard(rate):
    """With deaths (a life course), per person: life-years = Σ_m (1 − h)^m · (1 + r)^(−m/12)
    / 12, QALYs = u × that and costs = 12·c × that — the geometric sums, discounted or not."""
    h, months, u, c = 0.004, 60, 0.8, 50.0
    monthly, subgroups, _ = _cohort("a", h, months, u=u, c=c)
    cfg = AnalysisConfig(discount_rate=rate)
    pr = economics.per_replicate(monthly, subgroups, cfg, ["arm", "replicate"]).iloc[0]
    x = (1.0 - h) * (1.0 + rate) ** (-1.0 / 12.0)
    years = (1.0 - x**months) / (1.0 - x) / 12.0
    assert pr["life_years_per_member"] == pytest.approx(years, rel=1e-12)
    assert pr["qalys_per_member"] == pytest.approx(u * years, rel=1e-12)
    assert pr["cost_per_member_health_system"] == pytest.approx(12 * c * years, rel=1e-12)
    undiscounted = (1.0 - (1.0 - h) ** months) / h / 12.0
    assert pr["qalys_per_member_undiscounted"] == pytest.approx(u * undiscounted, rel=1e-12)
    assert pr["deaths_per_1000"] == pytest.approx(1000 * (1 - (1 - h) ** months), rel=1e-12)


def test_a_lower_hazard_gains_life_years_and_qalys():
    """Two arms at hazards h₁ < h₀: the life-year increment is the difference of the closed
    forms, and the QALY increment u times it."""
    months, u = 48, 0.7
    m0, s0, _ = _cohort("base", 0.005, months, u=u)
    m1, s1, _ = _cohort("better", 0.003, months, u=u)
    cfg = AnalysisConfig(discount_rate=0.0, wtp=[50_000.0])
    out = economics.analyse(pd.concat([m0, m1]), pd.concat([s0, s1]), cfg, "base")
    row = out["table"].set_index("arm").loc["better"]

    def years(h):
        return (1.0 - (1.0 - h) ** months) / h / 12.0

    assert row["incremental_life_years"] == pytest.approx(years(0.003) - years(0.005), rel=1e-9)
    assert row["incremental_qalys"] == pytest.approx(u * (years(0.003) - years(0.005)), rel=1e-9)
    assert "d_life_years" in out["increments"]


def test_survival_and_life_years_of_the_starting_cohort():
    """summary_life.csv: survival at the end is (1 − h)^M and the life-years per starting
    member the area under the survival curve, (1 − (1 − h)^M) / (12·h)."""
    from sim.results.tables import summarize_life

    h, months = 0.01, 36
    _, _, life = _cohort("a", h, months)
    row = summarize_life(life).set_index("setting").loc["all"]
    assert row["survival_end"] == pytest.approx((1 - h) ** months, rel=1e-12)
    expected = (1 - (1 - h) ** months) / (12 * h)
    assert row["life_years_per_starting_member"] == pytest.approx(expected, rel=1e-12)
    assert row["death_rate"] == pytest.approx(1000 * row["deaths"] / row["member_years"], rel=1e-12)
