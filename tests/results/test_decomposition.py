"""The decomposition of each arm's effect by margin (sim/results/margins.py): each term on a
hand-built monthly table, the identity (the terms add up to the total) on a real run with the
extensive margin on, the admission rates against the monthly table, and the report's section."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.experiments.run import run
from sim.publish.report import build_report
from sim.results import margins
from sim.results.folder import write_results
from sim.scenario import load_scenario

TERMS = [f"d_{k}" for k, _ in margins.TERMS]

#: the hand-built run: (arm, setting) -> month sums of one replicate over two months
#: (members, revenue, episodes, visits, units, ended units, ended episodes, coding ratio)
HAND = {
    ("base", "clinic"): (1000, 20_000.0, 50, 200, 400, 380, 48, 1.0),
    ("base", "hospital"): (1000, 60_000.0, 10, 50, 50, 45, 9, 1.0),
    ("reform", "clinic"): (1000, 23_100.0, 55, 231, 440, 420, 50, 1.05),
    ("reform", "hospital"): (1000, 48_000.0, 8, 36, 36, 40, 8, 1.0),
}


def hand_monthly(coding: bool = True) -> pd.DataFrame:
    """Two arms, one replicate, two settings, one payer, two months (each about half the
    sums; the coding ratio the same in both), and a month outside a 2-month window."""
    rows = []
    for (arm, setting), (*sums, k) in HAND.items():
        for month in (0, 1, 2):
            # month 0 lies outside the window (last 2 months): junk that must not count
            part = [3 * x if month == 0 else x // 2 if month == 1 else x - x // 2 for x in sums]
            mm, rev, eps, vis, units, eu, ee = part
            rows.append({
                "arm": arm, "replicate": 0, "month": month, "setting": setting, "payer": "p",
                "members": mm, "provider_revenue": rev, "episodes": eps, "visits": vis,
                "service_units": units, "episode_units_ended": eu, "episodes_ended": ee,
                # risk in care: 2 per unit, coded k times higher (9 times outside the window)
                **({margins.TRUE_RISK: 2.0 * units,
                    margins.CODED_RISK: 2.0 * units * (k if month else 9.0)} if coding else {}),
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_each_term_on_a_hand_built_table():
    """Every term is the change in the log of its factor, worked by hand; all settings
    by the log-mean Divisia weights."""
    per_rep = margins.by_replicate(hand_monthly(), "base", last_months=2)
    r = per_rep[per_rep["arm"] == "reform"].set_index("setting")
    ln = math.log
    # clinic: revenue 20,000 → 23,100, cases 50 → 55, visits/case 4 → 4.2,
    # units/visit 2 → 440/231, coding 1 → 1.05, price 50 → 23,100/(1.05·440) = 50
    c = r.loc["clinic"]
    assert c["revenue_pmpm"] == pytest.approx(23.1)
    assert c["d_total"] == pytest.approx(ln(23_100 / 20_000))
    assert c["d_cases"] == pytest.approx(ln(55 / 50))
    assert c["d_length_of_stay"] == pytest.approx(ln(4.2 / 4))
    assert c["d_intensity"] == pytest.approx(ln((440 / 231) / 2))
    assert c["d_coding"] == pytest.approx(ln(1.05))
    assert c["d_price"] == pytest.approx(0.0, abs=1e-12)
    assert c["d_intensity_per_case"] == pytest.approx(ln(8 / 8))
    assert c["d_units_per_ended_episode"] == pytest.approx(ln(8.4 / (380 / 48)))
    assert c["price_per_unit"] == pytest.approx(50.0)
    # hospital (a day setting: visits = units): stays 5 → 4.5 days, price 1,200 → 1,333.3
    h = r.loc["hospital"]
    assert h["d_cases"] == pytest.approx(ln(8 / 10))
    assert h["d_length_of_stay"] == pytest.approx(ln(4.5 / 5))
    assert h["d_intensity"] == pytest.approx(0.0, abs=1e-12)
    assert h["d_coding"] == pytest.approx(0.0, abs=1e-12)
    assert h["d_price"] == pytest.approx(ln((48_000 / 36) / 1200))
    # all settings: revenue per member-month 80 → 71.1; weights L(r_s)/L(r)
    a = r.loc["all"]
    assert a["d_total"] == pytest.approx(ln(71.1 / 80))
    lm = lambda x, y: (x - y) / (ln(x) - ln(y))  # noqa: E731
    w_c, w_h = lm(23.1, 20.0) / lm(71.1, 80.0), lm(48.0, 60.0) / lm(71.1, 80.0)
    for k in TERMS:
        assert a[k] == pytest.approx(w_c * c[k] + w_h * h[k], abs=1e-12)
    assert a["cases_per_1000"] == pytest.approx(1000 * (55 + 8) / 1000)
    assert np.isnan(a["visits_per_case"])
    # the baseline against itself: every change is 0
    b = per_rep[per_rep["arm"] == "base"]
    assert (b[[*TERMS, "d_total"]].abs().to_numpy() < 1e-15).all()


def test_without_coded_risk_coding_is_one():
    """No coded and true risk in the table (a run without them): the coding term is 0 and
    the price term takes what coding took."""
    with_k = margins.by_replicate(hand_monthly(), "base", last_months=2)
    without = margins.by_replicate(hand_monthly(coding=False), "base", last_months=2)
    w = with_k.set_index(["arm", "setting"])
    o = without.set_index(["arm", "setting"])
    assert (o["d_coding"].abs() < 1e-15).all() and (o["coding_ratio"].dropna() == 1.0).all()
    key = ("reform", "clinic")
    assert o.loc[key, "d_price"] == pytest.approx(w.loc[key, "d_price"] + math.log(1.05))


def test_a_setting_without_cases_leaves_no_split():
    """A setting with revenue but no cases in one arm has no split (NaN terms), and then the
    all-settings terms are NaN too; the totals are still there."""
    m = hand_monthly()
    m.loc[(m["arm"] == "reform") & (m["setting"] == "hospital"), "episodes"] = 0
    per_rep = margins.by_replicate(m, "base", last_months=2).set_index(["arm", "setting"])
    assert np.isnan(per_rep.loc[("reform", "hospital"), "d_cases"])
    assert np.isnan(per_rep.loc[("reform", "all"), "d_cases"])
    assert np.isfinite(per_rep.loc[("reform", "all"), "d_total"])


def test_log_mean():
    """L(x, y) = (x − y)/(ln x − ln y), L(x, x) = x; NaN where not positive."""
    out = margins.log_mean(np.array([2.0, 3.0, 0.0]), np.array([1.0, 3.0, 1.0]))
    assert out[0] == pytest.approx(1 / math.log(2))
    assert out[1] == 3.0 and np.isnan(out[2])


SCENARIO = """
name = "decompose"
months = 8
seed = 5
replications = 3
[population]
patients = 6000
[behaviour]
mode = "best_response"
[behaviour.admission]
enabled = true
[supply.participation]
enabled = false
[settings.outpatient_therapy.admission]
discretionary_share = 0.5
[settings.primary_care.admission]
discretionary_share = 0.3
[outputs]
figure = false
summary_months = 6
[analysis]
baseline = "ffs"
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "fee_cut"
contracts = [{ model = "ffs", fee_multiplier = 0.8 }]
[[arms]]
name = "bundled"
contracts = [{ model = "bundled", base_rate = 600.0 }]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("decompose")
    (tmp / "decompose.toml").write_text(SCENARIO)
    sc = load_scenario(tmp / "decompose.toml")
    result = run(sc)
    write_results(
        tmp / "res",
        monthly=result.monthly,
        summary=result.summary,
        providers=result.providers,
        meta=result.metadata(),
        subgroups=result.subgroups,
        scenario=sc,
    )
    return tmp / "res"


def test_the_terms_add_up_on_a_real_run(folder):
    """In every arm, setting (and all settings) and replicate, cases + length of stay +
    intensity + coding + price = the total change in log revenue per member-month; and the
    table's means add up too."""
    per_rep = pd.read_csv(folder / "decomposition_replicates.csv")
    assert set(per_rep["setting"]) == {"outpatient_therapy", "primary_care", "all"}
    assert per_rep["replicate"].nunique() == 3
    parts = per_rep[TERMS].sum(axis=1)
    assert np.isfinite(per_rep["d_total"]).all() and np.isfinite(parts).all()
    np.testing.assert_allclose(parts, per_rep["d_total"], rtol=0, atol=1e-8)
    # not trivially: the reforms move several margins
    reform = per_rep[(per_rep["arm"] != "ffs") & (per_rep["setting"] != "all")]
    assert (reform["d_total"].abs() > 1e-3).all()
    assert (reform[["d_cases", "d_length_of_stay", "d_price"]].abs() > 1e-4).to_numpy().any()
    table = pd.read_csv(folder / "decomposition.csv")
    np.testing.assert_allclose(table[TERMS].sum(axis=1), table["d_total"], rtol=0, atol=1e-5)
    # the revenue level is the monthly table's, recomputed over the window
    monthly = pd.read_parquet(folder / "monthly.parquet")
    w = monthly[(monthly["month"] >= 2) & (monthly["arm"] == "fee_cut")]
    w = w[w["setting"] == "outpatient_therapy"]
    rev = w.groupby("replicate")["provider_revenue"].sum() / w.groupby("replicate")["members"].sum()
    row = table[(table["arm"] == "fee_cut") & (table["setting"] == "outpatient_therapy")]
    assert float(row["revenue_pmpm"].iloc[0]) == pytest.approx(rev.mean(), rel=1e-5)


def test_admission_rates_against_the_monthly_table(folder):
    """Admission rates by payer and risk quartile are the admitted over the decided of the
    window's rows; the quartiles' cases decided add up to all."""
    monthly = pd.read_parquet(folder / "monthly.parquet")
    q = [f"cases_decided_risk_q{k}" for k in range(1, 5)]
    assert (monthly[q].sum(axis=1) == monthly["cases_decided"]).all()
    assert monthly["cases_decided"].sum() > 0
    rates = pd.read_csv(folder / "admission_rates.csv")
    w = monthly[(monthly["month"] >= 2) & (monthly["setting"] == "outpatient_therapy")]
    for arm, payer, k in [("bundled", "commercial", 4), ("fee_cut", "medicare_ffs", 1)]:
        d = w[(w["arm"] == arm) & (w["payer"] == payer)]
        dec = d.groupby("replicate")[f"cases_decided_risk_q{k}"].sum()
        adm = (
            (d[f"admission_rate_risk_q{k}"] * d[f"cases_decided_risk_q{k}"])
            .groupby(d["replicate"])
            .sum()
        )
        row = rates[
            (rates["arm"] == arm)
            & (rates["setting"] == "outpatient_therapy")
            & (rates["payer"] == payer)
            & (rates["risk_group"] == f"q{k}")
        ]
        assert float(row["admission_rate"].iloc[0]) == pytest.approx((adm / dec).mean(), 1e-5)
        assert float(row["cases_decided"].iloc[0]) == pytest.approx(dec.mean(), 1e-5)
    assert set(rates["payer"]) == {"medicare_ffs", "commercial", "all"}
    assert set(rates["risk_group"]) == {"q1", "q2", "q3", "q4", "all"}
    base = rates[rates["arm"] == "ffs"]
    assert (base["admission_rate_change"].abs() < 1e-12).all()


def test_the_report_shows_the_decomposition(folder):
    """A report of a run with the extensive margin on has the section: its figures, tables
    and data, in index.md and report.html."""
    report = build_report(folder)
    files = {p.relative_to(report.folder).as_posix() for p in report.files}
    for stem in ("decomposition", "admission_rates"):
        assert f"figures/{stem}.png" in files and f"figures/{stem}.pdf" in files
        assert {f"tables/{stem}.{ext}" for ext in ("csv", "md", "tex")} <= files
    assert "data/decomposition.csv" in files
    page = (report.folder / "report.html").read_text(encoding="utf-8")
    assert '<a href="#decomposition">Effects by margin</a>' in page
    md = (report.folder / "tables" / "decomposition.md").read_text(encoding="utf-8")
    assert "fee_cut" in md and "bundled" in md
    # the report's means are the results table's, in log points
    shown = pd.read_csv(report.folder / "data" / "decomposition.csv")
    table = pd.read_csv(folder / "decomposition.csv")
    s = shown[(shown["arm"] == "bundled") & (shown["setting"] == "all")]
    t = table[(table["arm"] == "bundled") & (table["setting"] == "all")].iloc[0]
    for key, label in [("d_total", "total"), ("d_cases", "cases"), ("d_price", "price per unit")]:
        got = float(s.loc[s["term"] == label, "mean"].iloc[0])
        assert got == pytest.approx(100 * t[key], rel=1e-4)
