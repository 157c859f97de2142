"""Shared test helpers: small scenarios built from plain dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.scenario import Scenario, validate_scenario

#: a visit-billed setting with an interior optimum under every payment model
VISIT_SETTING: dict[str, Any] = {
    "unit": "visit",
    "per_visit_codes": ["99213"],
    "minutes_per_unit": 20.0,
    "need_probability": 0.5,
    "episode_months": 1.0,
    "elective_share": 0.0,
    "optimal_units": 4.0,
    "need_risk_elasticity": 0.5,
    "benefit_curvature": 40.0,
    "value_per_function_point": 300.0,
    "marginal_cost": 40.0,
    "max_units": 12,
    "low_value_threshold": 40.0,
    "adverse_events": {"base_rate": 0.002, "shortfall_risk": 0.0, "cost": 9000.0},
    "providers": {
        "count": 5,
        "altruism": {"a": 2.0, "b": 2.0, "low": 0.5, "high": 0.9},
        "adaptation_speed": {"a": 2.0, "b": 2.0, "low": 0.4, "high": 0.6},
        "for_profit_share": 0.0,
        "fixed_cost": 1000.0,
    },
}

ARMS = [
    {"name": "ffs", "contracts": [{"model": "ffs"}]},
    {"name": "capitation", "contracts": [{"model": "capitation", "pmpm": 40.0}]},
    {"name": "blended", "contracts": [{"model": "blended", "pmpm": 30.0, "fee_fraction": 0.25}]},
    {"name": "bundled", "contracts": [{"model": "bundled", "base_rate": 300.0}]},
]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def one_setting(**over: Any) -> Scenario:
    """One payer (no cost sharing), one region, one visit-billed setting."""
    data: dict[str, Any] = {
        "name": "test_one_setting",
        "months": 12,
        "seed": 7,
        "population": {"patients": 5_000},
        "payers": {"medicare": {"share": 1.0, "deductible": 0.0}},
        "settings": {"clinic": VISIT_SETTING},
        "behaviour": {"imitation_probability": 0.0},
        "arms": ARMS,
        "outputs": {"figure": False},
    }
    return validate_scenario(merge(data, over))


def default_world(**over: Any) -> Scenario:
    """The package defaults (two settings, two payers) with small sizes."""
    data: dict[str, Any] = {
        "name": "test_default_world",
        "months": 6,
        "seed": 11,
        "population": {"patients": 4_000},
        "arms": [
            {"name": "ffs", "contracts": [{"model": "ffs"}]},
            {"name": "capitation", "contracts": [{"model": "capitation", "pmpm": 12.0}]},
            {"name": "bundled", "contracts": [{"model": "bundled", "base_rate": 500.0}]},
            {
                "name": "blended",
                "contracts": [{"model": "blended", "pmpm": 6.0, "fee_fraction": 0.5}],
            },
        ],
        "outputs": {"figure": False, "provider_panel": True},
    }
    return validate_scenario(merge(data, over))


@pytest.fixture
def small_world() -> Scenario:
    return default_world()


#: the slow end-to-end tests (file::function; every parameter of it), marked ``slow`` here in
#: one place besides those decorated ``@pytest.mark.slow``: each took 15 s or more of a full
#: run on 2 busy cores (a few seconds alone). ``make test-slow`` and CI run them; ``make test``
#: (``-m "not slow"``) does not. tests/project/test_suite.py checks every name exists.
SLOW = frozenset(
    {
        "test_bad_input.py::test_any_scenario_mutation_runs_or_is_refused_naming_the_field",
        "test_calibrate.py::test_calibration_end_to_end",
        "test_forecasts.py::test_a_small_forecast_runs_from_the_world_posterior",
        "test_calibrate.py::test_process_pool_gives_the_serial_trials",
        "test_calibrate.py::test_resume_after_kill",
        "test_cli.py::test_default_output_folder_and_summary_table",
        "test_cli.py::test_run_writes_a_documented_results_folder",
        "test_cli.py::test_same_seed_same_bytes_and_seed_flag",
        "test_cli.py::test_set_overrides_fields",
        "test_datapackage.py::test_an_empty_licence_is_refused_before_running",
        "test_datapackage.py::test_run_writes_a_valid_package_of_every_table",
        "test_datapackage.py::test_without_flag_there_is_no_package",
        "test_doc_examples.py::test_howto_runs",
        "test_doc_examples.py::test_tutorial_runs",
        "test_examples.py::test_example_runs",
        "test_explore_browser.py::test_every_knob_and_the_run_size_arrive_and_the_table_is_sim_runs",
        "test_explore_browser.py::test_scenario_choice_switch_month_and_the_month_by_month_view",
        "test_explore_browser.py::test_save_and_export_give_the_pages_scenario_and_sim_runs_folder",
        "test_home_health.py::test_the_shipped_reform_leaves_periods_just_below_every_threshold",
        "test_howtos.py::test_following_the_how_tos_keeps_the_suite_green",
        "test_howtos.py::test_following_the_output_column_how_to",
        "test_kernels.py::test_reference_outputs_with_compiled_kernels",
        "test_kernels.py::test_the_models_data_collector_is_the_same_with_compiled_kernels",
        "test_packaging.py::test_installed_wheel_lists_copies_and_runs_a_scenario",
        "test_packaging.py::test_wheel_carries_scenarios_license_and_typing_marker",
        "test_parallel.py::test_a_serial_run_holds_one_model_at_a_time",
        "test_parallel.py::test_cli_tables_are_byte_identical_for_one_and_two_workers",
        "test_parallel.py::test_map_tasks_returns_results_in_task_order_and_raises_a_tasks_error",
        "test_pathway.py::test_switch_changes_nothing_before_its_month",
        "test_report.py::test_cli_corrupt_or_missing_parquet",
        "test_report.py::test_cli_not_a_results_folder",
        "test_report.py::test_cli_report_prints_paths_and_replaces_an_old_report",
        "test_report.py::test_cli_unknown_baseline",
        "test_report.py::test_one_replication_has_no_interval",
        "test_report.py::test_run_report_writes_every_figure_and_table",
        "test_report.py::test_sweep_report_writes_every_figure_and_table",
        "test_report_analysis.py::test_report_progress_and_quiet",
        "test_report_analysis.py::test_subgroup_and_economics_sections",
        "test_report_analysis.py::test_the_report_leads_with_the_key_measures_against_the_declared_baseline",
        "test_shards.py::test_run_with_shards_assembles_the_usual_tables",
        "test_shards.py::test_shards_on_a_dask_cluster_give_the_process_bytes",
        "test_shards.py::test_subgroup_tables_add_up_across_shards",
        "test_shards.py::test_the_same_shard_count_gives_the_same_bytes_in_processes",
        "test_sweep.py::test_cli_bad_sweep_and_foreign_folder",
        "test_sweep.py::test_dataset_is_described",
        "test_sweep.py::test_resume_after_kill",
        "test_sweep.py::test_same_bytes_whatever_the_executor",
        "test_sweep.py::test_sensitivity_sobol",
        "test_validate.py::test_resume_after_kill",
        "test_validate.py::test_shipped_suite_runs_reduced",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SLOW` ``slow``; then run the slow ones first, each group in its
    collected order: with several workers (pytest-xdist) they start at once
    instead of one of them ending the run alone."""
    for item in items:
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        if name in SLOW:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
