"""Coding as a decision (``behaviour.upcoding.mode = "decision"``): what every payment model
pays for coding risk scores 1% higher (``PaymentModel.coding``, against hand-worked examples),
what the contract's terms add, and the providers' coding intensity in the model — k* where
payment is risk-adjusted, none under fee-for-service, partial adjustment after a change of
rules — with the coded/true risk column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import one_setting

from sim.engine.features.upcoding import care_value
from sim.engine.model import HealthSystemModel
from sim.engine.payment import REGISTRY, ContractParams, Panel, PaymentModel, terms
from sim.engine.payment.prices import CodingRevenue, Position
from sim.errors import ScenarioError
from sim.experiments.run import run

CONDITIONS = ("general",)
#: comorbidity levels: below 0.8 weighs 0.9, from 0.8 1.0, from 1.5 1.25; function weighs 1
LEVELS = {"comorbidity_weights": [0.9, 1.0, 1.25], "function_weights": [1.0, 1.0, 1.0]}
#: risk scores 1% below a cut-off, far from one, 1% below the next
RISK = np.array([0.795, 1.0, 1.49])


def position(n=1, **kw) -> Position:
    """``n`` patients of provider 0 starting an episode, fee $100 a unit."""
    base = dict(
        provider=np.zeros(n, np.int64),
        patient=np.arange(n, dtype=np.int64),
        fee_per_unit=np.full(n, 100.0),
        condition=np.zeros(n, np.int64),
        function=np.full(n, 60.0),
        risk=np.ones(n),
        rate_multiplier=1.0,
        marginal_cost=20.0,
        units_per_visit=1.0,
        period_units=np.zeros(n, np.int64),
        episode_units=np.zeros(n, np.int64),
        months_left=np.ones(n, np.int64),
        episode_month=np.zeros(n, np.int64),
        period_value=np.zeros(n),
        new_episode=np.ones(n, bool),
        readmission=np.zeros(n, bool),
        month=0,
        year=2025,
        month_of_year=1,
    )
    base.update(kw)
    return Position(**base)


#: two providers: 10 and 20 members whose risk scores, as coded, sum to 12 and 18
PANEL = Panel(members=np.array([10.0, 20.0]), risk_sum=np.array([12.0, 18.0]), rate_multiplier=1.2)


def contract(name: str, **params):
    cls = REGISTRY[name]
    return cls(cls.Params(**params), CONDITIONS)


def coding(c, pos: Position, units, panel: Panel = PANEL) -> CodingRevenue:
    return c.coding(pos, np.asarray(units, np.int64), panel)


@pytest.mark.parametrize(
    ("name", "params"), [("ffs", {}), ("cost_based", {}), ("therapy_threshold", {"threshold": 1e3})]
)
def test_a_payment_that_does_not_read_risk_pays_nothing_for_coding(name, params):
    """Fee-for-service (and its variants, cost-based reimbursement, the therapy threshold):
    coding risk higher earns nothing, per patient or per member."""
    c = contract(name, **params)
    got = coding(c, position(3, risk=RISK), [2, 3, 4])
    assert not got.claims.any() and not got.members.any()
    assert type(c).coding is PaymentModel.coding


def test_a_risk_adjusted_pmpm_pays_for_coding_per_member():
    """Capitation: the PMPM × the members' coded risk, so coding every score 1% higher earns 1%
    of pmpm × rate × Σ coded risk: ×100, $100 × 1.2 × (12, 18) = (1,440, 2,160); nothing
    without risk adjustment. The blend's fixed part the same way; its fee share not at all."""
    got = coding(contract("capitation", pmpm=100.0), position(), [5])
    np.testing.assert_allclose(got.members, [1_440.0, 2_160.0])
    assert not got.claims.any()
    flat = coding(contract("capitation", pmpm=100.0, risk_adjusted=False), position(), [5])
    assert not flat.members.any()
    blend = coding(contract("blended", pmpm=50.0, fee_fraction=0.5), position(), [5])
    np.testing.assert_allclose(blend.members, [720.0, 1_080.0])
    assert not blend.claims.any()


def test_a_case_mix_price_pays_where_coding_crosses_a_level():
    """A DRG-like bundle of $3,000 at weight 1: a new case 1% below the 0.8 cut-off moves from
    weight 0.9 to 1.0 when coded 1% higher (+$300, ×100 = 30,000), one 1% below 1.5 from 1.0
    to 1.25 (+$750 → 75,000), one far from a cut-off gains nothing, nor does a case already
    under way (its price was paid at the start)."""
    c = contract("bundled", base_rate=3_000.0, **LEVELS)
    pos = position(4, risk=np.r_[RISK, 0.795], new_episode=np.array([True, True, True, False]))
    got = coding(c, pos, [3, 3, 3, 3])
    np.testing.assert_allclose(got.claims, [30_000.0, 0.0, 75_000.0, 0.0])
    assert not got.members.any()


def test_the_readmission_penalty_pays_for_coding_net_of_its_rate():
    """HRRP: the stay's case-mix price less the hospital's 2% penalty rate: 30,000 × 0.98."""
    c = contract("readmission_penalty", base_rate=3_000.0, **LEVELS)
    c.rates = np.array([0.02])
    c.margin = np.array([0.0])
    got = coding(c, position(1, risk=RISK[:1]), [4])
    np.testing.assert_allclose(got.claims, [29_400.0])


def test_a_per_diem_by_case_mix_pays_for_coding_each_day():
    """Legacy skilled nursing: a nursing per diem of $200 × the weight for each of 10 covered
    days, so the 0.9 → 1.0 step earns $200 × 0.1 × 10 = $200 (×100 = 20,000)."""
    c = contract("snf_legacy", nursing_rate=200.0, **LEVELS)
    got = coding(c, position(2, risk=RISK[:2], new_episode=np.ones(2, bool)), [10, 10])
    np.testing.assert_allclose(got.claims, [20_000.0, 0.0])


def test_home_health_pays_for_coding_through_the_period_price():
    """Legacy home health ($2,000, $2,500 from the 10th visit, LUPA 5 at $160 a visit): from 4
    visits, 6 more reach the 10th, whose price × 0.1 more weight is $250 (×100 = 25,000);
    below the LUPA the per-visit rate does not move with case mix. PDGM ($2,000 a period at
    weight 1, LUPA 4): reaching the LUPA earns 0.1 × $2,000 more (20,000)."""
    c = contract("hh_legacy", base_rate=2_000.0, thresholds=[10], steps=[500.0], lupa_visits=5,
                 per_visit=160.0, **LEVELS)  # fmt: skip
    pos = position(2, risk=np.array([0.795, 0.795]), period_units=np.array([4, 0]),
                   new_episode=np.zeros(2, bool), episode_month=np.ones(2, np.int64))  # fmt: skip
    np.testing.assert_allclose(coding(c, pos, [6, 3]).claims, [25_000.0, 0.0])
    c = contract("pdgm", base_rate=2_000.0, default_lupa=4, per_visit=150.0, **LEVELS)
    np.testing.assert_allclose(coding(c, position(1, risk=RISK[:1]), [5]).claims, [20_000.0])


def test_a_reconciled_episode_pays_for_coding_through_its_target():
    """CJR-like, setting scope (target $1,000 × weight, stop-gain and stop-loss 20%, full
    downside): coding 0.9 → 1.0 moves the target from $900 to $1,000. At the episode's start
    the reconciliation's level, the savings at no spending (20% of the target), rises by $20
    (×100 = 2,000); $300 of spending there changes nothing more (savings stay capped). From
    $850 spent, $300 more: reconciled 50 → −180 at $900, 150 → −150 at $1,000: the month's
    reconciliation is $70 less (−7,000). Over an episode the parts add up to what the
    target does to the final reconciliation (here 2,000 + 8,000 − 7,000: −180 → −150 at
    $1,150, ×100 = 3,000)."""
    c = contract("episode_bundle", target_price=1_000.0, downside_share_by_year=[1.0],
                 stop_gain=0.2, stop_loss=0.2, **LEVELS)  # fmt: skip
    start = coding(c, position(1, risk=RISK[:1]), [3]).claims
    np.testing.assert_allclose(start, [2_000.0])
    mid = position(1, risk=RISK[:1], new_episode=np.zeros(1, bool), episode_month=np.ones(1, int),
                   period_value=np.array([850.0]))  # fmt: skip
    np.testing.assert_allclose(coding(c, mid, [3]).claims, [-7_000.0])
    first = position(1, risk=RISK[:1], new_episode=np.zeros(1, bool),
                     episode_month=np.ones(1, int) * 3)  # fmt: skip
    np.testing.assert_allclose(coding(c, first, [0]).claims, [2_000.0])  # a new period's start
    # the episode's first month ($850 in 8 units) and its second ($300 more) together
    first_month = position(1, risk=RISK[:1], fee_per_unit=np.full(1, 106.25))
    whole = coding(c, first_month, [8]).claims + coding(c, mid, [3]).claims
    np.testing.assert_allclose(whole, [3_000.0])


def test_a_global_budget_pays_for_coding_its_fixed_share_of_the_target():
    """All-payer budget, risk-adjusted target $100 PMPM, 25% volume share: (1 − 0.25) × $100 ×
    1.2 × (12, 18) = (1,080, 1,620); none when the target is not risk-adjusted."""
    c = contract("all_payer_budget", budget_pmpm=100.0, volume_share=0.25)
    got = coding(c, position(), [2])
    np.testing.assert_allclose(got.members, [1_080.0, 1_620.0])
    c = contract("all_payer_budget", budget_pmpm=100.0, volume_share=0.25, risk_adjusted=False)
    assert not coding(c, position(), [2]).members.any()


def test_an_aco_keeps_its_share_of_a_risk_adjusted_benchmark():
    """MSSP: before its first performance year coding earns nothing; then the benchmark rate ×
    rate level × coded risk rises with coding, and the ACO keeps its 50% share: 0.5 × (90,
    110) × 1.2 × (12, 18) = (648, 1,188)."""
    c = contract("aco", benchmark_pmpm=100.0, sharing_rate=0.5)
    assert not coding(c, position(), [2]).members.any()
    c.benchmark_rate = np.array([90.0, 110.0])
    np.testing.assert_allclose(coding(c, position(), [2]).members, [648.0, 1_188.0])


def test_the_terms_add_shared_savings_and_a_plans_pmpm():
    """Around the model's answer: shared savings (s = 0.5, coinsurance 0.2) give back s of the
    payer's share of coded-up claims (× 0.6) and pay s × benchmark × rate per unit of coded
    risk; a capitated plan's PMPM from Medicare counts per unit of coded risk."""
    prm = ContractParams(shared_savings_rate=0.5, benchmark_pmpm=100.0, plan_pmpm=10.0)
    revenue = CodingRevenue(np.array([1_000.0, 500.0, 300.0]), np.array([7.0, 0.0]))
    got = terms.coding_margin(prm, revenue, np.array([0, 0, 1]), PANEL)
    claims = np.array([1_500.0, 300.0]) * 0.6
    np.testing.assert_allclose(
        got, claims + [7.0, 0.0] + 0.5 * 100.0 * 1.2 * PANEL.risk_sum + 10.0 * PANEL.risk_sum
    )
    assert not terms.coding_margin(ContractParams(), None, np.zeros(0, int), PANEL).any()


# ---------------------------------------------------------------------------------------------
# in the model

DECISION = {"behaviour": {"upcoding": {"enabled": True, "mode": "decision"}}}


def _step(model: HealthSystemModel, months: int) -> None:
    for _ in range(months):
        model.step()


def _best(model: HealthSystemModel, pmpm: float) -> np.ndarray:
    """k* of each provider (one payer) after this month under a risk-adjusted capitation at
    ``pmpm``: pmpm × Σ true risk of its members / (its patients in care × κ × V)."""
    w = model.world
    pop = w.population
    prov = pop.provider[0].astype(np.int64)
    n_prov = w.providers[0].n
    care = w.month[0]
    in_care = np.bincount(care.provider[care.sought], minlength=n_prov)
    value = care_value(w.settings[0], w.providers[0].region)
    risk = np.bincount(prov, pop.risk.astype(np.float64), minlength=n_prov)
    return pmpm * risk / (in_care * w.behaviour.upcoding.coding_cost * value)


def test_coding_is_k_star_where_payment_is_risk_adjusted_and_none_under_a_fee():
    """In optimal mode each provider codes its members' risk at k* = pmpm × rate × Σ true risk
    / (patients in care × κ × V) under risk-adjusted capitation (exactly: its revenue of
    coding is linear in k), and not at all under fee-for-service; the coded/true ratio of the
    patients in care is 1 + k and the month's cost of coding κ·V·k²/2 per patient in care."""
    sc = one_setting(behaviour={**DECISION["behaviour"], "mode": "optimal"}, months=3)
    cap = HealthSystemModel(sc, "capitation")
    _step(cap, 1)
    want = _best(cap, 40.0)
    w = cap.world
    assert 0.01 < want.mean() < sc.behaviour.upcoding.max_risk_inflation
    np.testing.assert_allclose(w.coding.k[0][:, 0], want, rtol=1e-9)
    ffs = HealthSystemModel(sc, "ffs")
    _step(ffs, 2)
    assert not ffs.world.coding.k[0].any()

    m = run(sc).monthly
    care = m[(m.arm == "ffs")]
    assert (care.coded_risk_ratio == 1.0).all() and (care.coding_cost == 0.0).all()
    row = m[(m.arm == "capitation") & (m.month == 1)].iloc[0]
    assert row.coded_risk_ratio == pytest.approx(row.coded_risk_in_care / row.risk_in_care)
    assert 1.0 + want.min() - 1e-9 <= row.coded_risk_ratio <= 1.0 + want.max() + 1e-9
    _step(cap, 1)  # month 1, coded at k*
    c = cap.world.month[0]
    in_care = np.bincount(c.provider[c.sought], minlength=want.size)
    value = care_value(w.settings[0], w.providers[0].region)
    cost = 0.5 * sc.behaviour.upcoding.coding_cost * (value * want**2 * in_care).sum()
    assert row.coding_cost == pytest.approx(cost, rel=1e-9)
    # what coding 1% higher earns: 1% of pmpm × Σ coded risk of the members
    pop = w.population
    true = np.bincount(pop.provider[0].astype(np.int64), pop.risk.astype(float), want.size)
    assert row.coding_return == pytest.approx(0.01 * 40.0 * (true * (1 + want)).sum())


def test_coding_moves_toward_a_new_k_star_at_the_adjustment_speed():
    """After a switch from fee-for-service to capitation, each provider's coding intensity
    moves a share λ (its speed) of the way to the month's k* each month."""
    arms = [
        {
            "name": "switch",
            "contracts": [{"model": "ffs"}],
            "switches": [{"month": 2, "contracts": [{"model": "capitation", "pmpm": 40.0}]}],
        }
    ]
    sc = one_setting(**DECISION, months=6, arms=arms)
    m = HealthSystemModel(sc, "switch")
    _step(m, 2)
    k = m.world.coding.k[0][:, 0]
    assert not k.any()
    speed = m.world.providers[0].speed
    assert (speed < 1).all()
    for _ in range(3):
        before = k.copy()
        m.step()
        best = _best(m, 40.0)
        np.testing.assert_allclose(k, before + speed * (best - before), rtol=1e-9)
    assert (k > 0).all() and (k < best).all()
    # the panels' coded risk (what risk adjustment pays on) follows k: as counted afresh
    fresh = m.world.build_panels(0)[0].risk_sum
    np.testing.assert_allclose(m.world.providers[0].panels[0].risk_sum, fresh, rtol=1e-12)


def test_only_for_profit_providers_code_when_told_so():
    """With ``for_profit_only`` the non-profits keep coding at 0 whatever the contract pays."""
    over = {
        "behaviour": {"upcoding": {"enabled": True, "mode": "decision", "for_profit_only": True}},
        "settings": {"clinic": {"providers": {"for_profit_share": 0.4}}},
        "months": 2,
    }
    m = HealthSystemModel(one_setting(**over), "capitation")
    _step(m, 2)
    fp = m.world.providers[0].for_profit
    k = m.world.coding.k[0][:, 0]
    assert fp.any() and (~fp).any()
    assert (k[fp] > 0).all() and not k[~fp].any()


def test_a_risk_adjusted_contract_codes_more_than_a_case_mix_price():
    """In the default world, coding follows what payment pays for it: none under FFS, some
    under a DRG-like bundle (only cases near a comorbidity cut-off gain), most under
    risk-adjusted capitation, whose every member's payment moves with coded risk."""
    from conftest import default_world

    sc = default_world(**DECISION, months=8)
    m = run(sc).monthly
    late = m[m.month >= 4].groupby("arm")[["coded_risk_in_care", "risk_in_care"]].sum()
    ratio = late.coded_risk_in_care / late.risk_in_care
    assert ratio["ffs"] == 1.0
    assert 1.0 < ratio["bundled"] < ratio["capitation"]
    assert ratio["blended"] < ratio["capitation"]


def test_decision_coding_needs_nothing_else_and_fixed_coding_is_unchanged():
    """The mode's fields are checked like any other; a bad mode names the field."""
    with pytest.raises((ScenarioError, ValueError), match="mode"):
        one_setting(behaviour={"upcoding": {"enabled": True, "mode": "sometimes"}})
    with pytest.raises((ScenarioError, ValueError), match="coding_cost"):
        one_setting(behaviour={"upcoding": {"enabled": True, "coding_cost": 0.0}})


def test_coding_and_capacity_at_prices_shard(tmp_path):
    """Coding decisions, capacity at the contracts' prices and rationing of admissions keep to
    each provider's own patients: a run split by region over three shards agrees with the
    whole run."""
    from test_shards import SCENARIO

    from sim.experiments import shards
    from sim.scenario import load_scenario

    path = tmp_path / "shards.toml"
    path.write_text(SCENARIO)
    sc = load_scenario(
        path,
        [
            "behaviour.upcoding.enabled=true",
            'behaviour.upcoding.mode="decision"',
            'behaviour.mode="best_response"',
            "behaviour.admission.enabled=true",
            "supply.participation.enabled=false",
            'supply.capacity.target="price"',
            "supply.capacity.ration_admissions=true",
            "supply.capacity.warmup_months=2",
            "supply.capacity.initial=0.9",
            "months=8",
        ],
    )
    for arm in ("capitation", "ffs"):
        whole = HealthSystemModel(sc, arm)
        _step(whole, sc.months)
        a = pd.DataFrame(whole.rows)
        assert a.coding_cost.sum() > 0 or arm == "ffs"
        assert a.shadow_price.sum() > 0 or arm == "capitation"
        out = shards.run_pair(sc, sc.seed, arm, 0, 3, backend="thread")
        b = pd.DataFrame(out["rows"])
        num = a.select_dtypes("number").columns
        assert np.allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-10, atol=1e-6)
