"""A dead worker or shard is reported in one message naming it, within seconds (#29): a real
``kill -9`` of a shard of ``sim run --shards`` (it hung until an outer timeout), of a worker of
``sim run --workers`` (a BrokenProcessPool traceback) and of a sweep's worker (44 of 48 runs
marked failed; now the one it ran, the others go on on a fresh worker)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from paths import ROOT

from sim.experiments.sweep import load_sweep, run_sweep

LONG = """
name = "long"
months = {months}
seed = 5
replications = {replications}
[population]
patients = {patients}
[population.regions]
north = {{ share = 0.5 }}
south = {{ share = 0.5 }}
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{{ model = "ffs" }}]
[[arms]]
name = "capitation"
contracts = [{{ model = "capitation", pmpm = 12.0 }}]
"""

SWEEP = """
name = "sw"
scenario = "long.toml"
replications = 2
seed = 3
[design]
method = "grid"
[[parameters]]
field = "behaviour.initial_offset"
levels = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
"""


def children(pid: int) -> list[int]:
    """Worker processes started by ``pid`` (multiprocessing's spawn children)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return sorted(out)


def start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "sim", *argv], env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def kill_a_worker(proc: subprocess.Popen, wanted: int, progress: int | None = None) -> int:
    """Wait until ``proc`` has ``wanted`` workers (and, with ``progress``, until it prints a
    progress line at that percentage or more: the workers are at work), and kill -9 the first;
    return its process id."""
    deadline = time.time() + 120
    while time.time() < deadline and len(children(proc.pid)) < wanted:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    while progress is not None:
        line = proc.stderr.readline()
        assert line, "the command finished before a worker was killed"
        done = re.search(r"\((\d+)%\)", line)
        if done and int(done.group(1)) >= progress:
            break
    assert proc.poll() is None, "the command finished before a worker was killed"
    victim = children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    return victim


def finish(proc: subprocess.Popen, within: float) -> tuple[int, str, float]:
    """Exit status, stderr and seconds taken by ``proc`` to stop (killed if it hangs)."""
    started = time.time()
    try:
        _, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"still running {within:.0f} s after its worker was killed") from None
    return proc.returncode, err, time.time() - started


def test_a_killed_shard_is_named_and_does_not_hang_the_run(tmp_path):
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG.format(months=600, replications=1, patients=20_000))
    out = tmp_path / "out"
    proc = start(["run", str(scenario), "--arms", "ffs", "--shards", "2", "--out", str(out)])
    victim = kill_a_worker(proc, 2, progress=10)
    rc, err, seconds = finish(proc, within=60)
    assert rc == 1 and seconds < 30, (rc, seconds, err)
    assert "shard" in err and str(victim) in err and "SIGKILL" in err, err
    assert "Traceback" not in err and "nothing was written" in err
    assert not out.exists()


def test_a_killed_worker_of_a_run_is_named(tmp_path):
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG.format(months=600, replications=1, patients=20_000))
    out = tmp_path / "out"
    proc = start(["run", str(scenario), "--workers", "2", "--out", str(out)])
    # past half of two tasks of the same size: both have started (one alone is half the run)
    victim = kill_a_worker(proc, 1, progress=60)
    rc, err, seconds = finish(proc, within=60)
    assert rc == 1 and seconds < 30, (rc, seconds, err)
    assert f"worker process {victim} was killed by SIGKILL" in err, err
    assert "while running replicate 0 of arm" in err and err.count("sim: error:") == 1
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    assert not out.exists()


def test_a_killed_sweep_worker_costs_its_run_only(tmp_path):
    """One worker killed: its run is failed and named at once, the 11 others are done on a
    fresh worker; run again, the sweep completes with the bytes of an uninterrupted one."""
    (tmp_path / "long.toml").write_text(LONG.format(months=60, replications=1, patients=4_000))
    path = tmp_path / "sw.toml"
    path.write_text(SWEEP)
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--out", str(out), "--workers", "2", "--quiet"]
    proc = start(argv)
    # a worker known to be mid-run: the one whose run the coordinator has just logged as done
    # has taken its next run a moment later (killing at a part's appearance could catch a
    # worker between runs, which loses nothing and is not this test's case)
    log, done, deadline = out / "runs.jsonl", [], time.time() + 120
    while time.time() < deadline and len(done) < 2:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
        lines = log.read_text().split("\n")[:-1] if log.exists() else []  # whole lines only
        done = [e for e in map(json.loads, lines) if e["status"] == "done"]
    time.sleep(done[-1]["seconds"] / 3)  # a third into its next run, as long as this one
    victim = int(done[-1]["worker"].rsplit(":", 1)[1])
    assert victim in children(proc.pid) and proc.poll() is None
    os.kill(victim, signal.SIGKILL)
    rc, err, _ = finish(proc, within=300)
    assert rc == 1, err
    assert f"worker process {victim} was killed by SIGKILL" in err and "fresh worker" in err
    entries = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    failed = [e for e in entries if e["status"] == "failed"]
    assert len(failed) == 1 and "worker lost" in failed[0]["error"], failed
    assert sum(e["status"] == "done" for e in entries) == 11
    p = subprocess.run([sys.executable, "-m", "sim", *argv], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert p.returncode == 0 and "(11 already done)" in p.stdout, p.stdout + p.stderr
    clean = tmp_path / "clean"
    run_sweep(load_sweep(path), clean, executor="serial")
    a = pd.read_parquet(out / "summary.parquet")
    assert (clean / "summary.parquet").read_bytes() == (out / "summary.parquet").read_bytes()
    assert len(a) > 0


def test_sigterm_to_the_coordinator_stops_its_workers_too(tmp_path):
    """``kill PID`` of a sweep (SIGTERM to it alone, as a scheduler's time limit sends) stops
    it like Ctrl-C, exit 143, and its pool workers with it: they used to stay, idle, for ever."""
    (tmp_path / "long.toml").write_text(LONG.format(months=600, replications=1, patients=20_000))
    path = tmp_path / "sw.toml"
    path.write_text(SWEEP)
    proc = start(["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "2", "--quiet"])
    deadline = time.time() + 120
    while time.time() < deadline and len(children(proc.pid)) < 2:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    workers = children(proc.pid)
    assert len(workers) == 2
    os.kill(proc.pid, signal.SIGTERM)
    rc, err, seconds = finish(proc, within=60)
    assert seconds < 30
    assert rc == 143 and "terminated (SIGTERM)" in err and "Traceback" not in err, (rc, err)
    gone = time.time() + 10
    while time.time() < gone and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not left, f"workers {left} outlived their coordinator"
