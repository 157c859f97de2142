"""Investments that lower future need: off means off, the closed-form choice, the incentive
under each payment model, churn, accounting and bad input."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from paths import FROZEN

from sim.engine.features.investments import Investments, optimal_investment
from sim.engine.model import HealthSystemModel
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import apply_override, validate_scenario

SCENARIO = FROZEN / "prevention_investment.toml"


def world(months: int = 12, patients: int = 60_000, drop_investments: bool = False, **sets):
    data = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))
    data["months"] = months
    data["replications"] = 1  # written for one replication
    data["population"]["patients"] = patients
    if drop_investments:
        del data["settings"]["hospital"]["investments"]
    for key, value in sets.items():
        apply_override(data, key.split("__"), value, "test")
    return validate_scenario(data, str(SCENARIO))


def test_investments_off_change_nothing():
    """An arm with the option switched off is byte-identical to a world without the option."""
    arms = ["ffs_no_invest", "capitation_no_invest", "bundle_no_invest"]
    with_option = run(world(), arms=arms).monthly
    without = run(world(drop_investments=True), arms=arms).monthly
    assert with_option.equals(without)
    cols = [c for c in with_option.columns if c.startswith("investment") or "avoided" in c]
    assert (with_option[cols] == 0).all().all()


def test_each_payment_model_rewards_a_different_investment():
    """Capitation: prevention and follow-up; a CJR-like bundle: follow-up inside the window,
    no prevention; a price per stay: nothing (the altruism of these hospitals does not cover
    the lost margin). Investing lowers admissions and readmissions, same patients."""
    df = run(world(months=24)).monthly
    h = (
        df[(df["setting"] == "hospital") & (df["month"] >= 12)]
        .groupby("arm")
        .sum(numeric_only=True)
    )
    prevention = h["investment_preventive_visits"] + h["investment_care_coordination"]
    follow_up = h["investment_home_visits"] + h["investment_discharge_follow_up"]
    assert prevention["capitation"] > 0 and follow_up["capitation"] > 0
    assert prevention["bundle"] == 0 and follow_up["bundle"] > 0
    assert prevention["ffs"] == 0 and follow_up["ffs"] == 0
    assert h.loc["capitation", "episodes"] < h.loc["capitation_no_invest", "episodes"]
    assert h.loc["capitation", "needs_avoided"] > 0
    for arm in ("capitation", "bundle"):
        rate = h["readmissions_30d"] / h["discharges"]
        assert rate[arm] < rate[f"{arm}_no_invest"]
        assert h.loc[arm, "readmissions_avoided"] > 0


def test_zero_effect_is_never_chosen_without_altruism():
    """With no effect on anything, no provider invests, whatever events cost it; with no
    altruism and no financial gain (a price per stay), neither."""
    zero = {
        f"settings__hospital__investments__{k}__{t}": 0.0
        for k, t in [
            ("preventive_visits", "needs"),
            ("care_coordination", "needs"),
            ("care_coordination", "adverse_events"),
            ("home_visits", "readmissions"),
            ("discharge_follow_up", "readmissions"),
        ]
    }
    selfish = {
        "settings__hospital__providers__altruism": {"a": 2.0, "b": 2.0, "low": 0.0, "high": 0.0}
    }
    sc = world(months=10, **zero, **selfish, settings__hospital__investments__need_value=1e9)
    for arm in ("capitation", "bundle", "ffs"):
        m = HealthSystemModel(sc, arm)
        for _ in range(10):
            m.step()
            inv = m.feature(Investments, 0)
            assert all((lvl == 0).all() for lvl in inv.level.values())
    sc = world(months=10, **selfish)
    m = HealthSystemModel(sc, "ffs")
    for _ in range(10):
        m.step()
    assert all((lvl == 0).all() for lvl in m.feature(Investments, 0).level.values())


def test_closed_form_maximises_the_objective():
    """x* = σ·ln(A/(σ·s)) maximises A·(1 − exp(−x/σ)) − s·x, and is 0 when A ≤ σ·s."""
    grid = np.linspace(0, 400, 400_001)
    for a, scale, own in [(84.0, 50.0, 1.0), (50.0, 20.0, 0.5), (10.0, 20.0, 1.0)]:
        objective = a * (1 - np.exp(-grid / scale)) - own * grid
        x = float(optimal_investment(np.array([a]), scale, own)[0])
        assert x == pytest.approx(grid[np.argmax(objective)], abs=2e-3)
    assert float(optimal_investment(np.array([10.0]), 20.0, 1.0)[0]) == 0.0


def test_learnt_levels_reach_the_closed_form_under_fixed_conditions():
    """Under unchanging capitation each provider's level converges to the closed-form best
    response to its own estimates of what events cost it, and those estimates are what its
    panel really shows (admissions per member-month)."""
    sc = world(
        months=60, patients=400_000, settings__hospital__providers__members_per_provider=100_000
    )
    m = HealthSystemModel(sc, "capitation")
    admissions = np.zeros(m.world.providers[0].n)
    member_months = np.zeros(m.world.providers[0].n)
    targets = []
    for month in range(60):
        m.step()
        if month >= 48:
            targets.append(m.feature(Investments, 0).best(m.world))
        if month >= 36:
            mc = m.month_care[0]
            admissions += np.bincount(mc.provider[mc.new_episode], minlength=admissions.size)
            member_months += sum(pn.members for pn in m.world.providers[0].panels)
    inv = m.feature(Investments, 0)
    for k in inv.names:
        # the best response moves a little with the month's events; compare with its mean
        best = np.mean([t[k] for t in targets], axis=0)
        np.testing.assert_allclose(inv.level[k], best, rtol=0.05)
        assert (best > 0).all()
    rate = inv.history["episodes"] / inv.history["members"]
    np.testing.assert_allclose(rate, admissions / member_months, rtol=0.1)


def test_churn_moves_members_and_weakens_prevention():
    """Members who leave take future savings with them: a lagged investment is worth less.
    Members are conserved and stay in their region."""
    sc = world(months=18, patients=60_000, settings__hospital__providers__churn=0.05)
    m = HealthSystemModel(sc, "capitation")
    before = m.population.provider[0].copy()
    for _ in range(18):
        m.step()
    after = m.population.provider[0]
    assert (before != after).mean() > 0.3
    members = sum(pn.members.sum() for pn in m.world.providers[0].panels)
    assert members == m.population.n
    regions = m.world.providers[0].by_region
    region_of = np.empty(m.world.providers[0].n, int)
    for r, provs in enumerate(regions):
        region_of[provs] = r
    np.testing.assert_array_equal(region_of[after], m.population.region)
    m0 = HealthSystemModel(world(months=18, patients=60_000), "capitation")
    for _ in range(18):
        m0.step()
    lvl = m.feature(Investments, 0).level["preventive_visits"].mean()
    assert lvl < m0.feature(Investments, 0).level["preventive_visits"].mean()
    # follow-up after discharge acts at once: churn does not discount it
    assert m.feature(Investments, 0).retention["home_visits"] == 1.0


def test_investments_are_provider_costs_and_fees_are_conserved():
    """Investment spending is in provider_cost (and so the margin); with a fee the payer pays
    its share as a lump; payers + patients = providers throughout."""
    sc = world(months=12, settings__hospital__investments__discharge_follow_up__fee_share=0.5)
    res = run(sc, arms=["capitation", "bundle"])
    df = res.monthly
    np.testing.assert_allclose(
        df["payer_payments"] + df["oop"], df["provider_revenue"], rtol=1e-12, atol=1e-6
    )
    np.testing.assert_allclose(
        df["investment_fees"], 0.5 * df["investment_discharge_follow_up"], rtol=1e-12
    )
    assert df["investment_fees"].sum() > 0
    for led in res.ledgers:
        assert led["providers_received"] == pytest.approx(
            led["payer_paid"] + led["patients_paid"], rel=1e-12
        )
    no = run(world(months=12), arms=["capitation_no_invest"]).monthly
    h = df[(df["arm"] == "capitation") & (df["setting"] == "hospital")].reset_index(drop=True)
    h0 = no[no["setting"] == "hospital"].reset_index(drop=True)
    invest = h[[c for c in h.columns if c.startswith("investment_") and c != "investment_fees"]]
    # month 0: same patients and care, so the cost difference is the investment
    assert h.loc[0, "provider_cost"] - h0.loc[0, "provider_cost"] == pytest.approx(
        invest.iloc[0].sum(), rel=1e-9
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "settings__snf__investments",
            {"home_visits": {"basis": "discharge", "scale": 10.0, "readmissions": 0.1}},
            "a discharge-basis investment belongs to the acute setting",
        ),
        (
            "settings__hospital__investments__preventive_visits__readmissions",
            0.2,
            "use basis = 'discharge' for readmissions",
        ),
        ("settings__hospital__investments__home_visits__scale", -1.0, "greater than 0"),
    ],
)
def test_bad_investment_input_is_named(key, value, message):
    with pytest.raises(ScenarioError) as err:
        world(**{key: value})
    assert message in str(err.value)


def test_fee_for_service_invests_as_far_as_altruism_or_a_fee_carries_it():
    """Paid per stay, a readmission is a margin earned: only altruism (here a high value of
    avoided readmissions to patients) makes hospitals follow patients up, the more altruistic
    the more, and a fee paying part of the cost makes them do more."""
    levels = {}
    for fee in (0.0, 0.6):
        sc = world(
            months=24,
            settings__hospital__investments__readmission_value=50_000.0,
            settings__hospital__investments__discharge_follow_up__fee_share=fee,
        )
        m = HealthSystemModel(sc, "ffs")
        for _ in range(24):
            m.step()
        levels[fee] = m.feature(Investments, 0).level["discharge_follow_up"]
    alpha = m.world.providers[0].altruism
    assert levels[0.0].max() > 0
    assert np.corrcoef(alpha, levels[0.0])[0, 1] > 0.5
    assert levels[0.6].mean() > levels[0.0].mean()
    assert m.feature(Investments, 0).level["preventive_visits"].max() == 0.0


def test_summary_gives_the_net_effect_on_spending():
    """summary.csv: each arm's spending minus its twin without investments, same patients."""
    res = run(world(months=12))
    s = res.summary[res.summary["setting"] == "all"].set_index("arm")
    for arm in ("ffs", "capitation", "bundle"):
        assert s.loc[arm, "spending_change_from_investment_pmpm"] == pytest.approx(
            s.loc[arm, "spending_pmpm"] - s.loc[f"{arm}_no_invest", "spending_pmpm"]
        )
        assert np.isnan(s.loc[f"{arm}_no_invest", "spending_change_from_investment_pmpm"])
    assert s.loc["capitation", "investment_pmpm"] > 0 == s.loc["ffs", "investment_pmpm"]
