"""sim calibrate: priors, the objective, parameter files and include, measures, bad input,
an end-to-end run, ABC rejection and resuming after kill -9."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paths import ROOT

from sim.errors import ScenarioError
from sim.experiments.calibrate import (
    PARTS,
    FreeParameter,
    _objective,
    load_calibration,
    run_calibration,
)
from sim.experiments.measures import MeasureConfig, interval, measure
from sim.scenario import load_scenario
from sim.scenario.parameters import apply_parameters, read_parameter_file

pytest.importorskip("optuna")


SCENARIO = """
name = "tiny"
months = 6
seed = 5
[population]
patients = 600
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs", coinsurance = 0.2 }]
[[arms]]
name = "fees_up"
contracts = [{ model = "ffs", fee_multiplier = 1.2, coinsurance = 0.2 }]
"""

CALIBRATION = """
name = "tiny_cal"
trials = {trials}
seeds = {seeds}
method = "{method}"
batch = 2

[[parameters]]
name = "altruism_high"
fields = ["settings.*.providers.altruism.high"]
low = 0.3
high = 1.5

[[targets]]
id = "therapy_units_per_member"
scenario = "tiny.toml"
arm = "ffs"
numerator = ["service_units"]
denominator = ["members"]
setting = "outpatient_therapy"
window = [2, 6]
value = 0.5
uncertainty = 0.1
source = "a made-up test target"

[[targets]]
id = "fee_elasticity"
scenario = "tiny.toml"
arm = "fees_up"
baseline = "ffs"
numerator = ["service_units"]
denominator = ["members"]
window = [2, 6]
statistic = "elasticity"
price_ratio = 1.2
value = 1.5
uncertainty = 0.3
source = "a made-up test target"
"""


def write_calibration(tmp_path: Path, trials=4, seeds=1, method="optuna", extra="") -> Path:
    (tmp_path / "tiny.toml").write_text(SCENARIO)
    path = tmp_path / "cal.toml"
    path.write_text(CALIBRATION.format(trials=trials, seeds=seeds, method=method) + extra)
    return path


# ---------------------------------------------------------------------------------------------
# priors and objective


def test_prior_quantiles_match_their_closed_forms():
    """u = 0.5 gives the median of each prior: midpoint, geometric mean, mean; ends are ends."""
    uni = FreeParameter(name="x", fields=["a.b"], low=2.0, high=6.0)
    assert uni.value(0.5) == 4.0 and uni.value(0.0) == 2.0 and uni.value(1.0) == 6.0
    log = FreeParameter(name="x", fields=["a.b"], low=1.0, high=100.0, prior="loguniform")
    assert log.value(0.5) == pytest.approx(10.0)
    norm = FreeParameter(
        name="x", fields=["a.b"], low=0.0, high=10.0, prior="normal", mean=5.0, sd=1.0
    )
    assert norm.value(0.5) == pytest.approx(5.0)
    assert norm.value(0.8413447) == pytest.approx(6.0, abs=1e-3)  # Φ(1), nearly untruncated
    beta = FreeParameter(name="x", fields=["a.b"], low=0.0, high=2.0, prior="beta", a=2, b=2)
    assert beta.value(0.5) == pytest.approx(1.0)  # symmetric beta
    whole = FreeParameter(name="x", fields=["a.b"], low=0.0, high=10.0, integer=True)
    assert whole.value(0.26) == 3.0


def test_a_whole_number_parameter_reaches_an_integer_field_as_an_int(tmp_path):
    """integer = true on an integer field (months): both ends of the range validate (6.0 would
    be refused by the field), and the parameter file carries an int that include applies."""
    from sim.experiments.calibrate import write_parameter_file

    extra = (
        '\n[[parameters]]\nname = "months"\nfields = ["behaviour.income_reference_months"]\n'
        "low = 2.0\nhigh = 9.0\ninteger = true\n"
    )
    cal = load_calibration(write_calibration(tmp_path, extra=extra))
    months = cal.config.parameters[1]
    assert [months.value(u) for u in (0.0, 0.5, 1.0)] == [2, 6, 9]
    assert all(type(months.value(u)) is int for u in (0.0, 0.5, 1.0))
    write_parameter_file(tmp_path / "p.toml", cal, {"altruism_high": 0.9, "months": 6.6}, {})
    text = (tmp_path / "p.toml").read_text()
    assert '"behaviour.income_reference_months" = 7\n' in text
    (tmp_path / "s.toml").write_text('include = ["p.toml"]\n' + SCENARIO)
    assert load_scenario(tmp_path / "s.toml").behaviour.income_reference_months == 7


def test_prior_needs_its_shape_parameters():
    """A normal prior without mean and sd, or a loguniform one through zero, is refused."""
    with pytest.raises(ValueError, match="mean and sd"):
        FreeParameter(name="x", fields=["a"], low=0.0, high=1.0, prior="normal")
    with pytest.raises(ValueError, match="low > 0"):
        FreeParameter(name="x", fields=["a"], low=0.0, high=1.0, prior="loguniform")


def test_objective_is_the_weighted_squared_standardized_distance(tmp_path):
    """Σ w ((m − v)/u)² by hand; NaN when a target is undefined."""
    cal = load_calibration(write_calibration(tmp_path))
    means = {"therapy_units_per_member": 0.7, "fee_elasticity": 0.9}
    expected = ((0.7 - 0.5) / 0.1) ** 2 + ((0.9 - 1.5) / 0.3) ** 2
    assert _objective(cal.config, means) == pytest.approx(expected)
    assert math.isnan(_objective(cal.config, {"fee_elasticity": 1.0}))


# ---------------------------------------------------------------------------------------------
# measures


def _monthly() -> pd.DataFrame:
    rows = []
    for arm, units in (("a", 10), ("b", 12)):
        for month in range(4):
            for payer, members in (("p", 100), ("q", 300)):
                rows.append({"arm": arm, "month": month, "setting": "s", "payer": payer,
                             "members": members, "service_units": units * (month + 1),
                             "units_per_treated": float(units), "minutes": 1})  # fmt: skip
    return pd.DataFrame(rows)


def test_measure_statistics_by_hand():
    """Ratio of sums, level of a summed column, elasticity and relative change, by hand."""
    df = _monthly()
    ratio = MeasureConfig(scenario="x", arm="a", numerator=["service_units"],
                          denominator=["members"], window=[2, 4])  # fmt: skip
    assert measure(ratio, df) == pytest.approx((10 * 3 + 10 * 4) * 2 / (400 * 2))
    level = MeasureConfig(scenario="x", arm="a", column="service_units", window=[0, 2])
    assert measure(level, df) == pytest.approx((20 + 40) / 2)  # summed over payers
    rate = MeasureConfig(scenario="x", arm="b", column="units_per_treated")
    assert measure(rate, df) == pytest.approx(12.0)  # member-weighted mean, not a sum
    el = MeasureConfig(scenario="x", arm="b", baseline="a", column="service_units",
                       statistic="elasticity", price_ratio=1.1)  # fmt: skip
    assert measure(el, df) == pytest.approx(math.log(1.2) / math.log(1.1))
    rc = MeasureConfig(scenario="x", arm="b", baseline="a", column="service_units",
                       statistic="relative_change")  # fmt: skip
    assert measure(rc, df) == pytest.approx(0.2)


def test_a_rate_per_member_adds_up_over_a_payers_settings():
    """Spending per member-month over every setting is each payer's settings' rates added up
    (its members are on each setting's row), then member-weighted over payers: payer 0 (100
    members) $30 + $10, payer 1 (300 members) $20 + $2 → (100·40 + 300·22) / 400 = $26.5. A
    mean over members (function) stays a mean: 50 and 70 on both settings → 65."""
    rows = []
    for setting, pmpm, fn in (("s1", (30.0, 20.0), 50.0), ("s2", (10.0, 2.0), 50.0)):
        for g, (members, value) in enumerate(zip((100, 300), pmpm, strict=True)):
            rows.append({"arm": "a", "month": 0, "setting": setting, "payer": f"p{g}",
                         "members": members, "spending_pmpm": value,
                         "mean_function": fn if g == 0 else 70.0})  # fmt: skip
    df = pd.DataFrame(rows)
    pmpm = MeasureConfig(scenario="x", arm="a", column="spending_pmpm")
    assert measure(pmpm, df) == pytest.approx((100 * 40 + 300 * 22) / 400)
    one = MeasureConfig(scenario="x", arm="a", column="spending_pmpm", setting="s1")
    assert measure(one, df) == pytest.approx((100 * 30 + 300 * 20) / 400)
    fn = MeasureConfig(scenario="x", arm="a", column="mean_function")
    assert measure(fn, df) == pytest.approx((100 * 50 + 300 * 70) / 400)


def test_interval_is_the_t_interval_of_the_mean():
    """Mean ± t(0.975, n−1)·s/√n; one replicate has no interval."""
    from scipy.stats import t

    x = [1.0, 2.0, 4.0]
    mean, lo, hi = interval(x)
    half = t.ppf(0.975, 2) * np.std(x, ddof=1) / math.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((7 / 3, 7 / 3 - half, 7 / 3 + half))
    assert math.isnan(interval([1.0])[1])


def test_measure_shape_errors():
    """Both a column and a ratio, an elasticity without price_ratio, a non-numeric column."""
    with pytest.raises(ValueError, match="either column or numerator"):
        MeasureConfig(scenario="x", arm="a", column="units", numerator=["units"],
                      denominator=["members"])  # fmt: skip
    with pytest.raises(ValueError, match="price_ratio"):
        MeasureConfig(scenario="x", arm="a", baseline="b", column="units", statistic="elasticity")
    with pytest.raises(ValueError, match="not a numeric column"):
        MeasureConfig(scenario="x", arm="a", column="payer")


# ---------------------------------------------------------------------------------------------
# parameter files and include


def test_include_applies_a_parameter_file_with_wildcards(tmp_path):
    """include sets every setting's field through '*'; --set comes after the file."""
    (tmp_path / "p.toml").write_text(
        '[calibration]\ntargets = ["x"]\n[parameters]\n'
        '"settings.*.oop_elasticity" = -0.35\n"settings.snf.marginal_cost" = 1.0\n'
    )
    (tmp_path / "s.toml").write_text('include = ["p.toml"]\n' + SCENARIO)
    sc = load_scenario(tmp_path / "s.toml")
    assert {s.oop_elasticity for s in sc.settings.values()} == {-0.35}
    assert "snf" not in sc.settings  # a setting the scenario lacks is skipped, not made
    sc2 = load_scenario(tmp_path / "s.toml", ["settings.primary_care.oop_elasticity=-0.1"])
    assert sc2.settings["primary_care"].oop_elasticity == -0.1
    assert sc2.settings["outpatient_therapy"].oop_elasticity == -0.35
    plain = tmp_path / "plain.toml"
    plain.write_text(SCENARIO)
    assert load_scenario(plain).settings["primary_care"].oop_elasticity == -0.2


def test_include_errors_name_the_file_and_field(tmp_path):
    """An unknown field in a parameter file, a missing file, a bad include value."""
    (tmp_path / "p.toml").write_text('[parameters]\n"settings.*.no_such_field" = 1.0\n')
    (tmp_path / "s.toml").write_text('include = ["p.toml"]\n' + SCENARIO)
    with pytest.raises(ScenarioError, match="no_such_field"):
        load_scenario(tmp_path / "s.toml")
    (tmp_path / "m.toml").write_text('include = ["missing.toml"]\n' + SCENARIO)
    with pytest.raises(ScenarioError, match=r"include.*file not found"):
        load_scenario(tmp_path / "m.toml")
    (tmp_path / "b.toml").write_text('include = "p.toml"\n' + SCENARIO)
    with pytest.raises(ScenarioError, match="include: must be a list"):
        load_scenario(tmp_path / "b.toml")
    (tmp_path / "e.toml").write_text("[parameters]\n")
    with pytest.raises(ScenarioError, match="parameters"):
        read_parameter_file(tmp_path / "e.toml")


def test_apply_parameters_counts_matches():
    """'*' matches every key; an absent table matches nothing."""
    data = {"settings": {"a": {"x": 1}, "b": {"x": 2, "t": None}}}
    out, n = apply_parameters(data, {"settings.*.x": 5, "settings.b.t.y": 3})
    assert n == 2 and out["settings"]["a"]["x"] == out["settings"]["b"]["x"] == 5
    assert data["settings"]["a"]["x"] == 1  # the input is not changed


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("uncertainty = 0.1", "uncertainty = 0.0"), "targets.0.uncertainty"),
        (('arm = "ffs"', 'arm = "nope"'), "unknown arm 'nope'"),
        (('"settings.*.providers.altruism.high"', '"settings.nowhere.x"'), "none of the target"),
        (("high = 1.5", "high = 20.0"), "altruism"),  # out of the schema's range at the end
        (('source = "a made-up test target"', 'source = " "'), "cite"),
        (("trials = 4", "trials = 4\nbogus = 1"), "bogus"),
    ],
)
def test_bad_calibration_files_are_refused(tmp_path, edit, message):
    """Each bad calibration file gets a clear error naming what is wrong, before any run."""
    path = write_calibration(tmp_path)
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(ScenarioError, match=message):
        load_calibration(path)


# ---------------------------------------------------------------------------------------------
# running


def test_calibration_end_to_end(tmp_path):
    """Trials table, fit, figures, a parameter file a scenario can include; best is best."""
    path = write_calibration(tmp_path, trials=4, seeds=2)
    out = tmp_path / "out"
    outcome = run_calibration(load_calibration(path), out, executor="serial")
    assert outcome.finished == 4 and outcome.failed == 0
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 4 and set(trials["state"]) == {"complete"}
    assert trials["altruism_high"].between(0.3, 1.5).all()
    fit = pd.read_csv(out / "fit.csv")
    assert list(fit["target"]) == ["therapy_units_per_member", "fee_elasticity"]
    assert fit["contribution"].sum() == pytest.approx(trials["objective"].min())
    for f in ("objective.png", "fit.png", "metadata.json"):
        assert (out / f).stat().st_size > 0
    pf = read_parameter_file(out / "parameters.toml")
    assert pf["calibration"]["targets"] == ["therapy_units_per_member", "fee_elasticity"]
    best = trials.sort_values("objective").iloc[0]["altruism_high"]
    assert pf["parameters"]["settings.*.providers.altruism.high"] == pytest.approx(best)
    inc = tmp_path / "with_params.toml"
    inc.write_text(f'include = ["{out / "parameters.toml"}"]\n' + SCENARIO)
    sc = load_scenario(inc)
    assert [s.providers.altruism.high for s in sc.settings.values()] == pytest.approx(
        [best] * len(sc.settings)
    )
    # a finished calibration run again does nothing more and gives the same best
    again = run_calibration(load_calibration(path), out, executor="serial")
    assert again.finished == 4 and again.best == outcome.best


def test_other_calibration_in_the_folder_is_refused(tmp_path):
    """A folder holding another calibration's study is not mixed with this one."""
    from sim.errors import ResultsError

    path = write_calibration(tmp_path, trials=1)
    out = tmp_path / "out"
    run_calibration(load_calibration(path), out, executor="serial")
    path.write_text(path.read_text().replace("value = 0.5", "value = 0.6"))
    with pytest.raises(ResultsError, match="another calibration"):
        run_calibration(load_calibration(path), out, executor="serial")


def test_abc_rejection_keeps_the_closest_draws(tmp_path):
    """ABC: accept = 0.5 of 6 draws keeps the 3 with the smallest distance."""
    path = write_calibration(tmp_path, trials=6, method="abc", extra="\n[abc]\naccept = 0.5\n")
    # [abc] must precede the arrays of tables in TOML: move it to the top
    text = path.read_text().replace("\n[abc]\naccept = 0.5\n", "")
    path.write_text("abc = { accept = 0.5 }\n" + text)
    out = tmp_path / "out"
    run_calibration(load_calibration(path), out, executor="serial")
    trials = pd.read_parquet(out / "trials.parquet")
    post = pd.read_parquet(out / "posterior.parquet")
    assert len(post) == 3
    assert set(post["trial"]) == set(trials.nsmallest(3, "objective")["trial"])
    pf = read_parameter_file(out / "parameters.toml")
    assert pf["parameters"]["settings.*.providers.altruism.high"] == pytest.approx(
        post["altruism_high"].median()
    )


def test_resume_after_kill(tmp_path):
    """kill -9 mid-calibration, rerun: it finishes every trial, keeping the parts done."""
    path = write_calibration(tmp_path, trials=10, seeds=2)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "sim", "calibrate", str(path), "--out", str(out), "--quiet",
           "--executor", "serial"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        parts = list((out / PARTS).glob("t*.json")) if (out / PARTS).exists() else []
        if len(parts) >= 5:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / PARTS).glob("t*.json")}
    assert 5 <= len(before) < 20, "the calibration was not killed mid-way"
    assert not (out / "trials.parquet").exists()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 10 and (trials["state"] == "complete").all()
    after = {p.name: p.stat().st_mtime_ns for p in (out / PARTS).glob("t*.json")}
    assert len(after) == 20
    assert all(after[k] == v for k, v in before.items())  # no part done before was redone


def test_cli_calibrate_bad_input_exits_2(tmp_path):
    """The CLI prints one clear message and exits 2 for a bad calibration file."""
    from sim.cli import main

    path = write_calibration(tmp_path)
    path.write_text(path.read_text().replace("value = 0.5", 'value = "high"'))
    assert main(["calibrate", str(path), "--out", str(tmp_path / "o")]) == 2


def test_docs_field_reference_is_current():
    """docs/calibration.md holds the field tables generated from the schemas."""
    from sim.experiments.calibrate import field_reference

    doc = (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")
    assert field_reference() in doc, (
        "regenerate: python -c "
        '"from sim.experiments.calibrate import field_reference as f; print(f())"'
    )


def test_process_pool_gives_the_serial_trials(tmp_path):
    """The trials (parameters, objectives) do not depend on the executor."""
    path = write_calibration(tmp_path, trials=4, seeds=1)
    run_calibration(load_calibration(path), tmp_path / "serial", executor="serial")
    run_calibration(load_calibration(path), tmp_path / "pool", executor="process", workers=2)
    a = pd.read_parquet(tmp_path / "serial" / "trials.parquet")
    b = pd.read_parquet(tmp_path / "pool" / "trials.parquet")
    pd.testing.assert_frame_equal(a, b)
