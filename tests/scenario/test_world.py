"""One base world under every scenario (sim/scenario/world.py): what a scenario takes from its
world, what it may change, and the refusal of a validation case that sets a behavioural or
calibrated parameter."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.experiments.validate import load_suite
from sim.scenario import load_scenario
from sim.scenario.world import sets_calibrated

WORLD = """
[world]
name = "test_world"
description = "a small world for the tests"
calibrated = ["behaviour", "settings.*.providers.altruism", "settings.*.benefit_curvature"]
default_settings = ["outpatient_therapy"]
parameters = "world_parameters.toml"

[population]
patients = 1234

[behaviour]
mode = "best_response"
income_effect = 0.5

[settings.outpatient_therapy]
benefit_curvature = 2.5
marginal_cost = 19.0

[settings.hospital]
unit = "inpatient day"
per_visit_rate = 400.0
optimal_units = 5.0
benefit_curvature = 300.0
value_per_function_point = 3000.0
marginal_cost = 350.0
max_units = 30
episode_months = 1.0
"""

PARAMETERS = """
[parameters]
"settings.*.marginal_cost" = 21.0
"""

ARMS = """
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
"""


@pytest.fixture
def world(tmp_path: Path) -> Path:
    (tmp_path / "world.toml").write_text(WORLD)
    (tmp_path / "world_parameters.toml").write_text(PARAMETERS)
    return tmp_path


def test_a_scenario_takes_its_worlds_tables(world):
    """Without tables of its own a scenario runs the world's population, behaviour and default
    settings, with the world's calibrated parameters applied over them."""
    (world / "s.toml").write_text('world = "world.toml"\nmonths = 3\n' + ARMS)
    sc = load_scenario(world / "s.toml")
    assert sc.world == "test_world"
    assert sc.population.patients == 1234
    assert sc.behaviour.mode == "best_response" and sc.behaviour.income_effect == 0.5
    assert list(sc.settings) == ["outpatient_therapy"]
    st = sc.settings["outpatient_therapy"]
    assert st.benefit_curvature == 2.5
    assert st.marginal_cost == 21.0  # the world's parameter file, applied last


def test_a_scenario_picks_settings_from_the_library_and_overrides_policy(world):
    """A scenario names the settings it runs (each starting from the world's entry) and
    sets its own values; --set comes after the world's parameters."""
    text = (
        'world = "world.toml"\nmonths = 3\n[population]\npatients = 500\n'
        "[settings.hospital]\nper_visit_rate = 450.0\n" + ARMS
    )
    (world / "s.toml").write_text(text)
    sc = load_scenario(world / "s.toml", ["settings.hospital.marginal_cost=333"])
    assert list(sc.settings) == ["hospital"]
    h = sc.settings["hospital"]
    assert h.per_visit_rate == 450.0 and h.optimal_units == 5.0 and h.marginal_cost == 333.0
    assert sc.population.patients == 500


def test_a_study_of_one_condition_group_keeps_the_worlds_life_course(world):
    """A world's fatality after admission for a condition group applies to a scenario whose
    population has that group, and is dropped (not refused) for one that studies another."""
    life = (
        "\n[life.settings.hospital]\nadverse_event_fatality = 0.05\n"
        "[life.settings.hospital.condition_admission_fatality]\nmedical_complex = 0.1\n"
    )
    (world / "world.toml").write_text(WORLD + life)
    base = 'world = "world.toml"\nmonths = 3\n[settings.hospital]\n'
    (world / "all.toml").write_text(base + ARMS)
    life_all = load_scenario(world / "all.toml").life
    assert life_all is not None
    assert life_all.settings["hospital"].condition_admission_fatality == {"medical_complex": 0.1}
    one = base + "[population]\nconditions = { musculoskeletal = { share = 1.0 } }\n"
    (world / "one.toml").write_text(one + ARMS)
    life_one = load_scenario(world / "one.toml").life
    assert life_one is not None
    assert life_one.settings["hospital"].condition_admission_fatality == {}
    assert life_one.settings["hospital"].adverse_event_fatality == 0.05


def test_a_bad_world_file_is_refused(world):
    """An unknown table, a missing name or a default setting the library lacks: refused,
    naming the world file and the field."""
    (world / "s.toml").write_text('world = "world.toml"\n' + ARMS)
    (world / "world.toml").write_text(WORLD + "\n[mystery]\nx = 1\n")
    with pytest.raises(ScenarioError, match="mystery"):
        load_scenario(world / "s.toml")
    bad = WORLD.replace('default_settings = ["outpatient_therapy"]', 'default_settings = ["x"]')
    (world / "world.toml").write_text(bad)
    with pytest.raises(ScenarioError, match="default_settings"):
        load_scenario(world / "s.toml")
    (world / "world.toml").write_text(WORLD.replace('name = "test_world"\n', ""))
    with pytest.raises(ScenarioError, match=r"\[world\]"):
        load_scenario(world / "s.toml")


def test_sets_calibrated_matches_wildcards():
    """The fields of a case's own data that match the world's calibrated patterns."""
    data = {
        "behaviour": {"mode": "learning"},
        "settings": {"hospital": {"providers": {"altruism": {"high": 0.4}}, "marginal_cost": 1}},
    }
    found = sets_calibrated(data, ["behaviour", "settings.*.providers.altruism", "x.y"])
    assert found == ["behaviour", "settings.hospital.providers.altruism"]
    assert sets_calibrated({"settings": {"hospital": {"marginal_cost": 1}}}, found) == []


CASE = """
[case]
title = "a test case"
finding = "nothing"
citation = "none"
scenario = "scenarios/case.toml"
arm = "ffs"
table = "monthly"
column = "service_units"
window = [0, 2]
statistic = "level"
published = 1.0
range = [0.5, 1.5]
"""


def test_a_case_that_sets_a_behavioural_parameter_is_refused(world):
    """A validation case may set only policy: a case scenario setting its world's behaviour or
    providers' altruism (or a case's set doing so) is refused, naming the field."""
    suite = world / "suite"
    (suite / "scenarios").mkdir(parents=True)
    (suite / "c.toml").write_text(CASE)
    base = 'world = "../../world.toml"\nmonths = 3\n' + ARMS
    (suite / "scenarios" / "case.toml").write_text(base)
    assert len(load_suite(suite).cases) == 1  # policy only: accepted
    (suite / "scenarios" / "case.toml").write_text(base + '[behaviour]\nmode = "learning"\n')
    with pytest.raises(ScenarioError, match="behaviour"):
        load_suite(suite)
    (suite / "scenarios" / "case.toml").write_text(
        base + "[settings.outpatient_therapy.providers.altruism]\nhigh = 0.4\n"
    )
    with pytest.raises(ScenarioError, match="altruism"):
        load_suite(suite)
    (suite / "scenarios" / "case.toml").write_text(base)
    (suite / "c.toml").write_text(
        CASE + 'set = { "settings.outpatient_therapy.benefit_curvature" = 9.0 }\n'
    )
    with pytest.raises(ScenarioError, match="benefit_curvature"):
        load_suite(suite)


def test_a_dated_switch_on_a_world_moves_with_its_date(world):
    """A scenario on a world whose parameter file is applied: `--set` of a switch's date (or
    of the start) moves the switch, as it does in a file without a world."""
    arms = (
        '[[arms]]\nname = "reform"\ncontracts = [{ model = "ffs" }]\n'
        "switches = [{ date = 2026-01-01, "
        'contracts = [{ model = "ffs", fee_multiplier = 0.9 }] }]\n'
    )
    (world / "s.toml").write_text('world = "world.toml"\nmonths = 24\nstart = 2025-01-01\n' + arms)
    assert load_scenario(world / "s.toml").arms[0].switches[0].month == 12
    moved = load_scenario(world / "s.toml", ["arms.0.switches.0.date=2025-04-01"])
    assert moved.arms[0].switches[0].month == 3
    later = load_scenario(world / "s.toml", ["start=2025-07-01"])
    assert later.arms[0].switches[0].month == 6
