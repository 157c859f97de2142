"""A calibration stopped at any moment and resumed gives the bytes of one never stopped (#29):
a real ``kill -9`` mid-run (Optuna's TPE and ABC rejection), a kill while a batch's trials
were being told, and one while a trial's draws were being stored. Each trial is drawn by a
sampler seeded by its number, from the trials of the batches before it. A run killed and run
again gives the bytes of one never stopped (sweeps: tests/experiments/test_sweep.py; validations:
tests/experiments/test_validate.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paths import ROOT

from sim.experiments.calibrate import PARTS, load_calibration, run_calibration

pytest.importorskip("optuna")


SCENARIO = """
name = "tiny"
months = 4
seed = 5
[population]
patients = 400
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
name = "resume_cal"
trials = {trials}
seeds = 1
method = "{method}"
{abc}
[[parameters]]
name = "altruism_high"
fields = ["settings.*.providers.altruism.high"]
low = 0.3
high = 1.5

[[parameters]]
name = "offset"
fields = ["behaviour.initial_offset"]
low = -0.5
high = 0.5

[[targets]]
id = "therapy_units_per_member"
scenario = "tiny.toml"
arm = "ffs"
numerator = ["service_units"]
denominator = ["members"]
setting = "outpatient_therapy"
value = 0.5
uncertainty = 0.1
source = "a made-up test target"
"""

#: the files whose bytes must not depend on stops and resumes (parameters.toml holds the time
#: it was written: compared without that line)
COMPARED = ("trials.parquet", "fit.csv", "posterior.parquet")


def write(tmp_path: Path, method: str = "optuna", trials: int = 12) -> Path:
    (tmp_path / "tiny.toml").write_text(SCENARIO)
    abc = "abc = { accept = 0.25 }" if method == "abc" else ""
    path = tmp_path / f"{method}.toml"
    path.write_text(CALIBRATION.format(trials=trials, method=method, abc=abc))
    return path


def same_outputs(a: Path, b: Path) -> None:
    for name in COMPARED:
        if (a / name).exists() or (b / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name

    def params(folder: Path) -> list[str]:
        return [x for x in (folder / "parameters.toml").read_text().splitlines()
                if not x.startswith("written = ")]  # fmt: skip

    assert params(a) == params(b)


def command(path: Path, out: Path, workers: int) -> list[str]:
    executor = "process" if workers > 1 else "serial"
    return [sys.executable, "-m", "sim", "calibrate", str(path), "--out", str(out), "--quiet",
            "--executor", executor, "--workers", str(workers)]  # fmt: skip


@pytest.mark.parametrize("method", ["optuna", "abc"])
def test_killed_and_resumed_calibration_gives_the_same_bytes(tmp_path, method):
    """kill -9 of a calibration (two workers) mid-run, resumed with one worker: trials, fit,
    posterior and parameters are those of an uninterrupted run."""
    path = write(tmp_path, method)
    clean, out = tmp_path / "clean", tmp_path / "out"
    run_calibration(load_calibration(path), clean, executor="serial", workers=2)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command(path, out, 2), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline:
        parts = list((out / PARTS).glob("t*.json")) if (out / PARTS).exists() else []
        if len(parts) >= 5:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n = len(list((out / PARTS).glob("t*.json")))
    assert 5 <= n < 12 and not (out / "trials.parquet").exists(), "not killed mid-way"
    p = subprocess.run(command(path, out, 1), env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    same_outputs(clean, out)


class Killed(BaseException):
    """Stands for a kill -9 at a chosen point (nothing after it runs)."""


def test_killed_while_telling_a_batch(tmp_path, monkeypatch):
    """A stop after the first trial of a batch was told: the rest of that batch is told, and
    the next batch is drawn from the whole of it, as without the stop."""
    import optuna

    path = write(tmp_path, trials=8)
    clean, out = tmp_path / "clean", tmp_path / "out"
    run_calibration(load_calibration(path), clean, executor="serial", workers=2)
    real = optuna.study.Study.tell
    told = []

    def tell(self, trial, *a, **kw):
        if len(told) == 5:
            raise Killed
        told.append(trial)
        return real(self, trial, *a, **kw)

    monkeypatch.setattr(optuna.study.Study, "tell", tell)
    with pytest.raises(Killed):
        run_calibration(load_calibration(path), out, executor="serial", workers=2)
    monkeypatch.setattr(optuna.study.Study, "tell", real)
    run_calibration(load_calibration(path), out, executor="serial", workers=2)
    same_outputs(clean, out)


@pytest.mark.parametrize("where", ["enqueued", "half stored"])
def test_killed_while_a_trial_was_stored(tmp_path, monkeypatch, where):
    """A stop after trial 5's drawn values were enqueued in the study, or after the first of
    them was stored as its parameter: the resumed calibration stores the same values."""
    import optuna

    path = write(tmp_path, trials=8)
    clean, out = tmp_path / "clean", tmp_path / "out"
    run_calibration(load_calibration(path), clean, executor="serial", workers=2)
    real_ask, real_suggest = optuna.study.Study.ask, optuna.trial.Trial._suggest

    def ask(self, *a, **kw):
        if self.study_name == "resume_cal" and len(self.get_trials()) == 6:
            raise Killed  # trial 5 enqueued, not yet asked
        return real_ask(self, *a, **kw)

    def suggest(self, name, distribution):
        if self.study.study_name == "resume_cal" and self.number == 5 and name == "offset":
            raise Killed  # trial 5 asked, its first parameter stored
        return real_suggest(self, name, distribution)

    if where == "enqueued":
        monkeypatch.setattr(optuna.study.Study, "ask", ask)
    else:
        monkeypatch.setattr(optuna.trial.Trial, "_suggest", suggest)
    with pytest.raises(Killed):
        run_calibration(load_calibration(path), out, executor="serial", workers=2)
    monkeypatch.setattr(optuna.study.Study, "ask", real_ask)
    monkeypatch.setattr(optuna.trial.Trial, "_suggest", real_suggest)
    run_calibration(load_calibration(path), out, executor="serial", workers=2)
    same_outputs(clean, out)


def test_killed_run_run_again_gives_the_same_bytes(tmp_path):
    """kill -9 of `sim run` mid-run leaves no folder; run again, its tables are those of a run
    never stopped, and the temporary folder the killed one left is gone."""
    (tmp_path / "tiny.toml").write_text(SCENARIO.replace("months = 4", "months = 240"))
    out, clean = tmp_path / "out", tmp_path / "clean"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cmd(folder: Path) -> list[str]:
        return [sys.executable, "-m", "sim", "run", str(tmp_path / "tiny.toml"), "--out",
                str(folder), "--workers", "1"]  # fmt: skip

    proc = subprocess.Popen(cmd(out), env=env, start_new_session=True, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    while "(30%)" not in (line := proc.stderr.readline()):
        assert line, "the run ended before it was killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not out.exists()
    for folder in (out, clean):
        p = subprocess.run([*cmd(folder), "--quiet"], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    for name in ("monthly.parquet", "summary.csv"):
        assert (out / name).read_bytes() == (clean / name).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean", "out", "tiny.toml"]
