"""The life course (sim/engine/month/lifecourse.py, sim/engine/lifetable.py): the life table as
published, simulated survival against it, the flow of members, deaths ending care and
payment, entrants, and age-band and sex subgroups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import one_setting

from sim.engine import lifetable
from sim.engine.model import HealthSystemModel
from sim.errors import ScenarioError
from sim.experiments.run import run
from sim.scenario import load_scenario, validate_scenario

#: a life course without any effect of care or of risk and function on the hazard
PLAIN_LIFE = {"risk_elasticity": 0.0, "function_slope": 0.0, "entries": "none"}


def test_the_table_is_the_published_one():
    """q at 65 is the SSA table's (men 0.017897, women 0.011018), q rises with age to 1 at
    119, and the period life expectancy at 65 it gives is the table's published one (2022
    table: 17.48 years for men, 20.12 for women)."""
    assert lifetable.Q_MALE[0] == 0.017897 and lifetable.Q_FEMALE[0] == 0.011018
    for q in (lifetable.Q_MALE, lifetable.Q_FEMALE):
        assert q.size == 55 and np.all(np.diff(q) > 0) and q[-1] == 1.0
    assert round(lifetable.life_expectancy(65, False), 2) == 17.48
    assert round(lifetable.life_expectancy(65, True), 2) == 20.12


def test_a_months_probability_compounds_to_the_years():
    """Twelve months at the monthly probability are the year's."""
    q = np.array([0.0, 0.02, 0.3, 1.0])
    h = lifetable.monthly_death_probability(q)
    np.testing.assert_allclose(1.0 - (1.0 - h) ** 12, q, rtol=1e-12)


def test_the_starting_ages_have_the_stated_bands():
    """The starting cells put the stated shares in 65-74, 75-84 and 85+, women's share
    rising with age as the table's survivors do."""
    cells = lifetable.starting_cells([0.6, 0.3, 0.1], 0.52)
    band = np.searchsorted(np.asarray(lifetable.BAND_EDGES), lifetable.AGES, side="right")
    np.testing.assert_allclose([cells[:, band == b].sum() for b in range(3)], [0.6, 0.3, 0.1])
    women = [cells[1, band == b].sum() / cells[:, band == b].sum() for b in range(3)]
    assert women[0] > 0.52 and women[0] < women[1] < women[2]


def _life_world(patients: int, months: int, **life) -> HealthSystemModel:
    sc = one_setting(population={"patients": patients}, months=months, life={**PLAIN_LIFE, **life})
    return HealthSystemModel(sc, "ffs")


def test_simulated_survival_matches_the_life_table():
    """With no effect of care, risk or function on the hazard, deaths over a year by sex and
    five-year band of starting age match the life table's expectation within 4 standard
    deviations in every cell (binomial sampling error; 200,000 members, 12 cells with at
    least 100 expected deaths each), and the whole population's within 3."""
    months = 12
    model = _life_world(200_000, months)
    life = model.world.life
    died = np.zeros(model.population.n, np.bool_)
    for _ in range(months):
        model.step()
        died[life.dying] = True
    age0 = life.age0.astype(np.int64)
    # each member's probability of dying within the year: the table's months at its ages
    h = lifetable.monthly_death_probability(np.stack([lifetable.Q_MALE, lifetable.Q_FEMALE]))
    alive = np.ones(age0.size)
    for m in range(months):
        i = np.clip((age0 + m) // 12 - 65, 0, 54)
        alive *= 1.0 - h[life.female.astype(np.int64), i]
    p = 1.0 - alive
    band = np.minimum((age0 // 12 - 65) // 5, 5)  # 65-69, ..., 85-89, 90+
    checked = 0
    for female in (False, True):
        for b in range(6):
            cell = life.cohort & (life.female == female) & (band == b)
            expected = p[cell].sum()
            if expected < 100:
                continue
            z = (died[cell].sum() - expected) / np.sqrt((p[cell] * (1 - p[cell])).sum())
            assert abs(z) < 4, (female, b, z)
            checked += 1
    assert checked >= 10
    z = (died.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 3
    # the annual death rate of a Medicare-like population: 4-5%
    assert 0.04 < died.mean() < 0.05


def test_the_dead_get_no_care_and_capitation_stops_paying_for_them():
    """After a member dies: no new need, no care, no claim; the panels (what a PMPM pays)
    count members only, so the month's capitation is the PMPM times the members' risk."""
    sc = one_setting(
        population={"patients": 6_000},
        months=24,
        life={"entries": "rate", "entry_rate": 0.2},
    )
    model = HealthSystemModel(sc, "capitation")
    life = model.world.life
    dead_since: dict[int, int] = {}
    for m in range(sc.months):
        model.step()
        care = model.world.month[0]
        treated = care.patients[care.service_units > 0]
        assert not any(p in dead_since for p in treated.tolist()), m
        assert life.enrolled[care.patients].all()
        panel = model.world.providers[0].panels[0]
        members = life.enrolled & (model.population.payer == 0)
        assert panel.members.sum() == members.sum() == model.world.payer_members[0]
        np.testing.assert_allclose(
            panel.risk_sum.sum(), model.population.risk[members].sum(dtype=np.float64), rtol=1e-6
        )
        lump = care.paid.lump_by_payer[0].sum()
        np.testing.assert_allclose(lump, 40.0 * panel.risk_sum.sum(), rtol=1e-9)
        dead_since |= {int(p): m for p in life.dying}
        # their open episodes ended with them
        assert (model.population.episode_left[0][life.dying] == 0).all()
    assert len(dead_since) > 100


def test_entrants_enter_at_65_when_due():
    """New beneficiaries join in their month, aged 65 (need factor set, function starting to
    decline then), and not before."""
    model = _life_world(5_000, 12, entries="rate", entry_rate=0.3)
    life = model.world.life
    later = life.entry_month >= 0
    assert later.sum() == pytest.approx(5_000 * 0.3, rel=0.05)
    f0 = model.population.function.copy()
    for m in range(12):
        model.step()
        due = life.entry_month == m
        assert life.enrolled[due & (life.status != 2)].all()
        waiting = life.entry_month > m
        assert not life.enrolled[waiting].any()
        np.testing.assert_array_equal(model.population.function[waiting], f0[waiting])
        assert ((life.age0[due] + m) == 65 * 12).all()
        assert (model.world.need_scale[waiting] == 0).all()


def test_replacement_holds_the_population_steady():
    """With entries = replacement the members stay within 2% of the start over five years
    (in expectation the entrants replace the table's deaths)."""
    model = _life_world(20_000, 60, entries="replacement")
    sizes = []
    for _ in range(60):
        model.step()
        sizes.append(model.world.payer_members.sum())
    assert max(abs(np.array(sizes) / 20_000 - 1)) < 0.02


def test_admissions_and_adverse_events_raise_deaths():
    """A case fatality of admissions adds deaths among the admitted, in the month of the
    admission: with it the admitted die at about the stated rate on top of the table's."""
    sc = one_setting(
        population={"patients": 20_000},
        months=6,
        life={**PLAIN_LIFE, "settings": {"clinic": {"admission_fatality": 0.2}}},
    )
    out = run(sc, arms=["ffs"])
    life = out.life
    rate = life["deaths_after_admission"].sum() / life["admissions"].sum()
    assert rate == pytest.approx(0.2 + 0.004, abs=0.02)
    assert life["deaths"].sum() > life["deaths_after_admission"].sum()


def test_the_flow_of_members_adds_up_every_month():
    """Per payer and month: members_start + entries − deaths = members_end (counted afresh
    from every patient's state), this month's start is last month's end, the monthly table's
    members are members_start + entries, and the starting cohort only shrinks."""
    sc = load_scenario(
        "scenarios/compare_payment_models.toml",
        ["population.patients=4000", "months=18", "replications=1", "outputs.figure=false"],
    )
    out = run(sc, arms=["ffs", "capitation"])
    _check_flow(out)


def _check_flow(out) -> None:
    life = out.life
    first = life["setting"].iloc[0]
    flow = life[life["setting"] == first].set_index(["arm", "replicate", "payer", "month"])
    assert (flow["members_start"] + flow["entries"] - flow["deaths"] == flow["members_end"]).all()
    assert (flow["members_start"] + flow["entries"] == flow["members"]).all()
    nxt = flow.groupby(level=["arm", "replicate", "payer"])["members_start"].shift(-1)
    ok = nxt.isna() | (nxt == flow["members_end"])
    assert ok.all()
    change = flow.groupby(level=["arm", "replicate", "payer"])["cohort_alive"].diff()
    assert (change.dropna() <= 0).all()
    monthly = out.monthly[out.monthly["setting"] == first].set_index(
        ["arm", "replicate", "payer", "month"]
    )["members"]
    assert (monthly.loc[flow.index] == flow["members"]).all()
    # every setting's rows carry the same flow
    for _, d in life.groupby("setting"):
        assert (d["deaths"].to_numpy() == life[life["setting"] == first]["deaths"].to_numpy()).all()


def test_age_band_and_sex_subgroups_partition_the_members():
    """age_band and sex groups hold every member of the month once; without [life] asking for
    them is refused, naming the field."""
    sc = load_scenario(
        "scenarios/compare_payment_models.toml",
        ["population.patients=3000", "months=6", "replications=1", "outputs.figure=false"],
    )
    out = run(sc, arms=["ffs"])
    sub = out.subgroups
    members = out.monthly[out.monthly["setting"] == out.monthly["setting"].iloc[0]]
    total = members.groupby("month")["members"].sum()
    for dim in ("age_band", "sex", "all"):
        d = sub[sub["subgroup"] == dim].groupby("month")["members"].sum()
        assert (d == total.loc[d.index]).all(), dim
    assert set(sub[sub["subgroup"] == "age_band"]["group"]) == {"65-74", "75-84", "85+"}
    data = sc.model_dump(mode="json")
    data["life"] = None
    with pytest.raises(ScenarioError, match=r"analysis.subgroups.2: 'age_band' needs the \[life\]"):
        validate_scenario(data, "test.toml")


def test_bad_life_tables_are_refused():
    """Unknown settings or conditions and shares that do not add up name their field."""
    base = {"life": {"settings": {"nowhere": {"admission_fatality": 0.1}}}}
    with pytest.raises(ScenarioError, match=r"life\.settings\.nowhere: unknown setting"):
        one_setting(**base)
    bad = {"life": {"settings": {"clinic": {"condition_admission_fatality": {"x": 0.1}}}}}
    with pytest.raises(ScenarioError, match=r"condition_admission_fatality\.x: unknown condition"):
        one_setting(**bad)
    with pytest.raises(ScenarioError, match="age_shares"):
        one_setting(life={"age_shares": [0.5, 0.5, 0.5]})


def test_without_life_no_one_dies_and_no_life_table_is_written():
    """The default: every patient a member all the run, no life table."""
    out = run(one_setting(months=3), arms=["ffs"])
    assert out.life is None
    assert (out.monthly["members"] == 5_000).all()


def test_life_table_columns_are_documented():
    """Every life-table column has a dictionary entry, and the summary reads them."""
    out = run(one_setting(months=6, life={}), arms=["ffs", "capitation"])
    from sim.results.tables import LIFE_TABLE_COLUMNS, summarize_life

    assert list(out.life.columns) == list(LIFE_TABLE_COLUMNS)
    summary = summarize_life(out.life)
    assert set(summary["setting"]) == {"all", "clinic"}
    assert (summary[summary["setting"] == "all"]["survival_end"] < 1).all()


def test_sex_and_age_change_need():
    """With need by age, an 85-year-old's need factor is the CMS-HCC factor's ratio to a
    65-year-old's (women 0.865 / 0.441), and members' factors average 1 at the start."""
    model = _life_world(20_000, 1, need_by_age=True)
    life = model.world.life
    scale = model.world.need_scale
    years = life.age0 // 12
    f65 = scale[life.cohort & life.female & (years == 65)]
    f85 = scale[life.cohort & life.female & (years == 85)]
    assert f85.mean() / f65.mean() == pytest.approx(0.865 / 0.441, rel=1e-6)
    assert scale[life.cohort].mean() == pytest.approx(1.0, abs=0.02)
    no = _life_world(2_000, 1, need_by_age=False)
    assert set(np.unique(no.world.need_scale[no.world.life.cohort])) == {1.0}


def test_flow_identity_holds_in_every_shipped_scenario_with_a_life_course():
    """Every shipped scenario with [life], small: the flow adds up and money is conserved."""
    import tomllib
    from pathlib import Path

    checked = 0
    for path in sorted(Path("scenarios").glob("*.toml")):
        if "scenario" in tomllib.loads(path.read_text()):
            continue  # a sweep file
        full = load_scenario(path)
        if full.life is None:  # the life course may come from the world
            continue
        # past the last switch (dated switches have their month once loaded)
        months = max([12] + [w.month + 3 for a in full.arms for w in a.switches])
        sc = load_scenario(
            path,
            [
                "population.patients=2000",
                f"months={months}",
                "replications=1",
                "outputs.figure=false",
            ],
        )
        out = run(sc)
        _check_flow(out)
        for lg in out.ledgers:
            assert lg["payer_paid"] + lg["patients_paid"] == pytest.approx(
                lg["providers_received"], rel=1e-9
            )
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("arm", ["ffs", "capitation"])
def test_sharded_life_runs_agree(arm):
    """A life course shards: one shard gives the unsharded bytes of the monthly and life
    tables, three agree (counts exactly)."""
    from sim.experiments import shards

    sc = one_setting(
        population={
            "patients": 6_000,
            "regions": {"a": {"share": 0.5}, "b": {"share": 0.3}, "c": {"share": 0.2}},
        },
        months=8,
        life={"settings": {"clinic": {"adverse_event_fatality": 0.2}}},
    )
    whole = HealthSystemModel(sc, arm)
    for _ in range(sc.months):
        whole.step()
    a, la = pd.DataFrame(whole.rows), pd.DataFrame(whole.life_rows)
    one = shards.run_pair(sc, sc.seed, arm, 0, 1, backend="thread")
    assert pd.DataFrame(one["rows"]).equals(a) and pd.DataFrame(one["life_rows"]).equals(la)
    three = shards.run_pair(sc, sc.seed, arm, 0, 3, backend="thread")
    assert pd.DataFrame(three["life_rows"]).equals(la)


def test_subgroup_spending_adds_up_with_a_life_course():
    """With deaths and entrants, capitation paid per member is spread over the month's members
    only, and every dimension's groups add up to the monthly table's spending."""
    sc = load_scenario(
        "scenarios/compare_payment_models.toml",
        ["population.patients=3000", "months=8", "replications=1", "outputs.figure=false"],
    )
    out = run(sc, arms=["capitation", "blended"])
    keys = ["arm", "replicate", "month"]
    total = out.monthly.groupby(keys)["spending"].sum()
    for dim, d in out.subgroups.groupby("subgroup"):
        parts = d.groupby(keys)["spending"].sum()
        np.testing.assert_allclose(parts.loc[total.index], total, rtol=1e-9, err_msg=dim)
    deaths = out.life[out.life["setting"] == out.life["setting"].iloc[0]]
    every = out.subgroups[out.subgroups["subgroup"] == "all"].set_index(keys)["deaths"]
    np.testing.assert_array_equal(
        every.loc[total.index], deaths.groupby(keys)["deaths"].sum().loc[total.index]
    )


def test_members_of_finds_the_chosen_among_the_patients():
    """Which of the month's patients died: every pair of ascending, distinct index arrays
    (none, some or all shared, either one empty) agrees with np.isin."""
    from sim.engine.month.lifecourse import _members_of

    rng = np.random.default_rng(3)
    for _ in range(500):
        patients = np.sort(rng.choice(80, int(rng.integers(0, 40)), replace=False))
        chosen = np.sort(rng.choice(80, int(rng.integers(0, 20)), replace=False))
        got = _members_of(patients, chosen)
        assert got.dtype == np.bool_
        assert (got == np.isin(patients, chosen)).all()
