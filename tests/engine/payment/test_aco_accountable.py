"""ACOs as organisations accountable across settings (``aco``'s ``members_per_aco`` and
``accountable_for``): practices grouped into ACOs that are benchmarked and reconciled as one
and share what they are paid by their members; the members' spending in other settings joins
the ACO's; the price of a practice's own visit; benchmark years paid fee-for-service; and, in a
model run, the ACO's lever over where its members go after a hospital stay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import one_setting
from paths import ROOT

from sim.engine.features.pathway import Pathway
from sim.engine.model import HealthSystemModel
from sim.engine.payment import REGISTRY, Claims, Panel
from sim.engine.payment.prices import Position
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import load_scenario


def contract(**params):
    cls = REGISTRY["aco"]
    return cls(cls.Params.model_validate(params))


def panel(members, region=None) -> Panel:
    members = np.asarray(members, float)
    return Panel(
        members=members,
        risk_sum=members.copy(),
        rate_multiplier=1.0,
        region=None if region is None else np.asarray(region, np.int64),
    )


def claims(provider, fee, year=2013, month_of_year=1) -> Claims:
    provider = np.asarray(provider, np.int64)
    n = provider.size
    return Claims(
        provider=provider,
        fee_value=np.asarray(fee, float),
        units=np.ones(n, np.int64),
        visits=np.ones(n, np.int64),
        new_episode=np.ones(n, bool),
        condition=np.zeros(n, np.int64),
        function_at_start=np.full(n, 50.0),
        risk=np.ones(n),
        rate_multiplier=1.0,
        year=year,
        month_of_year=month_of_year,
    )


def position(provider, fee, year) -> Position:
    provider = np.asarray(provider, np.int64)
    n = provider.size
    z = np.zeros(n, np.int64)
    return Position(
        provider=provider,
        patient=np.arange(n, dtype=np.int64),
        fee_per_unit=np.full(n, float(fee)),
        condition=z,
        function=np.full(n, 60.0),
        risk=np.ones(n),
        rate_multiplier=1.0,
        marginal_cost=20.0,
        units_per_visit=1.0,
        period_units=z,
        episode_units=z,
        months_left=np.ones(n, np.int64),
        episode_month=z,
        period_value=np.zeros(n),
        new_episode=np.ones(n, bool),
        readmission=np.zeros(n, bool),
        year=year,
    )


# ---------------------------------------------------------------------------------------------
# organisations


def test_practices_form_acos_of_about_the_size_asked_within_regions():
    """Region 0: six practices of 2,000 members (12,000 / 5,000 → 2 ACOs of three); region 1:
    two practices (4,000 / 5,000 rounds to 1, and never fewer than one). Without a size,
    each practice is an ACO of its own."""
    c = contract(benchmark_pmpm=10.0, members_per_aco=5000)
    c.settle(claims([0], [0.0]), panel([2000] * 8, region=[0] * 6 + [1] * 2))
    assert c.group is not None
    np.testing.assert_array_equal(c.group, [0, 0, 0, 1, 1, 1, 2, 2])
    solo = contract(benchmark_pmpm=10.0)
    solo.settle(claims([0], [0.0]), panel([2000] * 3))
    np.testing.assert_array_equal(solo.group, [0, 1, 2])


def test_an_aco_of_practices_is_reconciled_as_one_and_shares_by_members():
    """One ACO of two practices, 10 and 30 members (risk 1 each), benchmark $10 per
    risk-month: $100 and $300 a month. Practice 0 spends its benchmark, practice 1 $240: the
    ACO saves $60 a month, $720 of $4,800 (15% ≥ the 2% MSR), and is paid half, $360 (under
    the 10% cap of $480), shared by member-months: $90 and $270. Alone, practice 0 would
    have earned nothing."""
    c = contract(benchmark_pmpm=10.0, members_per_aco=1000, interim_accrual=False)
    p = panel([10, 30])
    lumps = []
    for month in range(1, 13):
        st = c.settle(claims([0, 1], [100.0, 240.0], month_of_year=month), p)
        lumps.append(st.lump)
    assert all(not lump.any() for lump in lumps[:11])
    np.testing.assert_allclose(lumps[11], [90.0, 270.0])


def test_interim_accrual_of_an_aco_of_practices_trues_up_to_its_share():
    """The same ACO with the savings accrued month by month: each practice's lumps and claim
    adjustments over the year add up to its share of the rule's payment."""
    c = contract(benchmark_pmpm=10.0, members_per_aco=1000)
    p = panel([10, 30])
    total = np.zeros(2)
    for month in range(1, 13):
        st = c.settle(claims([0, 1], [100.0, 240.0], month_of_year=month), p)
        assert st.adjustment is not None
        total += st.lump + np.bincount([0, 1], st.adjustment, minlength=2)
    np.testing.assert_allclose(total, [90.0, 270.0])


def test_a_practices_own_visit_costs_it_its_share_of_what_the_aco_loses():
    """In a performance year a unit earns the fee less the sharing rate × the practice's
    share of its ACO's members: $40 × (1 − 0.5 × 1/4) = $35 and $40 × (1 − 0.5 × 3/4) = $25;
    an ACO of one: $20. In a benchmark year (paid fee-for-service) the fee, $40."""
    c = contract(first_performance_year=2013, benchmark_years=1, members_per_aco=1000)
    p = panel([10, 30])
    for month in range(1, 13):
        c.settle(claims([0, 1], [100.0, 300.0], year=2012, month_of_year=month), p)
    np.testing.assert_allclose(c.prices(position([0, 1], 40.0, 2012), 1).unit_price(), 40.0)
    c.settle(claims([0, 1], [100.0, 300.0], year=2013), p)
    np.testing.assert_allclose(
        c.prices(position([0, 1], 40.0, 2013), 1).unit_price()[:, 0], [35, 25]
    )
    solo = contract(benchmark_pmpm=10.0)
    solo.settle(claims([0], [100.0]), panel([10]))
    np.testing.assert_allclose(solo.prices(position([0], 40.0, 2013), 1).unit_price(), 20.0)


# ---------------------------------------------------------------------------------------------
# accountable across settings


def test_the_members_spending_elsewhere_joins_the_acos_and_december_waits_for_it():
    """Benchmark $100 a month (10 members at $10); $50 a month of the ACO's own claims and $35
    of its members' hospital claims: $1,020 against $1,200 saves 15%, half of $180 is $90.
    December's own settlement pays nothing; the accountable settlement reconciles. Counting
    its own claims alone, the ACO would have been paid the 10% cap, $120."""
    c = contract(benchmark_pmpm=10.0, interim_accrual=False, accountable_for=["hospital"])
    assert c.accountable_settings() == ("hospital",)
    p = panel([10])
    for month in range(1, 13):
        st = c.settle(claims([0], [50.0], month_of_year=month), p)
        assert not st.lump.any()
        lump = c.settle_accountable(np.array([35.0]), 2013, month)
        assert lump is not None
        if month < 12:
            assert not lump.any()
    np.testing.assert_allclose(lump, [90.0])
    alone = contract(benchmark_pmpm=10.0, interim_accrual=False)
    for month in range(1, 13):
        st = alone.settle(claims([0], [50.0], month_of_year=month), p)
    np.testing.assert_allclose(st.lump, [120.0])


def test_accrued_across_settings_the_year_adds_up_to_the_rule():
    """The same year with interim accrual: own lumps, claim adjustments and accountable
    lumps add up to $90."""
    c = contract(benchmark_pmpm=10.0, accountable_for=["hospital"])
    p = panel([10])
    total = 0.0
    for month in range(1, 13):
        st = c.settle(claims([0], [50.0], month_of_year=month), p)
        assert st.adjustment is not None
        total += float(st.lump.sum() + st.adjustment.sum())
        total += float(c.settle_accountable(np.array([35.0]), 2013, month).sum())
    assert total == pytest.approx(90.0)


def test_the_benchmark_counts_the_members_spending_elsewhere():
    """In 2012 (the benchmark year) $50 of own and $50 of hospital claims a month for 10
    risk-months: the benchmark is $10 per risk-month, not $5; nothing is paid that year, and
    nothing weighs on the physicians until 2013."""
    c = contract(first_performance_year=2013, benchmark_years=1, accountable_for=["hospital"])
    p = panel([10])
    for month in range(1, 13):
        st = c.settle(claims([0], [50.0], year=2012, month_of_year=month), p)
        assert not st.lump.any() and st.adjustment is None
        assert c.settle_accountable(np.array([50.0]), 2012, month) is None
    assert c.accountable_share(2012) == 0.0
    c.settle(claims([0], [50.0], year=2013), p)
    np.testing.assert_allclose(c.benchmark_rate, [10.0])
    assert c.accountable_share(2013) == 0.5
    assert contract(first_performance_year=2013).accountable_share(2013) == 0.0


@pytest.mark.parametrize(
    ("accountable", "message"),
    [
        (["hospital"], "unknown setting 'hospital'"),
        (["{own}"], "besides the contract's own"),
        (["{own}", "{own}"], "named twice"),
    ],
)
def test_a_scenario_names_settings_the_aco_can_be_accountable_for(accountable, message):
    sc = one_setting()
    own = next(iter(sc.settings))
    names = [a.replace("{own}", own) for a in accountable]
    arm = {
        "name": "aco",
        "contracts": [{"model": "aco", "setting": own, "benchmark_pmpm": 10.0,
                       "accountable_for": names}],
    }  # fmt: skip
    with pytest.raises(ScenarioError, match=message):
        one_setting(arms=[arm])


# ---------------------------------------------------------------------------------------------
# in a model run

MSSP = ROOT / "validation" / "scenarios" / "mssp_aco.toml"


def _mssp(patients: int = 8000):
    """The MSSP replay, shortened: benchmark years 2011-2012, the first performance year 2013."""
    return load_scenario(
        MSSP, [f"population.patients={patients}", "start=2011-01-01", "months=36", "replications=1"]
    )


@pytest.fixture(scope="module")
def mssp_run():
    sc = _mssp()
    return run(sc, seed=sc.seed)


def test_before_the_first_performance_year_an_aco_changes_nothing(mssp_run):
    """Benchmark years are paid fee-for-service and weigh on no one: with common random
    numbers the two arms' months are the same to the bit; the money balances every month."""
    df = mssp_run.monthly
    before = df[df["month"] < 24].drop(columns=["arm", "payment_model", "policy_period"])
    a = before[mssp_run.monthly.loc[before.index, "arm"] == "aco"].reset_index(drop=True)
    f = before[mssp_run.monthly.loc[before.index, "arm"] == "ffs"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, f)
    for led in mssp_run.ledgers:
        assert led["providers_received"] == pytest.approx(
            led["payer_paid"] + led["patients_paid"], rel=1e-12
        )


def test_the_acos_lever_is_where_its_members_go_after_a_stay(mssp_run):
    """In the performance year the ACO's physicians weigh half of a pathway's spending:
    fewer discharges to skilled nursing than under fee-for-service, the ACO's payment booked
    as a reconciliation on primary care's rows (and nowhere else)."""
    df = mssp_run.monthly
    year = df[df["month"] >= 24]
    hosp = (
        year[year["setting"] == "hospital"]
        .groupby("arm")[["discharges", "discharges_institutional"]]
        .sum()
    )
    share = hosp["discharges_institutional"] / hosp["discharges"]
    assert share["aco"] < share["ffs"]
    aco = year[year["arm"] == "aco"]
    assert aco.loc[aco["setting"] == "primary_care", "reconciliation"].abs().sum() > 0
    assert (aco.loc[aco["setting"] != "primary_care", "reconciliation"] == 0).all()


def test_the_physicians_weigh_the_acos_share_from_the_first_performance_year():
    """The pathway's physicians' perceived share is none before 2013 and moves toward the
    sharing rate after; a setting whose contract is accountable for only part of the pathway
    gives its physicians nothing to weigh."""
    m = HealthSystemModel(_mssp(3000), "aco")
    pw = m.feature(Pathway)
    pc = [st.name for st in m.world.settings].index("primary_care")
    for _ in range(24):
        m.step()
    assert pw.physicians == {}
    for _ in range(3):
        m.step()
    share = pw.physicians[pc]
    assert (share > 0).all() and (share <= 0.5).all()
    # the year's spending so far is every setting's allowed amounts (no lump or
    # reconciliation is paid before December without interim accrual)
    rows = pd.DataFrame(m.rows)
    year = rows[rows["month"] >= 24]
    aco = m.world.payers[0].contracts[pc]
    assert aco.spending.sum() == pytest.approx(year["provider_revenue"].sum(), rel=1e-12)
    assert year.loc[year["setting"] != "primary_care", "provider_revenue"].sum() > 0
    partial = _mssp(3000).model_copy(deep=True)
    arm = next(a for a in partial.arms if a.name == "aco")
    contract_cfg = next(c for c in arm.contracts if c.model == "aco")
    contract_cfg.params.accountable_for.remove("snf")
    m = HealthSystemModel(partial, "aco")
    for _ in range(27):
        m.step()
    assert m.feature(Pathway).physicians == {}
