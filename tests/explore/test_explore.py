"""The explorer's compute layer (no browser): settings → overrides → cached run → tables."""

from __future__ import annotations

import io
import json
import tomllib
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from paths import ROOT

from sim.experiments.run import run
from sim.explore import compute as c
from sim.scenario import load_scenario, validate_scenario

pytest.importorskip("tomli_w")

MAIN = ROOT / "scenarios" / "compare_payment_models.toml"
SMALL = c.Settings(scenario=str(MAIN), patients=1_500, months=4, replications=2)


@pytest.fixture(autouse=True)
def _fresh_cache():
    c.clear_cache()
    yield
    c.clear_cache()


def test_levels_multiply_the_scenarios_own_values():
    """Each knob scales the fields it names, everywhere in the scenario, and nothing else."""
    base = load_scenario(MAIN)
    s = c.Settings(scenario=str(MAIN), fee_level=1.2, pmpm_level=0.5, bundle_level=1.5,
                   altruism_level=0.5, cost_sharing=2.0)  # fmt: skip
    new = c.scenario_for(s)
    for name, st in base.settings.items():
        assert new.settings[name].conversion_factor == pytest.approx(st.conversion_factor * 1.2)
        alt = new.settings[name].providers.altruism
        assert (alt.low, alt.high) == pytest.approx(
            (st.providers.altruism.low * 0.5, st.providers.altruism.high * 0.5)
        )
    for name, payer in base.payers.items():
        assert new.payers[name].deductible == pytest.approx(payer.deductible * 2.0)
    for old_arm, new_arm in zip(base.arms, new.arms, strict=True):
        for old, cur in zip(old_arm.contracts, new_arm.contracts, strict=True):
            op, np_ = old.params, cur.params
            if old.model in ("capitation", "blended"):
                assert np_.pmpm == pytest.approx(op.pmpm * 0.5)
            if old.model == "bundled":
                assert np_.base_rate == pytest.approx(op.base_rate * 1.5)
            assert np_.coinsurance == pytest.approx(min(1.0, op.coinsurance * 2.0))
    assert new.population.patients == c.INTERACTIVE_PATIENTS
    assert c.overrides(base, c.Settings(scenario=str(MAIN)))[4:] == []


def test_switch_month_moves_the_first_switch_and_keeps_the_gaps():
    """The switch month moves each arm's first policy switch; later ones keep their distance."""
    base = c.load_base("home_health_reform")
    k = c.knobs(base)
    assert k.switch_month is not None and not k.pmpm
    moved = c.Settings(scenario="home_health_reform", switch_month=k.switch_month - 12)
    new = c.scenario_for(moved)
    for old_arm, new_arm in zip(base.arms, new.arms, strict=True):
        assert [w.month + 12 for w in new_arm.switches] == [w.month for w in old_arm.switches]
    assert c.knobs(load_scenario(MAIN)).switch_month is None


@pytest.mark.parametrize("name", c.shipped_scenarios())
def test_every_shipped_scenario_takes_every_knob(name):
    """With every knob moved, each shipped scenario still validates."""
    base = c.load_base(name)
    k = c.knobs(base)
    s = c.Settings(scenario=name, fee_level=0.7, pmpm_level=1.3, bundle_level=0.8,
                   altruism_level=1.4, cost_sharing=0.0,
                   switch_month=None if k.switch_month is None else k.switch_month + 1)  # fmt: skip
    assert c.scenario_for(s).name == base.name


def test_saved_scenario_file_loads_to_the_pages_scenario(tmp_path):
    """The saved TOML loads to exactly the scenario the page runs, saved away from its world:
    the base file's world is written out whole (only the world's name is left behind, in the
    heading)."""
    s = c.Settings(scenario=str(MAIN), fee_level=1.1, cost_sharing=0.5, seed=3)
    text = c.scenario_toml(s)
    assert text.startswith("# Saved from the payment-sim explorer")
    page = c.scenario_for(s)
    assert page.world is not None and "(worlds/medicare.toml)" in text
    path = tmp_path / "saved.toml"
    path.write_text(text)
    assert load_scenario(path) == page.model_copy(update={"seed": 3, "world": None})


def test_runs_are_cached_per_setting_and_a_superseded_run_is_not():
    """The same settings give the cached run; an abandoned run leaves nothing in the cache."""

    def abandon(fraction: float) -> None:
        raise c.Superseded

    with pytest.raises(c.Superseded):
        c.run_settings(SMALL, abandon)
    assert c.cached(SMALL) is None
    seen: list[float] = []
    first = c.run_settings(SMALL, seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert c.run_settings(SMALL) is first
    assert c.run_settings(c.Settings(**{**SMALL.to_dict(), "fee_level": 1.05})) is not first


def test_page_numbers_are_those_of_sim_run_with_the_same_command():
    """The outcomes table and the trends agree with `sim run` of the command the page shows."""
    s = c.Settings(**{**SMALL.to_dict(), "fee_level": 1.3, "seed": 9})
    result = c.run_settings(s)
    cmd = c.command(s)
    sets = [cmd[i + 1] for i, x in enumerate(cmd) if x == "--set"]
    again = run(load_scenario(cmd[2], sets), seed=int(cmd[cmd.index("--seed") + 1]))
    table = c.summary_table(result)
    expected = again.summary[again.summary["setting"] == "all"].set_index("arm")
    pd.testing.assert_frame_equal(table, expected.loc[again.arms, list(c.OUTCOMES)])
    b = c.bands(c.trends(result))
    spend = b[b["metric"] == "spending_pmpm"].groupby("arm", sort=False)["mean"].mean()
    # the trends' monthly PMPM, averaged over months (members vary by month with the main
    # comparison's life course, so this is not the summary's pooled PMPM)
    m = again.monthly
    first = m[m["setting"] == m["setting"].iloc[0]]
    keys = ["arm", "replicate", "month"]
    monthly = m.groupby(keys)["spending"].sum() / first.groupby(keys)["members"].sum()
    expected_spend = monthly.groupby("arm").mean()
    np.testing.assert_allclose(spend.loc[table.index], expected_spend.loc[table.index], rtol=1e-9)
    assert (b["low"] <= b["mean"]).all() and (b["mean"] <= b["high"]).all()
    styles = c.provider_styles(result)
    assert set(styles["arm"]) == set(result.arms)
    assert np.allclose(styles["gap"], styles["theta"] - styles["theta_optimal"])


def test_export_is_a_results_folder_with_the_command_in_its_metadata():
    """The exported zip is a `sim run` results folder whose metadata names the command."""
    data = c.export_zip(SMALL)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = {n.split("/", 1)[1] for n in zf.namelist()}
    assert {"monthly.parquet", "summary.csv", "metadata.json", "providers.parquet",
            "trends.png"} <= names  # fmt: skip
    folder = zf.namelist()[0].split("/")[0]
    meta = json.loads(zf.read(f"{folder}/metadata.json"))
    assert meta["command"] == c.command(SMALL)
    assert meta["explorer_settings"]["patients"] == SMALL.patients
    assert validate_scenario(meta["scenario"]) == c.scenario_for(SMALL)


def test_unknown_scenario_is_a_clear_error():
    """A name that is neither shipped nor a file names the shipped scenarios."""
    with pytest.raises(c.ScenarioError, match="no shipped scenario 'nope'"):
        c.resolve("nope")
    with pytest.raises(c.ScenarioError, match="file not found"):
        c.resolve("missing.toml")
    assert tomllib.loads(MAIN.read_text())["name"] in c.shipped_scenarios()


def test_sim_explore_with_an_unknown_scenario_exits_2_before_serving(capsys):
    """`sim explore nope` prints one error naming the shipped scenarios and starts nothing."""
    from sim.cli import main

    assert main(["explore", "nope"]) == 2
    assert "no shipped scenario 'nope'" in capsys.readouterr().err


def test_the_export_holds_what_sim_run_writes(tmp_path):
    """The exported folder has the files `sim run` writes for the same scenario (subgroups,
    economics, the trends figure in three formats), with the same tables."""
    import subprocess
    import sys

    data = c.export_zip(SMALL)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = {n.split("/", 1)[1] for n in zf.namelist()}
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sim", *c.command(SMALL)[1:], "--out", str(out), "--quiet"]
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0
    assert names == {p.name for p in out.iterdir()}
    folder = zf.namelist()[0].split("/")[0]
    assert zf.read(f"{folder}/summary.csv") == (out / "summary.csv").read_bytes()
    assert {"trends.png", "trends.pdf", "trends.svg", "economics.csv"} <= names


def test_the_stepper_steps_every_arm_as_a_mesa_model():
    """Month by month: one HealthSystemModel per arm under the page's seed, stepped together;
    the series are their DataCollectors', dated from the scenario's start; nothing more once
    every month is done; the same seed gives the run's own first replication."""
    s = replace(SMALL, seed=11)
    st = c.Stepper(s)
    assert st.month == 0 and not st.done and set(st.models) == {a.name for a in st.scenario.arms}
    assert st.step() == 1 and all(m.steps == 1 for m in st.models.values())
    for _ in range(10):
        st.step()
    assert st.done and st.month == SMALL.months
    d = st.data()
    assert set(d["measure"]) == set(c.WATCH) and len(d) == len(st.models) * len(c.WATCH) * 4
    ffs = st.models["ffs"].datacollector.get_model_vars_dataframe()
    got = d[(d["arm"] == "ffs") & (d["measure"] == "spending_pmpm")]["value"].to_numpy()
    np.testing.assert_array_equal(got, ffs["spending_pmpm"].to_numpy())
    assert str(d["date"].min().date()) == str(st.scenario.start or "2025-01-01")[:10]
    # replicate 0 of the seed: the batch run's first replication month by month
    one = run(c.scenario_for(replace(s, replications=1)), seed=11).monthly
    spend = one[one["arm"] == "ffs"].groupby("month")["spending"].sum()
    members = one[(one["arm"] == "ffs") & (one["setting"] == one["setting"].iloc[0])]
    members = members.groupby("month")["members"].sum()
    np.testing.assert_allclose(got, (spend / members).to_numpy(), rtol=1e-12)


def test_the_page_renders_in_a_notebook():
    """sim.explore.notebook gives the page as a component a notebook displays: it renders with
    the controls of Mesa's pages (play, pause, step, reset, a seed) and the save and export
    buttons, for the scenario asked for."""
    solara = pytest.importorskip("solara")
    from sim.explore import app, notebook

    element = notebook(str(MAIN), patients=1_500, months=4, replications=2, seed=5)
    assert app.settings.value.seed == 5 and app.settings.value.patients == 1_500
    import ipyvuetify as v

    _, rc = solara.render(element, handle_error=False)
    try:
        buttons = {c for b in rc.find(v.Btn).widgets for c in b.children if isinstance(c, str)}
        assert {"play", "pause", "step", "reset"} <= buttons
        assert any(f.label.startswith("seed") for f in rc.find(v.TextField).widgets)
    finally:
        rc.close()
