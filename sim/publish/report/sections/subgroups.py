"""Subgroups: the outcomes over the run by subgroup (``[analysis] subgroups``) and arm, a table
per dimension and, for dimensions of at most :data:`MAX_GROUPS_FIGURE` groups, a figure.
"""

from __future__ import annotations

import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.context import Context, Part, Section
from sim.publish.report.tables import slug, with_ci
from sim.publish.trends import describe

#: the subgroup outcomes over the run: (key, label, unit, decimals)
SUBGROUP_MEASURES = [
    ("oop_per_member_year", "Out-of-pocket cost", "USD per member-year", 2),
    ("function_change", "Change in function, month 0 to last", "points (0-100 scale)", 3),
    ("spending_pmpm", "Payer spending", "USD per member-month", 2),
    ("qalys_per_member", "QALYs per member (undiscounted)", "QALYs over the run", 4),
    ("adverse_events_per_1000", "Adverse events", "per 1,000 member-months", 3),
]
#: subgroup figures for dimensions of at most this many groups
MAX_GROUPS_FIGURE = 12


def subgroups_by_replicate(sub: pd.DataFrame) -> pd.DataFrame:
    """The subgroup outcomes over the run per (arm, subgroup, group, replicate)."""
    d = sub.assign(
        arm=sub["arm"].astype(str),
        subgroup=sub["subgroup"].astype(str),
        group=sub["group"].astype(str),
    )
    keys = ["arm", "subgroup", "group", "replicate"]
    g = d.groupby(keys, sort=False)
    tot = g[["members", "spending", "oop", "adverse_events", "qalys"]].sum()
    last = d[d["month"] == d["month"].max()].set_index(keys)
    per = last["members"].reindex(tot.index)
    life = "deaths" in d.columns
    if life:
        # a life course: per person ever a member of the group
        first = d[d["month"] == d["month"].min()].set_index(keys)
        per = (
            first["members"].reindex(tot.index)
            - first["entries"].reindex(tot.index)
            + g["entries"].sum()
        )
    out = pd.DataFrame(
        {
            "oop_per_member_year": 12 * tot["oop"] / tot["members"],
            "spending_pmpm": tot["spending"] / tot["members"],
            "adverse_events_per_1000": 1000 * tot["adverse_events"] / tot["members"],
            "qalys_per_member": tot["qalys"] / per,
            "function_change": last["function_change"].reindex(tot.index),
        }
    )
    if life:
        out["deaths_per_1000_member_years"] = 12_000 * g["deaths"].sum() / tot["members"]
    return out.reset_index()


def build(ctx: Context) -> Part | None:
    """Tables (and figures for small dimensions) of the outcomes by subgroup and arm."""
    from sim.publish import figures as rf
    from sim.publish.figures import group_label

    res = ctx.res
    if res.subgroups is None:
        return None
    wide = subgroups_by_replicate(res.subgroups)
    dims = [d for d in dict.fromkeys(wide["subgroup"]) if d != "all"]
    if not dims:
        return None
    part = ctx.part(
        "Outcomes by subgroup (`[analysis] subgroups`); groups are fixed at month 0. Payments "
        "not tied to a claim (capitation) are attributed to members by risk score.",
    )
    measures = list(SUBGROUP_MEASURES)
    if "deaths_per_1000_member_years" in wide.columns:
        measures.append(("deaths_per_1000_member_years", "Deaths", "per 1,000 member-years", 2))
    keys = [k for k, *_ in measures]
    stats = describe(wide, ["subgroup", "group", "arm"], keys)
    part.data(
        wide,
        "subgroups_by_replicate.csv",
        "subgroup outcomes per arm, group and replication",
    )
    for dim in dims:
        st = stats[stats["subgroup"] == dim]
        groups = list(dict.fromkeys(wide.loc[wide["subgroup"] == dim, "group"]))
        k = int((res.scenario.get("analysis") or {}).get("risk_quantiles") or 4)
        title = f"By {_dimension_label(dim, k, short=True)}"
        if len(groups) <= MAX_GROUPS_FIGURE:
            panels = [(k, label, unit) for k, label, unit, _ in SUBGROUP_MEASURES[:2]]
            part.figure(
                rf.group_bars(
                    st,
                    res.arms,
                    groups,
                    panels,
                    xlabel=_dimension_label(dim, k),
                    suptitle=f"Out-of-pocket cost and function {title.lower()}",
                    styles=ctx.styles,
                    replications=res.replications,
                ),
                f"subgroups_{slug(dim)}",
                f"Out-of-pocket cost and function {title.lower()}",
                "Bars: mean over replications of each group's out-of-pocket cost per "
                "member-year and its mean change in function from month 0 to the last month, "
                f"by arm; error bars: {ctx.ci_fig}.",
            )
        rows, data = [], []
        for grp in groups:
            for key, label, unit, dec in measures:
                row = {
                    "Group": group_label(grp).replace("\n", ", "),
                    "Measure": label,
                    "Unit": unit,
                }
                for arm in res.arms:
                    r = st[(st["group"] == grp) & (st["arm"] == arm) & (st["measure"] == key)]
                    row[label_of(arm)] = (
                        "n/a" if r.empty else with_ci(r.iloc[0], dec, res.replications)
                    )
                    if not r.empty:
                        data.append(
                            {
                                "subgroup": dim,
                                "group": grp,
                                "arm": arm,
                                "measure": key,
                                **r.iloc[0][["n", "mean", "sd", "ci_low", "ci_high"]],
                            }
                        )
                rows.append(row)
        part.table(
            f"subgroups_{slug(dim)}",
            f"Outcomes {title.lower()} and arm",
            f"Cells: mean [95% CI] over {res.replications} replication(s) of each group's "
            "outcome over the run (out-of-pocket per member-year, function change from month "
            "0 to the last month, payer spending per member-month, undiscounted QALYs per "
            "member, adverse events per 1,000 member-months).",
            pd.DataFrame(data),
            pd.DataFrame(rows),
            3,
        )
    return part


def _dimension_label(dim: str, quantiles: int = 4, *, short: bool = False) -> str:
    """A readable name of a subgroup dimension (an axis label, or a title with ``short``)."""
    q = {4: "quartile", 5: "quintile", 10: "decile"}.get(quantiles, "quantile")
    parts = {
        "risk_quantile": f"risk-score {q}" + ("" if short else " (Q1 lowest risk)"),
        "function_band": "function at month 0",
        "condition": "condition group",
    }
    return " × ".join(parts.get(p, p.replace("_", " ")) for p in dim.split("*"))


SECTION = Section("subgroups", "Subgroups", build, step="subgroups")
