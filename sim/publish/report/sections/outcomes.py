"""All outcomes by arm: the summary table (mean and 95% CI of every table outcome per arm and,
for a sweep, design point) and the table of paired differences from the baseline arm.
"""

from __future__ import annotations

import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.context import Context, Part, Section
from sim.publish.report.results import Results
from sim.publish.report.statistics import CI_METHOD, NA_ONE, Measure
from sim.publish.report.tables import ci_text, lead, num, shown


def summary_tables(
    res: Results, stats: pd.DataFrame, measures: list[Measure]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy numbers for CSV, formatted display table) of the per-arm summary."""
    data_rows, disp_rows = [], []
    for point in res.design["point"]:
        s = stats[stats["point"] == point]
        head = lead(res, int(point))
        for m in measures:
            disp = {**shown(head), "Measure": m.label, "Unit": m.unit}
            for arm in res.arms:
                col = label_of(arm)
                r = s[(s["arm"] == arm) & (s["measure"] == m.key)]
                if r.empty:
                    disp[col] = disp[f"{col} 95% CI"] = "n/a"
                    continue
                r = r.iloc[0]
                data_rows.append(_data_row(head, arm, m, r, res.replications))
                disp[col] = num(r["mean"], m.decimals)
                disp[f"{col} 95% CI"] = ci_text(r, m.decimals, res.replications)
            disp_rows.append(disp)
    return pd.DataFrame(data_rows), pd.DataFrame(disp_rows)


def difference_tables(
    res: Results, stats: pd.DataFrame, measures: list[Measure], baseline: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy numbers for CSV, formatted display table) of the paired differences."""
    others = [a for a in res.arms if a != baseline]
    data_rows, disp_rows = [], []
    for point in res.design["point"]:
        s = stats[stats["point"] == point]
        head = lead(res, int(point))
        for m in measures:
            disp = {**shown(head), "Measure": m.label, "Unit": m.unit}
            for arm in others:
                col = label_of(arm)
                r = s[(s["arm"] == arm) & (s["measure"] == m.key)]
                if r.empty:
                    disp[col] = disp[f"{col} 95% CI"] = "n/a"
                    continue
                r = r.iloc[0]
                data_rows.append(
                    {**_data_row(head, arm, m, r, res.replications), "baseline": baseline}
                )
                disp[col] = num(r["mean"], m.decimals)
                disp[f"{col} 95% CI"] = ci_text(r, m.decimals, res.replications)
            disp_rows.append(disp)
    data = pd.DataFrame(data_rows)
    if not data.empty:
        cols = list(data.columns)
        cols.insert(cols.index("arm") + 1, cols.pop(cols.index("baseline")))
        data = data[cols]
    return data, pd.DataFrame(disp_rows)


def _data_row(head: dict, arm: str, m: Measure, r: pd.Series, replications: int) -> dict:
    n = int(r["n"])
    return {
        **head,
        "arm": arm,
        "measure": m.key,
        "label": m.label,
        "setting": m.setting,
        "unit": m.unit,
        "n": n,
        "mean": r["mean"],
        "sd": r["sd"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "ci_method": f"95% {CI_METHOD}" if n >= 2 else ci_text(r, 0, replications),
    }


def build(ctx: Context) -> Part:
    """The summary table and the table of differences from the baseline arm."""
    res, reps = ctx.res, ctx.res.replications
    part = ctx.part()
    n_lead = 1 + len(res.parameters) if res.kind == "sweep" else 0
    ci_note = (
        f"Mean over {reps} replications; 95% CI: {CI_METHOD}."
        if reps > 1
        else f"One replication: point estimates only; intervals are {NA_ONE}."
    )
    notes = (
        f"{ci_note} Outcomes are computed per replication with the definitions of summary.csv "
        "(ratios are averaged over replications, so they can differ slightly from summary.csv, "
        "which pools replications). Spending is payer spending; spending per point of function "
        "adds OOP. Settings: "
        + ", ".join(f"{label_of(s)} (unit: {res.units[s]})" for s in res.settings)
        + "."
    )
    what = "design point and arm" if res.kind == "sweep" else "arm"
    data, display = summary_tables(res, ctx.stats, ctx.measures)
    part.table(
        "summary_by_arm",
        f"Outcomes by {what}: mean and 95% CI over replications",
        notes,
        data,
        display,
        n_lead + 2,
    )
    if not ctx.others:
        part.note("One arm only: no differences from a baseline arm.")
        return part
    dnotes = (
        f"Each arm minus the baseline arm ({ctx.baseline}), paired by replication (the arms of "
        "a replication share their random numbers). "
        + (
            f"Mean of {reps} paired differences; 95% CI: {CI_METHOD}."
            if reps > 1
            else f"One replication: the difference of the two runs; intervals are {NA_ONE}."
        )
    )
    data, display = difference_tables(res, ctx.dstats, ctx.measures, ctx.baseline)
    title = f"Differences from the baseline arm, {label_of(ctx.baseline)} ({ctx.baseline})"
    if res.kind == "sweep":
        title += " by design point"
    part.table("differences", title, dnotes, data, display, n_lead + 2)
    return part


SECTION = Section("tables", "All outcomes by arm", build, step="tables")
