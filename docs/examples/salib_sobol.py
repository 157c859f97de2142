"""Call the model as a plain function from SALib.

Covers: ``sim.evaluate`` (scenario, parameters as dotted fields, seed) inside a SALib
Sobol analysis. The same function serves EMA Workbench (see ``sim.make_function``).
Scenario: how FFS spending responds to the therapy conversion factor and to therapists'
marginal cost, on a small world (tiny N: a demonstration, not a result).

    python docs/examples/salib_sobol.py
"""

import numpy as np
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from sim import evaluate, validate_scenario

scenario = validate_scenario(
    {
        "name": "salib_example",
        "months": 6,
        "population": {"patients": 2_000},
        "arms": [{"name": "ffs", "contracts": [{"model": "ffs"}]}],
    }
)
problem = {
    "num_vars": 2,
    "names": [
        "settings.outpatient_therapy.conversion_factor",
        "settings.outpatient_therapy.marginal_cost",
    ],
    "bounds": [[27.5, 37.2], [12.0, 24.0]],
}
X = sobol_sample.sample(problem, 16, calc_second_order=False, seed=1)
Y = [
    evaluate(scenario, dict(zip(problem["names"], x, strict=True)), seed=7)["spending_pmpm"]
    for x in X
]
Si = sobol_analyze.analyze(problem, np.array(Y), calc_second_order=False, seed=1)
for name, s1, st in zip(problem["names"], Si["S1"], Si["ST"], strict=True):
    print(f"{name}: S1 = {s1:.2f}, ST = {st:.2f}")
print(f"evaluations: {len(Y)}")
