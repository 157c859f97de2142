"""Value and providers: the distributions across providers in the last month (with a provider
panel), spending per point of function and the low-value share of volume (a run), and quality
against quantity by arm (and design point).
"""

from __future__ import annotations

import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.context import Context, Part, Section
from sim.publish.report.statistics import wide_stats
from sim.publish.trends import plural


def build(ctx: Context) -> Part:
    """The provider figure, then the value figures."""
    part = ctx.part()
    _provider_figure(ctx, part)
    _value_figures(ctx, part)
    return part


def _provider_figure(ctx: Context, part: Part) -> None:
    from sim.publish import figures as rf

    res = ctx.res
    if res.providers is None:
        return
    p = res.providers.assign(
        arm=res.providers["arm"].astype(str), setting=res.providers["setting"].astype(str)
    )
    last = p[p["month"] == p["month"].max()].copy()
    treated = last["patients_treated"].where(last["patients_treated"] > 0)
    last["units_per_patient"] = last["service_units"] / treated
    last["margin_per_patient"] = last["margin"] / treated
    n_prov = last.groupby(["arm", "setting"]).size()
    lo, hi = int(n_prov.min()), int(n_prov.max())
    per_box = f"{lo}" if lo == hi else f"{lo} to {hi}"
    part.figure(
        rf.providers(
            last, res.arms, res.settings, {k: plural(u) for k, u in res.units.items()}, ctx.styles
        ),
        "providers",
        "Distributions across providers in the last month",
        f"Month {int(last['month'].max())} (the last), providers pooled over "
        f"{res.replications} replication(s) ({per_box} provider-replications per box). "
        "Boxes: median and quartiles, whiskers to 1.5 IQR, "
        "circles beyond. Units and margin per treated patient leave out providers who "
        "treated no one that month. Right: each provider's learned practice style θ "
        "against the closed-form optimum θ* under the month's contracts (dashed: θ = θ*; "
        "above it, more care per patient than the provider's optimum).",
    )


def _value_figures(ctx: Context, part: Part) -> None:
    from sim.publish import figures as rf

    res = ctx.res
    if res.kind == "run":
        s0 = ctx.stats[ctx.stats["point"] == 0]
        spp = s0[s0["measure"] == "spending_per_function_point"]
        groups = [*res.settings, "all"]
        low = pd.concat(
            [
                s0[
                    s0["measure"] == (f"low_value_share:{g}" if g != "all" else "low_value_share")
                ].assign(group=g)
                for g in groups
            ]
        )
        part.figure(
            rf.value(spp, low, res.arms, groups, ctx.styles),
            "value",
            "Value: spending per point of function and low-value volume",
            "Left: payer spending plus out-of-pocket per point of function gained from "
            "care, by arm. Right: share of service units whose marginal patient benefit is "
            "below the setting's low-value threshold, by arm and setting. Bars: mean over "
            f"replications; error bars: {ctx.ci_fig}. Hatching identifies the arm.",
        )

    qstats = wide_stats(ctx.stats)
    # each setting's own volume against its own outcome, then the members' function against
    # what is spent on them: no two panels plot the same number
    pairs = [
        (
            (f"units_per_treated:{s}", label_of(s),
             f"{plural(res.units[s])} per treated patient-month"),
            (f"function_gain_per_treated:{s}", f"Function gained per patient: {label_of(s)}",
             "points gained per treated patient-month"),
        )
        for s in res.settings
    ]  # fmt: skip
    pairs.append(
        (
            ("spending_pmpm", "all settings", "payer spending, USD per member-month"),
            (
                "function_change",
                "Members' change in function against spending",
                "points (0-100), month 0 to last",
            ),
        )
    )
    with_gain = all(f"function_gain_per_treated:{s}" in qstats for s in res.settings)
    few = len(res.design) <= 30
    part.figure(
        rf.quality_quantity(qstats, res.arms, pairs, errorbars=few, styles=ctx.styles),
        "quality_quantity",
        "Quality against quantity",
        "Outcome against volume: one marker per arm"
        + (" and design point" if res.kind == "sweep" else "")
        + ", at its mean over replications, with "
        + (f"{ctx.ci_fig} on both axes." if few else "no error bars (too many points).")
        + (
            " One panel per care setting: function gained from care per treated patient-month "
            "against service units per treated patient-month in the setting (more volume with "
            "no more function gained is low-value care); "
            if with_gain
            else " "
        )
        + "the last panel: the members' mean change in function from month 0 to the last "
        "month against payer spending per member-month over all settings.",
    )


SECTION = Section("value", "Value and providers", build, step="providers and value")
