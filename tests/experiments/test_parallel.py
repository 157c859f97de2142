"""Arms and replicates in worker processes: the same bytes as a serial run, one progress
stream, one model alive at a time."""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pandas as pd
import pytest
from paths import ROOT

from sim.experiments import parallel
from sim.experiments.run import default_workers, run, run_pair
from sim.scenario import load_scenario

run_module = importlib.import_module(
    "sim.experiments.run"
)  # `sim.experiments.run` the attribute is the function


SCENARIO = """
name = "par"
months = 3
seed = 11
replications = 2
[population]
patients = 2000
[outputs]
provider_panel = true
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
[[arms]]
name = "bundled"
contracts = [{ model = "bundled", base_rate = 900.0 }]
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "par.toml"
    p.write_text(SCENARIO)
    return p


def _sim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_cli_tables_are_byte_identical_for_one_and_two_workers(path, tmp_path):
    """`sim run --workers 1` and `--workers 2` write the same bytes in every table."""
    for w in ("1", "2"):
        p = _sim("run", str(path), "--out", str(tmp_path / w), "--quiet", "--workers", w,
                 cwd=tmp_path)  # fmt: skip
        assert p.returncode == 0, p.stderr
    for name in ("monthly.parquet", "summary.csv", "providers.parquet"):
        one = (tmp_path / "1" / name).read_bytes()
        assert one == (tmp_path / "2" / name).read_bytes(), name
    monthly = pd.read_parquet(tmp_path / "2" / "monthly.parquet")
    # every (replicate, arm) is there, in the serial order
    order = monthly[["replicate", "arm"]].drop_duplicates().values.tolist()
    assert order == [[r, a] for r in (0, 1) for a in ("ffs", "capitation", "bundled")]


def test_cli_rejects_zero_workers(path, tmp_path):
    """`--workers 0` is an input error (exit 2) naming the option; nothing is written."""
    p = _sim("run", str(path), "--out", str(tmp_path / "o"), "--workers", "0", cwd=tmp_path)
    assert p.returncode == 2
    assert "--workers" in p.stderr
    assert not (tmp_path / "o").exists()


def test_parallel_run_reports_every_month_once_in_order(path):
    """With workers, progress is one stream: done rises by one each call, up to the total."""
    sc = load_scenario(path)
    calls = []
    res = run(sc, workers=2, progress=lambda d, t, pm: calls.append((d, t, pm)))
    total = 3 * 3 * 2
    assert [c[0] for c in calls] == list(range(1, total + 1))
    assert {c[1] for c in calls} == {total}
    assert calls[-1][2] == total * 2000
    assert res.ledgers == run(sc).ledgers


def test_default_workers_stay_in_process_for_small_runs(path, monkeypatch):
    """Not told, a small run uses this process; a large one every core, at most one a task."""
    sc = load_scenario(path)
    assert default_workers(sc, 6) == 1
    monkeypatch.setattr(parallel, "PARALLEL_MIN_PATIENT_MONTHS", 1)
    monkeypatch.setattr(parallel, "cores", lambda: 8)
    assert default_workers(sc, 6) == 6
    assert default_workers(sc, 1) == 1
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    assert default_workers(sc, 6) == 2


def test_run_rejects_zero_workers(path):
    """run(workers=0) is a ValueError, not a silent serial run."""
    with pytest.raises(ValueError, match="workers"):
        run(load_scenario(path), workers=0)


def test_a_serial_run_holds_one_model_at_a_time(path, monkeypatch):
    """When a (replicate, arm) starts, the (large) models of the earlier ones are gone."""
    alive: list[weakref.ref] = []
    seen_alive: list[int] = []
    base = run_module.HealthSystemModel

    def make(*args, **kwargs):
        seen_alive.append(sum(r() is not None for r in alive))
        m = base(*args, **kwargs)
        alive.append(weakref.ref(m))
        return m

    monkeypatch.setattr(run_module, "HealthSystemModel", make)
    monkeypatch.setattr(run_module, "COLLECT_MIN_BYTES", 0)  # this small model counts as large
    gc.disable()  # only the run's own collection may free them
    try:
        run(load_scenario(path))
    finally:
        gc.enable()
    assert seen_alive == [0] * 6


def test_run_pair_from_scenario_data_matches_the_scenario(path):
    """A worker's task (scenario JSON data, seed, arm, replicate) gives the same tables."""
    sc = load_scenario(path)
    a = run_pair(sc, 11, "capitation", 1)
    b = run_pair(sc.model_dump(mode="json"), 11, "capitation", 1)
    pd.testing.assert_frame_equal(a.monthly, b.monthly)
    pd.testing.assert_frame_equal(a.providers, b.providers)
    assert a.ledger == b.ledger


def _fails(x: int, *, progress) -> int:
    progress(1)
    if x == 2:
        raise RuntimeError("task 2 failed")
    return x * 10


def test_map_tasks_returns_results_in_task_order_and_raises_a_tasks_error():
    """map_tasks keeps task order, and a task's exception reaches the caller."""
    assert parallel.map_tasks(_fails, [(0,), (1,), (3,)], 2) == [0, 10, 30]
    with pytest.raises(RuntimeError, match="task 2 failed"):
        parallel.map_tasks(_fails, [(0,), (2,), (3,)], 2)


class _Unpicklable(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def _raises_unpicklable(x: int, *, progress) -> int:
    if x == 0:  # the first task goes to the worker process
        raise _Unpicklable("bad", "field")
    return x


def test_an_exception_that_does_not_pickle_comes_back_as_a_worker_error():
    """A worker's exception whose class cannot be rebuilt arrives as WorkerError with its
    type and message, not as a broken pool."""
    with pytest.raises(parallel.WorkerError, match="_Unpicklable: bad field"):
        parallel.map_tasks(_raises_unpicklable, [(0,), (1,), (2,)], 2)
