"""Sweeps: designs, seeds, executors, resuming after a kill, failures, the dataset."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from paths import ROOT

import sim
from sim.errors import ResultsError, ScenarioError
from sim.experiments.sweep import (
    INDEX,
    PARTS,
    design_points,
    expected_size,
    gather,
    load_sweep,
    run_sweep,
)

BASE = """
name = "base"
months = 3
seed = 9
[population]
patients = 1500
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""


def write_sweep(tmp: Path, body: str, name: str = "sw") -> Path:
    (tmp / "base.toml").write_text(BASE)
    path = tmp / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "base.toml"\n' + body)
    return path


GRID = """
replications = 2
seed = 3
outputs = "monthly"
[[parameters]]
field = "settings.outpatient_therapy.marginal_cost"
levels = [12.0, 24.0]
[[parameters]]
field = "behaviour.initial_offset"
levels = [0.0, 1.0, 2.0]
"""


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The GRID sweep run serially once for the tests that read its folder (or change a copy
    of it: :func:`copy_of`): (sweep, outcome, folder)."""
    tmp = tmp_path_factory.mktemp("grid")
    sweep = load_sweep(write_sweep(tmp, GRID))
    outcome = run_sweep(sweep, tmp / "out", executor="serial")
    return sweep, outcome, tmp / "out"


def copy_of(folder: Path, tmp: Path) -> Path:
    """A copy of a finished sweep's folder, for a test that changes it."""
    return Path(shutil.copytree(folder, tmp / "out"))


SOBOL = """
replications = 1
[design]
method = "sobol"
samples = 4
[[parameters]]
field = "settings.outpatient_therapy.marginal_cost"
low = 10.0
high = 26.0
[[parameters]]
field = "settings.primary_care.marginal_cost"
low = 40.0
high = 80.0
[[parameters]]
field = "behaviour.initial_offset"
low = -1.0
high = 1.0
"""


@pytest.mark.parametrize(
    ("method", "extra", "size"),
    [
        ("grid", "", 2 * 3),
        ("lhs", "samples = 7", 7),
        ("sobol", "samples = 4", 4 * (2 * 3 + 2)),
        ("sobol", "samples = 4\nsecond_order = false", 4 * (3 + 2)),
        ("morris", "samples = 5", 5 * (3 + 1)),
    ],
)
def test_design_sizes(tmp_path, method, extra, size):
    """Grid: product of levels; LHS: N; Sobol: N·(2D+2) (N·(D+2) first order); Morris: N·(D+1)."""
    fields = ["population.function_mean", "population.function_sd", "population.risk_sigma"]
    params = "\n".join(
        f'[[parameters]]\nfield = "{f}"\nlow = 1.0\nhigh = 2.0\nlevels = [1.0, 2.0{", 3.0" * i}]'
        for i, f in enumerate(fields[: 3 if method != "grid" else 2])
    )
    sweep = load_sweep(write_sweep(tmp_path, f'[design]\nmethod = "{method}"\n{extra}\n{params}\n'))
    assert len(sweep.design) == size == expected_size(sweep.config)
    assert list(sweep.design["point"]) == list(range(size))


def test_sampled_designs_stay_in_bounds_and_are_reproducible(tmp_path):
    """Sampled points lie within [low, high] and the same seed gives the same design."""
    sweep = load_sweep(write_sweep(tmp_path, SOBOL))
    d = sweep.design
    assert d["settings.outpatient_therapy.marginal_cost"].between(10, 26).all()
    assert d["behaviour.initial_offset"].between(-1, 1).all()
    assert d.equals(design_points(sweep.config))


def test_replications_share_seeds_across_points(grid):
    """Replication r has the same seed and streams at every design point and in every arm."""
    _, outcome, out = grid
    assert outcome.done == outcome.total == 12 and not outcome.failed
    monthly = pd.read_parquet(out / "monthly.parquet")
    assert set(monthly["seed"]) == {3}
    # with identical streams, month-0 needs are identical at every point for a replicate
    m0 = monthly[(monthly["month"] == 0) & (monthly["arm"] == "ffs")]
    per_point = m0.groupby(["replicate", "point"])["new_needs"].sum().unstack("point")
    assert (per_point.nunique(axis=1) == 1).all()
    assert per_point.loc[0].iloc[0] != per_point.loc[1].iloc[0]


def test_same_bytes_whatever_the_executor(tmp_path, grid):
    """A process pool, a real dask LocalCluster and a serial run write identical tables."""
    sweep = load_sweep(write_sweep(tmp_path, GRID))
    outs = {"serial": grid[2]}
    for executor, workers in (("process", 2), ("dask-local", 2)):
        out = tmp_path / executor
        outcome = run_sweep(sweep, out, executor=executor, workers=workers)
        assert outcome.done == outcome.total and not outcome.failed, outcome.failed
        outs[executor] = out
    for table in ("summary.parquet", "monthly.parquet", "design.parquet"):
        ref = (outs["serial"] / table).read_bytes()
        assert (outs["process"] / table).read_bytes() == ref
        assert (outs["dask-local"] / table).read_bytes() == ref


def test_resume_after_kill(tmp_path):
    """kill -9 mid-sweep, rerun: no completed run lost, none run twice, no corrupt part."""
    body = GRID.replace("levels = [0.0, 1.0, 2.0]", "levels = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]")
    body = body.replace("replications = 2", "replications = 3")
    path = write_sweep(tmp_path, body)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "sim", "sweep", str(path), "--out", str(out), "--quiet",
           "--executor", "process", "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        parts = list((out / PARTS).glob("summary-*.parquet")) if (out / PARTS).exists() else []
        if len(parts) >= 5:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in (out / PARTS).glob("summary-*.parquet")}
    assert 5 <= len(done_before) < 36, "the sweep was not killed mid-way"
    assert not (out / "summary.parquet").exists()

    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"({len(done_before)} already done)" in p.stdout or "already done" in p.stdout
    entries = [json.loads(x) for x in (out / INDEX).read_text().splitlines() if x.strip()]
    done = [(e["point"], e["replicate"]) for e in entries if e["status"] == "done"]
    assert len(done) == len(set(done)) == 36  # each run recorded done exactly once
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary.groupby(["point", "replicate"])) == 36
    # and the result equals an uninterrupted sweep's
    clean = tmp_path / "clean"
    run_sweep(load_sweep(path), clean, executor="serial")
    for table in ("summary.parquet", "monthly.parquet"):
        assert (clean / table).read_bytes() == (out / table).read_bytes()


def test_failed_run_is_recorded_and_retried(tmp_path, monkeypatch):
    """One run's failure is recorded with its error; the others finish; a rerun retries it."""
    import importlib

    run_module = importlib.import_module(
        "sim.experiments.run"
    )  # (sim.experiments.run is also the function)
    real = run_module.run

    def flaky(scenario, **kw):
        if scenario.behaviour.initial_offset == 1.0 and kw.get("replicate") == 1:
            raise RuntimeError("injected failure")
        return real(scenario, **kw)

    monkeypatch.setattr(run_module, "run", flaky)
    sweep = load_sweep(write_sweep(tmp_path, GRID))
    out = tmp_path / "out"
    outcome = run_sweep(sweep, out, executor="serial")
    assert outcome.done == 10 and len(outcome.failed) == 2
    assert not (out / "summary.parquet").exists()
    entries = [json.loads(x) for x in (out / INDEX).read_text().splitlines()]
    failed = [e for e in entries if e["status"] == "failed"]
    assert len(failed) == 2 and all("injected failure" in e["error"] for e in failed)
    monkeypatch.setattr(run_module, "run", real)
    outcome = run_sweep(sweep, out, executor="serial")
    assert outcome.done == 12 and outcome.skipped == 10 and not outcome.failed
    assert (out / "summary.parquet").exists()


def test_dataset_is_described(grid):
    """datapackage.json is a valid Frictionless package describing every column with a unit."""
    frictionless = pytest.importorskip("frictionless")
    out = grid[2]
    pkg = json.loads((out / "datapackage.json").read_text())
    assert frictionless.validate(str(out / "datapackage.json")).valid
    for res in pkg["resources"]:
        cols = list(pd.read_parquet(out / res["path"]).columns)
        assert [f["name"] for f in res["schema"]["fields"]] == cols
        assert all(f.get("unit") and f.get("description") for f in res["schema"]["fields"])
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["sweep"]["seed"] == 3 and "versions" in meta and "git_commit" in meta
    assert "base_scenario" in meta
    assert "# sw" in (out / "README.md").read_text()


def test_dataset_licence_and_version_are_the_users(tmp_path, grid):
    """The dataset's licence and version are the user's (default CC-BY-4.0 and 1.0.0)."""
    sweep, _, done = grid
    pkg = json.loads((done / "datapackage.json").read_text())
    assert (pkg["licenses"][0]["name"], pkg["version"]) == ("CC-BY-4.0", "1.0.0")
    out = copy_of(done, tmp_path)
    gather(sweep, out, data_license="ODbL-1.0", data_version="2.0.1")
    pkg = json.loads((out / "datapackage.json").read_text())
    assert (pkg["licenses"][0]["name"], pkg["version"]) == ("ODbL-1.0", "2.0.1")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["version"] == sim.__version__


def test_sensitivity_sobol(tmp_path):
    """`sim sensitivity` writes first-order and total Sobol indices with CIs, and a figure."""
    path = write_sweep(tmp_path, SOBOL)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["sweep", str(path), "--out", str(out), "--quiet", "--workers", "2"]
    p = subprocess.run(
        [sys.executable, "-m", "sim", *args], env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    p = subprocess.run([sys.executable, "-m", "sim", "sensitivity", str(out), "--outcome",
                        "units_per_treated", "--setting", "outpatient_therapy"],
                       env=env, capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 0, p.stderr
    table = pd.read_csv(out / "sensitivity" / "sobol_units_per_treated.csv")
    assert set(table.columns) >= {"parameter", "S1", "S1_conf", "ST", "ST_conf"}
    assert len(table) == 2 * 3  # arms × parameters
    assert (out / "sensitivity" / "sobol_units_per_treated.png").stat().st_size > 5000


BAD_SWEEPS = {
    "unknown key": ("colour = 1\n" + GRID, "colour", "unknown field"),
    "grid without levels": (
        '[[parameters]]\nfield = "months"\nlow = 1.0\nhigh = 2.0\n',
        "parameters.0",
        "needs levels",
    ),
    "field that does not exist": (
        '[[parameters]]\nfield = "population.patiens"\nlevels = [10]\n',
        "patiens",
        "unknown",
    ),
    "value out of range": (
        '[[parameters]]\nfield = "months"\nlevels = [2, -1]\n',
        "design point 1",
        "months",
    ),
    "unknown arm": ('arms = ["salary"]\n' + GRID, "arms", "allowed: ffs, capitation"),
    "bad method": ('[design]\nmethod = "fractal"\n' + GRID, "design.method", "grid"),
}


@pytest.mark.parametrize("case", list(BAD_SWEEPS))
def test_bad_sweep_files(tmp_path, case):
    """Bad sweep files are rejected up front with the file, field and what is allowed."""
    body, field, allowed = BAD_SWEEPS[case]
    path = write_sweep(tmp_path, body)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    text = str(err.value)
    assert str(path) in text and field in text and allowed in text, text


def test_cli_bad_sweep_and_foreign_folder(tmp_path, grid):
    """CLI: a bad sweep exits 2 with no traceback; a folder of another sweep is refused."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    path = write_sweep(tmp_path, BAD_SWEEPS["unknown key"][0])
    p = subprocess.run([sys.executable, "-m", "sim", "sweep", str(path)], env=env,
                       capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr and "colour" in p.stderr
    out = copy_of(grid[2], tmp_path)  # the folder of a finished sweep
    other = write_sweep(tmp_path, GRID.replace("seed = 3", "seed = 4"), name="other")
    with pytest.raises(ResultsError, match="different sweep"):
        run_sweep(load_sweep(other), out, executor="serial")
    p = subprocess.run([sys.executable, "-m", "sim", "sweep", str(other), "--out", str(out)],
                       env=env, capture_output=True, text=True)  # fmt: skip
    assert p.returncode == 2 and "different sweep" in p.stderr and "Traceback" not in p.stderr


def test_resume_refuses_other_code(tmp_path, monkeypatch):
    """A sweep started with other simulation code is not silently finished with this code."""
    import sim.experiments.sweep as sweep_module

    sweep = load_sweep(write_sweep(tmp_path, GRID))
    out = tmp_path / "out"
    monkeypatch.setattr(sweep_module, "_CODE_HASH", "0123456789abcdef")
    prepare = sweep_module.prepare_folder(sweep, out)
    assert prepare == set()
    monkeypatch.setattr(sweep_module, "_CODE_HASH", None)  # back to the real source hash
    with pytest.raises(ResultsError, match="other simulation code"):
        run_sweep(sweep, out, executor="serial")


def test_worker_with_other_code_fails_the_run(tmp_path, monkeypatch):
    """A worker whose source differs from the sweep's records a failed run, not mixed data."""
    import sim.experiments.sweep as sweep_module

    sweep = load_sweep(write_sweep(tmp_path, GRID))
    task = sweep_module.Task(
        point=0, replicate=0, seed=3, code="not-this-code", scenario=sweep.scenario_data(0),
        params=sweep.point_overrides(0), arms=tuple(sweep.arms), outputs="summary",
        folder=str(tmp_path),
    )  # fmt: skip
    res = sweep_module.execute(task)
    assert res.status == "failed" and "different simulation code" in res.error


def test_damaged_part_is_reported_with_its_path(tmp_path, grid):
    """A part damaged outside the tool gives a clear error naming it, and deleting it redoes
    just that run."""
    sweep = grid[0]
    out = copy_of(grid[2], tmp_path)
    part = sorted((out / PARTS).glob("summary-*.parquet"))[3]
    part.write_bytes(b"not parquet")
    from sim.experiments.sweep import gather

    with pytest.raises(ResultsError, match=part.name):
        gather(sweep, out)
    part.unlink()
    outcome = run_sweep(sweep, out, executor="serial")
    assert outcome.skipped == outcome.total - 1 and not outcome.failed


def test_the_process_pool_runs_more_runs_than_its_tracker_pipe_holds():
    """Each run's start message (which worker took it) goes down a pipe of about 64 KiB; read
    only when a worker died, it filled after about 2,800 runs and every worker blocked for
    ever (a world calibration stopped there). 6,000 trivial runs on two workers finish."""
    code = (
        "from sim.experiments.sweep import Executors\n"
        "with Executors('process', 2, None) as ex:\n"
        "    got = sorted(ex.results(list(range(-6000, 0)), abs))\n"
        "assert got == list(range(1, 6001)), got[:5]\n"
        "print('done')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert p.returncode == 0 and p.stdout.strip() == "done", p.stderr[-2000:]
