"""Key measures: the measures the scenario declares as its key ones (``[analysis]
key_measures``, defined in :mod:`sim.scenario.key_measures`) over the run, by arm and against
the baseline arm with paired differences (a figure and a table), and monthly by arm and against
the baseline for the key measures the monthly-trends figures do not already show.
"""

from __future__ import annotations

import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.context import Context, Part, Section, band_caption, point_text
from sim.publish.report.results import key_measures
from sim.publish.report.statistics import CI_METHOD, NA_ONE, paired
from sim.publish.report.tables import lead, shown, with_ci
from sim.publish.trends import describe, monthly_panels, plural, sort_by_arm


def measure_label(name: str, units: dict[str, str]) -> tuple[str, str]:
    """(title, unit) of a key measure in words: the setting named in words, and a setting's
    "units" named by the setting's own unit (length of stay of a skilled nursing facility in
    "days of stay per ended episode")."""
    from sim.scenario import key_measures as ms

    base, setting = ms.parse(name)
    spec = ms.MEASURES[base]
    if setting is None:
        return spec.label, spec.unit
    sep = " " if spec.label.endswith(" to") else ": "
    unit = spec.unit
    if unit == "units per patient-month":
        unit = "units per treated patient-month"
    if unit.startswith("units "):
        unit = f"{plural(units.get(setting) or 'service unit')} {unit[len('units ') :]}"
    return f"{spec.label}{sep}{label_of(setting)}", unit


def build(ctx: Context) -> Part | None:
    """The scenario's key measures first: monthly by arm and against the baseline (figures),
    and over the run (a table), with paired differences."""
    from sim.publish import figures as rf
    from sim.scenario import key_measures as ms

    res = ctx.res
    names = key_measures(res.scenario)
    if not names:
        return None
    part = ctx.part(
        "The measures the scenario declares as its key ones (`[analysis] key_measures`), "
        f"against the baseline arm **{ctx.baseline}** (the counterfactual).",
    )
    if res.monthly is None:
        part.note("Key measures need the monthly tables (a sweep with outputs = monthly).")
        return part
    m = res.monthly.assign(
        arm=res.monthly["arm"].astype(str), setting=res.monthly["setting"].astype(str)
    )
    monthly_parts, run_parts, shown_names = [], [], []
    for name in names:
        try:
            per_month, per_run = [], []
            for point, d in m.groupby("point", sort=False):
                per_month.append(ms.compute(d, name).assign(point=point))
                per_run.append(ms.compute(d, name, by_month=False).assign(point=point))
        except KeyError as exc:
            part.note(f"Key measure {name}: this run has no column {exc.args[0]}.")
            continue
        monthly_parts.append(pd.concat(per_month).rename(columns={"value": name}))
        run_parts.append(pd.concat(per_run).rename(columns={"value": name}))
        shown_names.append(name)
    if not shown_names:
        return part
    keys_m, keys_r = ["point", "arm", "replicate", "month"], ["point", "arm", "replicate"]
    mw = monthly_parts[0]
    for p in monthly_parts[1:]:
        mw = mw.merge(p, on=keys_m, how="outer")
    rw = run_parts[0]
    for p in run_parts[1:]:
        rw = rw.merge(p, on=keys_r, how="outer")
    mw, rw = (
        sort_by_arm(mw, res.arms, ["point", "replicate", "month"]),
        sort_by_arm(rw, res.arms, ["point", "replicate"]),
    )
    panels = [(n, *measure_label(n, res.units)) for n in shown_names]
    mstats = describe(mw, ["point", "arm", "month"], shown_names)
    mstats["date"] = rf.as_dates(mstats["month"], ctx.start)
    mdiff = paired(mw, res.arms, ctx.baseline, ["point", "replicate", "month"], shown_names)
    mdstats = describe(mdiff, ["point", "arm", "month"], shown_names)
    mdstats["date"] = rf.as_dates(mdstats["month"], ctx.start)
    part.data(mstats, "key_measures_monthly.csv", "key measures: mean and 95% CI per arm and month")
    part.data(
        mdstats.assign(baseline=ctx.baseline),
        "key_measures_monthly_differences.csv",
        "key measures: paired differences by month",
    )
    point = res.design["point"].iloc[0]
    at = point_text(res, int(point))
    _run_figure(ctx, part, rw, panels, int(point), at)
    # monthly figures only for the key measures the monthly-trends figures do not show
    in_trends = {k for k, _, _ in monthly_panels(res.settings, res.units)}
    monthly = [p for p in panels if p[0] not in in_trends]
    if monthly:
        band = band_caption(res, "", arms=len(res.arms))
        part.figure(
            ctx.by_month(
                mstats[mstats["point"] == point],
                res.arms,
                monthly,
                f"Key measures by month and arm{at}",
            ),
            "key_measures_monthly",
            f"Key measures by month and arm{at}",
            "Each key measure that the monthly trends do not show, by calendar month and arm; "
            "dashed vertical lines: policy switches." + band,
        )
        if ctx.others:
            dpanels = [(k, t, f"difference, {u}") for k, t, u in monthly]
            part.figure(
                ctx.by_month(
                    mdstats[mdstats["point"] == point],
                    ctx.others,
                    dpanels,
                    f"Key measures: difference from {label_of(ctx.baseline)} by month{at}",
                    zero_line=True,
                ),
                "key_measures_monthly_differences",
                f"Key measures: difference from {ctx.baseline} by month{at}",
                f"Each arm minus the baseline arm ({ctx.baseline}), paired by replication, month "
                "by month." + band_caption(res, "", paired=True, arms=len(ctx.others)),
            )
    _run_table(ctx, part, rw, shown_names)
    return part


def _run_figure(
    ctx: Context, part: Part, rw: pd.DataFrame, panels: list, point: int, at: str
) -> None:
    """Over the run: each key measure by arm (one figure) and each arm's difference from the
    baseline paired by replication (another), means with their 95% intervals, one panel per
    measure."""
    from sim.publish import figures as rf

    res = ctx.res
    names = [k for k, _, _ in panels]
    w = rw[rw["point"] == point]
    part.figure(
        rf.forest(
            describe(w, ["arm"], names),
            res.arms,
            panels,
            suptitle=f"Key measures over the run{at}",
            styles=ctx.styles,
            replications=res.replications,
        ),
        "key_measures",
        f"Key measures over the run{at}",
        "Each key measure over the run (flows pooled over every month; levels such as function "
        f"change in the last month), by arm. Markers: means over replications; bars: "
        f"{ctx.ci_fig}.",
    )
    if not ctx.others:
        return
    diffs = describe(
        paired(w, res.arms, ctx.baseline, ["point", "replicate"], names), ["arm"], names
    )
    dpanels = [(k, t, f"difference, {u}") for k, t, u in panels]
    part.figure(
        rf.forest(
            diffs,
            ctx.others,
            dpanels,
            suptitle=f"Key measures: difference from {label_of(ctx.baseline)}{at}",
            styles=ctx.styles,
            replications=res.replications,
            zero=names,
        ),
        "key_measures_differences",
        f"Key measures: difference from {ctx.baseline} over the run{at}",
        f"Each arm minus the baseline arm ({ctx.baseline}), paired by replication, over the run. "
        f"Markers: mean paired differences; bars: {ctx.ci_fig}; the line at zero: no "
        "difference.",
    )


def _run_table(ctx: Context, part: Part, rw: pd.DataFrame, names: list[str]) -> None:
    """Over the run: one row per measure (and point), arms as columns, then differences."""
    from sim.scenario import key_measures as ms

    res = ctx.res
    rstats = describe(rw, ["point", "arm"], names)
    rdiff = paired(rw, res.arms, ctx.baseline, ["point", "replicate"], names)
    rdstats = describe(rdiff, ["point", "arm"], names)
    rows, data = [], []
    for pt in res.design["point"]:
        head = shown(lead(res, int(pt)))
        for name in names:
            title, unit = measure_label(name, res.units)
            dec = ms.MEASURES[ms.parse(name)[0]].decimals
            row = {**head, "Measure": title, "Unit": unit}
            for arm in res.arms:
                r = rstats[
                    (rstats["point"] == pt) & (rstats["arm"] == arm) & (rstats["measure"] == name)
                ]
                if r.empty:
                    row[label_of(arm)] = "n/a"
                    continue
                r = r.iloc[0]
                row[label_of(arm)] = with_ci(r, dec, res.replications)
                data.append(
                    {
                        **lead(res, int(pt)),
                        "arm": arm,
                        "measure": name,
                        "kind": "level",
                        **r[["n", "mean", "sd", "ci_low", "ci_high"]],
                    }
                )
            for arm in ctx.others:
                r = rdstats[
                    (rdstats["point"] == pt)
                    & (rdstats["arm"] == arm)
                    & (rdstats["measure"] == name)
                ]
                col = f"{label_of(arm)} − {label_of(ctx.baseline)}"
                if r.empty:
                    row[col] = "n/a"
                    continue
                r = r.iloc[0]
                row[col] = with_ci(r, dec, res.replications, signed=True)
                data.append(
                    {
                        **lead(res, int(pt)),
                        "arm": arm,
                        "measure": name,
                        "kind": f"difference from {ctx.baseline}",
                        **r[["n", "mean", "sd", "ci_low", "ci_high"]],
                    }
                )
            rows.append(row)
    n_lead = 1 + len(res.parameters) if res.kind == "sweep" else 0
    over = (
        "over the run (flows: pooled over every month; levels such as function change: "
        "the last month)"
    )
    part.table(
        "key_measures",
        "Key measures by arm and against the baseline",
        f"Each key measure {over}, computed per replication; cells: mean "
        f"[95% CI] over {res.replications} replication(s)"
        + (f" ({NA_ONE} for intervals)" if res.replications == 1 else f", {CI_METHOD}")
        + f". Differences: arm − {ctx.baseline}, paired by replication.",
        pd.DataFrame(data),
        pd.DataFrame(rows),
        n_lead + 2,
    )


SECTION = Section("key", "Key measures", build, step="key measures")
