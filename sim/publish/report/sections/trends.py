"""Monthly trends: the monthly measures of ``sim run``'s trends figure by arm, and their
differences from the baseline arm paired by replication, month by month (for a sweep, one pair
of figures per design point, up to :data:`MAX_POINT_FIGURES`).
"""

from __future__ import annotations

from sim.publish.report.context import Context, Part, Section, band_caption, point_text
from sim.publish.report.statistics import monthly_by_replicate, paired, sort_stats
from sim.publish.trends import describe, monthly_panels

#: sweeps: monthly figures for at most this many design points
MAX_POINT_FIGURES = 12


def build(ctx: Context) -> Part:
    """The monthly trends and differences figures, and the monthly statistics behind them."""
    from sim.publish import figures as rf

    res, part = ctx.res, ctx.part()
    if res.monthly is None:
        part.note(
            'No monthly figures: the sweep kept summaries only. Set outputs = "monthly" in the '
            "sweep file and run it again to get them."
        )
        return part
    panels = monthly_panels(res.settings, res.units)
    diff_panels = [(k, t, f"difference, {u}") for k, t, u in panels]
    mwide = monthly_by_replicate(res)
    keys = [k for k, _, _ in panels]
    by = ["point", "arm", "month"]
    mstats = sort_stats(describe(mwide, by, keys), res.arms, keys)
    mdiff = paired(mwide, res.arms, ctx.baseline, ["point", "replicate", "month"], keys)
    mdstats = sort_stats(describe(mdiff, by, keys), res.arms, keys)
    mstats["date"] = rf.as_dates(mstats["month"], ctx.start)
    mdstats["date"] = rf.as_dates(mdstats["month"], ctx.start)
    part.data(mstats, "monthly_trends.csv", "monthly measures: mean and 95% CI per arm and month")
    part.data(
        mdstats.assign(baseline=ctx.baseline),
        "monthly_differences.csv",
        "monthly paired differences from the baseline arm",
    )
    points = list(res.design["point"])[:MAX_POINT_FIGURES]
    for point in points:
        sfx = f"_point{int(point)}" if res.kind == "sweep" else ""
        at = point_text(res, int(point))
        part.figure(
            ctx.by_month(
                mstats[mstats["point"] == point],
                res.arms,
                panels,
                f"Monthly trends by arm{at}",
            ),
            f"trends{sfx}",
            f"Monthly trends by arm{at}",
            band_caption(
                res,
                "Monthly payer spending and out-of-pocket per member-month, "
                "service units per treated patient in each setting, mean "
                "change in members' function since month 0 and adverse "
                "events per 1,000 member-months, by arm.",
                arms=len(res.arms),
            ),
        )
        if ctx.others:
            part.figure(
                ctx.by_month(
                    mdstats[mdstats["point"] == point],
                    ctx.others,
                    diff_panels,
                    f"Difference from {rf.label_of(ctx.baseline)} by month{at}",
                    zero_line=True,
                ),
                f"differences{sfx}",
                f"Monthly differences from {ctx.baseline}{at}",
                band_caption(
                    res,
                    f"Each arm minus the baseline arm ({ctx.baseline}), "
                    "paired by replication, month by month.",
                    paired=True,
                    arms=len(ctx.others),
                ),
            )

    if len(res.design) > len(points):
        part.note(
            f"Monthly figures are drawn for the first {len(points)} of {len(res.design)} design "
            "points; data/monthly_trends.csv and data/monthly_differences.csv hold every point."
        )
    return part


SECTION = Section("trends", "Monthly trends", build, step="monthly figures")
