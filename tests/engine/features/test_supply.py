"""The supply side (``[supply]``; sim/engine/features/: participation, capacity, market):
participation per payer, capacity and congestion, entry and exit. Off equals absent; each
mechanism's direction in an unambiguous case or against its closed form; money and patients
conserved through exits and reassignments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import default_world, one_setting

from sim.engine.features.capacity import Capacity, served_share, wait_months
from sim.engine.features.market import Market
from sim.engine.features.participation import Participation, acceptance_shares
from sim.engine.model import HealthSystemModel
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import validate_scenario

PARTICIPATION = [c for c in Participation.COLUMNS]
CAPACITY = [c for c in Capacity.COLUMNS]
MARKET = [c for c in Market.COLUMNS]
FROZEN = 1e-9  # a capacity adjustment too slow to matter within a test


def _same(a: pd.DataFrame, b: pd.DataFrame, ignore: list[str]) -> None:
    keep = [c for c in a.columns if c not in ignore]
    pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)


def two_payers(rate_b: float, **over) -> dict:
    """One visit-billed setting, two payers sharing every provider (no cost sharing); payer
    ``cheap`` pays ``rate_b`` × the fee schedule."""
    return {
        "payers": {
            "medicare": {"share": 0.5, "deductible": 0.0},
            "cheap": {"share": 0.5, "deductible": 0.0, "rate_multiplier": rate_b},
        },
        "arms": [{"name": "ffs", "contracts": [{"model": "ffs", "coinsurance": 0.0}]}],
        **over,
    }


# ---------------------------------------------------------------------------------------------
# off equals absent


def test_supply_switched_off_equals_absent():
    """A [supply] table with every mechanism off gives the same tables as no table."""
    off = {k: {"enabled": False} for k in ("participation", "capacity", "market")}
    a = run(default_world(months=4))
    b = run(default_world(months=4, supply={**off, "settings": ["primary_care"]}))
    pd.testing.assert_frame_equal(a.monthly, b.monthly, check_exact=True)
    pd.testing.assert_frame_equal(a.providers, b.providers, check_exact=True)
    assert a.ledgers == b.ledgers
    for c in PARTICIPATION + CAPACITY + MARKET:
        assert (a.monthly[c] == 0).all(), c


def test_participation_that_accepts_everyone_changes_nothing_else():
    """Participation on with a threshold no episode falls below: everyone is accepted and
    every other column is as without it."""
    a = run(default_world(months=6))
    sc = default_world(months=6, supply={"participation": {"enabled": True, "threshold": 1e9}})
    b = run(sc)
    _same(a.monthly, b.monthly, PARTICIPATION)
    m = b.monthly
    assert m["new_patients_screened"].sum() > 0
    screened = m["new_patients_screened"] > 0
    assert (m.loc[screened, "acceptance_rate"] == 1.0).all()
    assert m["patients_without_provider"].sum() == 0


def test_capacity_that_never_binds_changes_nothing_else():
    """Capacity far above demand: no unit is rationed, nobody waits, every other column is as
    without it."""
    a = run(default_world(months=6))
    sc = default_world(
        months=6, supply={"capacity": {"enabled": True, "initial": 100.0, "slack": 10.0}}
    )
    b = run(sc)
    _same(a.monthly, b.monthly, CAPACITY)
    m = b.monthly
    assert (m["unmet_units"] == 0).all() and (m["wait_months"] == 0).all()
    assert (m["demand_units"] == m["service_units"]).all()
    assert (m["capacity_units"] > 0).any()


def test_a_market_nobody_leaves_or_enters_changes_nothing_else():
    """Entry and exit on with thresholds no margin reaches: the providers in the market, and
    every column but the market's, are as without it (potential entrants wait unused)."""
    beh = {"imitation_probability": 0.0}  # peers are drawn among all providers, entrants too
    a = run(default_world(months=6, behaviour=beh))
    market = {"enabled": True, "exit_margin": -10.0, "entry_margin": 10.0}
    b = run(default_world(months=6, behaviour=beh, supply={"market": market}))
    _same(a.monthly, b.monthly, MARKET)
    m = b.monthly
    assert m[[c for c in MARKET if "entries" in c or "exits" in c]].to_numpy().sum() == 0
    first = m[m["payer"] == m["payer"].iloc[0]].set_index(["arm", "month", "setting"])
    active = first["providers_active_for_profit"] + first["providers_active_nonprofit"]
    in_market = a.providers.groupby(["arm", "month", "setting"]).size()
    pd.testing.assert_series_equal(active, in_market.reindex(active.index), check_names=False)
    pa = a.providers
    pb = b.providers.merge(pa[["arm", "month", "setting", "provider"]])
    pd.testing.assert_frame_equal(
        pa.reset_index(drop=True), pb[pa.columns].reset_index(drop=True), check_exact=True
    )


# ---------------------------------------------------------------------------------------------
# participation


def test_acceptance_shares_closed_form():
    """A payer worth less than −threshold gets none; with a short capacity the cut falls on
    the payer worth least first, payers worth the same alike, unknown payers last."""
    value = np.array([[10.0, -5.0], [10.0, 5.0], [10.0, 5.0], [3.0, 3.0], [1.0, 2.0]])
    known = np.array([[1, 1], [1, 1], [1, 1], [1, 1], [1, 0]], bool)
    new = np.array([[30.0, 10.0], [30.0, 10.0], [30.0, 10.0], [20.0, 20.0], [10.0, 10.0]])
    excess = np.array([0.0, 0.25, 0.5, 0.5, 0.25])
    got = acceptance_shares(value, known, 0.0, new, excess)
    want = np.array([[1, 0], [1, 0], [2 / 3, 0], [0.5, 0.5], [0.5, 1]])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # within the threshold a loss is accepted
    np.testing.assert_array_equal(
        acceptance_shares(value[:1], known[:1], 5.0, new[:1], excess[:1]), [[1, 1]]
    )


def test_a_payer_paying_below_marginal_cost_loses_access():
    """Two payers share every provider; one pays 30% of the fee schedule, below the marginal
    cost of a visit. Once providers have seen what its episodes earn (a loss), they stop
    taking its new patients; the other payer's keep full access."""
    sc = one_setting(
        months=8,
        behaviour={"mode": "fixed"},
        settings={"clinic": {"providers": {"altruism": {"low": 0.0, "high": 0.05}}}},
        supply={"participation": {"enabled": True}},
        **two_payers(0.3),
    )
    m = run(sc).monthly
    late = m[m["month"] >= 3].set_index(["month", "payer"])
    assert (late.xs("medicare", level="payer")["acceptance_rate"] == 1.0).all()
    assert (late.xs("cheap", level="payer")["acceptance_rate"] == 0.0).all()
    # nobody in the region takes them: they go without care
    cheap = late.xs("cheap", level="payer")
    assert (cheap["patients_without_provider"] == cheap["new_patients_screened"]).all()
    assert (cheap["episodes_declined"] == cheap["patients_without_provider"]).all()
    early = m[(m["month"] == 0) & (m["payer"] == "cheap")]
    assert early["acceptance_rate"].item() == 1.0  # nothing learnt yet


def test_a_short_capacity_cuts_the_payer_worth_less_first():
    """Both payers pay above marginal cost, one less than the other; with capacity frozen
    short of demand, providers cut new patients of the payer paying less and take every new
    patient of the other."""
    sc = one_setting(
        months=8,
        behaviour={"mode": "fixed"},
        supply={
            "participation": {"enabled": True},
            "capacity": {"enabled": True, "initial": 0.7, "adjustment": FROZEN, "warmup_months": 0},
        },
        **two_payers(0.8),
    )
    m = run(sc).monthly
    late = m[m["month"] >= 3].set_index(["month", "payer"])
    assert (late.xs("medicare", level="payer")["acceptance_rate"] == 1.0).all()
    assert (late.xs("cheap", level="payer")["acceptance_rate"] < 0.8).all()


def test_a_turned_away_patient_finds_another_provider_of_its_region():
    """Where some providers of a region stop taking a payer and others do not, patients turned
    away move to a provider that takes them (their new provider's panel)."""
    sc = one_setting(
        months=6,
        behaviour={"mode": "fixed"},
        settings={
            "clinic": {
                "providers": {
                    "count": 10,
                    "altruism": {"low": 0.0, "high": 0.3, "a": 1.0, "b": 1.0},
                }
            }
        },
        supply={"participation": {"enabled": True, "search": 3}},
        **two_payers(0.3),
    )
    m = HealthSystemModel(sc, "ffs")
    moved = 0
    for _ in range(6):
        before = m.population.provider[0].copy()
        m.step()
        f = m.feature(Participation)
        accept = f.accept[0]
        changed = np.flatnonzero(m.population.provider[0] != before)
        moved += changed.size
    assert moved > 0
    rows = pd.DataFrame(m.rows)
    assert rows["patients_redirected"].sum() == moved
    # some providers refuse the cheap payer and some take it (altruism differs)
    assert 0 < accept[:, 1].sum() < accept.shape[0]


# ---------------------------------------------------------------------------------------------
# capacity and congestion


def test_served_share_and_wait_closed_form():
    """Proportional rationing gives every patient capacity/demand; by payer value the payer
    worth most is served first; a share r waits (1 − r)/r months."""
    demand = np.array([[6.0, 4.0], [6.0, 4.0], [2.0, 2.0]])
    capacity = np.array([5.0, 8.0, 10.0])
    np.testing.assert_allclose(
        served_share(demand, capacity, None), [[0.5, 0.5], [0.8, 0.8], [1, 1]]
    )
    value = np.array([[2.0, 1.0], [1.0, 2.0], [1.0, 1.0]])
    np.testing.assert_allclose(
        served_share(demand, capacity, value), [[5 / 6, 0], [2 / 3, 1], [1, 1]]
    )
    equal = np.array([[1.0, 1.0]] * 3)
    np.testing.assert_allclose(
        served_share(demand, capacity, equal), served_share(demand, capacity, None)
    )
    np.testing.assert_allclose(wait_months(np.array([1.0, 0.5, 0.25, 0.0]), 12.0), [0, 1, 3, 12])


def test_a_provider_at_capacity_has_a_wait():
    """Capacity at half the first month's demand (and frozen): every patient in care gets
    half its planned units and waits a month; the rest is unmet demand; the next month fewer
    elective patients seek care, by the wait elasticity."""
    sc = one_setting(
        months=3,
        settings={"clinic": {"elective_share": 1.0}},
        supply={
            "capacity": {
                "enabled": True,
                "initial": 0.5,
                "adjustment": FROZEN,
                "warmup_months": 0,
                "priority": "proportional",
            }
        },
        arms=[{"name": "ffs", "contracts": [{"model": "ffs"}]}],
    )
    m = run(sc).monthly
    first = m[m["month"] == 0].iloc[0]
    assert first["unmet_units"] / first["demand_units"] == pytest.approx(0.5, abs=0.02)
    assert (m["service_units"] == m["demand_units"] - m["unmet_units"]).all()
    assert 0.95 < first["wait_months"] <= 1.0
    assert first["episodes_forgone_wait"] == 0
    second = m[m["month"] == 1].iloc[0]
    assert second["episodes_forgone_wait"] > 0
    # about 1 − 2^−0.2 ≈ 13% of those who would seek care forgo it
    share = second["episodes_forgone_wait"] / (second["episodes"] + second["episodes_forgone_wait"])
    assert share == pytest.approx(1 - 2**-0.2, abs=0.04)


def test_capacity_catches_up_with_demand_when_margins_allow():
    """From half the demand, capacity moving half the gap a month ends the waits."""
    sc = one_setting(
        months=10,
        behaviour={"mode": "fixed"},
        supply={
            "capacity": {"enabled": True, "initial": 0.5, "adjustment": 0.5, "warmup_months": 0}
        },
        arms=[{"name": "ffs", "contracts": [{"model": "ffs"}]}],
    )
    m = run(sc).monthly.set_index("month")
    assert m.loc[0, "wait_months"] > 0.5
    assert (
        m.loc[9, "wait_months"] < 0.05 and m.loc[9, "unmet_units"] < 0.01 * m.loc[9, "demand_units"]
    )


def test_rationing_by_payer_value_makes_the_lower_paying_payer_wait():
    """With payer_value priority, the patients of the payer paying less per unit wait and the
    other payer's do not."""
    sc = one_setting(
        months=2,
        behaviour={"mode": "fixed"},
        supply={
            "capacity": {"enabled": True, "initial": 0.8, "adjustment": FROZEN, "warmup_months": 0}
        },
        **two_payers(0.8),
    )
    m = run(sc).monthly
    first = m[m["month"] == 0].set_index("payer")
    assert first.loc["medicare", "wait_months"] == 0 and first.loc["medicare", "unmet_units"] == 0
    assert first.loc["cheap", "wait_months"] > 0 and first.loc["cheap", "unmet_units"] > 0


# ---------------------------------------------------------------------------------------------
# entry and exit


def _market_world(fixed_cost: float, **market) -> dict:
    return {
        "population": {
            "patients": 6_000,
            "regions": {"north": {"share": 0.5}, "south": {"share": 0.5}},
        },
        "settings": {
            "clinic": {"providers": {"count": 8, "for_profit_share": 0.5, "fixed_cost": fixed_cost}}
        },
        "supply": {"market": {"enabled": True, **market}},
        "arms": [{"name": "ffs", "contracts": [{"model": "ffs"}]}],
    }


def _check_patients(m: HealthSystemModel) -> None:
    """Every patient belongs to a provider in the market, of its own region; panels count
    everyone."""
    pop = m.population
    for s, providers in enumerate(m.world.providers):
        prov = pop.provider[s].astype(np.int64)
        assert providers.active[prov].all()
        np.testing.assert_array_equal(providers.region[prov], pop.region)
        assert sum(pn.members.sum() for pn in providers.panels) == pop.n
        # panels updated by the movers alone count what a fresh count does
        for pn, fresh in zip(providers.panels, m.world.build_panels(s), strict=True):
            np.testing.assert_array_equal(pn.members, fresh.members)
            np.testing.assert_allclose(pn.risk_sum, fresh.risk_sum, rtol=1e-9, atol=1e-9)
        for r, members in enumerate(providers.by_region):
            np.testing.assert_array_equal(
                members, np.flatnonzero(providers.active & (providers.region == r))
            )


def test_a_provider_losing_money_long_enough_exits():
    """Every provider loses money (a fixed cost far above revenue). For-profit providers exit
    after ceil(exit_months / for_profit_speed) months below the exit margin, non-profits after
    exit_months; at most one a region a month, never the last; their members move to the
    providers left."""
    sc = one_setting(**_market_world(1e6, exit_months=4, for_profit_speed=2.0))
    m = HealthSystemModel(sc, "ffs")
    fp = m.world.providers[0].for_profit[m.world.providers[0].active]
    assert fp.any() and (~fp).any()
    for _ in range(12):
        m.step()
        _check_patients(m)
    rows = pd.DataFrame(m.rows)
    first = rows[rows["payer"] == rows["payer"].iloc[0]].set_index("month")
    fp_exits = first["provider_exits_for_profit"]
    np_exits = first["provider_exits_nonprofit"]
    assert fp_exits.loc[:1].sum() == 0 and fp_exits.loc[2] >= 1  # ceil(4 / 2) months
    assert np_exits.loc[:3].sum() == 0 and np_exits.sum() >= 1
    assert ((fp_exits + np_exits) <= 2).all()  # two regions
    active = first["providers_active_for_profit"] + first["providers_active_nonprofit"]
    assert active.iloc[-1] == 2  # the last of each region stays
    assert rows["members_moved_by_exit"].sum() > 0


def test_providers_making_money_do_not_exit():
    """With margins above the exit threshold nobody leaves."""
    sc = one_setting(**_market_world(1000.0, exit_months=2, entry_margin=10.0))
    rows = run(sc).monthly
    assert rows[["provider_exits_for_profit", "provider_exits_nonprofit"]].to_numpy().sum() == 0


def test_entrants_come_where_margins_stay_high():
    """Without fixed costs every region's margin stays high: a for-profit entrant comes after
    ceil(entry_months / for_profit_speed) months, a non-profit after entry_months; an entrant
    starts with the region's mean style and takes members."""
    sc = one_setting(
        **_market_world(0.0, entry_months=4, for_profit_speed=2.0, reserve=2.0, exit_margin=-10.0)
    )
    m = HealthSystemModel(sc, "ffs")
    providers = m.world.providers[0]
    waiting = ~providers.active
    assert (providers.for_profit & waiting).any() and (~providers.for_profit & waiting).any()
    for _ in range(6):
        m.step()
        _check_patients(m)
    rows = pd.DataFrame(m.rows).set_index("month")
    assert rows["provider_entries_for_profit"].loc[:1].sum() == 0
    assert rows["provider_entries_for_profit"].loc[2] >= 1
    assert rows["provider_entries_nonprofit"].loc[:3].sum() == 0
    assert rows["provider_entries_nonprofit"].loc[4] >= 1
    entered = np.flatnonzero(waiting & providers.active)
    members = np.bincount(m.population.provider[0], minlength=providers.n)
    assert (members[entered] > 0).all()


# ---------------------------------------------------------------------------------------------
# conservation


@pytest.mark.parametrize("arm", ["ffs", "capitation"])
def test_money_and_patients_are_conserved_through_exits_and_reassignments(arm):
    """With every supply mechanism on, panel churn, two regions and two payers: what payers
    pay plus what patients pay is what providers receive, row by row and in the ledgers;
    every patient stays with a provider in the market of its region."""
    sc = default_world(
        months=10,
        population={
            "patients": 6_000,
            "regions": {"north": {"share": 0.6}, "south": {"share": 0.4}},
        },
        settings={
            "primary_care": {"providers": {"count": 8, "churn": 0.02}},
            "outpatient_therapy": {"providers": {"count": 8, "fixed_cost": 30_000.0}},
        },
        supply={
            "participation": {"enabled": True},
            "capacity": {"enabled": True, "initial": 0.8, "warmup_months": 2},
            "market": {"enabled": True, "exit_months": 2, "entry_months": 2, "entry_margin": 0.0},
        },
    )
    m = HealthSystemModel(sc, arm)
    for _ in range(sc.months):
        m.step()
        _check_patients(m)
    rows = pd.DataFrame(m.rows)
    np.testing.assert_allclose(
        rows["payer_payments"] + rows["oop"], rows["provider_revenue"], rtol=1e-12
    )
    book = m.world.ledgers
    received = sum(float(x.sum()) for x in book.provider)
    assert received == pytest.approx(float(book.payer.sum() + book.oop.sum()), rel=1e-12)
    assert (rows.groupby("payer")["members"].nunique() == 1).all()
    exits = rows[["provider_exits_for_profit", "provider_exits_nonprofit"]].to_numpy().sum()
    assert exits > 0 and rows["members_moved_by_exit"].sum() > 0


# ---------------------------------------------------------------------------------------------
# bad input


def test_supply_input_errors_name_the_field():
    """Unknown settings and values out of range are refused, naming the field."""
    base = default_world().model_dump(mode="json")
    with pytest.raises(ScenarioError, match=r"supply.settings.0: unknown setting 'icu'"):
        validate_scenario({**base, "supply": {"settings": ["icu"]}})
    with pytest.raises(ScenarioError, match=r"supply.capacity.priority"):
        validate_scenario({**base, "supply": {"capacity": {"priority": "fifo"}}})
    with pytest.raises(ScenarioError, match=r"supply.market.exit_months"):
        validate_scenario({**base, "supply": {"market": {"exit_months": 0}}})
    assert math.isfinite(validate_scenario(base).supply.capacity.wait_elasticity)
