"""Budget-neutral prices for the comparison scenario.

Runs the scenario's fee-for-service arm with every provider at the patient optimum
(behaviour.mode = "fixed", initial_offset = 0) and prints, per setting, the PMPM and the
per-episode price that would have paid the same total (allowed amounts, i.e. payer + patient).
These numbers are what ``scenarios/compare_payment_models.toml`` uses; rerun this script after
changing the world (population, settings, payers) and copy them across.

    python scripts/calibrate_prices.py scenarios/compare_payment_models.toml
"""

from __future__ import annotations

import sys

import numpy as np

from sim.engine.model import HealthSystemModel
from sim.engine.payment.bundled import Bundled, BundledParams
from sim.scenario import load_scenario


def main(path: str) -> None:
    sc = load_scenario(
        path,
        ['behaviour.mode="fixed"', "behaviour.initial_offset=0.0", "months=36"],
    )
    ffs_arm = next(
        a.name
        for a in sc.arms
        if a.contract_for(next(iter(sc.payers)), next(iter(sc.settings))).model == "ffs"
    )
    m = HealthSystemModel(sc, ffs_arm)
    allowed = np.zeros(len(m.settings))
    weights = [[] for _ in m.settings]
    episodes = np.zeros(len(m.settings))
    bundle = Bundled(BundledParams(base_rate=1.0), tuple(sc.population.conditions))
    # allowed amounts at rate level 1: the capitation, bundled and blended contracts apply
    # each payer's rate level themselves
    rate = np.array([p.rate_multiplier for p in m.payers])
    mm = 0.0  # member-months (members vary by month with a life course)
    for _ in range(sc.months):
        m.step()
        mm += float(m.world.payer_members.sum())
        for s, mc in enumerate(m.month_care):
            allowed[s] += float((mc.paid.revenue / rate[mc.payer]).sum())
            new = mc.new_episode
            episodes[s] += new.sum()
            pop = m.population
            idx = mc.patients[new]
            weights[s].append(
                bundle.price(pop.condition[idx], mc.function_at_start[new], pop.risk[idx])
            )
    for s, st in enumerate(m.settings):
        w = np.concatenate(weights[s]).mean()
        print(
            f"{st.name}: allowed per member-month {allowed[s] / mm:.2f} USD; "
            f"per episode {allowed[s] / episodes[s]:.1f} USD; mean case-mix weight {w:.3f}; "
            f"budget-neutral base_rate {allowed[s] / episodes[s] / w:.1f} USD"
        )


if __name__ == "__main__":
    main(sys.argv[1])
