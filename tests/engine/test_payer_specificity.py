"""One practice across payers (``behaviour.payer_specificity``): a contract change for one payer
moves the other payer's care in proportion to the changing payer's share of each provider's
patients at specificity 0, and leaves it alone at 1 (closed form of sim.engine.behaviour)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import one_setting
from paths import FROZEN

from sim.engine.model import HealthSystemModel
from sim.experiments.run import run

#: 99213 at the national GPCI and the 2025 conversion factor: 2.81 RVU × $32.3465
FEE_99213 = 2.81 * 32.3465
C = 40.0  # marginal cost per visit in the test setting
D = 40.0  # benefit curvature d
RATE_B = 1.2  # the commercial payer's rate level
SWITCH = 3


def two_payers(specificity: float, mode: str = "optimal", **over):
    """Two payers sharing the providers (60/40), both FFS; from month 3 the second payer pays
    its providers by capitation (arm ``reform``), or keeps FFS (arm ``same``)."""
    switch = {
        "month": SWITCH,
        "contracts": [{"payer": "commercial", "model": "capitation", "pmpm": 40.0}],
    }
    return one_setting(
        payers={
            "medicare": {"share": 0.6, "deductible": 0.0},
            "commercial": {"share": 0.4, "deductible": 0.0, "rate_multiplier": RATE_B},
        },
        behaviour={"mode": mode, "payer_specificity": specificity},
        arms=[
            {"name": "same", "contracts": [{"model": "ffs"}]},
            {"name": "reform", "contracts": [{"model": "ffs"}], "switches": [switch]},
        ],
        **over,
    )


def _share_b(m: HealthSystemModel) -> np.ndarray:
    """Each provider's share of patients covered by the second payer (from the population)."""
    pop = m.world.population
    prov = pop.provider[0]
    n = m.world.providers[0].n
    return np.bincount(prov[pop.payer == 1], minlength=n) / np.bincount(prov, minlength=n)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_contract_change_for_one_payer_moves_the_other_by_its_share(lam):
    """Closed form (optimal mode): payer g's patients get (1 − λ)·Σ_h w_h·θ*_h + λ·θ*_g with
    θ*_h = (p_h − c)/(α·d); when the second payer moves to capitation the first payer's style
    moves by (1 − λ)·w_B·Δθ*_B: by the second payer's share at λ = 0, not at all at λ = 1."""
    m = HealthSystemModel(two_payers(lam), "reform")
    m.run_for(SWITCH)
    theta = m.world.providers[0].styles[0]
    before = theta.by_payer().copy()
    m.run_for(2)
    after = theta.by_payer()
    alpha = m.world.providers[0].altruism
    w_b = _share_b(m)
    assert np.all((w_b > 0.3) & (w_b < 0.5))
    star_a = (FEE_99213 - C) / (alpha * D)
    star_b_ffs = (RATE_B * FEE_99213 - C) / (alpha * D)
    star_b_cap = -C / (alpha * D)
    for star_b, got in ((star_b_ffs, before), (star_b_cap, after)):
        norm = (1 - w_b) * star_a + w_b * star_b
        expected_a = (1 - lam) * norm + lam * star_a
        expected_b = (1 - lam) * norm + lam * star_b
        np.testing.assert_allclose(got[:, 0], expected_a, rtol=1e-10)
        np.testing.assert_allclose(got[:, -1], expected_b, rtol=1e-10)
    np.testing.assert_allclose(
        after[:, 0] - before[:, 0], (1 - lam) * w_b * (star_b_cap - star_b_ffs), atol=1e-10
    )
    # and that is what the first payer's patients are planned this month
    mc = m.month_care[0]
    a = mc.by_payer[0]
    expected_units = np.clip(mc.optimal_units[a] + after[mc.provider[a], 0], 0.0, 12.0)
    np.testing.assert_allclose(mc.planned_units[a], expected_units, rtol=1e-12)


def test_at_specificity_one_learning_leaves_the_other_payer_alone():
    """Learning, no imitation: at λ = 1 the first payer's patients get exactly the same care
    whether or not the second payer changes its contract (common random numbers); at λ = 0
    they get less once the second payer pays by capitation."""
    out = {}
    for lam in (0.0, 1.0):
        df = run(two_payers(lam, "learning", months=24)).monthly
        a = df[df["payer"] == "medicare"].set_index(["arm", "month"])["service_units"]
        out[lam] = a.loc["reform"] - a.loc["same"]
    assert (out[1.0] == 0).all()
    assert (out[0.0].loc[: SWITCH - 1] == 0).all()
    assert out[0.0].loc[SWITCH + 6 :].lt(0).all()


def test_separate_styles_learn_their_payer_closed_form():
    """Learning at λ = 1: each payer's separate style converges to the closed form under that
    payer's contract alone (FFS at rate 1 and capitation)."""
    sc = two_payers(
        1.0,
        "learning",
        months=60,
        population={"patients": 20_000},
        settings={"clinic": {"adverse_events": {"base_rate": 0.0}}},
    )
    m = HealthSystemModel(sc, "reform")
    m.run_for(60)
    alpha = m.world.providers[0].altruism
    got = m.world.providers[0].styles[0].by_payer()
    np.testing.assert_allclose(got[:, 0], (FEE_99213 - C) / (alpha * D), atol=0.1)
    np.testing.assert_allclose(got[:, 1], -C / (alpha * D), atol=0.1)


def test_specificity_zero_is_one_style():
    """λ = 0 (the default) is the model without the option: same bytes, no separate style."""
    default = run(two_payers(0.0, "learning", months=6)).monthly
    sc = two_payers(0.0, "learning", months=6)
    data = sc.model_dump()
    data["behaviour"].pop("payer_specificity")
    from sim.scenario import validate_scenario

    absent = run(validate_scenario(data)).monthly
    assert default.equals(absent)
    m = HealthSystemModel(sc, "reform")
    assert m.world.providers[0].styles[0].separate is None


def _snf_two_payers(lam: float):
    """snf_payment_reform with a second payer (30%) whose SNF contract alone moves to PDPM
    at month 3; closed forms played (optimal mode)."""
    import tomllib

    from sim.scenario import validate_scenario

    path = FROZEN / "snf_payment_reform.toml"
    data = tomllib.loads(path.read_text())
    data["population"]["patients"] = 20_000
    data["months"] = 5
    data["replications"] = 1
    data.pop("analysis", None)  # its baseline arm (legacy) is dropped below
    data["payers"] = {"medicare_ffs": {"share": 0.7}, "plan": {"share": 0.3}}
    data["behaviour"] = {"mode": "optimal", "payer_specificity": lam}
    arm = data["arms"][0]
    data["arms"] = [arm]
    switch = arm["switches"][0]
    switch.pop("date", None)
    switch.pop("announced", None)
    switch["month"] = 3
    switch["contracts"][0]["payer"] = "plan"
    return validate_scenario(data)


def test_therapy_and_length_of_stay_norms_spill_over_only_without_specificity():
    """A skilled-nursing contract change for one payer (PDPM for the plan's patients): at
    λ = 1 the other payer's therapy minutes and days are exactly as before; at λ = 0 the
    shared norm moves their therapy minutes."""
    for lam in (0.0, 1.0):
        sc = _snf_two_payers(lam)
        m = HealthSystemModel(sc, sc.arms[0].name)
        s = [st.name for st in m.settings].index("snf")
        theta, phi = m.world.providers[s].styles
        m.run_for(3)
        before = theta.by_payer()[:, 0].copy(), phi.by_payer()[:, 0].copy()
        plan_before = phi.by_payer()[:, -1].copy()
        m.run_for(2)
        after = theta.by_payer()[:, 0], phi.by_payer()[:, 0]
        assert np.any(phi.by_payer()[:, -1] != plan_before)  # the plan's patients: PDPM
        if lam == 1.0:
            np.testing.assert_array_equal(after[0], before[0])
            np.testing.assert_array_equal(after[1], before[1])
        else:
            # the legacy per diem's minute thresholds make the direction depend on where a
            # provider sat; that the norm moves is the unambiguous part
            assert np.any(after[1] != before[1])


def test_learning_at_half_specificity_follows_the_closed_form_spillover():
    """Learning, λ = 0.5: after the second payer moves to capitation, the first payer's style
    moves by (1 − λ)·w_B·Δθ*_B and the second's by that plus λ·(1 − w_B)·Δθ*_B, against the
    same world without the change (no adverse events: the world the closed form describes)."""
    lam = 0.5
    styles = {}
    for arm in ("same", "reform"):
        sc = two_payers(
            lam,
            "learning",
            months=72,
            population={"patients": 20_000},
            settings={"clinic": {"adverse_events": {"base_rate": 0.0}}},
        )
        m = HealthSystemModel(sc, arm)
        m.run_for(72)
        styles[arm] = m.world.providers[0].styles[0].by_payer()
    alpha = m.world.providers[0].altruism
    w_b = _share_b(m)
    d_star = (-C - (RATE_B * FEE_99213 - C)) / (alpha * D)
    moved = styles["reform"] - styles["same"]
    # seed 7 ends within 0.08 units of the closed form; 0.2 leaves room for noise
    np.testing.assert_allclose(moved[:, 0], (1 - lam) * w_b * d_star, atol=0.2)
    np.testing.assert_allclose(moved[:, 1], (1 - lam) * w_b * d_star + lam * d_star, atol=0.2)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize("savings", [0.0, 0.5])
def test_one_walk_for_every_payer_gives_each_payers_plans(monkeypatch, kernels, savings):
    """Best response at 0 < λ < 1 plans each patient at every payer's prices; when every
    payer's schedule is straight (a price per unit) the plans come from one walk of each
    patient's grid for all payers (``practice._one_walk``), else from a plan per payer and
    part. Both give the same months bit for bit, through a change of one payer's contract
    (the transition's second set of plans), with either set of kernels; a schedule that is
    not straight (shared savings scale the fee schedule, which builds it) plans apart."""
    from sim.engine import practice

    if kernels == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("SIM_KERNELS", kernels)
    contracts = [{"model": "ffs"}]
    if savings:
        contracts = [{"model": "ffs", "shared_savings_rate": savings, "benchmark_pmpm": 30.0}]
    switch = {
        "month": SWITCH,
        "contracts": [{"payer": "commercial", "model": "capitation", "pmpm": 40.0}],
    }
    sc = one_setting(
        payers={
            "medicare": {"share": 0.6, "deductible": 0.0},
            "commercial": {"share": 0.4, "deductible": 0.0, "rate_multiplier": RATE_B},
        },
        behaviour={"mode": "best_response", "payer_specificity": 0.4},
        population={"patients": 3_000},
        months=6,
        arms=[{"name": "reform", "contracts": contracts, "switches": [switch]}],
    )
    walked = []
    one_walk = practice._one_walk

    def spy(*args):
        out = one_walk(*args)
        walked.append(out is not None)
        return out

    frames = {}
    for way in ("walk", "apart"):
        monkeypatch.setattr(practice, "_one_walk", spy if way == "walk" else lambda *args: None)
        m = HealthSystemModel(sc, "reform")
        assert m.world.kernels.name == kernels
        m.run_for(6)
        frames[way] = m.datacollector.get_model_vars_dataframe()
    assert walked and all(walked) == (not savings) and any(walked) == (not savings)
    assert frames["walk"].equals(frames["apart"])


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_each_payer_priced_once_for_all_its_rows_gives_the_plans_part_by_part(monkeypatch, kernels):
    """With three payers (a middle block: the others' patients on both sides of it) and one
    so rare that some providers have none of its members (its prices plan only the others
    whose provider has some), each payer's prices made once for its own patients and the
    others' (``BestResponse.practised``) give the plans of the part-by-part path bit for bit,
    through a change of one payer's contract."""
    from sim.engine import practice

    if kernels == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("SIM_KERNELS", kernels)
    switch = {
        "month": SWITCH,
        "contracts": [{"payer": "rare", "model": "ffs", "fee_multiplier": 1.3}],
    }
    sc = one_setting(
        payers={
            "medicare": {"share": 0.5, "deductible": 0.0},
            "rare": {"share": 0.002, "deductible": 0.0, "rate_multiplier": 0.8},
            "commercial": {"share": 0.498, "deductible": 0.0, "rate_multiplier": RATE_B},
        },
        settings={"clinic": {"providers": {"count": 12}}},
        behaviour={"mode": "best_response", "payer_specificity": 0.4},
        population={"patients": 3_000},
        months=6,
        arms=[{"name": "reform", "contracts": [{"model": "ffs"}], "switches": [switch]}],
    )
    runs, walked = [], []
    made, one_walk = practice._rows, practice._one_walk

    def spy(own, other, n):
        at = made(own, other, n)
        runs.append(isinstance(at, slice))
        return at

    def walk(*args):
        out = one_walk(*args)
        walked.append(out is not None)
        return out

    frames = {}
    for way in ("walk", "apart"):
        monkeypatch.setattr(practice, "_rows", spy)
        monkeypatch.setattr(practice, "_one_walk", walk if way == "walk" else lambda *a: None)
        m = HealthSystemModel(sc, "reform")
        assert m.world.kernels.name == kernels
        share = m.world.providers[0].payer_weight()
        assert (share[:, 1] == 0).any() and (share[:, 1] > 0).any()
        m.run_for(6)
        frames[way] = m.datacollector.get_model_vars_dataframe()
    # the rare payer's rows an index array (its block in the middle, and providers without
    # its members), the others' a slice
    assert True in runs and False in runs
    assert walked and all(walked)
    assert frames["walk"].equals(frames["apart"])
