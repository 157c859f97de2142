"""Registered forecasts (sim.experiments.forecast): every registered file is as it was
registered (its SHA-256 in validation/forecasts/SHA256SUMS), a forecast is never overwritten,
and a small forecast runs end to end from the committed world posterior."""

from __future__ import annotations

import hashlib
import tomllib

import pytest
from paths import ROOT

from sim.errors import ScenarioError
from sim.experiments import forecast
from sim.experiments.posterior import load_posterior

FORECASTS = ROOT / "validation" / forecast.FOLDER
SUMS = FORECASTS / "SHA256SUMS"
POSTERIOR = ROOT / "calibration" / "world_posterior"
TEAM_SPEC = ROOT / "validation" / "forecast_specs" / "team_2026.toml"


def _sums() -> dict[str, str]:
    out = {}
    for line in SUMS.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        out[name.strip()] = digest
    return out


def test_every_registered_forecast_is_unchanged():
    """A registered forecast is never edited: each file's SHA-256 is the one recorded when it
    was registered, and every file is recorded (and every record has its file)."""
    files = sorted(p.name for p in FORECASTS.glob("*.toml"))
    sums = _sums()
    assert files and sorted(sums) == files
    for name in files:
        assert hashlib.sha256((FORECASTS / name).read_bytes()).hexdigest() == sums[name], name


def test_registered_forecasts_are_read_and_listed():
    """sim validate lists each registered forecast as awaiting evidence, with its predictions;
    every prediction's interval holds its mean."""
    found = forecast.registered(ROOT / "validation")
    assert {f["file"] for f in found} == set(_sums())
    for f in found:
        assert f["predictions"] and f["registration"]["draws"] >= 1
        for p in f["predictions"]:
            assert p["interval_low"] <= p["mean"] <= p["interval_high"], p
    md = forecast.markdown(found)
    assert "Forecasts awaiting evidence" in md
    assert all(f["forecast"]["title"] in md for f in found)


def test_a_registered_forecast_is_never_overwritten(tmp_path):
    """register refuses an existing file before running anything."""
    out = tmp_path / "team.toml"
    out.write_text("kept")
    with pytest.raises(ScenarioError, match="never overwritten"):
        forecast.register(TEAM_SPEC, load_posterior(POSTERIOR), 2, out)
    assert out.read_text() == "kept"


def test_a_small_forecast_runs_from_the_world_posterior(tmp_path):
    """The TEAM spec on a small copy of its scenario, two posterior draws: one prediction per
    outcome, in the spec's order, each interval around its mean; the file records the draws,
    the posterior and the spec."""
    scen = tomllib.loads((ROOT / "validation" / "scenarios" / "team_2026.toml").read_text())
    text = (ROOT / "validation" / "scenarios" / "team_2026.toml").read_text()
    text = text.replace('world = "../../scenarios/', f'world = "{ROOT}/scenarios/')
    text = text.replace(f"patients = {scen['population']['patients']:_}", "patients = 1_500")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "team_2026.toml").write_text(text)
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    spec = spec_dir / "team.toml"
    spec.write_text(TEAM_SPEC.read_text())
    out = tmp_path / "forecasts" / "team.toml"
    out.parent.mkdir()
    doc = forecast.register(spec, load_posterior(POSTERIOR), 2, out)
    names = [o["name"] for o in tomllib.loads(TEAM_SPEC.read_text())["forecast"]["outcomes"]]
    assert [p["outcome"] for p in doc["predictions"]] == names
    for p in doc["predictions"]:
        assert p["interval_low"] <= p["mean"] <= p["interval_high"]
    saved = tomllib.loads(out.read_text())
    assert saved["registration"]["draws"] == 2
    assert saved["forecast"]["id"] == "team_2026"
    assert not any(out.parent.glob(".*parts"))  # the runs' parts are cleaned up
