"""Sharded runs (sim/experiments/shards.py): patients split by region over shards that exchange what
crosses regions each month. The same patients and providers whatever the sharding; one shard
gives the unsharded bytes; more shards agree to floating-point rounding."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from paths import ROOT

from sim.engine import population as population_module
from sim.engine.model import HealthSystemModel
from sim.experiments import shards
from sim.experiments.run import run
from sim.scenario import load_scenario

SCENARIO = """
name = "shards"
months = 18
seed = 5
replications = 1
[population]
patients = 12000
[population.regions]
north = { share = 0.4 }
south = { share = 0.3 }
east = { share = 0.2 }
west = { share = 0.1 }
[outputs]
provider_panel = true
figure = false
[settings.outpatient_therapy.providers]
members_per_provider = 400
[settings.primary_care.providers]
members_per_provider = 400
[supply.participation]
enabled = true
[supply.capacity]
enabled = true
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
[[arms]]
name = "blended"
contracts = [{ model = "blended", pmpm = 6.0, fee_fraction = 0.5 }]
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "shards.toml"
    p.write_text(SCENARIO)
    return p


@pytest.fixture
def scenario(path):
    return load_scenario(path)


def _whole(sc, arm: str) -> HealthSystemModel:
    m = HealthSystemModel(sc, arm)
    for _ in range(sc.months):
        m.step()
    return m


def test_regions_go_to_the_least_loaded_shard():
    assert shards.assign_regions([0.4, 0.3, 0.2, 0.1], 2) == [frozenset({0, 3}), frozenset({1, 2})]
    assert shards.assign_regions([0.25] * 4, 4) == [frozenset({k}) for k in range(4)]


def test_shards_hold_exactly_the_whole_population(scenario, monkeypatch):
    """Drawn in pieces (here of 1,000 patients), the shards' patients together are the whole
    population's, value for value, each in its region; a shard's need uniforms are the whole
    run's for its patients."""
    monkeypatch.setattr(population_module, "_CHUNK", 1000)
    whole = HealthSystemModel(scenario, "ffs")
    regions = shards.assign_regions([0.4, 0.3, 0.2, 0.1], 3)
    parts = [HealthSystemModel(scenario, "ffs", shard=(k, 3, regions[k])).world for k in range(3)]
    pw = whole.world.population
    gids = np.concatenate([w.population.global_index(np.arange(w.population.n)) for w in parts])
    assert np.array_equal(np.sort(gids), np.arange(pw.n))
    for w in parts:
        pop = w.population
        g = pop.global_index(np.arange(pop.n))
        assert set(np.unique(pop.region)) <= set(w.population.shard.regions)
        for name in ("payer", "region", "condition", "risk", "function", "decline"):
            assert np.array_equal(getattr(pop, name), getattr(pw, name)[g]), name
        assert np.array_equal(w.risk_group, whole.world.risk_group[g])
        for s, prov in enumerate(w.providers):
            # each patient's provider is the same provider (by its number in the whole run)
            assert np.array_equal(prov.global_id[pop.provider[s]], pw.provider[s][g])
            assert np.array_equal(prov.altruism, whole.world.providers[s].altruism[prov.global_id])
        # payers are still contiguous blocks
        assert np.all(np.diff(pop.payer) >= 0)
        assert pop.payer_start[-1] == pop.n
    pw.start_month(0)
    for w in parts:
        w.population.start_month(0)
        g = w.population.global_index(np.arange(w.population.n))
        assert np.array_equal(w.population._draws, pw._draws[:, g])
    # a shard's patient arrays are its share of the whole
    total = sum(w.population.nbytes for w in parts)
    assert abs(total - pw.nbytes) <= 3 * (len(pw.setting_names) * 4 + 64)


@pytest.mark.parametrize("arm", ["ffs", "capitation", "blended"])
def test_one_shard_is_the_unsharded_run_and_more_agree_to_rounding(scenario, arm):
    whole = _whole(scenario, arm)
    a = pd.DataFrame(whole.rows)
    pa = pd.DataFrame(whole.provider_rows)
    one = shards.run_pair(scenario, scenario.seed, arm, 0, 1, backend="thread")
    assert pd.DataFrame(one["rows"]).equals(a)
    assert pd.DataFrame(one["provider_rows"]).equals(pa)
    for k in (2, 4):
        out = shards.run_pair(scenario, scenario.seed, arm, 0, k, backend="thread")
        b = pd.DataFrame(out["rows"])
        num = a.select_dtypes("number").columns
        assert list(b.columns) == list(a.columns)
        assert b.select_dtypes(exclude="number").equals(a.select_dtypes(exclude="number"))
        # counts exactly; money and means to rounding
        assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)
        ints = a[num].select_dtypes("integer").columns
        assert b[ints].equals(a[ints])
        # every provider's trajectory is the unsharded one (its patients are all in its shard)
        assert pd.DataFrame(out["provider_rows"]).equals(pa)
        book = whole.world.ledgers
        assert out["ledger"]["payer_paid"] == pytest.approx(book.payer.sum(), rel=1e-12)
        assert out["ledger"]["providers_received"] == pytest.approx(
            sum(x.sum() for x in book.provider), rel=1e-12
        )


def test_money_is_conserved_in_a_sharded_run(scenario):
    """What payers paid plus what patients paid is what providers received, across shards."""
    out = shards.run_pair(scenario, scenario.seed, "blended", 0, 3, backend="thread")
    lg = out["ledger"]
    assert lg["payer_paid"] + lg["patients_paid"] == pytest.approx(
        lg["providers_received"], rel=1e-9
    )


def test_the_same_shard_count_gives_the_same_bytes_in_processes(path, tmp_path):
    """`sim run --shards 2` twice (spawn processes): byte-identical tables, equal to the
    in-process run to rounding; `--shards 1` writes the unsharded bytes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, extra in (("a", ["--shards", "2"]), ("b", ["--shards", "2"]),
                        ("one", ["--shards", "1"]), ("none", ["--workers", "1"])):  # fmt: skip
        p = subprocess.run(
            [sys.executable, "-m", "sim", "run", str(path), "--arms", "ffs", "--quiet",
             "--out", str(tmp_path / name), *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
    for table in ("monthly.parquet", "providers.parquet", "summary.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()
        assert (tmp_path / "one" / table).read_bytes() == (tmp_path / "none" / table).read_bytes()
    import json

    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["shards"]["count"] == 2
    regions = [r for shard in meta["shards"]["regions"] for r in shard]
    assert sorted(regions) == ["east", "north", "south", "west"]
    assert json.loads((tmp_path / "none" / "metadata.json").read_text())["shards"] is None
    a = pd.read_parquet(tmp_path / "a" / "monthly.parquet")
    n = pd.read_parquet(tmp_path / "none" / "monthly.parquet")
    num = n.select_dtypes("number").columns
    assert np.allclose(a[num].to_numpy(float), n[num].to_numpy(float), rtol=1e-10, atol=1e-6)


def test_churn_and_selection_shard(path):
    """Churn and selection: the sharded run agrees with the unsharded one."""
    sc = load_scenario(path, ["settings.primary_care.providers.churn=0.02",
                              "settings.outpatient_therapy.providers.churn=0.02",
                              "behaviour.selection.enabled=true", "months=12"])  # fmt: skip
    assert {f.name for f in HealthSystemModel(sc, "ffs").features} >= {"churn", "selection"}
    whole = _whole(sc, "ffs")
    out = shards.run_pair(sc, sc.seed, "ffs", 0, 3, backend="thread")
    a, b = pd.DataFrame(whole.rows), pd.DataFrame(out["rows"])
    num = a.select_dtypes("number").columns
    assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)


def test_a_pathway_scenario_shards():
    sc = load_scenario(ROOT / "scenarios" / "joint_replacement_bundle.toml")
    pop = sc.population
    base = next(iter(pop.regions.values()))
    regions = {
        k: base.model_copy(update={"share": v}) for k, v in zip("ab", (0.6, 0.4), strict=True)
    }
    sc = sc.model_copy(
        update={
            "population": pop.model_copy(update={"patients": 20000, "regions": regions}),
            "months": 14,
            "analysis": None,
        }
    )
    arm = sc.arms[-1].name
    whole = _whole(sc, arm)
    out = shards.run_pair(sc, sc.seed, arm, 0, 2, backend="thread")
    a, b = pd.DataFrame(whole.rows), pd.DataFrame(out["rows"])
    num = a.select_dtypes("number").columns
    assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)


def test_run_with_shards_assembles_the_usual_tables(scenario):
    sharded = run(scenario, shards=2)
    plain = run(scenario)
    assert list(sharded.monthly.columns) == list(plain.monthly.columns)
    assert sharded.monthly.dtypes.equals(plain.monthly.dtypes)
    num = plain.monthly.select_dtypes("number").columns
    assert np.allclose(
        sharded.monthly[num].to_numpy(float), plain.monthly[num].to_numpy(float), rtol=1e-10
    )
    assert sharded.providers.equals(plain.providers)


def test_more_shards_than_regions_is_refused(path):
    with pytest.raises(shards.ShardError, match=r"population\.regions"):
        shards.check(load_scenario(path), 5)  # 4 regions


def test_market_entry_and_exit_shard(path):
    """Providers leave and enter (supply.market) region by region: the sharded run has the
    same providers, exits and entries as the unsharded one."""
    sc = load_scenario(path, ["supply.market.enabled=true", "months=40"])
    whole = _whole(sc, "ffs")
    a = pd.DataFrame(whole.rows)
    assert a["provider_exits_for_profit"].sum() + a["provider_exits_nonprofit"].sum() > 0
    out = shards.run_pair(sc, sc.seed, "ffs", 0, 3, backend="thread")
    b = pd.DataFrame(out["rows"])
    num = a.select_dtypes("number").columns
    assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)
    assert pd.DataFrame(out["provider_rows"]).equals(pd.DataFrame(whole.provider_rows))


def test_a_feature_that_is_not_shardable_is_named(path, monkeypatch):
    from sim.engine.features.capacity import Capacity

    monkeypatch.setattr(Capacity, "SHARDABLE", False)
    with pytest.raises(shards.ShardError, match="feature 'capacity'"):
        shards.check(load_scenario(path), 2)


@pytest.mark.parametrize(("case", "arm"), [("hrrp", "hrrp"), ("mssp_aco", "aco")])
def test_national_rates_and_benchmarks_come_from_every_shard(case, arm):
    """Readmission penalties (national rates) and ACO benchmarks from history (the mean over
    every ACO) take their aggregates over all shards (PaymentModel.run_totals): the sharded
    run agrees with the unsharded one."""
    sc = load_scenario(ROOT / "validation" / "scenarios" / f"{case}.toml")
    pop = sc.population
    base = next(iter(pop.regions.values()))
    regions = {
        k: base.model_copy(update={"share": v}) for k, v in zip("ab", (0.55, 0.45), strict=True)
    }
    sc = sc.model_copy(
        update={"population": pop.model_copy(update={"patients": 15000, "regions": regions}),
                "analysis": None}
    )  # fmt: skip
    whole = _whole(sc, arm)
    a = pd.DataFrame(whole.rows)
    out = shards.run_pair(sc, sc.seed, arm, 0, 2, backend="thread")
    b = pd.DataFrame(out["rows"])
    num = a.select_dtypes("number").columns
    assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)
    assert pd.DataFrame(out["provider_rows"]).equals(pd.DataFrame(whole.provider_rows))
    names = [st.name for st in whole.world.settings]
    setting = "hospital" if case == "hrrp" else "primary_care"
    contract = whole.world.payers[0].contracts[names.index(setting)]
    assert contract.name == ("readmission_penalty" if case == "hrrp" else "aco")


def test_a_payment_model_that_is_not_shardable_is_named(path, monkeypatch):
    from sim.engine.payment.capitation import Capitation

    monkeypatch.setattr(Capitation, "shardable", False)
    with pytest.raises(shards.ShardError, match="payment model 'capitation'"):
        shards.check(load_scenario(path), 2)


def test_cli_refuses_what_cannot_be_sharded_without_a_traceback(tmp_path):
    """One region (the main comparison) cannot be split: exit 2, the message names
    population.regions, no traceback, nothing written."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scenario = ROOT / "scenarios" / "compare_payment_models.toml"
    p = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(scenario), "--shards", "2",
         "--out", str(tmp_path / "o")],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 2
    assert "population.regions" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()


def test_a_failing_shard_is_reported(scenario, monkeypatch):
    """A shard that raises stops the run with its error, and the other shards stop too."""
    from sim.engine.month import records

    calls = {"n": 0}
    original = records._sums

    def fail_in_shard_1(world, s, *a):
        calls["n"] += 1
        if world.population.shard is not None and world.population.shard.index == 1:
            raise RuntimeError("boom")
        return original(world, s, *a)

    monkeypatch.setattr(records, "_sums", fail_in_shard_1)
    with pytest.raises(shards.ShardError, match="shard 1 failed: RuntimeError: boom"):
        shards.run_pair(scenario, scenario.seed, "ffs", 0, 2, backend="thread")


def test_shards_on_a_dask_cluster_give_the_process_bytes(scenario):
    """Shards as long-running tasks of a (local) Dask cluster, exchanging through the
    scheduler's queues: the same rows as shards in local processes."""
    pytest.importorskip("distributed")
    sc = scenario.model_copy(update={"months": 6})
    on_dask = shards.run_pair(sc, sc.seed, "ffs", 0, 2, backend="dask")
    in_threads = shards.run_pair(sc, sc.seed, "ffs", 0, 2, backend="thread")
    assert pd.DataFrame(on_dask["rows"]).equals(pd.DataFrame(in_threads["rows"]))
    assert on_dask["provider_rows"] == in_threads["provider_rows"]
    assert on_dask["ledger"] == in_threads["ledger"]


def test_subgroup_tables_add_up_across_shards(path, tmp_path):
    """[analysis] subgroup rows: one shard gives the unsharded rows, three agree to rounding
    (cells are every combination of groups in every shard; quantile edges are the whole
    population's)."""
    text = (
        SCENARIO
        + """
[analysis]
subgroups = ["risk_quantile", "region", "payer*function_band"]
risk_quantiles = 5
"""
    )
    p = tmp_path / "analysis.toml"
    p.write_text(text)
    sc = load_scenario(p)
    for arm in ("ffs", "blended"):
        whole = _whole(sc, arm)
        a = pd.DataFrame(whole.subgroups.rows)
        one = shards.run_pair(sc, sc.seed, arm, 0, 1, backend="thread")
        assert pd.DataFrame(one["subgroup_rows"]).equals(a)
        three = pd.DataFrame(
            shards.run_pair(sc, sc.seed, arm, 0, 3, backend="thread")["subgroup_rows"]
        )
        assert three[["subgroup", "group", "members"]].equals(a[["subgroup", "group", "members"]])
        num = a.select_dtypes("number").columns
        assert np.allclose(three[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10)
    # run() assembles the subgroup table of a sharded run
    assert run(sc, shards=2, arms=["ffs"]).subgroups is not None


def test_cli_reports_a_failed_shard_and_writes_nothing(path, tmp_path, monkeypatch, capsys):
    from sim.cli import main

    def fail(*args, **kwargs):
        raise shards.ShardError("shard 1 stopped without a word (killed, or out of memory?)")

    monkeypatch.setattr(shards, "run_pair", fail)
    out = tmp_path / "o"
    rc = main(["run", str(path), "--shards", "2", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "shard 1 stopped" in err and "nothing was written" in err
    assert "Traceback" not in err
    assert not out.exists()
