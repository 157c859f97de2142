"""The command line end to end, and a clear error for each class of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from paths import ROOT

from sim.results.tables import MONTHLY_COLUMNS, SUMMARY_COLUMNS

HEAD = """
name = "small"
months = 4
seed = 5
"""
TABLES = """
[population]
patients = 3000
[outputs]
provider_panel = true
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""
SMALL = HEAD + TABLES


def sim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_run_writes_a_documented_results_folder(small, tmp_path):
    """`sim run` writes the monthly table, summary, panel, metadata and figure, and (two arms)
    the decomposition by margin against the baseline arm."""
    out = tmp_path / "res"
    p = sim("run", str(small), "--out", str(out), "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert {f.name for f in out.iterdir()} == {
        "monthly.parquet", "summary.csv", "metadata.json", "trends.png", "trends.pdf",
        "trends.svg", "providers.parquet", "decomposition.csv", "decomposition_replicates.csv",
    }  # fmt: skip
    monthly = pd.read_parquet(out / "monthly.parquet")
    assert list(monthly.columns) == list(MONTHLY_COLUMNS)
    assert len(monthly) == 2 * 4 * 2 * 2  # arms × months × settings × payers
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 5 and meta["scenario"]["population"]["patients"] == 3000
    assert meta["versions"]["mesa"].startswith("3.")
    assert "git_commit" in meta and meta["columns"]["monthly.parquet"][0]["name"] == "arm"
    decomposition = pd.read_csv(out / "decomposition.csv")
    assert list(decomposition.columns) == [c["name"] for c in meta["columns"]["decomposition.csv"]]
    assert set(decomposition["arm"]) == {"ffs", "capitation"}
    assert (out / "trends.png").stat().st_size > 10_000


def test_default_output_folder_and_summary_table(small, tmp_path):
    """Without --out, results go to results/<scenario name>/; progress and a summary print."""
    p = sim("run", str(small), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "results" / "small" / "monthly.parquet").exists()
    assert "capitation" in p.stdout and "units per treated" in p.stdout
    assert "8/8 months (100%)" in p.stderr  # progress, as plain lines when not on a terminal


def test_same_seed_same_bytes_and_seed_flag(small, tmp_path):
    """Two runs with the same scenario and seed write byte-identical tables; --seed changes them."""
    outs = [tmp_path / n for n in ("a", "b", "c")]
    for out, extra in zip(outs, ([], [], ["--seed", "6"]), strict=True):
        p = sim("run", str(small), "--out", str(out), "--quiet", *extra, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
    a, b, c = ((o / "monthly.parquet").read_bytes() for o in outs)
    assert a == b
    assert a != c
    assert (outs[0] / "summary.csv").read_bytes() == (outs[1] / "summary.csv").read_bytes()


def test_set_overrides_fields(small, tmp_path):
    """--set dotted.key=value overrides any field, including inside lists of tables."""
    out = tmp_path / "o"
    p = sim(
        "run", str(small), "--out", str(out), "--quiet",
        "--set", "population.patients=1500", "--set", "months=2",
        "--set", "arms.1.contracts.0.pmpm=20.5", "--arms", "capitation",
        cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["scenario"]["population"]["patients"] == 1500
    assert meta["scenario"]["arms"][1]["contracts"][0]["pmpm"] == 20.5
    monthly = pd.read_parquet(out / "monthly.parquet")
    assert set(monthly["arm"]) == {"capitation"} and monthly["month"].max() == 1


BAD = {
    "unknown top-level key": ("colour = 'red'\n", [], "colour", "unknown field"),
    "unknown nested key": ("[behaviour]\nmemroy = 0.1\n", [], "behaviour.memroy", "unknown"),
    "wrong type": ("replications = 'many'\n", [], "replications", "integer"),
    "negative rate": (
        "[settings.primary_care]\nper_visit_codes=['99213']\nmarginal_cost = -5\n",
        [], "settings.primary_care.marginal_cost", "greater than or equal to 0",
    ),
    "shares not summing to one": (
        "[payers.a]\nshare = 0.5\n[payers.b]\nshare = 0.6\n", [], "payers", "sum to 1"
    ),
    "unknown payment model": (
        "", ["--set", "arms.0.contracts.0.model=\"salary\""], "arms.0.contracts.0", "allowed: "
    ),
    "bad model parameter": (
        "", ["--set", "arms.1.contracts.0.pmpm=-1"], "pmpm", "greater than or equal to 0"
    ),
    "unknown setting": (
        "", ["--set", "arms.0.contracts.0.setting=\"dentistry\""], "setting", "allowed: '*'"
    ),
    "bad override syntax": ("", ["--set", "months"], "--set", "dotted.key=value"),
    "case-mix weight for an unknown condition": (
        "", ["--set", 'arms.1.contracts.0={model="bundled", base_rate=500.0, '
             'condition_weights={dental=1.2}}'],
        "arms.1.contracts.0", "unknown condition",
    ),
    "unknown arm": ("", ["--arms", "salary"], "--arms", "allowed: ffs, capitation"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_reported_clearly(case, tmp_path):
    """Each class of bad input: exit 2, the file and field named, no traceback, nothing written."""
    extra_toml, args, field, allowed = BAD[case]
    path = tmp_path / "bad.toml"
    tables = extra_toml.startswith("[")
    path.write_text(HEAD + ("" if tables else extra_toml) + TABLES + (extra_toml if tables else ""))
    out = tmp_path / "out"
    p = sim("run", str(path), "--out", str(out), "--quiet", *args, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    assert "bad.toml" in p.stderr or field.startswith("--")
    assert field in p.stderr and allowed in p.stderr, p.stderr
    assert not out.exists()
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".out")]


def test_missing_file_and_bad_toml(tmp_path):
    """A missing scenario file or invalid TOML: exit 2 with the file named."""
    p = sim("run", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert p.returncode == 2 and "nope.toml" in p.stderr and "file not found" in p.stderr
    bad = tmp_path / "broken.toml"
    bad.write_text("months = [\n")
    p = sim("run", str(bad), cwd=tmp_path)
    assert p.returncode == 2 and "broken.toml" in p.stderr and "not valid TOML" in p.stderr
    assert "Traceback" not in p.stderr


def test_refuses_to_overwrite_a_folder_that_is_not_results(small, tmp_path):
    """--out pointing at a non-empty folder without metadata.json is refused, untouched."""
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    p = sim("run", str(small), "--out", str(out), "--quiet", cwd=tmp_path)
    assert p.returncode == 2 and "holds thesis.tex" in p.stderr and "--out" in p.stderr
    assert (out / "thesis.tex").read_text() == "keep me"
    assert [x.name for x in out.iterdir()] == ["thesis.tex"]


def test_shipped_scenario_validates():
    """The main scenario loads and covers the four payment models."""
    from sim.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "compare_payment_models.toml")
    models = {c.model for a in sc.arms for c in a.contracts}
    assert models == {"ffs", "capitation", "bundled", "blended"}


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_file_validates_and_runs_briefly(path):
    """Every scenario and sweep file in scenarios/ loads; scenarios run a few months."""
    from sim.experiments.run import run
    from sim.experiments.sweep import load_sweep
    from sim.scenario import load_scenario

    if "scenario" in tomllib.loads(path.read_text()):  # a sweep names its base scenario
        assert len(load_sweep(path).runs) > 0
        return
    full = load_scenario(path)
    months = 2 + max((w.month for a in full.arms for w in a.switches), default=1)
    # at most 2 replications: brief, and still more than one where the file asks for several
    reps = min(full.replications, 2)
    sc = load_scenario(
        path, ["population.patients=2000", f"months={months}", f"replications={reps}"]
    )
    res = run(sc)
    assert len(res.monthly) == (
        months * len(sc.arms) * len(sc.settings) * len(sc.payers) * sc.replications
    )
