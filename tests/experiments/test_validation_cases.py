"""The shipped validation cases (validation/) follow the case format and their scenarios run:
each case names its scenario's arms, a numeric column of its table and months inside the run.
Whether the model falls inside a published range is reported by `sim validate`, never
asserted here."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from paths import ROOT

from sim.experiments.run import run
from sim.results.tables import MONTHLY_COLUMNS
from sim.scenario import load_scenario

SUITE = ROOT / "validation"
CASES = sorted(SUITE.glob("*.toml"))
FIELDS = {
    "title",
    "finding",
    "citation",
    "scenario",
    "arm",
    "baseline",
    "table",
    "column",
    "numerator",
    "denominator",
    "setting",
    "window",
    "statistic",
    "price_ratio",
    "published",
    "range",
    "interval_level",
    "design",
    "concurrent",
    "replications",
    "notes",
}
REQUIRED = FIELDS - {
    "baseline", "setting", "window", "notes", "column", "numerator", "denominator",
    "price_ratio", "interval_level",
}  # fmt: skip


def _case(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))["case"]


def test_the_suite_has_the_issue_cases():
    """At least the six findings of issue 13 are cases (some have several measures)."""
    stems = {p.stem for p in CASES}
    for prefix in ("pps_1983", "ips_1997", "hrrp", "maryland_2014", "mssp_aco", "therapy_cap"):
        assert any(s.startswith(prefix) for s in stems), prefix


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_each_case_follows_the_format(path):
    """Only the format's fields, the required ones present, the statistic consistent with the
    baseline, the published figure inside its range, a numeric monthly column and a window
    inside the run; the scenario's arms and setting exist."""
    case = _case(path)
    assert set(case) <= FIELDS and set(case) >= REQUIRED
    assert case["table"] == "monthly"
    measured = [case["column"]] if "column" in case else case["numerator"] + case["denominator"]
    assert ("column" in case) != ("numerator" in case)
    assert all(MONTHLY_COLUMNS[c][0] in ("float64", "int64") for c in measured)
    assert case["statistic"] in ("level", "difference", "relative_change", "elasticity")
    assert (case["statistic"] == "elasticity") == ("price_ratio" in case)
    assert case["design"].strip() and case["concurrent"].strip()
    assert (case["statistic"] == "level") == ("baseline" not in case)
    lo, hi = case["range"]
    assert lo <= case["published"] <= hi
    sc = load_scenario(str(path.parent / case["scenario"]))
    arms = [a.name for a in sc.arms]
    assert case["arm"] in arms and case.get("baseline", arms[0]) in arms
    assert case.get("setting", next(iter(sc.settings))) in sc.settings
    start, end = case["window"]
    assert 0 <= start < end <= sc.months
    assert "model" in case["notes"]  # the measured figure is written down


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_each_case_is_on_the_base_world(path):
    """Every case's scenario is built on the base world (issue 26: one world), and a range given
    as a confidence interval says its level."""
    case = _case(path)
    raw = tomllib.loads((path.parent / case["scenario"]).read_text(encoding="utf-8"))
    assert raw.get("world") == "../../scenarios/worlds/medicare.toml"
    if "interval_level" in case:
        assert 0 < case["interval_level"] < 1


@pytest.mark.parametrize(
    "scenario", sorted({_case(p)["scenario"] for p in CASES}), ids=lambda s: Path(s).stem
)
def test_each_validation_scenario_runs_small(scenario):
    """Every case's scenario runs (2,000 patients, one replicate) and its arms differ only
    after the reform."""
    sc = load_scenario(str(SUITE / scenario), ["population.patients=2000", "replications=1"])
    monthly = run(sc).monthly
    assert set(monthly["arm"]) == {a.name for a in sc.arms}
    assert len(monthly) == sc.months * len(sc.arms) * len(sc.settings) * len(sc.payers)
    first = sc.arms[0].name
    cols = ["spending", "service_units", "patients_treated"]
    for arm in sc.arms[1:]:
        if not arm.switches:
            continue
        before = min(s.month for s in arm.switches)
        a = monthly[(monthly["arm"] == arm.name) & (monthly["month"] < before)]
        b = monthly[(monthly["arm"] == first) & (monthly["month"] < before)]
        assert a[cols].to_numpy().tolist() == b[cols].to_numpy().tolist()
