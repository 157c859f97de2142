"""The report's section on the life course (a run with ``[life]``: ``life.parquet``): survival of
the starting members and deaths per 1,000 member-years by month, with 95% bands over
replications, and a table of mortality and survival by arm with the differences from the
baseline arm, paired by replication; by setting, deaths within the month of an admission and of
an adverse event.

Every outcome is first computed per replication (the report's rule), from the life table's
rows: survival S(m) = starting members alive at the end of month m / starting members;
life-years per starting member = Σ_m S(m − 1) / 12 (the area under the survival curve over the
run, S(−1) = 1); the death rate = 12,000 × deaths / members.
"""

from __future__ import annotations

import pandas as pd

from sim.publish.report.context import Context, Part, Section, band_caption
from sim.publish.report.statistics import paired, sort_stats
from sim.publish.report.tables import with_ci
from sim.publish.trends import describe

#: the table's outcomes: (key, label, unit, decimals)
MEASURES = [
    ("survival_end", "Starting members alive at the end", "fraction", 4),
    ("life_years", "Life-years per starting member", "years over the run", 4),
    ("death_rate", "Deaths", "per 1,000 member-years", 2),
    ("deaths_per_1000_persons", "Deaths over the run", "per 1,000 persons ever members", 2),
]


#: the statistics of a cell written to the table's CSV
STATS = ["n", "mean", "sd", "ci_low", "ci_high"]


def read_life(folder) -> pd.DataFrame | None:
    """``life.parquet`` of a run folder (None when the run had no life course)."""
    from sim.results.read import read_table
    from sim.results.tables import LIFE_TABLE_COLUMNS

    path = folder / "life.parquet"
    if not path.exists():
        return None
    return read_table(
        path,
        list(LIFE_TABLE_COLUMNS),
        key=["arm", "replicate", "month", "setting", "payer"],
        hint="written by `sim run` with a [life] table",
    )


def monthly_by_replicate(life: pd.DataFrame) -> pd.DataFrame:
    """Survival and the death rate per (arm, replicate, month) (the members' flow is the
    payer's: read off the first setting's rows)."""
    d = life.assign(arm=life["arm"].astype(str), setting=life["setting"].astype(str))
    d = d[d["setting"] == d["setting"].iloc[0]]
    g = d.groupby(["arm", "replicate", "month"], sort=False)[
        ["members_start", "deaths", "members", "cohort_alive"]
    ].sum()
    start = g["members_start"].groupby(level=["arm", "replicate"]).transform("first")
    out = pd.DataFrame(
        {
            "survival": g["cohort_alive"] / start,
            "death_rate": 12_000.0 * g["deaths"] / g["members"],
        }
    )
    return out.reset_index()


def outcomes_by_replicate(life: pd.DataFrame) -> pd.DataFrame:
    """The run's mortality outcomes per (arm, replicate): :data:`MEASURES`, and per setting
    the mortality after admissions and adverse events (``admission_mortality:<setting>``,
    ``adverse_event_mortality:<setting>``)."""
    d = life.assign(arm=life["arm"].astype(str), setting=life["setting"].astype(str))
    first = d[d["setting"] == d["setting"].iloc[0]]
    keys = ["arm", "replicate"]
    rows = []
    for (arm, rep), r in first.groupby(keys, sort=False):
        r = r.groupby("month").sum(numeric_only=True).sort_index()
        start = float(r["members_start"].iloc[0])
        survival = r["cohort_alive"] / start
        during = survival.shift(1, fill_value=1.0)
        persons = start + float(r["entries"].sum())
        rows.append(
            {
                "arm": arm,
                "replicate": rep,
                "survival_end": float(survival.iloc[-1]),
                "life_years": float(during.sum()) / 12.0,
                "death_rate": 12_000.0 * float(r["deaths"].sum()) / float(r["members"].sum()),
                "deaths_per_1000_persons": 1000.0 * float(r["deaths"].sum()) / persons,
            }
        )
    out = pd.DataFrame(rows)
    by = d.groupby([*keys, "setting"], sort=False)[
        ["admissions", "deaths_after_admission", "adverse_events", "deaths_after_adverse_event"]
    ].sum()
    for setting in dict.fromkeys(d["setting"]):
        s = by.xs(setting, level="setting")
        adm = (s["deaths_after_admission"] / s["admissions"]).where(s["admissions"] > 0)
        ae = (s["deaths_after_adverse_event"] / s["adverse_events"]).where(s["adverse_events"] > 0)
        out = out.merge(
            pd.DataFrame(
                {f"admission_mortality:{setting}": adm, f"adverse_event_mortality:{setting}": ae}
            ).reset_index(),
            on=keys,
            how="left",
        )
    return out


def build(ctx: Context) -> Part | None:
    """The life course's section of the report (None for a run without one)."""
    from sim.publish import figures as rf

    res = ctx.res
    if res.kind != "run":
        return None
    life = read_life(res.folder)
    if life is None:
        return None
    part = ctx.part(
        "With the life course (`[life]`): every member has an age and a sex, dies with a "
        "monthly probability from the Social Security period life table scaled by risk and "
        "function and raised after admissions and adverse events, and new beneficiaries enter "
        "at 65. Survival is that of the members at month 0; rates count every member.",
    )
    monthly = monthly_by_replicate(life).assign(point=0)
    keys = ["survival", "death_rate"]
    by = ["point", "arm", "month"]
    mstats = sort_stats(describe(monthly, by, keys), res.arms, keys)
    mstats["date"] = rf.as_dates(mstats["month"], ctx.start)
    part.data(mstats, "life_monthly.csv", "survival and deaths by arm and month: mean and CI")
    panels = [
        ("survival", "Starting members alive", "fraction, end of month"),
        ("death_rate", "Deaths", "per 1,000 member-years"),
    ]
    part.figure(
        ctx.by_month(mstats, res.arms, panels, "Survival and deaths by arm", ncols=2),
        "life",
        "Survival and deaths by arm",
        band_caption(
            res,
            "The share of the starting members alive at the end of each month, and the month's "
            "deaths per 1,000 member-years (× 12), by arm.",
        ),
    )
    others = [a for a in res.arms if a != ctx.baseline]
    if others:
        # the arms' effects are small beside the levels: their paired differences by month
        mdiff = paired(monthly, res.arms, ctx.baseline, ["point", "replicate", "month"], keys)
        mdstats = sort_stats(describe(mdiff, by, keys), res.arms, keys)
        mdstats["date"] = rf.as_dates(mdstats["month"], ctx.start)
        part.data(
            mdstats.assign(baseline=ctx.baseline),
            "life_monthly_differences.csv",
            "survival and deaths: paired differences from the baseline by month",
        )
        part.figure(
            ctx.by_month(
                mdstats,
                others,
                [(k, t, f"difference, {u}") for k, t, u in panels],
                f"Survival and deaths: difference from {rf.label_of(ctx.baseline)}",
                zero_line=True,
                ncols=2,
            ),
            "life_differences",
            f"Survival and deaths: difference from {ctx.baseline}",
            band_caption(
                res,
                f"Each arm minus the baseline arm ({ctx.baseline}), paired by replication, month "
                "by month: the share of the starting members alive and deaths per 1,000 "
                "member-years.",
                paired=True,
            ),
        )
    wide = outcomes_by_replicate(life)
    outcome_keys = [c for c in wide.columns if c not in ("arm", "replicate")]
    stats = describe(wide, ["arm"], outcome_keys)
    part.data(wide, "life_by_replicate.csv", "mortality and survival per arm and replication")
    labels = {k: (label, unit, dec) for k, label, unit, dec in MEASURES}
    for setting in dict.fromkeys(life["setting"].astype(str)):
        labels[f"admission_mortality:{setting}"] = (
            f"Deaths within the month of an admission, {setting}",
            "fraction of admissions",
            4,
        )
        labels[f"adverse_event_mortality:{setting}"] = (
            f"Deaths within the month of an adverse event, {setting}",
            "fraction of events",
            4,
        )
    dstats = None
    if others:
        pair = ["point", "replicate"]
        diffs = paired(wide.assign(point=0), res.arms, ctx.baseline, pair, outcome_keys)
        dstats = describe(diffs, ["arm"], outcome_keys)
    rows, data = [], []
    for k in outcome_keys:
        label, unit, dec = labels[k]
        row = {"Measure": label, "Unit": unit}
        for arm in res.arms:
            r = stats[(stats["arm"] == arm) & (stats["measure"] == k)]
            row[arm] = "n/a" if r.empty else with_ci(r.iloc[0], dec, res.replications)
            if not r.empty:
                data.append({"arm": arm, "measure": k, "kind": "level", **r.iloc[0][STATS]})
        if dstats is not None:
            for arm in others:
                r = dstats[(dstats["arm"] == arm) & (dstats["measure"] == k)]
                row[f"{arm} − {ctx.baseline}"] = (
                    "n/a" if r.empty else with_ci(r.iloc[0], dec, res.replications, signed=True)
                )
                if not r.empty:
                    kind = f"difference from {ctx.baseline}"
                    data.append({"arm": arm, "measure": k, "kind": kind, **r.iloc[0][STATS]})
        rows.append(row)
    part.table(
        "life",
        "Mortality and survival by arm",
        f"Cells: mean [95% CI] over {res.replications} replication(s); differences from "
        f"{ctx.baseline} paired by replication. Survival and life-years are the starting "
        "members' (life-years: the area under their survival curve over the run, "
        "undiscounted); deaths per 1,000 member-years count every member; the mortality "
        "after an admission or an adverse event counts deaths within its month (about 30 "
        "days).",
        pd.DataFrame(data),
        pd.DataFrame(rows),
        2,
    )
    return part


SECTION = Section("life", "Mortality and survival", build, kinds=("run",))
