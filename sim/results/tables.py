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
from sim.engine.month.lifecourse import LIFE
from sim.engine.month.records import MONTHLY
from sim.engine.month.records import PROVIDER_COLUMNS as PROVIDER_DECLARED

#: monthly table: column -> (dtype, unit, meaning), from the columns' declarations
#: (:mod:`sim.engine.columns`): the records stage's core columns, then every feature's
MONTHLY_COLUMNS: dict[str, tuple[str, str, str]] = MONTHLY.dictionary()
#: the life table (``life.parquet``, with ``[life]``): column -> (dtype, unit, meaning)
LIFE_TABLE_COLUMNS: dict[str, tuple[str, str, str]] = LIFE.dictionary()
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


#: summary_subgroups.csv's columns with a life course ([life])
LIFE_SUBGROUP_SUMMARY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "persons": ("int64", "persons", "People who were members of the group at some time in the run: its members at month 0 and every later entrant (mean over replicates, rounded)."),
    "deaths": ("float64", "persons", "Deaths in the group over the run (mean over replicates)."),
    "deaths_per_1000_member_years": ("float64", "deaths/1,000 member-years", "Deaths per 1,000 years lived by the group's members."),
    "life_years_per_person": ("float64", "years", "Undiscounted years lived per person of the group over the run."),
}  # fmt: skip


def subgroup_summary_columns(life: bool) -> dict[str, tuple[str, str, str]]:
    """summary_subgroups.csv's columns (with a life course: members at the end, per person
    ever a member, and the group's deaths)."""
    if not life:
        return SUBGROUP_SUMMARY_COLUMNS
    out = dict(SUBGROUP_SUMMARY_COLUMNS)
    out["members"] = ("int64", "persons", "Members of the group in the last month.")
    out["qalys_per_member"] = (
        "float64",
        "QALYs",
        "Undiscounted QALYs per person of the group over the run (per persons, everyone who "
        "was a member at some time).",
    )
    return {**out, **LIFE_SUBGROUP_SUMMARY_COLUMNS}


def persons_ever(d: pd.DataFrame) -> float:
    """People ever members in rows ``d`` of one group (one or more replicates, averaged): the
    members of its first month less that month's entrants, plus every entrant."""
    first = d["month"].min()
    reps = d["replicate"].nunique()
    start = d[d["month"] == first]
    return float(start["members"].sum() - start["entries"].sum() + d["entries"].sum()) / reps


def summarize_subgroups(subgroups: pd.DataFrame) -> pd.DataFrame:
    """Per arm, subgroup and group, over the run, averaged over replicates."""
    last = subgroups["month"].max()
    life = "deaths" in subgroups.columns
    records = []
    keys = ["arm", "subgroup", "group"]
    for (arm, sub, grp), d in subgroups.groupby(keys, sort=False):
        reps = d["replicate"].nunique()
        tot = d[["members", "spending", "oop", "patients_treated", "service_units",
                 "adverse_events", "qalys"]].sum() / reps  # fmt: skip
        mm = tot["members"]
        end = d[d["month"] == last]
        members = int(end["members"].iloc[0]) if len(end) else 0
        extra = {}
        per: float = members  # people to divide by: persons ever members, with a life course
        if life:
            persons = persons_ever(d)
            per = persons
            deaths = float(d["deaths"].sum()) / reps
            extra = {
                "persons": round(persons),
                "deaths": deaths,
                "deaths_per_1000_member_years": 12_000.0 * deaths / mm if mm else np.nan,
                "life_years_per_person": mm / 12.0 / persons if persons else np.nan,
            }
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
                "qalys_per_member": tot["qalys"] / per if per else np.nan,
                **extra,
            }
        )
    return frame(records, subgroup_summary_columns(life))


#: summary_life.csv: one row per arm and setting (and ``all``: the members' flow), averaged
#: over replicates
LIFE_SUMMARY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "setting": ("string", "name", "Care setting, or 'all' (the members: deaths, survival, life-years)."),
    "replicates": ("int64", "runs", "Replications averaged."),
    "starting_members": ("int64", "persons", "Members at month 0 (before its entrants): the cohort whose survival is reported."),
    "entries": ("float64", "persons", "New beneficiaries over the run."),
    "deaths": ("float64", "persons", "Deaths over the run (of patients in care in the setting, on its row)."),
    "member_years": ("float64", "years", "Years lived by the members over the run ('all'), or years in care in the setting (patients in care × months / 12)."),
    "death_rate": ("float64", "deaths/1,000 member-years", "Deaths per 1,000 member-years ('all'), or deaths of patients in care per 1,000 years in care (a setting)."),
    "survival_end": ("float64", "fraction", "Share of the starting members alive at the end of the run."),
    "life_years_per_starting_member": ("float64", "years", "Years lived in the run per starting member (the area under the survival curve over the run; undiscounted)."),
    "members_end": ("float64", "persons", "Members alive at the end of the run."),
    "admissions": ("float64", "episodes", "Admissions (episodes started and taken to a provider) in the setting over the run."),
    "admission_mortality": ("float64", "fraction", "Deaths within the month of admission / admissions (NaN without admissions)."),
    "adverse_event_mortality": ("float64", "fraction", "Deaths within the month of an adverse event / adverse events (NaN without events)."),
}  # fmt: skip


def summarize_life(life: pd.DataFrame) -> pd.DataFrame:
    """summary_life.csv: per arm, the members' deaths, survival and life-years ('all'), and per
    setting the deaths of patients in care, after admissions and after adverse events;
    averaged over replicates."""
    nan = np.nan
    records = []
    for arm, a in life.groupby("arm", sort=False):
        reps = a["replicate"].nunique()
        first = a["setting"].iloc[0]
        pop = a[a["setting"] == first]  # the members' flow is repeated in every setting's row
        by_month = pop.groupby(["replicate", "month"], sort=True)[
            ["members_start", "entries", "deaths", "members", "cohort_alive", "members_end"]
        ].sum()
        start = by_month.xs(pop["month"].min(), level="month")["members_start"]
        last = by_month.xs(pop["month"].max(), level="month")
        # cohort alive during each month: the starting members, then last month's survivors
        during = by_month["cohort_alive"].groupby(level="replicate").shift(1)
        during = during.fillna(by_month["members_start"])
        ly = (during / 12.0).groupby(level="replicate").sum() / start
        member_years = float(by_month["members"].sum()) / 12.0 / reps
        deaths = float(by_month["deaths"].sum()) / reps
        base = {"arm": arm, "replicates": reps, "starting_members": round(float(start.mean()))}
        records.append(
            {
                **base,
                "setting": "all",
                "entries": float(by_month["entries"].sum()) / reps,
                "deaths": deaths,
                "member_years": member_years,
                "death_rate": 1000.0 * deaths / member_years if member_years else nan,
                "survival_end": float((last["cohort_alive"] / start).mean()),
                "life_years_per_starting_member": float(ly.mean()),
                "members_end": float(last["members_end"].mean()),
                "admissions": nan,
                "admission_mortality": nan,
                "adverse_event_mortality": nan,
            }
        )
        for setting, d in a.groupby("setting", sort=False):
            tot = d[["in_care", "deaths_in_care", "admissions", "deaths_after_admission",
                     "adverse_events", "deaths_after_adverse_event"]].sum() / reps  # fmt: skip
            years_in_care = tot["in_care"] / 12.0
            records.append(
                {
                    **base,
                    "setting": setting,
                    "entries": nan,
                    "deaths": tot["deaths_in_care"],
                    "member_years": years_in_care,
                    "death_rate": (
                        1000.0 * tot["deaths_in_care"] / years_in_care if years_in_care else nan
                    ),
                    "survival_end": nan,
                    "life_years_per_starting_member": nan,
                    "members_end": nan,
                    "admissions": tot["admissions"],
                    "admission_mortality": (
                        tot["deaths_after_admission"] / tot["admissions"]
                        if tot["admissions"]
                        else nan
                    ),
                    "adverse_event_mortality": (
                        tot["deaths_after_adverse_event"] / tot["adverse_events"]
                        if tot["adverse_events"]
                        else nan
                    ),
                }
            )
    return frame(records, LIFE_SUMMARY_COLUMNS)


def column_dictionary(columns: dict[str, tuple[str, str, str]]) -> list[dict[str, str]]:
    """The data dictionary of a table as a list of {name, type, unit, description}."""
    return [{"name": k, "type": t, "unit": u, "description": d} for k, (t, u, d) in columns.items()]
