"""The policy number a validation scenario derives from the model's own pre-reform run.

    python scripts/validation_policy.py                  # every case (one: maryland_2014)
    python scripts/validation_policy.py maryland_2014

A validation case may set only policy, but a reform may set a number by a rule on historical
spending, which in the model is the model's own spending before the reform. Each scenario's
comment block states the rule and the run; this script does that run and applies the rule:
the scenario file itself (its world, seed, 40,000 patients and months) with one replication
(replicate 0) of the counterfactual arm only, whose monthly rows of one setting are summed over
the window (months a to b - 1). It prints, per case, the measured figure, the policy value the
rule gives and the file and field the value belongs in; copy them across after the world
changes (the rule, not the validation target, fixes them):

- maryland_2014: rate_level = the per-case arm's hospital revenue in 2013 over its charges at
  the fee schedule (the world's hospital rate per day), so that 2013 charges equal 2013
  revenue (the budget itself is each hospital's own 2013 revenue, which the contract takes from
  its run: all_payer_budget.base_months, so it follows every posterior draw's world).

Three numbers are no longer derived here: the contracts take them from their own run, so they
follow every posterior draw's world, as Maryland's budget does: pps_1983's price per stay
(`bundled.base_months`: the cost-based payment per stay in the year before the switch),
ips_1997's per-beneficiary limits (`cost_based.base_months`: agency by agency, 98% of 75% of
the agency's own and 25% of every agency's 1996 payment per episode) and cjr_2016's target
prices (`episode_bundle.base_months`: hospital by hospital, 97% of two thirds of the
hospital's own and one third of every hospital's 2013-2015 pathway spending per unit of
case-mix weight).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from sim.experiments.run import run
from sim.scenario import Scenario, load_scenario

#: (what was measured, its value, the field and contract it goes in, the derived value, format)
Derived = tuple[str, float, str, float, str]


@dataclass(frozen=True)
class Case:
    arm: str  # the counterfactual arm
    setting: str
    window: tuple[int, int]  # months a to b - 1
    derive: Callable[[pd.Series, Scenario], list[Derived]]


def maryland(d: pd.Series, sc: Scenario) -> list[Derived]:
    revenue = d["provider_revenue"]
    charges = d["service_units"] * sc.settings["hospital"].per_visit_rate
    return [
        (
            "revenue / charges at the fee schedule",
            revenue / charges,
            "global_budget arm, switch contract: rate_level",
            round(revenue / charges, 3),
            ".3f",
        ),
    ]


CASES = {
    "maryland_2014": Case("per_case", "hospital", (24, 36), maryland),
}


def window(df: pd.DataFrame, a: int, b: int) -> pd.DataFrame:
    return df[(df["month"] >= a) & (df["month"] < b)]


def measure(name: str) -> None:
    case = CASES[name]
    path = f"validation/scenarios/{name}.toml"
    sc = load_scenario(path, ["replications=1"])
    m = run(sc, arms=[case.arm]).monthly
    a, b = case.window
    d = window(m[m["setting"] == case.setting], a, b).sum(numeric_only=True)
    print(
        f"{name}: arm {case.arm}, {case.setting}, months {a}-{b - 1} "
        f"(seed {sc.seed}, {sc.population.patients:,} patients, {sc.months} months, "
        "one replication)"
    )
    for what, x, field, value, fmt in case.derive(d, sc):
        print(f"  {what}: {x:{fmt}} ({x:.4f}) -> {path}: {field} = {value:{fmt}}")


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}; known: {', '.join(CASES)}")
        measure(name)


if __name__ == "__main__":
    main(sys.argv[1:])
