"""A run's tables: their data dictionary, read off the columns' declarations
(:mod:`sim.engine.columns`), and the run summary.

A results folder holds ``monthly.parquet`` (one row per arm, replicate, month, setting and
payer), ``summary.csv`` (one row per arm and setting, plus ``all`` settings), optionally
``providers.parquet`` (a per-provider monthly panel) and the subgroup and economics tables;
:mod:`sim.results.folder` writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.engine.columns import Column
from sim.engine.month.records import MONTHLY
from sim.engine.month.records import PROVIDER_COLUMNS as PROVIDER_DECLARED

#: monthly table: column -> (dtype, unit, meaning), from the columns' declarations
#: (:mod:`sim.engine.columns`): the records stage's core columns, then every feature's
MONTHLY_COLUMNS: dict[str, tuple[str, str, str]] = MONTHLY.dictionary()
#: provider panel: column -> (dtype, unit, meaning)
PROVIDER_COLUMNS: dict[str, tuple[str, str, str]] = {
    k: c.entry for k, c in PROVIDER_DECLARED.items()
}


class _Cell:
    """What a summary row is derived from: an arm's monthly rows ``d`` in a setting (or all),
    their sums per replicate ``tot``, the member-months per replicate ``mm``."""

    def __init__(
        self,
        arm,
        setting,
        d: pd.DataFrame,
        reps: int,
        mm: float,
        function_change: float,
        invest_cols: list[str],
    ) -> None:
        self.arm, self.setting, self.d, self.reps, self.mm = arm, setting, d, reps, mm
        self.function_change, self.invest_cols = function_change, invest_cols
        self.tot = d.select_dtypes("number").sum() / reps


def _units_per_treated(c: _Cell) -> float:
    tot = c.tot
    return (
        tot["service_units"] / tot["patients_treated"]
        if c.setting != "all" and tot["patients_treated"]
        else np.nan
    )


def _low_value_share(c: _Cell) -> float:
    return c.tot["low_value_units"] / c.tot["service_units"] if c.tot["service_units"] else 0.0


def _provider_margin_pct(c: _Cell) -> float:
    revenue = c.tot["provider_revenue"]
    return 100 * c.tot["provider_margin"] / revenue if revenue else np.nan


def _spending_per_function_point(c: _Cell) -> float:
    gain = c.tot["function_gain"]
    return (c.tot["spending"] + c.tot["oop"]) / gain if gain > 0 else np.nan


#: summary.csv's columns, each derived from a :class:`_Cell` (spending_change_from_investment_pmpm
#: is then set against the counterfactual arm: :func:`summarize`)
SUMMARY: dict[str, Column] = {
    "arm": Column("string", "name", "Arm.", derive=lambda c: c.arm),
    "setting": Column("string", "name", "Care setting, or 'all' for every setting together.", derive=lambda c: c.setting),
    "payment_models": Column("string", "names", "Payment models in force (by payer, distinct).", derive=lambda c: ",".join(dict.fromkeys(c.d["payment_model"]))),
    "replicates": Column("int64", "runs", "Replications averaged.", derive=lambda c: c.reps),
    "member_months": Column("int64", "member-months", "Members × months per replicate.", derive=lambda c: round(c.mm)),
    "spending_pmpm": Column("float64", "USD/member-month", "Spending on care per member per month, by whoever pays providers (a capitated plan for its members): see public_payer_pmpm for the public payer's perspective.", derive=lambda c: c.tot["spending"] / c.mm),
    "public_payer_pmpm": Column("float64", "USD/member-month", "Public-payer perspective: what the public payer (Medicare) spends per member-month, its payments to plans included.", derive=lambda c: c.tot["public_payer_spending"] / c.mm),
    "plan_spending_pmpm": Column("float64", "USD/member-month", "Plan perspective: what capitated plans pay providers (and bear of adverse events) per member-month.", derive=lambda c: c.tot["plan_spending"] / c.mm),
    "plan_margin_pmpm": Column("float64", "USD/member-month", "What capitated plans keep per member-month: their revenue from Medicare minus their spending.", derive=lambda c: c.tot["plan_margin"] / c.mm),
    "oop_pmpm": Column("float64", "USD/member-month", "Out-of-pocket per member per month.", derive=lambda c: c.tot["oop"] / c.mm),
    "patients_treated_per_1000": Column("float64", "persons/1000 member-months", "Treated patients per 1,000 member-months.", derive=lambda c: 1000 * c.tot["patients_treated"] / c.mm),
    "units_per_treated": Column("float64", "units/person-month", "Service units per treated patient-month (NaN for 'all').", derive=_units_per_treated),
    "low_value_share": Column("float64", "fraction", "Share of service units that were low-value (NaN if no units).", derive=_low_value_share),
    "function_change": Column("float64", "points", "Mean change in function from month 0 to the last month.", derive=lambda c: c.function_change),
    "adverse_events_per_1000": Column("float64", "events/1000 member-months", "Adverse events per 1,000 member-months.", derive=lambda c: 1000 * c.tot["adverse_events"] / c.mm),
    "provider_margin_pmpm": Column("float64", "USD/member-month", "Provider margin per member per month.", derive=lambda c: c.tot["provider_margin"] / c.mm),
    "provider_margin_pct": Column("float64", "percent", "Provider margin as a percentage of provider revenue.", derive=_provider_margin_pct),
    "spending_per_function_point": Column("float64", "USD/point", "Payer spending + OOP per point of function gained from care.", derive=_spending_per_function_point),
    "investment_pmpm": Column("float64", "USD/member-month", "Providers' spending on investments that lower future need (all types), per member-month.", derive=lambda c: c.tot[c.invest_cols].sum() / c.mm),
    "spending_change_from_investment_pmpm": Column("float64", "USD/member-month", "spending_pmpm minus that of the arm with the same contracts and investments switched off (the net effect of the investments on payer spending, same patients); NaN without such an arm.", derive=lambda c: np.nan),
}  # fmt: skip
#: summary.csv: column -> (dtype, unit, meaning)
SUMMARY_COLUMNS: dict[str, tuple[str, str, str]] = {k: c.entry for k, c in SUMMARY.items()}


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
            cell = _Cell(arm, setting, d, reps, mm, function_change, invest_cols)
            records.append({k: c.derive(cell) for k, c in SUMMARY.items() if c.derive})
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
