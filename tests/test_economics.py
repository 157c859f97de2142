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
    """On a real run: undiscounted QALYs per member = Σ mean utility / 12; discounting at a
    positive rate lowers both QALYs and costs; at rate 0 they equal the plain sums."""
    from sim.experiments.run import run
    from sim.scenario import load_scenario

    sc = load_scenario(
        "scenarios/compare_payment_models.toml",
        ["population.patients=2000", "months=13", "replications=2", "outputs.figure=false"],
    )
    res = run(sc, arms=["ffs", "capitation"])
    keys = ["arm", "replicate"]
    pr = economics.per_replicate(res.monthly, res.subgroups, sc.analysis, keys)
    everyone = res.subgroups[res.subgroups["subgroup"] == "all"]
    plain = everyone.groupby(keys)["mean_utility"].sum() / 12
    np.testing.assert_allclose(
        pr.set_index(keys)["qalys_per_member_undiscounted"].loc[plain.index], plain, rtol=1e-12
    )
    assert (pr["qalys_per_member"] < pr["qalys_per_member_undiscounted"]).all()
    zero = AnalysisConfig(discount_rate=0.0)
    pr0 = economics.per_replicate(res.monthly, res.subgroups, zero, keys).set_index(keys)
    first = res.monthly[res.monthly["setting"] == res.monthly["setting"].iloc[0]]
    members = first.groupby([*keys, "month"])["members"].sum()
    cost = res.monthly.groupby([*keys, "month"])[["spending", "oop"]].sum().sum(axis=1)
    expected = (cost / members).groupby(keys).sum()
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
