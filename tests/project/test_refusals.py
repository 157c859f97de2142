"""Every bad value refused, and no unbounded work (#29): a test for each value the audit found
silently used or failing late (payment amounts and cut-offs with a sign or a scale, integer
ranges without an integer, a prior given another prior's parameters, a measure against
itself, a case outside its own range, licences and versions, `--arms` without the baseline),
for what `sim report` used without a word, and for inputs that took minutes to refuse. The
bounds are checked from the schema itself by the property tests at the end."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import SCENARIOS, override, scenario_leaves, small_overrides, toml_value
from paths import ROOT

from sim.cli import main
from sim.errors import ScenarioError
from sim.scenario import load_scenario

SHIPPED = ROOT / "scenarios"
COMPARE = SHIPPED / "compare_payment_models.toml"
HOME_HEALTH = SHIPPED / "home_health_reform.toml"
TINY = ["--set", "population.patients=300", "--set", "months=3", "--set", "replications=1",
        "--set", "outputs.figure=false"]  # fmt: skip


def refused(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    assert err.startswith("sim: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, err


# ---------------------------------------------------------------------------------------------
# sim run --arms


def test_arms_without_the_analysis_baseline_are_refused_before_the_run(tmp_path, capsys):
    """`--arms capitation` ran everything, then failed in the economics step with a KeyError
    and wrote nothing; it is refused up front, naming the baseline and the fix."""
    out = tmp_path / "out"
    started = time.perf_counter()
    rc = main(["run", str(COMPARE), "--arms", "capitation", "--out", str(out), "--quiet", *TINY])
    refused(rc, capsys.readouterr().err, "baseline arm 'ffs'", "--arms ffs,capitation")
    assert time.perf_counter() - started < 20 and not out.exists()
    rc = main(["run", str(COMPARE), "--arms", "ffs,capitation", "--out", str(out), "--quiet",
               *TINY])  # fmt: skip
    assert rc == 0 and (out / "economics.csv").exists()


# ---------------------------------------------------------------------------------------------
# payment amounts, cut-offs and weights


GE0, GE1, LE100 = (
    "greater than or equal to 0",
    "greater than or equal to 1",
    "less than or equal to 100",
)
BAD_VALUES = {
    "negative home-health step": (
        HOME_HEALTH, "arms.0.contracts.0.steps=[-500.0, 800.0, 600.0]", "steps.0", GE0),
    "negative visit threshold": (
        HOME_HEALTH, "arms.0.contracts.0.thresholds=[-6, 14, 20]", "thresholds.0", GE1),
    "threshold of no visits": (
        HOME_HEALTH, "arms.0.contracts.0.thresholds=[0, 14, 20]", "thresholds.0", GE1),
    "function cut-off below 0": (
        COMPARE, "arms.2.contracts.0.function_cutoffs=[-40.0, 70.0]", "function_cutoffs.0", GE0),
    "function cut-off above 100": (
        COMPARE, "arms.2.contracts.0.function_cutoffs=[40.0, 170.0]", "function_cutoffs.1",
        LE100),
    "negative risk cut-off": (
        COMPARE, "arms.2.contracts.0.comorbidity_cutoffs=[-0.8, 1.5]", "comorbidity_cutoffs.0",
        GE0),
    "negative condition weight": (
        COMPARE, "arms.2.contracts.0.condition_weights={ musculoskeletal = -1.0 }",
        "condition_weights.musculoskeletal", GE0),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_amounts_with_a_sign_or_scale_are_refused(case, tmp_path, capsys):
    """Accepted before (home health wrote negative out-of-pocket and revenue; a bundle's
    cut-offs lay off the 0-100 function scale; a negative weight failed at run time)."""
    path, option, field, allowed = BAD_VALUES[case]
    out = tmp_path / "out"
    small = [a for s in small_overrides(path) for a in ("--set", s)]  # switches kept in range
    rc = main(["run", str(path), "--set", option, "--out", str(out), "--quiet", *small])
    refused(rc, capsys.readouterr().err, field, allowed)
    assert not out.exists()


def test_a_sweep_over_a_negative_weight_is_refused_before_any_run(tmp_path, capsys):
    """A sweep whose design sets a negative case-mix weight: every run failed; now the design
    point is refused up front, naming it."""
    shutil.copy(COMPARE, tmp_path / "base.toml")
    shutil.copytree(SHIPPED / "worlds", tmp_path / "worlds")  # the world it names
    (tmp_path / "sw.toml").write_text(
        'name = "sw"\nscenario = "base.toml"\n[set]\n"population.patients" = 300\nmonths = 3\n'
        '[design]\nmethod = "grid"\n[[parameters]]\n'
        'field = "arms.2.contracts.0.condition_weights.musculoskeletal"\nlevels = [1.0, -1.0]\n'
    )
    out = tmp_path / "out"
    rc = main(["sweep", str(tmp_path / "sw.toml"), "--out", str(out), "--executor", "serial",
               "--quiet"])  # fmt: skip
    refused(rc, capsys.readouterr().err, "design point 1", "condition_weights.musculoskeletal")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# sweep and calibration files


SWEEP = """
name = "sw"
scenario = "small.toml"
[design]
method = "lhs"
samples = 8
[[parameters]]
field = "settings.outpatient_therapy.providers.count"
low = {low}
high = {high}
integer = true
"""

SMALL = """
name = "small"
months = 2
seed = 5
[population]
patients = 300
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""


def test_integer_parameters_need_a_whole_number_in_their_range(tmp_path, capsys):
    """`integer = true` with [0.2, 0.8]: every design point used a value outside the range;
    refused now. With [0.6, 2.4] the values are whole numbers within the range."""
    from sim.experiments.sweep import design_points, load_sweep

    (tmp_path / "small.toml").write_text(SMALL)
    path = tmp_path / "sw.toml"
    path.write_text(SWEEP.format(low=0.2, high=0.8))
    rc = main(["sweep", str(path), "--out", str(tmp_path / "o"), "--executor", "serial",
               "--quiet"])  # fmt: skip
    refused(rc, capsys.readouterr().err, "integer = true", "no whole number")
    path.write_text(SWEEP.format(low=0.6, high=2.4))
    x = design_points(load_sweep(path).config)["settings.outpatient_therapy.providers.count"]
    assert set(x) <= {1, 2} and x.dtype == np.int64


CALIBRATION = """
name = "cal"
trials = 2
{top}
[[parameters]]
name = "p"
fields = ["behaviour.initial_offset"]
low = {low}
high = {high}
{parameter}
[[targets]]
id = "t"
scenario = "small.toml"
arm = "ffs"
{target}
column = "units"
value = 10.0
uncertainty = 5.0
source = "made up"
"""

CALIBRATION_CASES = {
    "beta prior given a mean": ({"parameter": 'prior = "beta"\na = 2.0\nb = 2.0\nmean = 0.1'},
                                "mean: not used by a beta prior"),
    "normal prior given a": ({"parameter": 'prior = "normal"\nmean = 0.0\nsd = 0.2\na = 2.0'},
                             "a: not used by a normal prior"),
    "integer range without an integer": ({"parameter": "integer = true", "low": 0.2,
                                          "high": 0.8}, "no whole number"),
    "target against itself": ({"target": 'baseline = "ffs"\nstatistic = "difference"'},
                              "compared with itself"),
    "abc with a sampler": ({"top": 'method = "abc"\nsampler = "tpe"'}, "sampler"),
    "optuna with an abc table": ({"top": "abc = { accept = 0.5 }"}, "abc"),
    "accept and epsilon": ({"top": 'method = "abc"\nabc = { accept = 0.5, epsilon = 1.0 }'},
                           "not both"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CALIBRATION_CASES))
def test_calibration_files_are_checked_across_fields(case, tmp_path, capsys):
    pytest.importorskip("optuna")
    change, words = CALIBRATION_CASES[case]
    fill = {"top": "", "parameter": "", "target": "", "low": -0.5, "high": 0.5, **change}
    (tmp_path / "small.toml").write_text(SMALL)
    (tmp_path / "cal.toml").write_text(CALIBRATION.format(**fill))
    out = tmp_path / "out"
    rc = main(["calibrate", str(tmp_path / "cal.toml"), "--out", str(out), "--quiet"])
    refused(rc, capsys.readouterr().err, words)
    assert not out.exists()


CASE = """
[case]
scenario = "../small.toml"
arm = "capitation"
baseline = "{baseline}"
column = "spending"
statistic = "relative_change"
title = "a test case"
finding = "made up"
citation = "none"
published = {published}
range = [-0.2, 0.0]
"""


@pytest.mark.parametrize(
    "baseline, published, words",
    [("capitation", -0.1, "compared with itself"), ("ffs", 0.3, "outside its own range")],
)
def test_validation_cases_are_checked_across_fields(baseline, published, words, tmp_path,
                                                    capsys):  # fmt: skip
    (tmp_path / "small.toml").write_text(SMALL)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a_case.toml").write_text(CASE.format(baseline=baseline, published=published))
    rc = main(["validate", str(suite), "--out", str(tmp_path / "out"), "--quiet"])
    refused(rc, capsys.readouterr().err, words)


# ---------------------------------------------------------------------------------------------
# data packages: licence, version, every table


@pytest.mark.parametrize(
    "option, words",
    [(["--license", "NOT-A-LICENSE"], "not an SPDX licence"),
     (["--data-version", "abc"], "MAJOR.MINOR.PATCH")],
)  # fmt: skip
def test_licence_and_version_are_checked_before_the_run(option, words, tmp_path, capsys):
    pytest.importorskip("frictionless")
    (tmp_path / "small.toml").write_text(SMALL)
    out = tmp_path / "out"
    rc = main(["run", str(tmp_path / "small.toml"), "--out", str(out), "--quiet",
               "--datapackage", *option])  # fmt: skip
    refused(rc, capsys.readouterr().err, words)
    (tmp_path / "sw.toml").write_text(SWEEP.format(low=1, high=2))
    rc = main(["sweep", str(tmp_path / "sw.toml"), "--out", str(out), "--executor", "serial",
               "--quiet", *option])  # fmt: skip
    refused(rc, capsys.readouterr().err, words)
    assert not out.exists()


def test_the_data_package_describes_every_table_of_the_run(tmp_path, capsys):
    """The subgroup, economics and CEAC tables were left out of datapackage.json."""
    pytest.importorskip("frictionless")
    import json

    out = tmp_path / "out"
    rc = main(["run", str(COMPARE), "--out", str(out), "--quiet", "--datapackage", *TINY,
               "--license", "cc0-1.0", "--data-version", "2.1.0-rc.1"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    package = json.loads((out / "datapackage.json").read_text())
    described = {r["path"] for r in package["resources"]}
    tables = {p.name for p in out.iterdir() if p.suffix in (".csv", ".parquet")}
    assert described == tables and {"subgroups.parquet", "economics.csv", "ceac.csv",
                                    "economics_replicates.csv"} <= tables  # fmt: skip
    assert package["licenses"][0]["name"] == "CC0-1.0" and package["version"] == "2.1.0-rc.1"


# ---------------------------------------------------------------------------------------------
# sim report: what it reads is checked


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["run", str(COMPARE), "--arms", "ffs,capitation", "--out", str(out), "--quiet",
                 *TINY, "--set", "replications=2"]) == 0  # fmt: skip
    return out


def _damaged(run_folder: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(run_folder, folder)
    df = pd.read_parquet(folder / "monthly.parquet")
    change(df).to_parquet(folder / "monthly.parquet", index=False)
    return folder


def _nan_spending(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[3, "spending"] = math.nan
    return df


def _negative_members(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[5, "members"] = -40
    return df


REPORT_CASES = {
    "NaN spending": (_nan_spending, "column spending", "not finite"),
    "negative members": (_negative_members, "column members", "negative"),
    "the baseline's rows missing": (lambda df: df[df["arm"] != "ffs"], "no rows of arm(s) 'ffs'",
                                    "metadata.json"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_report_refuses_tables_no_run_writes(case, run_folder, tmp_path, capsys):
    """NaN spending and negative members were reported without a word; with the baseline's
    rows gone the report silently compared with another arm."""
    change, *words = REPORT_CASES[case]
    folder = _damaged(run_folder, tmp_path, change)
    refused(main(["report", str(folder), "--quiet"]), capsys.readouterr().err, *words)
    assert not (folder / "report").exists()


def test_report_without_the_scenario_baseline_asks_for_one(tmp_path, capsys):
    """A sweep of some arms, not the [analysis] baseline: the report names it and asks for
    --baseline instead of taking the first arm."""
    shutil.copy(COMPARE, tmp_path / "base.toml")
    shutil.copytree(SHIPPED / "worlds", tmp_path / "worlds")  # the world it names
    (tmp_path / "sw.toml").write_text(
        'name = "sw"\nscenario = "base.toml"\narms = ["capitation", "bundled"]\n[set]\n'
        '"population.patients" = 300\nmonths = 3\n[design]\nmethod = "grid"\n'
        '[[parameters]]\nfield = "behaviour.initial_offset"\nlevels = [0.0]\n'
    )
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "sw.toml"), "--out", str(out), "--executor", "serial",
                 "--quiet"]) == 0  # fmt: skip
    refused(main(["report", str(out), "--quiet"]), capsys.readouterr().err, "'ffs'", "--baseline")
    assert main(["report", str(out), "--quiet", "--baseline", "capitation"]) == 0


def test_report_refuses_text_in_a_sampled_design(tmp_path, capsys):
    """Text in a Latin-hypercube design's parameter column gave a traceback."""
    (tmp_path / "small.toml").write_text(SMALL)
    path = tmp_path / "sw.toml"
    column = "settings.outpatient_therapy.marginal_cost"
    text = SWEEP.format(low=10.0, high=26.0).replace("integer = true", "")
    path.write_text(text.replace("settings.outpatient_therapy.providers.count", column))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--executor", "serial", "--quiet"]) == 0
    design = pd.read_parquet(out / "design.parquet")
    design[column] = [f"x{i}" for i in range(len(design))]
    design.to_parquet(out / "design.parquet", index=False)
    refused(main(["report", str(out), "--quiet"]), capsys.readouterr().err, column, "numbers")


# ---------------------------------------------------------------------------------------------
# bounded work


def test_deeply_nested_files_are_refused_at_once(tmp_path, capsys):
    """A 400 KB scenario of one dotted key 200,000 parts deep took minutes in the TOML parser
    (quadratic in depth); its depth is measured first, in linear time."""
    path = tmp_path / "deep.toml"
    path.write_text(".".join(["a"] * 200_000) + " = 1\n")
    started = time.perf_counter()
    rc = main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    refused(rc, capsys.readouterr().err, "nested too deeply", "at most 64")
    assert time.perf_counter() - started < 10
    rc = main(["run", str(COMPARE), "--set", "population." + ".".join(["a"] * 100) + "=1",
               "--out", str(tmp_path / "o"), "--quiet"])  # fmt: skip
    refused(rc, capsys.readouterr().err, "nested too deeply")


def test_includes_are_capped(tmp_path, capsys):
    """150,000 includes ran past two minutes."""
    (tmp_path / "p.toml").write_text('[parameters]\n"months" = 3\n')
    path = tmp_path / "many.toml"
    path.write_text(SMALL.replace('name = "small"', 'include = [' + ", ".join(['"p.toml"'] *
                    150_000) + ']\nname = "small"'))  # fmt: skip
    started = time.perf_counter()
    rc = main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    refused(rc, capsys.readouterr().err, "include", "at most 64")
    assert time.perf_counter() - started < 20


def test_morris_levels_are_bounded(tmp_path, capsys):
    """morris_levels = 10^9 allocated 4 GB before failing with a numpy traceback."""
    (tmp_path / "small.toml").write_text(SMALL)
    path = tmp_path / "sw.toml"
    path.write_text(SWEEP.format(low=1, high=3).replace('"lhs"', '"morris"\nmorris_levels = '
                                                         "1000000000"))  # fmt: skip
    rc = main(["sweep", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    refused(rc, capsys.readouterr().err, "morris_levels", "less than or equal to 100")


def test_refusals_of_very_wide_files_are_a_few_lines(tmp_path, capsys):
    """A scenario of 60,000 unknown fields printed 60,001 lines; now the first 20 and a count."""
    path = tmp_path / "wide.toml"
    path.write_text(SMALL + "".join(f"[population.x{i}]\n" for i in range(60_000)))
    rc = main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    refused(rc, err, "unknown field", "and 59,980 more")
    assert len(err.splitlines()) <= 23


# ---------------------------------------------------------------------------------------------
# properties, generated from the schema: every bound holds, and in bounds the money is sane


BOUNDED = [
    (path, leaf)
    for path in SCENARIOS
    for leaf in scenario_leaves(path)
    if leaf.kind == "float" and (leaf.lo is not None or leaf.hi is not None)
]


def _outside(leaf) -> list[float]:
    out = []
    if leaf.lo is not None and math.isfinite(leaf.lo):
        out.append(leaf.lo if leaf.lo_open else leaf.lo - max(1.0, abs(leaf.lo)) * 0.5)
    if leaf.hi is not None and math.isfinite(leaf.hi):
        out.append(leaf.hi if leaf.hi_open else leaf.hi + max(1.0, abs(leaf.hi)) * 0.5)
    return out


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(st.sampled_from(BOUNDED), st.integers(0, 1))
def test_every_bound_of_the_schema_holds(case, side):
    """Any decimal field of a shipped scenario with a bound (entries of lists and tables
    included: weights, cut-offs, steps): beyond it the scenario is refused naming the field."""
    path, leaf = case
    values = _outside(leaf)
    value = values[side % len(values)]
    small = small_overrides(path)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path, [*small, override(leaf, toml_value(float(value)))])
    named = [p for p in leaf.path.split(".") if not p.isdigit()][-1]
    assert named in str(exc.value), (leaf.path, value, str(exc.value))


def test_the_generator_finds_the_bounds_of_entries():
    """The leaves of the schema include the entries of lists and tables with their bounds
    (steps, thresholds, cut-offs, weights), so the property above covers them."""
    entries = [leaf for path in SCENARIOS for leaf in scenario_leaves(path) if leaf.container]
    found = {leaf.path.rsplit(".", 2)[-2]: (leaf.lo, leaf.hi) for leaf in entries}
    assert found["steps"] == (0, None) and found["thresholds"] == (1, None)
    assert found["function_cutoffs"] == (0, 100) and found["comorbidity_cutoffs"] == (0, None)
    assert found["function_weights"] == (0, None) and found["comorbidity_weights"] == (0, None)


def _schema_range(info, default: float, *, element: bool = False) -> tuple[float, float]:
    """The range of values a field (or its entries) may take by the schema; ``default`` on the
    sides it leaves open."""
    from mutations import _bounds, _element_bounds

    lo, hi, *_ = _element_bounds(info.annotation) if element else _bounds(info)
    return (-default if lo is None else lo), (default if hi is None else hi)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.data())
def test_legacy_home_health_pays_no_negative_episode(data):
    """Any base rate, steps and thresholds the schema accepts (drawn from its bounds): every
    episode, whatever its visits, is paid a non-negative amount (negative steps were accepted,
    and wrote negative out-of-pocket and revenue)."""
    from hypothesis import assume
    from pydantic import ValidationError

    from sim.engine import rules
    from sim.engine.payment.home_health import LegacyParams

    fields = LegacyParams.model_fields
    base = data.draw(st.floats(*_schema_range(fields["base_rate"], 5_000.0)))
    n = data.draw(st.integers(1, 3))
    steps = data.draw(st.lists(st.floats(*_schema_range(fields["steps"], 2_000.0, element=True)),
                               min_size=n, max_size=n))  # fmt: skip
    lo, hi = _schema_range(fields["thresholds"], 30, element=True)
    thresholds = data.draw(st.lists(st.integers(int(lo), min(int(hi), 60)), min_size=n,
                                    max_size=n, unique=True).map(sorted))  # fmt: skip
    try:
        p = LegacyParams(base_rate=base, steps=steps, thresholds=thresholds)
    except ValidationError:
        assume(False)
    visits = np.arange(0, 61)
    assert (rules.threshold_payment(visits, p.base_rate, p.thresholds, p.steps) >= 0).all()
