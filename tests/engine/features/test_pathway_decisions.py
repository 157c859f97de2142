"""Who decides in the pathway: the joint discharge decision, the share of spending a hospital
perceives from the reconciliation it actually faces, the payer specificity of the discharge
pattern, and a preferred post-acute network (closed forms and unambiguous cases)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from paths import FROZEN

from sim.engine.features.pathway import Pathway
from sim.engine.model import HealthSystemModel
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import load_scenario, validate_scenario

CJR = "arms.1.contracts.0."


def joint(months: int = 14, extra: list[str] | None = None):
    return load_scenario(
        FROZEN / "joint_replacement_bundle.toml",
        ["population.patients=40000", f"months={months}", *(extra or [])],
    )


def _discharge_patients(m: HealthSystemModel, pathway: Pathway) -> np.ndarray:
    """Patients to call the decision rule on (every 10th: the rule applies to anyone)."""
    return np.arange(0, m.population.n, 10)


def test_the_physicians_alone_ignore_the_spending_the_hospital_bears():
    """With hospital_weight 0 and patient_weight 0 the physicians decide: without gainsharing
    the destination does not depend on the hospital's perceived share of spending; with full
    gainsharing it is the hospital's own choice."""
    for gainsharing, same_as_hospital in ((0.0, False), (1.0, True)):
        sc = joint(3, ["pathway.hospital_weight=0.0", f"pathway.gainsharing={gainsharing}"])
        m = HealthSystemModel(sc, "cjr_bundle")
        m.run_for(3)
        pw = m.feature(Pathway)
        out = _discharge_patients(m, pw)
        pw.cost[:] = np.array([0.0, 30_000.0, 5_000.0])  # institutional care is dear
        pw.weight[:] = 0.0
        none, _ = pw.choose(m.world, out)
        pw.weight[:] = 1.0
        full, _ = pw.choose(m.world, out)
        pw.joint = False  # the hospital alone
        alone, _ = pw.choose(m.world, out)
        if same_as_hospital:
            np.testing.assert_array_equal(full, alone)
            assert (full != none).any()
        else:
            np.testing.assert_array_equal(full, none)
            assert (alone != none).any()


def test_the_patient_follows_its_preference_and_out_of_pocket_cost():
    """With the patient deciding alone, a strong preference for a destination sends every
    patient who can go there; an expected out-of-pocket cost as strong keeps them away."""
    sc = joint(
        3,
        [
            "pathway.hospital_weight=0.0",
            "pathway.patient_weight=1.0",
            "pathway.destinations.snf.patient_preference=1000000.0",
        ],
    )
    m = HealthSystemModel(sc, "ffs")
    m.run_for(3)
    pw = m.feature(Pathway)
    out = _discharge_patients(m, pw)
    snf = pw.dest_setting[1]
    free = m.population.episode_left[snf][out] == 0
    dest, _ = pw.choose(m.world, out)
    assert (dest[free] == 1).all()
    pw.oop[:, 1] = 2_000_000.0
    dest, _ = pw.choose(m.world, out)
    assert (dest != 1).all()


def test_joint_decision_needs_weights_that_sum_to_at_most_one():
    """Bad input names the field and what is allowed."""
    with pytest.raises(ScenarioError, match=r"pathway.patient_weight.*at most 1"):
        joint(3, ["pathway.hospital_weight=0.8", "pathway.patient_weight=0.5"])


@pytest.mark.parametrize(
    ("stop_loss", "expected"),
    [(1000.0, 0.5), (0.2, 0.0)],
)
def test_perceived_share_is_what_reconciliation_takes_of_a_further_dollar(stop_loss, expected):
    """Every pathway overruns a tiny target; downside risk is 50%: each further dollar costs
    the hospital 50 cents while the stop-loss does not bind, nothing once it does. In optimal
    mode the perceived share is that at once, for every hospital whose pathways closed."""
    sc = joint(
        5,
        [
            "behaviour.mode=optimal",
            "pathway.perceived_cost=reconciliation",
            f"{CJR}target_price=100.0",
            f"{CJR}downside_share_by_year=[0.5]",
            f"{CJR}stop_loss={stop_loss}",
        ],
    )
    m = HealthSystemModel(sc, "cjr_bundle")
    m.run_for(5)
    pw = m.feature(Pathway)
    closed = np.bincount(pw.window_hospital[pw.window_left == 0], minlength=pw.weight.shape[0])
    assert (closed > 0).sum() >= 3
    # hospitals with closed pathways perceive the reconciliation's marginal share
    has = closed > 0
    np.testing.assert_allclose(pw.weight[has, 0], expected, atol=1e-9)


def test_contract_mode_sees_the_full_dollar_from_month_zero():
    """The default: the bundle's nominal share (all of it) whatever the phase-in."""
    sc = joint(
        2,
        [
            "behaviour.mode=optimal",
            "pathway.perceived_cost=contract",
            f"{CJR}downside_share_by_year=[0.0]",
        ],
    )
    m = HealthSystemModel(sc, "cjr_bundle")
    m.run_for(2)
    np.testing.assert_array_equal(m.feature(Pathway).weight, 1.0)


def test_discharge_norm_is_the_patient_share_weighted_share():
    """Payer specificity of the discharge pattern: 1 weighs each payer's own contract, 0 the
    members' mean of the hospital's perceived shares, in between a mix."""
    for lam in (0.0, 0.3, 1.0):
        sc = joint(
            1,
            [
                "payers.medicare_ffs.share=0.7",
                "payers.plan.share=0.3",
                f"pathway.payer_specificity={lam}",
            ],
        )
        m = HealthSystemModel(sc, "cjr_bundle")
        pw = m.feature(Pathway)
        n_h = pw.weight.shape[0]
        pw.weight[:] = np.array([1.0, 0.0])
        h = np.repeat(np.arange(n_h), 2)
        g = np.tile([0, 1], n_h)
        w = m.world.providers[pw.acute].payer_weight()
        norm = w[:, 0]
        expected = norm[h] + lam * (pw.weight[h, g] - norm[h])
        np.testing.assert_allclose(pw.borne(m.world, h, g), expected, rtol=1e-12)


NETWORK = ["pathway.network.switch_cost=500.0"]


def test_network_steers_referrals_only_where_the_hospital_bears_spending():
    """Under the bundle some referrals go to a cheaper provider than the patient's own; under
    FFS (the hospital bears nothing) none; patients are neither lost nor duplicated."""
    moved = {}
    for arm in ("ffs", "cjr_bundle"):
        m = HealthSystemModel(joint(14, NETWORK), arm)
        s = m.feature(Pathway).dest_setting[1]
        start = m.population.provider[s].copy()
        m.run_for(14)
        now = m.population.provider[s]
        moved[arm] = int((now != start).sum())
        panels = sum(p.members.sum() for p in m.world.providers[s].panels)
        assert panels == m.population.n
        # a steered patient stays in its region
        regions = m.world.providers[s].region
        np.testing.assert_array_equal(regions[now], regions[start])
    assert moved["ffs"] == 0
    assert moved["cjr_bundle"] > 0


def test_network_money_is_conserved():
    """Payers + patients = providers, row by row and by ledger, with steering on."""
    res = run(joint(14, NETWORK))
    df = res.monthly
    np.testing.assert_allclose(
        df["payer_payments"] + df["oop"], df["provider_revenue"], rtol=1e-12, atol=1e-6
    )
    for led in res.ledgers:
        assert led["providers_received"] == pytest.approx(
            led["payer_paid"] + led["patients_paid"], rel=1e-12
        )


def test_post_acute_providers_shorten_stays_to_win_referrals():
    """Optimal mode: a post-acute provider's style is the closed form with the referrals a day
    of stay loses as a price on the day, −ε·(steering hospitals' share)·margin/days; shorter
    than without the response (ε = 0), and no different under FFS (no hospital steers)."""
    theta = {}
    for eps in (0.0, 2.0):
        sc = joint(8, ["behaviour.mode=optimal", *NETWORK,
                       f"pathway.network.referral_elasticity={eps}"])  # fmt: skip
        m = HealthSystemModel(sc, "cjr_bundle")
        m.run_for(8)
        pw = m.feature(Pathway)
        s = pw.dest_setting[1]
        providers = m.world.providers[s]
        acc = pw.stays[s]
        margin, days = acc[1] / acc[3], acc[2] / acc[3]
        steering = pw.weight.mean()  # one payer, one region
        expected_uv = -eps * steering * np.maximum(margin, 0.0) / days
        np.testing.assert_allclose(providers.unit_value, expected_uv, rtol=1e-12)
        np.testing.assert_allclose(providers.theta, m.optimal_theta(s), rtol=1e-12)
        theta[eps] = providers.theta.copy()
        ffs = HealthSystemModel(sc, "ffs")
        ffs.run_for(8)
        np.testing.assert_array_equal(ffs.world.providers[s].unit_value, 0.0)
    assert np.all(theta[2.0] <= theta[0.0]) and np.any(theta[2.0] < theta[0.0])


def test_pathway_options_at_their_defaults_are_absent():
    """Explicit defaults give the bytes of the scenario without the options (the shipped
    scenario switches them on; here they are taken out)."""
    data = tomllib.loads((FROZEN / "joint_replacement_bundle.toml").read_text())
    for key in ("perceived_cost", "hospital_weight", "network"):
        del data["pathway"][key]
    data["population"]["patients"] = 40_000
    data["months"] = 6
    base = run(validate_scenario(data)).monthly
    data["pathway"].update(
        hospital_weight=1.0,
        patient_weight=0.0,
        gainsharing=0.0,
        perceived_cost="contract",
        payer_specificity=1.0,
    )
    for d in data["pathway"]["destinations"].values():
        d["patient_preference"] = 0.0
    assert base.equals(run(validate_scenario(data)).monthly)
