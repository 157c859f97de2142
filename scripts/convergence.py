"""How fast learnt practice styles reach the closed-form optimum under fixed rules.

    python scripts/convergence.py [--patients 100000] [--months 120]
    python scripts/convergence.py --scenario scenarios/snf_payment_reform.toml --arms legacy

Runs the main comparison's FFS, capitation (common cost sharing) and blended arms (or the
given scenario's arms; pick arms without switches) with the provider panel and prints, per arm
and setting, the mean style θ at months 12, 24, 36, 60 and the last, the closed-form θ*, the
median relative gap |θ − θ*| / max(|θ*|, 0.05) at months 36, 60 and the end, the first months
from which it stays below 10% and 15%, and the same gap as a share of the setting's mean
patient optimum. The closed form is what learning must converge to when conditions stay fixed
(MODEL.md); this measures how long it takes, so analysis windows can start after it. The
scenario runs in learning mode (the shipped scenarios' base world has best-responding
providers, who need no convergence).
"""

from __future__ import annotations

import argparse

from sim.experiments.run import run
from sim.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--scenario", default="scenarios/compare_payment_models.toml")
    ap.add_argument("--arms", default="ffs,capitation_common_cost_sharing,blended")
    a = ap.parse_args()
    sc = load_scenario(
        a.scenario,
        [
            f"population.patients={a.patients}",
            f"months={a.months}",
            "outputs.provider_panel=true",
            "replications=1",
            # the learning mode whose convergence this measures (the base world's providers
            # best-respond and need none; its admission decisions are the best response's)
            'behaviour.mode="learning"',
            "behaviour.admission.enabled=false",
        ],
    )
    result = run(sc, arms=a.arms.split(","))
    p = result.providers.copy()
    p["rel"] = (p["theta"] - p["theta_optimal"]).abs() / p["theta_optimal"].abs().clip(lower=0.05)
    # the same gap in units, as a share of the setting's mean patient optimum (volume terms)
    q_b = {name: cfg.optimal_units for name, cfg in sc.settings.items()}
    p["rel_q"] = (p["theta"] - p["theta_optimal"]).abs() / p["setting"].map(q_b)
    g = p.groupby(["arm", "setting", "month"]).agg(
        theta=("theta", "mean"),
        optimum=("theta_optimal", "mean"),
        rel=("rel", "median"),
        rel_q=("rel_q", "median"),
    )
    last = a.months - 1
    marks = [m for m in (12, 24, 36, 60, last) if m <= last]

    def first(d, col, level):
        return next((m for m in d.index if (d[col].loc[m:] < level).all()), None)

    for (arm, setting), d in g.groupby(level=[0, 1]):
        d = d.droplevel([0, 1])
        print(
            f"{arm:32s} {setting:20s} θ* {d['optimum'].iloc[-1]:6.2f}  θ at "
            + ", ".join(f"{m}: {d['theta'].loc[m]:.2f}" for m in marks)
            + f"  median |θ−θ*|/|θ*| at 36: {d['rel'].loc[min(36, last)]:.2f}, at 60: "
            f"{d['rel'].loc[min(60, last)]:.2f}, at {last}: {d['rel'].loc[last]:.2f};"
            f" below 10% from month {first(d, 'rel', 0.10)}, 15% from {first(d, 'rel', 0.15)};"
            f" median |θ−θ*|/q_B at 36: {d['rel_q'].loc[min(36, last)]:.3f},"
            f" below 5% from month {first(d, 'rel_q', 0.05)}"
        )


if __name__ == "__main__":
    main()
