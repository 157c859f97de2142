"""The acute care pathway and skilled nursing: accounting across settings, flows of patients,
the discharge decision, the therapy decision, coverage limits and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from paths import FROZEN

from sim.engine import rules
from sim.engine.behaviour import optimal_therapy
from sim.engine.features.pathway import Pathway
from sim.engine.features.therapy import Therapy
from sim.engine.model import HealthSystemModel
from sim.engine.payment.episode import EpisodeBundle, EpisodeParams
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import load_scenario

SMALL = ["population.patients=40000", "replications=1"]  # written for one replication


def joint(months: int = 14, extra: list[str] | None = None):
    return load_scenario(
        FROZEN / "joint_replacement_bundle.toml", [*SMALL, f"months={months}", *(extra or [])]
    )


@pytest.fixture(scope="module")
def joint_run():
    return run(joint())


def test_money_is_conserved_across_the_pathway(joint_run):
    """Row by row and by ledger, in both arms: payers + patients = providers, including the
    pathway reconciliations paid to (or repaid by) hospitals."""
    df = joint_run.monthly
    np.testing.assert_allclose(
        df["payer_payments"] + df["oop"], df["provider_revenue"], rtol=1e-12, atol=1e-6
    )
    np.testing.assert_allclose(
        df["spending"], df["payer_payments"] + df["adverse_event_cost_payer"], rtol=1e-12
    )
    for led in joint_run.ledgers:
        assert led["providers_received"] == pytest.approx(
            led["payer_paid"] + led["patients_paid"], rel=1e-12
        )
    cjr = df[df["arm"] == "cjr_bundle"]
    assert cjr["reconciliation"].abs().sum() > 0  # windows closed and were reconciled
    assert (cjr.loc[cjr["setting"] != "hospital", "reconciliation"] == 0).all()


def test_patients_flow_without_appearing_or_vanishing(joint_run):
    """Every discharge goes home or starts exactly one post-acute episode; post-acute
    settings have no other way in; every readmission flagged in a month is admitted the
    next, and the 30-day readmissions are among them."""
    df = joint_run.monthly
    key = ["arm", "month"]
    hosp = df[df["setting"] == "hospital"].set_index(key).sort_index()
    ref = df[df["setting"] != "hospital"].groupby(key)["referrals_in"].sum().sort_index()
    np.testing.assert_array_equal(hosp["discharges"] - hosp["discharges_home"], ref)
    post = df[df["setting"] != "hospital"]
    assert (post["episodes"] == post["referrals_in"]).all()
    assert (post["new_needs"] == post["referrals_in"]).all()
    for _arm, h in hosp.groupby(level="arm"):
        h = h.droplevel("arm").sort_index()
        assert (h["readmissions"].to_numpy()[1:] >= h["readmissions_30d"].to_numpy()[:-1]).all()
    assert hosp["readmissions_30d"].sum() > 0
    # institutional discharges are the skilled-nursing referrals
    snf = df[df["setting"] == "snf"].set_index(key)["referrals_in"].sort_index()
    np.testing.assert_array_equal(hosp["discharges_institutional"], snf)


def test_pathway_spending_is_the_sum_of_its_settings():
    """A pathway's spending is every allowed amount (and reconciliation) of its patient in
    every setting over the window: one month's additions checked against the month's care."""
    sc = joint(months=6)
    # a direct check over one month: spending added = allowed amounts of open windows
    m2 = HealthSystemModel(sc, "ffs")
    for _ in range(3):
        m2.step()
    before = m2.feature(Pathway).window_spend.copy()
    left_before = m2.feature(Pathway).window_left.copy()
    m2.step()
    added = np.zeros(m2.population.n)
    for mc in m2.month_care:
        np.add.at(added, mc.patients, mc.paid.allowed + mc.paid.adjustment)
    # patients whose window was open before the month (and not reopened by a new index stay)
    still = (left_before > 1) & (m2.feature(Pathway).window_left == left_before - 1)
    np.testing.assert_allclose(m2.feature(Pathway).window_spend[still], (before + added)[still])
    assert still.sum() > 20


def test_discharge_responds_to_who_bears_post_acute_cost():
    """Hospitals that bear the episode's spending (CJR-like) send fewer patients to the
    costlier institutional setting than hospitals paid per stay, same patients and draws."""
    df = run(joint(months=24)).monthly
    h = (
        df[(df["setting"] == "hospital") & (df["month"] >= 12)]
        .groupby("arm")
        .sum(numeric_only=True)
    )
    share = h["discharges_institutional"] / h["discharges"]
    assert share["cjr_bundle"] < share["ffs"] - 0.05
    # the first month, before hospitals have learnt anything, is the same in both arms
    m0 = df[(df["setting"] == "hospital") & (df["month"] == 0)].set_index("arm")
    assert m0.loc["ffs", "discharges_home"] == m0.loc["cjr_bundle", "discharges_home"]


def test_pathway_reconciliation_arithmetic():
    """Three hospitals, one pathway each. Target 18,000 × weight 1.25 (risk 2.0) × rate 1.0 =
    22,500; spending 20,000 → savings 2,500 paid; spending 25,000 → overrun 2,500 repaid at
    the year's downside share (year 2: 50% → 1,250); spending 40,000 → the overrun 17,500 ×
    0.5 = 8,750 capped at the 20% stop-loss of 22,500 = 4,500."""
    c = EpisodeBundle(
        EpisodeParams(target_price=18_000.0, scope="pathway", stay_price=13_000.0), ("a",)
    )
    adj = c.reconcile_pathway(
        np.array([20_000.0, 25_000.0, 40_000.0]),
        np.zeros(3, int),
        np.full(3, 55.0),
        np.full(3, 2.0),
        1.0,
        month=14,
        hospital=np.arange(3),
    )
    np.testing.assert_allclose(adj, [2_500.0, -1_250.0, -4_500.0])
    assert c.pathway_cost_share(0) == 1.0
    assert (
        EpisodeBundle(EpisodeParams(target_price=1.0)).reconcile_pathway(
            np.ones(1), np.zeros(1, int), np.ones(1), np.ones(1), 1.0, 0, np.zeros(1, int)
        )
        is None
    )


def test_switch_changes_nothing_before_its_month():
    """snf_payment_reform: the reform arm equals the legacy arm, row for row, before the
    switch; after it, therapy falls and shared minutes stay within the 25% cap."""
    sc = load_scenario(
        FROZEN / "snf_payment_reform.toml",
        ["population.patients=150000", "months=24", "arms.0.switches.0.month=8"],
    )
    df = run(sc).monthly
    cols = [c for c in df.columns if c not in ("arm", "payment_model", "policy_period")]
    a = df[(df["arm"] == "reform") & (df["month"] < 8)][cols].reset_index(drop=True)
    b = df[(df["arm"] == "legacy") & (df["month"] < 8)][cols].reset_index(drop=True)
    assert a.equals(b)
    snf = df[df["setting"] == "snf"].copy()
    snf["total"] = snf[[f"therapy_minutes_{k}" for k in ("individual", "concurrent", "group")]].sum(
        axis=1
    )
    after = snf[(snf["arm"] == "reform") & (snf["month"] >= 8)]
    shared = after["therapy_minutes_concurrent"] + after["therapy_minutes_group"]
    assert (shared <= rules.PDPM_GROUP_CONCURRENT_CAP * after["total"] + 1e-6).all()
    late = snf[snf["month"] >= 18].groupby("arm").sum(numeric_only=True)
    per_day = late["total"] / late["service_units"]
    assert per_day["reform"] < per_day["legacy"]
    legacy = snf[snf["arm"] == "legacy"]
    assert (legacy["therapy_minutes_concurrent"] + legacy["therapy_minutes_group"]).sum() < (
        0.03 * legacy["total"].sum()
    )


def test_stays_end_at_the_covered_days():
    """No skilled-nursing stay runs past 100 covered days, whatever providers want."""
    sc = joint(months=10, extra=["settings.snf.episode_months=8.0", "behaviour.initial_offset=10"])
    m = HealthSystemModel(sc, "ffs")
    s = [st.name for st in m.settings].index("snf")
    for _ in range(10):
        m.step()
        assert int(m.population.episode_units[s].max()) <= rules.SNF_COVERED_DAYS
    assert int(m.population.episode_units[s].max()) == rules.SNF_COVERED_DAYS


def test_optimal_therapy_matches_the_closed_form_without_minutes_payment():
    """With no minutes-dependent payment, m* = (α·d·m_B·e − cost·k) / (α·d·e²·exp(sd²))."""
    alpha = np.array([0.3, 0.5, 0.9])
    e, k, d, m_b, c, sd = 0.9, 0.8, 0.1, 90.0, 0.8, 0.2
    m_star, _ = optimal_therapy(
        lambda m: np.zeros(m.shape),
        cost_per_minute=c,
        staff=np.full(3, k),
        effective=np.full(3, e),
        altruism=alpha,
        curvature=d,
        optimal_minutes=m_b,
        sd=sd,
        max_minutes=240.0,
        step=0.01,
    )
    closed = (alpha * d * m_b * e - c * k) / (alpha * d * e * e * np.exp(sd * sd))
    np.testing.assert_allclose(m_star, closed, atol=0.01)


def test_minutes_driven_payment_pulls_therapy_over_the_top_threshold():
    """A step of $200/day at 720 counted minutes/week makes providers plan above 720/7 ≈ 103
    minutes/day even though the patient optimum is 60; without the step they stay below."""

    def rug(m):
        return np.where(7 * m >= 720, 200.0, 0.0)

    kw = dict(
        cost_per_minute=0.5,
        staff=np.ones(2),
        effective=np.ones(2),
        altruism=np.array([0.5, 0.5]),
        curvature=0.1,
        optimal_minutes=60.0,
        sd=0.0,
        max_minutes=240.0,
    )
    m_rug, _ = optimal_therapy(rug, **kw)
    m_none, _ = optimal_therapy(lambda m: np.zeros(m.shape), **kw)
    assert (m_rug >= 720 / 7).all() and (m_rug < 720 / 7 + 1).all()
    assert (m_none < 60).all()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('pathway.acute_setting="icu"', "pathway.acute_setting: unknown setting 'icu'"),
        ("pathway.destinations.nowhere.value=1.0", "pathway.destinations.nowhere"),
        ("pathway.destinations.snf.value=-1.0e99", None),
        ('arms.1.contracts.0.setting="snf"', "scope: 'pathway' reconciles a care pathway"),
    ],
)
def test_bad_pathway_input_is_named(override, message):
    if message is None:  # negative values are allowed: a destination can be worse than home
        joint(extra=[override])
        return
    with pytest.raises(ScenarioError) as err:
        joint(extra=[override])
    assert message in str(err.value)


def test_optimal_mode_plays_the_closed_forms_on_the_pathway():
    """behaviour.mode = optimal: therapy styles sit at the grid optimum, hospitals weigh the
    pathway spending their contract puts on them (CJR-like: all of it) from the start (with
    the perceived share taken from the contract, not from reconciliations)."""
    sc = joint(months=3, extra=["behaviour.mode=optimal", "pathway.perceived_cost=contract"])
    m = HealthSystemModel(sc, "cjr_bundle")
    s = [st.name for st in m.settings].index("snf")
    m_opt = sc.settings["snf"].therapy.optimal_minutes
    for _ in range(3):
        m.step()
        therapy = m.feature(Therapy, s)
        np.testing.assert_allclose(therapy.phi.value, therapy.optimum - m_opt)
        np.testing.assert_array_equal(m.feature(Pathway).weight, 1.0)
    assert HealthSystemModel(sc, "ffs").feature(Pathway).weight.max() == 0.0
