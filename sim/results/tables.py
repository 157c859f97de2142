"""A run's tables: their columns (the single source of the data dictionary) and the run
summary.

A results folder holds ``monthly.parquet`` (one row per arm, replicate, month, setting and
payer), ``summary.csv`` (one row per arm and setting, plus ``all`` settings), optionally
``providers.parquet`` (a per-provider monthly panel) and the subgroup and economics tables;
:mod:`sim.results.folder` writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.engine.features import columns as feature_columns
from sim.engine.month.records import COLUMNS as CORE_COLUMNS
from sim.engine.month.records import PROVIDER_COLUMNS as PROVIDER_COLUMNS

#: monthly table: column -> (dtype, unit, meaning); declared where they are computed: the
#: records stage's core columns, then every feature's (:mod:`sim.engine.features`)
MONTHLY_COLUMNS: dict[str, tuple[str, str, str]] = {**CORE_COLUMNS, **feature_columns()}


SUMMARY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "setting": ("string", "name", "Care setting, or 'all' for every setting together."),
    "payment_models": ("string", "names", "Payment models in force (by payer, distinct)."),
    "replicates": ("int64", "runs", "Replications averaged."),
    "member_months": ("int64", "member-months", "Members × months per replicate."),
    "spending_pmpm": ("float64", "USD/member-month", "Spending on care per member per month, by whoever pays providers (a capitated plan for its members): see public_payer_pmpm for the public payer's perspective."),
    "public_payer_pmpm": ("float64", "USD/member-month", "Public-payer perspective: what the public payer (Medicare) spends per member-month, its payments to plans included."),
    "plan_spending_pmpm": ("float64", "USD/member-month", "Plan perspective: what capitated plans pay providers (and bear of adverse events) per member-month."),
    "plan_margin_pmpm": ("float64", "USD/member-month", "What capitated plans keep per member-month: their revenue from Medicare minus their spending."),
    "oop_pmpm": ("float64", "USD/member-month", "Out-of-pocket per member per month."),
    "patients_treated_per_1000": ("float64", "persons/1000 member-months", "Treated patients per 1,000 member-months."),
    "units_per_treated": ("float64", "units/person-month", "Service units per treated patient-month (NaN for 'all')."),
    "low_value_share": ("float64", "fraction", "Share of service units that were low-value (NaN if no units)."),
    "function_change": ("float64", "points", "Mean change in function from month 0 to the last month."),
    "adverse_events_per_1000": ("float64", "events/1000 member-months", "Adverse events per 1,000 member-months."),
    "provider_margin_pmpm": ("float64", "USD/member-month", "Provider margin per member per month."),
    "provider_margin_pct": ("float64", "percent", "Provider margin as a percentage of provider revenue."),
    "spending_per_function_point": ("float64", "USD/point", "Payer spending + OOP per point of function gained from care."),
    "investment_pmpm": ("float64", "USD/member-month", "Providers' spending on investments that lower future need (all types), per member-month."),
    "spending_change_from_investment_pmpm": ("float64", "USD/member-month", "spending_pmpm minus that of the arm with the same contracts and investments switched off (the net effect of the investments on payer spending, same patients); NaN without such an arm."),
}  # fmt: skip


def frame(rows: list[dict[str, Any]], columns: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly ``columns``, in order, with their dtypes."""
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    return df.astype({k: v[0] for k, v in columns.items()})


def summarize(
    monthly: pd.DataFrame,
    counterfactuals: dict[str, str] | None = None,
    last_months: int = 0,
) -> pd.DataFrame:
    """Per-arm summary, per setting and for all settings, averaged over replicates, over the
    last ``last_months`` months (the scenario's ``outputs.summary_months``; 0: all).

    ``counterfactuals`` maps an arm to the arm with the same contracts and investments
    switched off (``Scenario.investment_counterfactuals``), for the net effect of investing."""
    if last_months:
        monthly = monthly[monthly["month"] > monthly["month"].max() - last_months]
    records = []
    invest_cols = [
        c for c in monthly.columns if c.startswith("investment_") and c != "investment_fees"
    ]
    last = monthly["month"].max()
    for arm, df_arm in monthly.groupby("arm", sort=False):
        reps = df_arm["replicate"].nunique()
        # members are repeated in every setting's rows: count them from one setting
        first_setting = df_arm["setting"].iloc[0]
        mm = df_arm.loc[df_arm["setting"] == first_setting, "members"].sum() / reps
        end = df_arm[(df_arm["month"] == last) & (df_arm["setting"] == first_setting)]
        function_change = float(
            (end["function_change"] * end["members"]).sum() / end["members"].sum()
        )
        for setting, d in [*df_arm.groupby("setting", sort=False), ("all", df_arm)]:
            tot = d.select_dtypes("number").sum() / reps
            revenue = tot["provider_revenue"]
            gain = tot["function_gain"]
            records.append(
                {
                    "arm": arm,
                    "setting": setting,
                    "payment_models": ",".join(dict.fromkeys(d["payment_model"])),
                    "replicates": reps,
                    "member_months": round(mm),
                    "spending_pmpm": tot["spending"] / mm,
                    "public_payer_pmpm": tot["public_payer_spending"] / mm,
                    "plan_spending_pmpm": tot["plan_spending"] / mm,
                    "plan_margin_pmpm": tot["plan_margin"] / mm,
                    "oop_pmpm": tot["oop"] / mm,
                    "patients_treated_per_1000": 1000 * tot["patients_treated"] / mm,
                    "units_per_treated": (
                        tot["service_units"] / tot["patients_treated"]
                        if setting != "all" and tot["patients_treated"]
                        else np.nan
                    ),
                    "low_value_share": (
                        tot["low_value_units"] / tot["service_units"]
                        if tot["service_units"]
                        else 0.0
                    ),
                    "function_change": function_change,
                    "adverse_events_per_1000": 1000 * tot["adverse_events"] / mm,
                    "provider_margin_pmpm": tot["provider_margin"] / mm,
                    "provider_margin_pct": 100 * tot["provider_margin"] / revenue
                    if revenue
                    else np.nan,
                    "spending_per_function_point": (
                        (tot["spending"] + tot["oop"]) / gain if gain > 0 else np.nan
                    ),
                    "investment_pmpm": tot[invest_cols].sum() / mm,
                    "spending_change_from_investment_pmpm": np.nan,
                }
            )
    out = frame(records, SUMMARY_COLUMNS)
    key = out.set_index(["arm", "setting"])["spending_pmpm"]
    for arm, base in (counterfactuals or {}).items():
        mine = out["arm"] == arm
        if mine.any() and (base, "all") in key.index:
            out.loc[mine, "spending_change_from_investment_pmpm"] = (
                out.loc[mine, "spending_pmpm"].to_numpy()
                - key.loc[[(base, st) for st in out.loc[mine, "setting"]]].to_numpy()
            )
    return out


#: summary_subgroups.csv: one row per arm, subgroup dimension and group
SUBGROUP_SUMMARY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "subgroup": ("string", "name", "Subgroup dimension (see subgroups.parquet)."),
    "group": ("string", "label", "The group within the dimension."),
    "replicates": ("int64", "runs", "Replications averaged."),
    "members": ("int64", "persons", "Members of the group (fixed from month 0)."),
    "spending_pmpm": ("float64", "USD/member-month", "Payer spending on the group per member-month (payments not tied to a claim allocated by risk score: see subgroups.parquet)."),
    "oop_pmpm": ("float64", "USD/member-month", "The group's out-of-pocket cost per member-month."),
    "oop_per_member_year": ("float64", "USD/member-year", "oop_pmpm × 12."),
    "patients_treated_per_1000": ("float64", "persons/1000 member-months", "Treated members per 1,000 member-months."),
    "units_per_member_month": ("float64", "units/member-month", "Service units per member-month, all settings."),
    "adverse_events_per_1000": ("float64", "events/1000 member-months", "Adverse events per 1,000 member-months."),
    "function_change": ("float64", "points", "Mean change in the group's function from month 0 to the last month."),
    "mean_function_end": ("float64", "points (0-100)", "Mean function of the group in the last month."),
    "qalys_per_member": ("float64", "QALYs", "Undiscounted QALYs per member over the run (economics.csv has the discounted ones for everyone)."),
}  # fmt: skip


def summarize_subgroups(subgroups: pd.DataFrame) -> pd.DataFrame:
    """Per arm, subgroup and group, over the run, averaged over replicates."""
    last = subgroups["month"].max()
    records = []
    keys = ["arm", "subgroup", "group"]
    for (arm, sub, grp), d in subgroups.groupby(keys, sort=False):
        reps = d["replicate"].nunique()
        tot = d[["members", "spending", "oop", "patients_treated", "service_units",
                 "adverse_events", "qalys"]].sum() / reps  # fmt: skip
        mm = tot["members"]
        end = d[d["month"] == last]
        members = int(end["members"].iloc[0])
        records.append(
            {
                "arm": arm,
                "subgroup": sub,
                "group": grp,
                "replicates": reps,
                "members": members,
                "spending_pmpm": tot["spending"] / mm,
                "oop_pmpm": tot["oop"] / mm,
                "oop_per_member_year": 12 * tot["oop"] / mm,
                "patients_treated_per_1000": 1000 * tot["patients_treated"] / mm,
                "units_per_member_month": tot["service_units"] / mm,
                "adverse_events_per_1000": 1000 * tot["adverse_events"] / mm,
                "function_change": float(end["function_change"].mean()),
                "mean_function_end": float(end["mean_function"].mean()),
                "qalys_per_member": tot["qalys"] / members,
            }
        )
    return frame(records, SUBGROUP_SUMMARY_COLUMNS)


def column_dictionary(columns: dict[str, tuple[str, str, str]]) -> list[dict[str, str]]:
    """The data dictionary of a table as a list of {name, type, unit, description}."""
    return [{"name": k, "type": t, "unit": u, "description": d} for k, (t, u, d) in columns.items()]
