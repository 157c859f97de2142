"""The examples in docs/examples run, print what they promise, and the interop API works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import default_world
from paths import ROOT

from sim import HealthSystemModel, evaluate, make_function

EXAMPLES = {
    "batch_run.py": ["runs: 4, months per run: 6", "capitation", "ffs"],
    "salib_sobol.py": ["evaluations: 64", "conversion_factor: S1 ="],
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_runs(name):
    """Each example runs with warnings as errors and prints its expected lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "docs" / "examples" / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    for line in EXAMPLES[name]:
        assert line in p.stdout, p.stdout
    assert sorted(EXAMPLES) == sorted(x.name for x in (ROOT / "docs" / "examples").glob("*.py"))


def test_model_stops_itself_and_collects_data():
    """running turns False after the scenario's months; the datacollector has a row a month."""
    sc = default_world(months=4)
    m = HealthSystemModel(sc, "ffs", rng=5)
    while m.running:
        m.step()
    assert m.steps == 4
    df = m.datacollector.get_model_vars_dataframe()
    assert len(df) == 4 and {"spending_pmpm", "mean_function"} <= set(df.columns)


def test_evaluate_matches_run_and_applies_params():
    """evaluate() returns the run's summary for one arm, with dotted fields changed."""
    from sim import run

    sc = default_world(months=3)
    out = evaluate(sc, arm="capitation", seed=3)
    summary = run(sc, arms=["capitation"], seed=3).summary
    assert out["spending_pmpm"] == summary.loc[summary["setting"] == "all", "spending_pmpm"].item()
    cheaper = evaluate(sc, {"arms.1.contracts.0.pmpm": 6.0}, arm="capitation", seed=3)
    assert cheaper["spending_pmpm"] < out["spending_pmpm"]
    f = make_function(sc, {"pmpm": "arms.1.contracts.0.pmpm"}, arm="capitation", seed=3)
    assert f(pmpm=6.0) == pytest.approx(cheaper, nan_ok=True)
    with pytest.raises(TypeError, match="unknown parameter"):
        f(fee=1.0)
