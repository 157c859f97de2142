"""Run the model under Mesa's own batch runner.

Covers: ``mesa.batch_run`` with HealthSystemModel (it takes ``rng`` and has a datacollector).
Scenario: two arms of a small world, two seeds each; one row per run and month.

    python docs/examples/batch_run.py
"""

import mesa
import pandas as pd

from sim import HealthSystemModel, validate_scenario

scenario = validate_scenario(
    {
        "name": "batch_run_example",
        "months": 6,
        "population": {"patients": 2_000},
        "arms": [
            {"name": "ffs", "contracts": [{"model": "ffs"}]},
            {"name": "capitation", "contracts": [{"model": "capitation", "pmpm": 10.5}]},
        ],
    }
)

results = mesa.batch_run(
    HealthSystemModel,
    # a pydantic model is itself iterable, so wrap the scenario in a list of one
    parameters={"scenario": [scenario], "arm": ["ffs", "capitation"]},
    rng=[1, 2],  # one run per seed and parameter combination
    data_collection_period=1,  # every month
    max_steps=100,  # the model stops itself after scenario.months
    number_processes=1,
    display_progress=False,
)
df = pd.DataFrame(results)
last = df[df["Step"] == df["Step"].max()]
print(last.groupby("arm")[["spending_pmpm", "units_per_treated", "mean_function"]].mean().round(2))
months = df.groupby("RunId")["Step"].nunique().iloc[0]
print(f"runs: {df['RunId'].nunique()}, months per run: {months}")
