"""Home health in the engine: payment periods, thresholds, bunching, the reform scenario."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import merge
from paths import FROZEN

from sim.engine.model import HealthSystemModel
from sim.experiments.run import run
from sim.scenario import load_scenario, validate_scenario

HH = {
    "unit": "visit",
    "per_visit_rate": 160.14,
    "need_probability": 0.05,
    "episode_months": 3.0,
    "elective_share": 0.0,
    "optimal_units": 8.0,
    "benefit_curvature": 30.0,
    "value_per_function_point": 250.0,
    "marginal_cost": 110.0,
    "max_units": 30,
    "low_value_threshold": 110.0,
    "adverse_events": {"base_rate": 0.01, "shortfall_risk": 0.0008, "cost": 12000.0},
    "providers": {"count": 4},
}


def hh_world(contract: dict, **over) -> object:
    data = {
        "name": "hh_test",
        "months": 8,
        "seed": 4,
        "population": {"patients": 6000},
        "payers": {"medicare": {"share": 1.0}},
        "settings": {"home_health": HH},
        "arms": [{"name": "a", "contracts": [contract]}],
        "outputs": {"figure": False},
    }
    return validate_scenario(merge(data, over))


@pytest.mark.parametrize(("model", "period"), [("hh_legacy", 2), ("pdgm", 1)])
def test_period_units_accumulate_over_the_contracts_period(model, period):
    """Units add up within a payment period and restart with the next one."""
    sc = hh_world({"model": model, "base_rate": 2000.0})
    m = HealthSystemModel(sc, "a")
    running: dict[int, int] = {}
    for _ in range(8):
        m.step()
        mc = m.month_care[0]
        for i, ep_month, units, total, end, sought, left in zip(
            mc.patients, mc.episode_month, mc.service_units, mc.period_units, mc.period_end,
            mc.sought, m.population.episode_left[0][mc.patients], strict=True,
        ):  # fmt: skip
            i = int(i)
            if ep_month % period == 0:
                running[i] = 0
            running[i] = running.get(i, 0) + int(units)
            assert total == running[i]
            assert end == (sought and (ep_month % period == period - 1 or left == 0))


def test_legacy_pays_once_per_60_day_period():
    """Legacy episodes are paid in the period's last month only; money is conserved."""
    sc = hh_world({"model": "hh_legacy", "base_rate": 2000.0})
    res = run(sc)
    df = res.monthly
    assert (df["periods_ended"] > 0).all()
    np.testing.assert_allclose(df["payer_payments"] + df["oop"], df["provider_revenue"])
    (led,) = res.ledgers
    assert led["providers_received"] == pytest.approx(led["payer_paid"] + led["patients_paid"])
    assert df["oop"].sum() == 0  # no cost sharing in Medicare home health


def test_bunching_off_means_off_and_on_moves_periods_to_thresholds():
    """With bunching off, outputs equal a scenario without the table; on, more periods end
    at a threshold."""
    contract = {"model": "hh_legacy", "base_rate": 2000.0}
    plain = run(hh_world(contract)).monthly
    off = run(hh_world(contract, behaviour={"bunching": {"enabled": False, "window": 5}})).monthly
    assert plain.equals(off)
    on = run(hh_world(contract, behaviour={"bunching": {"enabled": True, "window": 3}})).monthly
    share = [d["periods_at_threshold"].sum() / d["periods_ended"].sum() for d in (plain, on)]
    assert share[1] > share[0] + 0.05, share


def test_reform_scenario_switches_to_pdgm():
    """home_health_reform: legacy before the switch, PDGM after; identical to legacy before."""
    sc = load_scenario(
        "scenarios/home_health_reform.toml",
        ["population.patients=8000", "months=40", "arms.0.switches.0.month=30"],
    )
    df = run(sc, arms=["reform", "legacy"]).monthly
    before = [
        df[(df["arm"] == a) & (df["month"] < 30)].drop(columns="arm").reset_index(drop=True)
        for a in ("reform", "legacy")
    ]
    assert before[0].equals(before[1])
    after = df[(df["arm"] == "reform") & (df["month"] >= 30)]
    assert set(after["payment_model"]) == {"pdgm"} and set(after["policy_period"]) == {1}


def test_bunching_adds_visits_only_when_the_extra_payment_outweighs_their_cost():
    """Providers top a period up to a threshold when the step in payment outweighs what the
    visits cost them (marginal cost less altruism times their benefit): a large step is always
    chased (no period is left just below the threshold), a step of about the cost of the
    missing visits only by some (providers differ in altruism; periods just below dip but do
    not vanish), a step below one visit's cost hardly at all."""

    def shares(step):
        contract = {
            "model": "hh_legacy",
            "base_rate": 2000.0,
            "thresholds": [10],
            "steps": [step],
            "lupa_visits": 0,
        }
        bunching = {"bunching": {"enabled": True, "window": 2}}
        out = []
        for over in ({}, {"behaviour": bunching}):
            d = run(hh_world(contract, months=12, **over)).monthly
            n = d["periods_ended"].sum()
            out.append(
                (d["periods_below_threshold"].sum() / n, d["periods_at_threshold"].sum() / n)
            )
        return out

    (big_off, _), (big_on, _) = shares(5000.0)
    assert big_off > 0.05 and big_on == 0
    (mid_off, _), (mid_on, mid_at) = shares(230.0)  # ≈ the cost of two visits
    assert 0 < mid_on < mid_off / 2
    _, (small_on, small_at) = shares(60.0)  # below one visit's $110
    assert small_on > mid_on and small_at < mid_at


def test_the_shipped_reform_leaves_periods_just_below_every_threshold():
    """In home_health_reform, bunching thins the periods one or two visits below a threshold
    but does not empty them, in every arm (agencies cannot top up the periods an unplanned
    hospitalization ends: behaviour.bunching.probability), while without bunching there are
    more of them."""
    # the scenario as shipped before the base world (learning agencies and the bunching
    # rule; tests/reference_outputs.py): under best response plans reach thresholds anyway
    path = FROZEN / "home_health_reform.toml"
    over = ["population.patients=40000", "months=48"]
    on = run(load_scenario(path, over)).monthly
    off = run(load_scenario(path, [*over, "behaviour.bunching.enabled=false"])).monthly
    late = [d[d["month"] >= 40].groupby("arm")["periods_below_threshold"].sum() for d in (on, off)]
    assert (late[0] > 0).all(), late[0]
    assert (late[0] < late[1]).all()
