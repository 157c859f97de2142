"""The model's invariants: money and patients conserved, reproducibility, common random
numbers, and the Mesa conventions."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest
from conftest import default_world
from paths import FROZEN

from sim.engine.agents import Payer, Provider
from sim.engine.features.selection import turn_away
from sim.engine.model import HealthSystemModel
from sim.engine.month.needs import patient_need
from sim.experiments.run import run
from sim.scenario import load_scenario


@pytest.mark.parametrize("arm", ["ffs", "capitation", "bundled", "blended"])
def test_money_is_conserved_every_month(arm):
    """Payer payments + patient out-of-pocket = provider revenue, row by row and by ledger."""
    sc = default_world(months=14)
    res = run(sc, arms=[arm])
    df = res.monthly
    np.testing.assert_allclose(
        df["payer_payments"] + df["oop"], df["provider_revenue"], rtol=1e-12, atol=1e-6
    )
    np.testing.assert_allclose(
        df["provider_revenue"] - df["provider_cost"], df["provider_margin"], rtol=1e-12
    )
    np.testing.assert_allclose(
        df["spending"], df["payer_payments"] + df["adverse_event_cost_payer"], rtol=1e-12
    )
    # three independent ledgers: payers (what they paid), patients (oop), providers (received)
    (led,) = res.ledgers
    assert led["providers_received"] == pytest.approx(
        led["payer_paid"] + led["patients_paid"], rel=1e-12
    )
    assert led["payer_paid"] == pytest.approx(df["payer_payments"].sum(), rel=1e-12)
    assert led["payer_paid_adverse_events"] == pytest.approx(
        df["adverse_event_cost_payer"].sum(), rel=1e-12
    )


def test_adverse_event_costs_fall_on_the_contract_party():
    """FFS: the payer pays for adverse events; capitation and bundles: the provider does, for
    the episodes taken to it (needs that never reached a provider stay with the payer)."""
    sc = default_world(months=12)
    df = run(sc).monthly
    by_arm = df.groupby("arm")[["adverse_event_cost_payer", "adverse_event_cost_provider"]].sum()
    assert by_arm.loc["ffs", "adverse_event_cost_provider"] == 0
    assert by_arm.loc["ffs", "adverse_event_cost_payer"] > 0
    for arm in ("capitation", "bundled"):
        assert by_arm.loc[arm, "adverse_event_cost_provider"] > 0
        m = HealthSystemModel(sc, arm)
        for _ in range(6):
            m.step()
            for mc in m.month_care:
                np.testing.assert_array_equal(
                    mc.paid.liability, np.where(mc.sought, mc.adverse_cost, 0)
                )
                np.testing.assert_array_equal(mc.paid.ae_payer, mc.adverse_cost - mc.paid.liability)


def test_patients_are_conserved():
    """Members add up to the population every month; nobody appears or vanishes."""
    sc = default_world(months=8)
    m = HealthSystemModel(sc, "ffs")
    n = sc.population.patients
    for _ in range(8):
        m.step()
        assert m.population.function.size == n
        for s in range(len(m.settings)):
            left = m.population.episode_left[s]
            in_episode = int((left > 0).sum()) + int(m.month_care[s].patients.size)
            # those in care this month = those still in an episode + those whose episode ended
            assert m.month_care[s].patients.size <= n
            assert in_episode >= m.month_care[s].patients.size
    df = run(sc, arms=["ffs"]).monthly
    per_month = df.groupby(["month", "setting"])["members"].sum()
    assert (per_month == n).all()
    assert (df["patients_in_episode"] <= df["members"]).all()
    assert (df["patients_treated"] <= df["patients_in_episode"]).all()
    assert (df["episodes"] <= df["new_needs"]).all()


def test_same_seed_gives_identical_table_and_other_seed_differs():
    """The same scenario and seed reproduce the monthly table exactly; another seed does not."""
    sc = default_world(months=5)
    a = run(sc).monthly
    b = run(sc).monthly
    c = run(sc, seed=sc.seed + 1).monthly
    assert a.equals(b)
    assert not a.equals(c)
    assert (a["seed"] == sc.seed).all() and (c["seed"] == sc.seed + 1).all()


def test_arms_share_the_patient_stream():
    """Every arm sees the same patients and the same random draws (common random numbers)."""
    sc = default_world(months=3)
    models = [HealthSystemModel(sc, a.name) for a in sc.arms]
    first = models[0].population
    for m in models[1:]:
        np.testing.assert_array_equal(m.population.risk, first.risk)
        np.testing.assert_array_equal(m.population.function, first.function)
        np.testing.assert_array_equal(m.population.payer, first.payer)
        np.testing.assert_array_equal(m.population.provider[0], first.provider[0])
        np.testing.assert_array_equal(
            m.world.providers[0].altruism, models[0].world.providers[0].altruism
        )
    for month in range(3):
        for m in models:
            m.step()
        draws = [m.population._draws for m in models]
        for d in draws[1:]:
            np.testing.assert_array_equal(d, draws[0])
        if month == 0:
            # before any care has acted, the same needs arise in every arm
            needs = [[mc.patients for mc in m.month_care] for m in models]
            for other in needs[1:]:
                for x, y in zip(other, needs[0], strict=True):
                    np.testing.assert_array_equal(x, y)


def test_replicates_use_distinct_streams():
    """Replications are independent child streams of the root seed."""
    sc = default_world(months=2, replications=2)
    df = run(sc, arms=["ffs"]).monthly
    r0 = df[df["replicate"] == 0].drop(columns="replicate").reset_index(drop=True)
    r1 = df[df["replicate"] == 1].drop(columns="replicate").reset_index(drop=True)
    assert not r0.equals(r1)


def test_mesa_conventions():
    """The model is a Mesa model taking rng; providers and payers are Mesa agents."""
    sc = default_world(months=2)
    m = HealthSystemModel(sc, "ffs", rng=123)
    assert isinstance(m, mesa.Model)
    assert m.seed == 123
    assert len(m.agents_by_type[Payer]) == len(sc.payers)
    n_prov = sum(s.providers.resolved_count(sc.population.patients) for s in sc.settings.values())
    assert len(m.agents_by_type[Provider]) == n_prov
    m.run_for(2)
    assert m.steps == 2 and len(m.rows) == 2 * len(sc.settings) * len(sc.payers)
    assert "1." in HealthSystemModel.__doc__ and "6." in HealthSystemModel.__doc__


def test_rng_takes_what_mesa_model_takes():
    """rng may be a seed, a Generator, a BitGenerator or a SeedSequence, as for mesa.Model: the
    same seed gives the same rows whichever form it comes in, and a Generator passed in is not
    drawn from."""
    sc = default_world(months=2)

    def rows(rng):
        m = HealthSystemModel(sc, "ffs", rng=rng, replicate=1)
        m.run_for(2)
        return pd.DataFrame(m.rows)

    ref = rows(123)
    gen = np.random.default_rng(123)
    state = gen.bit_generator.state
    for form in (gen, np.random.PCG64(123), np.random.SeedSequence(123), np.int64(123)):
        pd.testing.assert_frame_equal(rows(form), ref)
    assert gen.bit_generator.state == state
    assert HealthSystemModel(sc, "ffs", rng=gen).seed == 123
    assert not rows(124).equals(ref)
    with pytest.raises(TypeError, match="rng"):
        HealthSystemModel(sc, "ffs", rng="123")


def test_the_datacollector_reports_each_provider():
    """The DataCollector keeps a row per provider and month with its setting, traits and style
    (Mesa's agent-type reporters), equal to the model's own arrays."""
    sc = default_world(months=2)
    m = HealthSystemModel(sc, "ffs", rng=5)
    m.run_for(2)
    df = m.datacollector.get_agenttype_vars_dataframe(Provider)
    n_prov = len(m.agents_by_type[Provider])
    assert len(df) == 2 * n_prov
    assert set(df["setting"]) == set(sc.settings)
    last = df.xs(df.index.get_level_values("Step").max(), level="Step")
    for agent in m.agents_by_type[Provider]:
        row = last.loc[agent.unique_id]
        assert row["theta"] == m.world.providers[agent.setting].theta[agent.index]
        assert row["altruism"] == agent.altruism


def test_patient_view():
    """One patient can be inspected as an object, reading the columnar state."""
    sc = default_world()
    m = HealthSystemModel(sc, "ffs")
    m.run_for(2)
    v = m.population.view(3)
    assert v.payer in sc.payers and v.condition in sc.population.conditions
    assert v.function == pytest.approx(float(m.population.function[3]))
    assert set(v.episodes) == set(sc.settings)
    with pytest.raises(IndexError, match="out of range"):
        m.population.view(sc.population.patients)


def test_policy_switch_changes_behaviour_only_afterwards():
    """A contract replaced at month M (Mesa event) leaves months before M untouched."""
    sc = default_world(months=8)
    base = HealthSystemModel(sc, "ffs")
    base.run_for(8)
    switched = HealthSystemModel(sc, "ffs")
    cap = switched.make_contract(sc.arm("capitation").contracts[0], ())
    switched.schedule_contract_change(4, "medicare_ffs", "outpatient_therapy", cap)
    switched.run_for(8)
    rows = len(sc.settings) * len(sc.payers)
    assert base.rows[: 4 * rows] == switched.rows[: 4 * rows]
    assert base.rows[4 * rows :] != switched.rows[4 * rows :]
    late = [r for r in switched.rows[4 * rows :] if r["payer"] == "medicare_ffs"]
    assert {r["payment_model"] for r in late if r["setting"] == "outpatient_therapy"} == {
        "capitation"
    }


def test_switch_in_scenario_marks_outputs_and_leaves_the_past_alone():
    """An arm's switch at month M: identical to the unswitched arm before M, marked after."""
    switch = {
        "month": 3,
        "description": "therapy moves to capitation",
        "contracts": [{"setting": "outpatient_therapy", "model": "capitation", "pmpm": 11.0}],
    }
    sc = default_world(
        months=6,
        arms=[
            {"name": "ffs", "contracts": [{"model": "ffs"}]},
            {"name": "reform", "contracts": [{"model": "ffs"}], "switches": [switch]},
        ],
    )
    df = run(sc).monthly
    cols = [c for c in df.columns if c != "arm"]
    before = [df[(df["arm"] == a) & (df["month"] < 3)][cols].reset_index(drop=True)
              for a in ("ffs", "reform")]  # fmt: skip
    assert before[0].equals(before[1])
    after = df[(df["arm"] == "reform") & (df["month"] >= 3)]
    assert (
        not after[cols]
        .reset_index(drop=True)
        .equals(df[(df["arm"] == "ffs") & (df["month"] >= 3)][cols].reset_index(drop=True))
    )
    therapy = after[after["setting"] == "outpatient_therapy"]
    assert set(therapy["payment_model"]) == {"capitation"} and set(therapy["policy_period"]) == {1}
    pc = after[after["setting"] == "primary_care"]
    assert set(pc["payment_model"]) == {"ffs"} and set(pc["policy_period"]) == {0}
    assert set(df[df["month"] < 3]["policy_period"]) == {0}


def test_switch_must_fall_inside_the_run():
    """A switch at or after the last month is rejected with the field named."""
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"arms.0.switches.0.month"):
        default_world(
            months=4,
            arms=[
                {
                    "name": "x",
                    "contracts": [{"model": "ffs"}],
                    "switches": [{"month": 4, "contracts": [{"model": "ffs"}]}],
                }
            ],
        )


def test_upcoding_changes_what_is_paid_not_who_is_sick():
    """Upcoding off = no table; on: capitation pays exactly (1 + inflation) more at month 0,
    bundles pay more, FFS pays the same, and patients' health is untouched at month 0."""
    base = run(default_world(months=1)).monthly
    off = run(default_world(months=1, behaviour={"upcoding": {"enabled": False}})).monthly
    assert base.equals(off)
    on = run(
        default_world(months=1, behaviour={"upcoding": {"enabled": True, "risk_inflation": 0.05}})
    ).monthly
    by = {
        name: d.groupby("arm")["payer_payments"].sum() for name, d in (("base", base), ("on", on))
    }
    assert by["on"]["capitation"] == pytest.approx(1.05 * by["base"]["capitation"], rel=1e-12)
    assert by["on"]["bundled"] > by["base"]["bundled"]
    assert by["on"]["ffs"] == by["base"]["ffs"]
    np.testing.assert_array_equal(on["mean_function"], base["mean_function"])


def test_pay_for_performance_is_paid_and_conserved():
    """Outcome payments minus adverse-event penalties reach providers, paid by the payer."""
    contract = {"model": "capitation", "pmpm": 12.0, "outcome_payment": 50.0,
                "adverse_event_penalty": 2000.0}  # fmt: skip
    sc = default_world(months=6, arms=[{"name": "p4p", "contracts": [contract]}])
    m = HealthSystemModel(sc, "p4p")
    expected = 0.0
    for _ in range(6):
        m.step()
        for mc in m.month_care:
            want = np.where(mc.sought, 50.0 * mc.gain - 2000.0 * mc.adverse, 0.0)
            np.testing.assert_allclose(mc.paid.p4p, want)
            expected += want.sum()
    df = pd.DataFrame(m.rows)
    assert df["p4p_payments"].sum() == pytest.approx(expected)
    res = run(sc)
    np.testing.assert_allclose(
        res.monthly["payer_payments"] + res.monthly["oop"], res.monthly["provider_revenue"]
    )
    (led,) = res.ledgers
    assert led["providers_received"] == pytest.approx(led["payer_paid"] + led["patients_paid"])


def test_shared_savings_settle_exactly_and_conserve_money():
    """Each month the provider gets s·(benchmark − payer spending on its patients); money is
    conserved and spending falls by s of what the payer spent (before behaviour adapts)."""
    base = {"model": "ffs"}
    ss = {"model": "ffs", "shared_savings_rate": 0.4, "benchmark_pmpm": 10.0}
    sc = default_world(
        months=1, arms=[{"name": "ffs", "contracts": [base]}, {"name": "ss", "contracts": [ss]}]
    )
    res = run(sc)
    df = res.monthly.set_index(["arm", "setting", "payer"])
    a, b = df.loc["ffs"], df.loc["ss"]
    m = HealthSystemModel(sc, "ss")
    bench = sum(
        10.0 * m.world.providers[s].panels[g].risk_sum.sum() * m.payers[g].rate_multiplier
        for s in range(len(m.settings))
        for g in range(len(m.payers))
    )
    # month 0: same care in both arms, so the payer's spending is (1 − s)·spent + s·benchmark
    np.testing.assert_allclose(b["spending"].sum(), 0.6 * a["spending"].sum() + 0.4 * bench)
    np.testing.assert_allclose(b["payer_payments"] + b["oop"], b["provider_revenue"])
    led = res.ledgers[1]
    assert led["providers_received"] == pytest.approx(led["payer_paid"] + led["patients_paid"])


def test_selection_turns_away_the_costliest_patients_only_when_on():
    """Selection off = no table. On: FFS turns nobody away (each unit pays more than it
    costs); under a bundle the patients turned away are those who need the most care."""
    plain = run(default_world(months=3)).monthly
    off = run(default_world(months=3, behaviour={"selection": {"enabled": False}})).monthly
    assert plain.equals(off) and (plain["episodes_declined"] == 0).all()
    sc = default_world(months=3, behaviour={"selection": {"enabled": True, "threshold": 0.0}})
    on = run(sc).monthly
    declined = on.groupby("arm")["episodes_declined"].sum()
    assert declined["ffs"] == 0 and declined["bundled"] > 0
    m = HealthSystemModel(sc, "bundled")
    m.step()
    pop = m.population
    everyone = np.arange(pop.n)
    checked = 0
    for setting in m.settings:
        need = patient_need(m.world, setting, everyone)
        away = turn_away(m.world, setting.index, everyone, need, sc.behaviour.selection)
        checked += int(0 < away.sum() < pop.n)
        if 0 < away.sum() < pop.n:
            assert need[away].mean() > need[~away].mean()
    assert checked >= 1


def test_prior_authorization_and_capitated_plan():
    """A plan contract caps units at its authorization and books Medicare's PMPM against what
    it pays providers; without the terms nothing changes."""
    plan = {"model": "ffs", "fee_multiplier": 0.95, "prior_authorization": 1.0,
            "plan_pmpm": 30.0}  # fmt: skip
    sc = default_world(
        months=4,
        behaviour={"initial_offset": 3.0},  # providers start above the optimum
        arms=[
            {"name": "traditional", "contracts": [{"model": "ffs"}]},
            {"name": "plan", "contracts": [plan]},
        ],
    )
    m = HealthSystemModel(sc, "plan")
    for _ in range(4):
        m.step()
        for mc in m.month_care:
            assert np.all(mc.planned_units <= mc.optimal_units + 1e-12)
    df = run(sc).monthly
    trad, pl = df[df["arm"] == "traditional"], df[df["arm"] == "plan"]
    assert (trad["plan_revenue"] == 0).all() and (trad["units_not_authorized"] == 0).all()
    assert pl["units_not_authorized"].sum() > 0
    risk = {
        (s.name, g.name): float(m.world.providers[i].panels[j].risk_sum.sum())
        for i, s in enumerate(m.settings)
        for j, g in enumerate(m.payers)
    }
    for r in pl.itertuples():
        assert r.plan_revenue == pytest.approx(30.0 * risk[(r.setting, r.payer)])
        assert r.plan_margin == pytest.approx(r.plan_revenue - r.spending)


def test_selection_values_patients_by_what_they_earn_the_provider():
    """Providers value a new patient by what episodes of patients like it earned them (their
    revenue, not the price the patient sees): home-health agencies, whose patients pay
    nothing but whose episodes pay well, take their referrals; fee-for-service providers paid
    above cost take everyone; every decline is counted in its risk quartile."""
    sc = load_scenario(
        FROZEN / "home_health_reform.toml",  # learning agencies: selection's mode
        ["population.patients=20000", "months=40", "behaviour.selection.enabled=true"],
    )
    m = run(sc).monthly
    assert m["new_needs"].sum() > 1000
    assert m["episodes_declined"].sum() / m["new_needs"].sum() < 0.02
    sc = default_world(months=12, behaviour={"selection": {"enabled": True}})
    m = run(sc).monthly
    ffs = m[m["arm"] == "ffs"]
    assert ffs["episodes_declined"].sum() == 0
    q = [f"episodes_declined_risk_q{k}" for k in range(1, 5)]
    n = [f"new_needs_risk_q{k}" for k in range(1, 5)]
    assert (m[q].sum(axis=1) == m["episodes_declined"]).all()
    assert (m[n].sum(axis=1) == m["new_needs"]).all()
    assert m["episodes_declined"].sum() > 0  # some contract makes some patients unprofitable


def test_selection_never_refuses_the_members_a_provider_is_paid_to_care_for():
    """Capitation and the blend pay per member: a provider may not turn away its own
    members' episodes (it would keep their PMPM and save the care, the capitation incentive
    that contracts forbid), while the bundle, paid per episode, turns some away."""
    sc = load_scenario(
        FROZEN / "compare_payment_models.toml",  # learning providers: selection's mode
        ["population.patients=20000", "months=18", "behaviour.selection.enabled=true"],
    )
    m = run(sc, arms=["capitation", "blended", "bundled"]).monthly
    declined = m.groupby("arm")["episodes_declined"].sum()
    assert declined["capitation"] == 0 and declined["blended"] == 0
    assert declined["bundled"] > 0
