"""Joint calibration by ABC-SMC (sim/experiments/abc_smc.py): the posterior concentrates
around a parameter the targets identify and keeps the prior of one they do not, the same
bytes whatever the workers and after kill -9, and posterior draws for prediction intervals."""

from __future__ import annotations

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

from sim.experiments.abc_smc import weighted_quantile
from sim.experiments.calibrate import load_calibration, run_calibration
from sim.experiments.posterior import load_posterior, prediction_interval

pytest.importorskip("pyabc")


SCENARIO = """
name = "tiny"
months = 5
seed = 5
[population]
patients = 500
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs", coinsurance = 0.2 }]
"""

#: the therapy setting's optimal units set its units per member almost one for one; the
#: primary-care setting's marginal cost does not move that target at all
CALIBRATION = """
name = "tiny_smc"
method = "abc_smc"
seeds = 1
sampler_seed = 4
[smc]
population = {population}
generations = {generations}

[[parameters]]
name = "optimal_units"
fields = ["settings.outpatient_therapy.optimal_units"]
low = 4.0
high = 30.0

[[parameters]]
name = "unrelated_cost"
fields = ["settings.primary_care.providers.fixed_cost"]
low = 0.0
high = 1000.0

[[targets]]
id = "therapy_units_per_member"
scenario = "tiny.toml"
arm = "ffs"
numerator = ["service_units"]
denominator = ["members"]
setting = "outpatient_therapy"
window = [1, 5]
value = {value}
uncertainty = 0.02
source = "a made-up test target"
"""


def write(tmp_path: Path, value: float, population: int = 12, generations: int = 3) -> Path:
    (tmp_path / "tiny.toml").write_text(SCENARIO)
    path = tmp_path / "cal.toml"
    path.write_text(CALIBRATION.format(value=value, population=population,
                                       generations=generations))  # fmt: skip
    return path


def test_weighted_quantile():
    """The weighted median of 1, 2, 3 with all the weight on 3 is 3; equal weights: 2."""
    x = np.array([1.0, 2.0, 3.0])
    assert weighted_quantile(x, np.ones(3), 0.5) == 2.0
    assert weighted_quantile(x, np.array([0.0, 0.0, 1.0]), 0.5) == 3.0


def test_prediction_interval_is_the_quantiles_over_draws():
    """Mean and the 2.5% and 97.5% quantiles, NaN draws left out."""
    x = np.concatenate([np.arange(1001.0), [np.nan]])
    mean, lo, hi = prediction_interval(x)
    assert mean == 500.0 and lo == pytest.approx(25.0) and hi == pytest.approx(975.0)


@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> float:
    """The target's value at optimal_units = 16 (the model's own figure, so the posterior
    should find 16)."""
    from sim import load_scenario, run

    d = tmp_path_factory.mktemp("truth")
    (d / "tiny.toml").write_text(SCENARIO)
    sc = load_scenario(d / "tiny.toml", ["settings.outpatient_therapy.optimal_units=16.0"])
    m = run(sc).monthly
    m = m[(m.setting == "outpatient_therapy") & (m.month >= 1) & (m.month < 5)]
    return float(m.service_units.sum() / m.members.sum())


def test_the_posterior_finds_an_identified_parameter_and_keeps_the_prior_of_another(
    tmp_path, truth
):
    """Targets made at optimal_units = 16: the posterior of optimal_units narrows around 16;
    that of a parameter the target does not depend on stays about as wide as its prior, and
    the identification table says so."""
    path = write(tmp_path, truth, population=16, generations=4)
    cal = load_calibration(path)
    out = tmp_path / "out"
    run_calibration(cal, out, executor="serial")
    post = pd.read_parquet(out / "posterior.parquet")
    final = post[post.generation == post.generation.max()]
    w = final.weight.to_numpy()
    med = weighted_quantile(final.optimal_units.to_numpy(), w, 0.5)
    assert abs(med - 16.0) < 3.0
    ident = pd.read_csv(out / "identification.csv").set_index("parameter")
    assert ident.loc["optimal_units", "sd_ratio"] < 0.5
    assert ident.loc["unrelated_cost", "sd_ratio"] > 0.5
    # the posterior is what a run draws from
    posterior = load_posterior(out)
    draws = posterior.draws(5, seed=1)
    assert len(draws) == 5 and all(4.0 <= d["optimal_units"] <= 30.0 for d in draws)
    assert posterior.draws(5, seed=1) == draws
    for name in ("parameters.toml", "fit.csv", "predictive.png", "pairs.png", "epsilon.png"):
        assert (out / name).exists(), name


def test_the_same_posterior_whatever_the_workers(tmp_path, truth):
    """Serial and two worker processes give the same posterior, byte for byte."""
    path = write(tmp_path, truth)
    cal = load_calibration(path)
    run_calibration(cal, tmp_path / "a", executor="serial")
    run_calibration(cal, tmp_path / "b", executor="process", workers=2)
    a = pd.read_parquet(tmp_path / "a" / "posterior.parquet")
    b = pd.read_parquet(tmp_path / "b" / "posterior.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_resume_after_kill_gives_the_same_posterior(tmp_path, truth):
    """kill -9 in the middle of a generation, rerun: the same posterior as without the kill,
    and no simulation done before the kill is run again."""
    path = write(tmp_path, truth)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "sim", "calibrate", str(path), "--out", str(out),
                "--quiet", "--executor", "serial"]  # fmt: skip

    whole = tmp_path / "whole"
    assert subprocess.run(cmd(whole), env=env, capture_output=True).returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline:
        parts = list((out / "parts").glob("s002-*.json")) if (out / "parts").exists() else []
        if len(parts) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("*.json")}
    assert before and not (out / "posterior.parquet").exists(), "not killed mid-way"
    done = subprocess.run(cmd(out), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("*.json")}
    assert all(after[k] == v for k, v in before.items())
    pd.testing.assert_frame_equal(
        pd.read_parquet(whole / "posterior.parquet"), pd.read_parquet(out / "posterior.parquet")
    )


def test_a_run_with_posterior_draws(tmp_path, truth):
    """sim run --posterior --draws: replicate d runs draw d (draws.csv), the metadata says
    the intervals are prediction intervals, and the same command gives the same bytes."""
    from sim.cli import main

    path = write(tmp_path, truth)
    cal = load_calibration(path)
    run_calibration(cal, tmp_path / "cal", executor="serial")
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        args = ["run", str(tmp_path / "tiny.toml"), "--posterior", str(tmp_path / "cal"),
                "--draws", "3", "--out", str(out), "--quiet", "--workers", "1"]  # fmt: skip
        assert main(args) == 0
        outs.append(out)
    draws = pd.read_csv(outs[0] / "draws.csv")
    assert list(draws["draw"]) == [0, 1, 2]
    m = pd.read_parquet(outs[0] / "monthly.parquet")
    assert sorted(m.replicate.unique()) == [0, 1, 2]
    import json

    meta = json.loads((outs[0] / "metadata.json").read_text())
    assert meta["uncertainty"]["kind"] == "posterior draws"
    assert (outs[0] / "monthly.parquet").read_bytes() == (outs[1] / "monthly.parquet").read_bytes()
    # replicate d's scenario is the run's with draw d applied
    from sim import load_scenario
    from sim.experiments.posterior import draw_scenarios

    sc = load_scenario(tmp_path / "tiny.toml").model_copy(update={"replications": 3})
    data, table = draw_scenarios(sc.model_dump(mode="json"), load_posterior(tmp_path / "cal"), 3,
                                 sc.seed)  # fmt: skip
    pd.testing.assert_frame_equal(table, draws, check_dtype=False)
    got = [d["settings"]["outpatient_therapy"]["optimal_units"] for d in data]
    np.testing.assert_allclose(got, draws.optimal_units)


def test_posterior_and_draws_go_together(tmp_path):
    """--posterior without --draws (and the reverse) is refused, exit 2."""
    from sim.cli import main

    (tmp_path / "tiny.toml").write_text(SCENARIO)
    assert main(["run", str(tmp_path / "tiny.toml"), "--draws", "3"]) == 2
    assert main(["run", str(tmp_path / "tiny.toml"), "--posterior", str(tmp_path)]) == 2


def test_effective_sample_size_and_the_degenerate_warning():
    """Kish's ESS by hand: equal weights give n, one particle with all the weight gives 1;
    a final generation worth under a quarter of its particles is named first among the
    identification's warnings, an evenly weighted one is not."""
    from types import SimpleNamespace

    from sim.experiments.abc_smc import effective_sample_size, identification
    from sim.experiments.calibrate import FreeParameter

    assert effective_sample_size(np.ones(40)) == pytest.approx(40.0)
    assert effective_sample_size(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_sample_size(np.array([3.0, 1.0])) == pytest.approx(16 / 10)
    p = FreeParameter(name="x", fields=["a.b"], low=0.0, high=1.0)
    cal = SimpleNamespace(config=SimpleNamespace(parameters=[p]))
    x = np.linspace(0.05, 0.95, 40)
    even = pd.DataFrame({"x": x, "weight": np.full(40, 1 / 40)})
    assert not any("effective" in m for m in identification(cal, even)[1])
    w = np.full(40, 1e-4)
    w[7] = 1.0
    lopsided = pd.DataFrame({"x": x, "weight": w / w.sum()})
    warnings = identification(cal, lopsided)[1]
    assert "worth 1.0 equally weighted" in warnings[0]


def test_pyabcs_logistic_scale_maps_onto_each_declared_prior():
    """pyabc samples z = logit(u), u a parameter's place in its own prior: z = 0 is the
    prior's median and z = logit(q) its q quantile, for every kind of prior; the logistic
    z has no bound for the kernel to meet, and its ends map onto the range's ends."""
    from scipy.special import logit

    from sim.experiments.abc_smc import natural, prior
    from sim.experiments.calibrate import FreeParameter

    uni = FreeParameter(name="x", fields=["a.b"], low=2.0, high=6.0)
    log = FreeParameter(name="x", fields=["a.b"], low=1.0, high=100.0, prior="loguniform")
    whole = FreeParameter(name="x", fields=["a.b"], low=6.0, high=24.0, integer=True)
    assert natural(uni, 0.0) == pytest.approx(4.0)
    assert natural(uni, float(logit(0.25))) == pytest.approx(3.0)
    assert natural(log, 0.0) == pytest.approx(10.0)
    assert natural(log, float(logit(0.75))) == pytest.approx(10.0**1.5)
    assert natural(whole, 0.0) == 15 and type(natural(whole, 0.0)) is int
    assert natural(uni, -40.0) == pytest.approx(2.0) and natural(uni, 40.0) == pytest.approx(6.0)
    rv = prior(uni)
    assert rv.cdf(0.0) == pytest.approx(0.5) and rv.cdf(float(logit(0.9))) == pytest.approx(0.9)


def test_a_prior_only_parameter_is_drawn_not_simulated(tmp_path, truth):
    """unrelated_cost moves no target: declared prior_only, pyabc never sees it, so the
    simulated parameter's posterior is byte for byte that of a calibration without it; each
    particle carries the documented stream's draw from its prior, the parameter file its prior
    median, and every posterior draw a fresh value."""
    from sim.experiments.abc_smc import PRIOR_KEY

    alone = tmp_path / "alone"
    alone.mkdir()
    path = write(alone, truth, population=10, generations=2)
    text = path.read_text().replace("high = 1000.0\n", "high = 1000.0\nprior_only = true\n")
    path.write_text(text)
    run_calibration(load_calibration(path), alone / "out", executor="serial")
    without = tmp_path / "without"
    without.mkdir()
    path = write(without, truth, population=10, generations=2)
    cut = path.read_text()
    start = cut.index('[[parameters]]\nname = "unrelated_cost"')
    path.write_text(cut[:start] + cut[cut.index("[[targets]]") :])
    run_calibration(load_calibration(path), without / "out", executor="serial")
    a = pd.read_parquet(alone / "out" / "posterior.parquet")
    b = pd.read_parquet(without / "out" / "posterior.parquet")
    pd.testing.assert_frame_equal(a.drop(columns="unrelated_cost"), b)
    for t, gen in a.groupby("generation"):
        seq = np.random.SeedSequence(4, spawn_key=(PRIOR_KEY, int(t)))
        u = np.random.default_rng(seq).random((len(gen), 1))[:, 0]
        np.testing.assert_allclose(gen["unrelated_cost"].to_numpy(), 1000.0 * u)
    text = (alone / "out" / "parameters.toml").read_text()
    assert '"settings.primary_care.providers.fixed_cost" = 500.0' in text
    draws = load_posterior(alone / "out").draws(40, seed=2)
    values = [d["unrelated_cost"] for d in draws]
    assert len(set(values)) == 40 and all(0.0 <= v <= 1000.0 for v in values)


def test_prior_only_is_for_abc_smc(tmp_path):
    """prior_only under another method, or on every parameter, is refused with the reason."""
    from sim.errors import ScenarioError

    path = write(tmp_path, 0.5)
    text = path.read_text().replace("high = 1000.0\n", "high = 1000.0\nprior_only = true\n")
    path.write_text(text.replace('method = "abc_smc"', 'method = "abc"'))
    with pytest.raises(ScenarioError, match="abc_smc only"):
        load_calibration(path)
    path.write_text(text.replace("high = 30.0\n", "high = 30.0\nprior_only = true\n"))
    with pytest.raises(ScenarioError, match="at least one must be simulated"):
        load_calibration(path)
