"""CJR's reconciliation over a hospital's performance year, its high-episode-spending cap, and
the hospitals' choice of a voluntary bundle (``participation = "expected_gain"``): closed forms
of the rules (42 CFR 510.300-510.305 as the module docstring of sim/engine/payment/episode.py
reads them) and the choice made in a run, read back from the monthly table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.engine.payment.base import Base, ClosedPathways
from sim.engine.payment.episode import EpisodeBundle, EpisodeParams
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario.loading import load_scenario

FLAT = {
    "function_cutoffs": [],
    "function_weights": [1.0],
    "comorbidity_cutoffs": [],
    "comorbidity_weights": [1.0],
}


def bundle(**kw) -> EpisodeBundle:
    params = {"scope": "pathway", "stay_price": 13_000.0, "target_price": 20_000.0, **FLAT}
    return EpisodeBundle(EpisodeParams(**(params | kw)), ("a",))


def reconcile(c: EpisodeBundle, spending, hospital, month: int, commit: bool = True):
    n = len(spending)
    return c.reconcile_pathway(
        np.asarray(spending, np.float64),
        np.zeros(n, int),
        np.full(n, 50.0),
        np.ones(n),
        1.0,
        month,
        np.asarray(hospital),
        commit=commit,
    )


def test_a_hospitals_pathways_are_reconciled_together_with_the_limits_on_the_year():
    """One hospital, target 20,000 each, full downside, 20% limits. Pathways of 12,000 and
    26,000 net +2,000 (paid; each alone would be +4,000 capped at the 20% stop-gain = +4,000,
    and −6,000 capped at −4,000: 0 in all). With 70,000 more the year nets −66,000 on 60,000 of
    targets: the 12,000 stop-loss binds."""
    c = bundle(downside_share_by_year=[1.0])
    first = reconcile(c, [12_000.0, 26_000.0], [0, 0], month=3)
    assert first.sum() == pytest.approx(2_000.0)
    second = reconcile(c, [90_000.0], [0], month=4)
    # the year so far: targets 60,000, spending 128,000, stop-loss 12,000 → −12,000 in all
    assert first.sum() + second.sum() == pytest.approx(-12_000.0)


def test_each_month_pays_the_change_of_the_years_amount_and_a_probe_changes_nothing():
    """Payments month by month add up to the reconciliation of the year's pathways taken
    together, whatever their order; ``commit=False`` prices without adding; a new year
    starts from nothing."""
    rng = np.random.default_rng(3)
    spend = rng.lognormal(np.log(19_000.0), 0.4, size=60)
    hosp = rng.integers(0, 4, size=60)
    c = bundle(downside_share_by_year=[0.5], stop_gain=0.05, stop_loss=0.05)
    paid = np.zeros(4)
    for month, rows in enumerate(np.array_split(np.arange(60), 6)):
        probe = reconcile(c, spend[rows] + 1.0, hosp[rows], month, commit=False)
        again = reconcile(c, spend[rows] + 1.0, hosp[rows], month, commit=False)
        np.testing.assert_array_equal(probe, again)
        paid += np.bincount(hosp[rows], reconcile(c, spend[rows], hosp[rows], month), minlength=4)
    # the year in one go, from the rule: savings up to 5% of the targets, half of overruns
    # up to 5% of them
    target = np.bincount(hosp, np.full(60, 20_000.0), minlength=4)
    net = target - np.bincount(hosp, spend, minlength=4)
    expect = np.where(
        net > 0, np.minimum(net, 0.05 * target), -np.minimum(-0.5 * net, 0.05 * target)
    )
    np.testing.assert_allclose(paid, expect, rtol=1e-12, atol=1e-6)
    # the next year: nothing carried over
    nxt = reconcile(c, [19_000.0], [1], month=12)
    assert nxt.sum() == pytest.approx(min(1_000.0, 0.05 * 20_000.0))


def _base(spending, hospital, month, hospitals: int = 4) -> Base:
    n = len(spending)
    z = np.zeros(hospitals)
    return Base(
        revenue=z,
        members=z,
        risk=z,
        episodes=z,
        pathways=ClosedPathways(
            np.asarray(hospital, np.int64),
            np.asarray(spending, np.float64),
            np.zeros(n, np.int64),
            np.full(n, 50.0),
            np.ones(n),
            np.asarray(month, np.int64),
        ),
    )


def test_high_cost_cap_and_targets_from_the_base_months():
    """Base pathways (months 0-2) of 10,000, 20,000 and 30,000 at flat case mix: mean 20,000,
    sample standard deviation 10,000, so with high_cost_cap_sd = 1 a pathway counts up to
    30,000; targets with hospital_share 0 are 0.97 × 20,000 = 19,400 for every hospital. A
    pathway of 50,000 then counts as 30,000: with no limits it is repaid 10,600."""
    c = bundle(
        target_price=None,
        base_months=[0, 3],
        hospital_share=0.0,
        high_cost_cap_sd=1.0,
        downside_share_by_year=[1.0],
        stop_gain=10.0,
        stop_loss=10.0,
    )
    c.begin(_base([10_000.0, 20_000.0, 30_000.0, 99_999.0], [0, 1, 2, 3], [0, 1, 2, 3]))
    np.testing.assert_allclose(c.hospital_target, 19_400.0)
    assert c.cap_per_weight == pytest.approx(30_000.0)
    assert reconcile(c, [50_000.0], [0], month=5).sum() == pytest.approx(19_400.0 - 30_000.0)


def test_voluntary_hospitals_join_when_their_recent_pathways_would_have_paid_them():
    """Targets from months 0-2 (hospital_share 1/3, 3% discount); the choice by the pathways
    that closed in months 3-5, reconciled against the targets: hospital 0 spent below its
    target and joins, hospital 1 above and stays out (not reconciled, bears none of its
    pathways' spending), hospital 2 had no recent pathway and stays out. Quartiles rank the
    hospitals by base spending over every hospital's."""
    c = bundle(
        target_price=None,
        base_months=[0, 3],
        hospital_share=1 / 3,
        downside_share_by_year=[1.0],
        participation="expected_gain",
        decision_months=[3, 6],
    )
    base = [10_000.0, 20_000.0, 30_000.0]
    recent = [9_000.0, 30_000.0]
    c.begin(_base(base + recent, [0, 1, 2, 0, 1], [0, 1, 2, 3, 4], hospitals=3))
    every = 20_000.0
    target = 0.97 * (np.array(base) / 3 + 2 * every / 3)
    np.testing.assert_allclose(c.hospital_target, target)
    chosen = c.participation()
    assert chosen is not None
    np.testing.assert_array_equal(chosen.joined, [True, False, False])
    np.testing.assert_array_equal(chosen.quartile, [0, 1, 2])
    np.testing.assert_array_equal(c.pathway_cost_share(6), [1.0, 0.0, 0.0])
    adj = reconcile(c, [9_000.0, 9_000.0], [0, 1], month=6)
    assert adj[0] == pytest.approx(min(target[0] - 9_000.0, 0.2 * target[0]))
    assert adj[1] == 0.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('participation = "expected_gain"', "needs base_months"),
        ("decision_months = [0, 3]", "decision_months is for"),
        ("high_cost_cap_sd = 2.0", "needs base_months"),
        ("high_cost_cap_sd = -1.0", "greater than or equal to 0"),
        ('participation = "maybe"', "participation"),
    ],
)
def test_bad_voluntary_fields_are_refused_by_name(tmp_path: Path, fields: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\nmonths = 6\n[population]\npatients = 500\n[settings.hospital]\n'
        '[settings.snf]\n[pathway]\n[[arms]]\nname = "a"\ncontracts = [{ setting = '
        '"hospital", model = "episode_bundle", scope = "pathway", target_price = 20000.0, '
        f"{fields} }}]\n"
    )
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(path)
    assert "bad.toml" in str(err.value)


def test_the_monthly_table_reports_the_choice(tmp_path: Path):
    """A small CJR world made voluntary at month 12: the voluntary columns count every
    hospital with base pathways once in its quartile from the switch on, and the decliners
    among them are exactly the hospitals the contract left out; the mandatory arm reports
    nothing."""
    from sim.engine.model import HealthSystemModel
    from tests.paths import SCENARIOS

    world = (SCENARIOS / "worlds" / "medicare.toml").as_posix()
    episode = (
        'setting = "hospital", model = "episode_bundle", scope = "pathway", stay_price = '
        "13000.0, base_months = [0, 9], hospital_share = 0.3333333333333333, "
        "downside_share_by_year = [1.0], coinsurance = 0.0, deductible_applies = false"
    )
    choice = 'participation = "expected_gain", decision_months = [6, 12]'
    text = f"""
world = "{world}"
name = "voluntary"
months = 15
seed = 5
[population]
patients = 6000
[payers.medicare]
share = 1.0
deductible = 0.0
[settings.hospital.providers]
members_per_provider = 750
[settings.snf]
[settings.home_health]
[pathway]
[[arms]]
name = "mandatory"
contracts = [{{ model = "ffs" }}]
switches = [{{ month = 12, contracts = [{{ {episode} }}] }}]
[[arms]]
name = "voluntary"
contracts = [{{ model = "ffs" }}]
switches = [{{ month = 12, contracts = [{{ {episode}, {choice} }}] }}]
"""
    path = tmp_path / "voluntary.toml"
    path.write_text(text)
    sc = load_scenario(path)
    m = run(sc).monthly
    h = m[m.setting == "hospital"].set_index(["arm", "month"])
    q = [f"voluntary_decided_q{k}" for k in range(1, 5)]
    d = [f"voluntary_declined_q{k}" for k in range(1, 5)]
    assert (h.loc["mandatory"][q + d] == 0).all().all()
    assert (h.loc["voluntary"].loc[:11][q + d] == 0).all().all()
    model = HealthSystemModel(sc, "voluntary", rng=sc.seed, replicate=0)
    for _ in range(13):
        model.step()
    s = [x.name for x in model.world.settings].index("hospital")
    chosen = model.world.payers[0].contracts[s].participation()
    assert chosen is not None
    counted = chosen.quartile >= 0
    for month in (12, 13, 14):
        row = h.loc[("voluntary", month)]
        assert row[q].sum() == counted.sum() == 8
        assert row[d].sum() == (counted & ~chosen.joined).sum()
        for k in range(4):
            assert row[q[k]] == (chosen.quartile == k).sum() == 2


def test_decision_months_after_the_switch_are_refused(tmp_path: Path):
    """A hospital cannot choose by pathways that close after the contract came in: the
    scenario names the field and the switch's month."""
    from tests.paths import SCENARIOS

    world = (SCENARIOS / "worlds" / "medicare.toml").as_posix()
    episode = (
        'setting = "hospital", model = "episode_bundle", scope = "pathway", stay_price = '
        '13000.0, base_months = [0, 6], participation = "expected_gain", '
        "decision_months = [6, 12]"
    )
    path = tmp_path / "late.toml"
    path.write_text(
        f'world = "{world}"\nname = "late"\nmonths = 15\n[population]\npatients = 2000\n'
        "[settings.hospital]\n[settings.snf]\n[settings.home_health]\n[pathway]\n"
        '[[arms]]\nname = "a"\ncontracts = [{ model = "ffs" }]\n'
        f"switches = [{{ month = 9, contracts = [{{ {episode} }}] }}]\n"
    )
    with pytest.raises(
        ScenarioError, match=r"decision_months: \[6, 12\] must end by the switch"
    ) as err:
        load_scenario(path)
    assert "late.toml" in str(err.value)
