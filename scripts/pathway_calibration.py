"""The pre-reform levels the pathway scenarios' comment blocks cite, measured from full runs.

    python scripts/pathway_calibration.py snf_payment_reform
    python scripts/pathway_calibration.py joint_replacement_bundle
    python scripts/pathway_calibration.py prevention_investment
    python scripts/pathway_calibration.py compare_payment_models   # therapy, primary care

Prints, for the scenario's pre-reform (or FFS) arm and window, each setting's provider margin
and what the fixed cost per provider would be for a 5% margin; spending per member-month (for
capitated-plan PMPMs at 120%); SNF therapy minutes per day and shared share; spending per SNF
day just after a switch in both arms (PDPM budget neutrality); the institutional discharge
share by year and the mean pathway spending per unit of case-mix weight (bundle targets). These
are calibration targets ([@cms_snf_fy2019; @cms_cjr2015; @medpac2024] or the scenario's own
stated design), not the reforms' effects.
"""

from __future__ import annotations

import sys

from sim.experiments.run import run
from sim.scenario import load_scenario

BASE = {
    "snf_payment_reform": ("legacy", 12, 24),
    "joint_replacement_bundle": ("ffs", 12, 36),
    "prevention_investment": ("ffs_no_invest", 12, 36),
    "compare_payment_models": ("ffs", 12, 36),
}


def window(df, a, b):
    return df[(df["month"] >= a) & (df["month"] < b)]


def main(name: str) -> None:
    # one replication: the fixed costs below are per provider-month of one run
    sc = load_scenario(f"scenarios/{name}.toml", ["replications=1"])
    result = run(sc)
    m = result.monthly
    arm, a, b = BASE[name]
    base = window(m[m["arm"] == arm], a, b)
    months = b - a
    print(f"{name}: arm {arm}, months {a}-{b - 1}")
    for s, cfg in sc.settings.items():
        d = base[base["setting"] == s].sum(numeric_only=True)
        n_prov = cfg.providers.resolved_count(sc.population.patients)
        margin = d["provider_margin"] / d["provider_revenue"]
        fixed = cfg.providers.fixed_cost + (margin - 0.05) * d["provider_revenue"] / (
            months * n_prov
        )
        print(
            f"  {s}: margin {100 * margin:.1f}% (fixed cost {cfg.providers.fixed_cost:,.0f}); "
            f"5% margin at fixed cost {fixed:,.0f}; spending pmpm "
            f"{d['spending'] / d['members']:.2f} (× 1.2 = {1.2 * d['spending'] / d['members']:.2f})"
        )
        if s == "snf":
            mins = (
                d["therapy_minutes_individual"]
                + d["therapy_minutes_concurrent"]
                + d["therapy_minutes_group"]
            )
            shared = d["therapy_minutes_concurrent"] + d["therapy_minutes_group"]
            print(
                f"  snf therapy: {mins / d['service_units']:.1f} min/day, shared "
                f"{100 * shared / mins:.1f}%"
            )
    for arm_name in m["arm"].unique():
        switches = sc.arm(arm_name).switches
        if not switches:
            continue
        k = switches[0].month
        for other in m["arm"].unique():
            d = window(m[(m["arm"] == other) & (m["setting"] == "snf")], k, k + 3)
            d = d.sum(numeric_only=True)
            print(
                f"  {other}: spending per SNF day, months {k}-{k + 2}: "
                f"{d['spending'] / d['service_units']:.2f}"
            )
    if sc.pathway is not None:
        hosp = m[(m["arm"] == arm) & (m["setting"] == sc.pathway.acute_setting)]
        for y in range(sc.months // 12):
            d = window(hosp, 12 * y, 12 * y + 12).sum(numeric_only=True)
            print(
                f"  year {y + 1}: institutional share "
                f"{100 * d['discharges_institutional'] / d['discharges']:.1f}%"
            )
        d = window(hosp, a, b).sum(numeric_only=True)
        print(f"  mean pathway spending {d['pathway_spending'] / d['pathways_closed']:,.0f}")


if __name__ == "__main__":
    main(sys.argv[1])
