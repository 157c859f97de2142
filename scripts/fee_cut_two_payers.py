"""Print the results quoted in scenarios/fee_cut_two_payers.toml.

    python scripts/fee_cut_two_payers.py [--set field=value ...]

For each setting and payer: service units, waits, acceptance of new patients and patients
left without a provider, before the cut (months 12-23) and after it (months 24-35, 36-47), in
both arms (common random numbers: the arms are identical before month 24), and the cut arm's
change against the arm without the cut.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from sim.experiments.run import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def table(monthly: pd.DataFrame) -> pd.DataFrame:
    m = monthly[monthly["month"] >= 12].copy()
    m["period"] = pd.cut(m["month"], [11, 23, 35, 10_000], labels=["12-23", "24-35", "36-47"])
    g = m.groupby(["setting", "payer", "period", "arm"], observed=True)
    screened = g["new_patients_screened"].sum()
    out = pd.DataFrame(
        {
            "service_units": g["service_units"].sum(),
            "unmet_units": g["unmet_units"].sum(),
            "wait_months": g["wait_months"].mean(),
            "acceptance": (m["acceptance_rate"] * m["new_patients_screened"])
            .groupby([m[k] for k in ["setting", "payer", "period", "arm"]], observed=True)
            .sum()
            / screened.where(screened > 0),
            "without_provider": g["patients_without_provider"].sum(),
            "margin": g["provider_margin"].sum(),
        }
    )
    return out


def main(argv: list[str]) -> None:
    # the figures the scenario quotes are its seed's own run (replication 0)
    overrides = ["replications=1", *(a for a in argv if a != "--set")]
    sc = load_scenario(ROOT / "scenarios" / "fee_cut_two_payers.toml", overrides)
    out = table(run(sc).monthly)
    pd.set_option("display.width", 200)
    print(out.round(3).to_string())
    wide = out["service_units"].unstack("arm")
    change = (wide["medicare_fee_cut"] / wide["no_cut"] - 1) * 100
    print("\nservice units, cut vs no cut (%):")
    print(change.round(1).unstack("period").to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
