"""A sweep's outcomes against its varied parameters: a figure per factor of the outcomes by arm
and one of their differences from the baseline arm (main effects for a grid, one marker per
design point otherwise).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim.publish.report.context import Context, Part, Section
from sim.publish.report.results import Results
from sim.publish.report.tables import short_names, slug
from sim.publish.trends import describe


def build(ctx: Context) -> Part:
    """Outcomes, and differences from the baseline, against each factor of the sweep."""
    from sim.publish import figures as rf

    res = ctx.res
    part = ctx.part(
        "Each panel: an outcome against one factor of the sweep (a linked factor moves every "
        "field it names together).",
    )
    short = short_names(res.parameters)
    panels = [(m.key, m.label, m.unit) for m in ctx.measures]
    dpanels = [(k, t, f"difference, {u}") for k, t, u in panels]
    is_grid = str(res.sweep.get("design", {}).get("method", "grid")) == "grid"
    for prm in res.parameters:
        unit = _field_unit(prm)
        xlabel = f"{short[prm]} ({unit})" if unit else short[prm]
        if is_grid:
            e = _effects(res, ctx.wide, prm, ctx.keys)
            how = (
                f"For each level of {prm}, the outcome is averaged over the other parameters' "
                "levels within each replication; markers: mean over replications; error bars: "
                f"{ctx.ci_fig}."
            )
        else:
            e = _per_point(res, ctx.stats, prm)
            how = (
                f"One marker per design point and arm at its value of {prm}: mean over "
                f"replications with {ctx.ci_fig}."
            )
        stem = f"parameter_{slug(short[prm])}"
        how += _factor_text(res, prm)
        part.figure(
            rf.parameter_effects(
                e,
                res.arms,
                panels,
                x=prm,
                xlabel=xlabel,
                lines=is_grid,
                suptitle=f"Outcomes against {short[prm]}",
                styles=ctx.styles,
                replications=res.replications,
            ),
            stem,
            f"Outcomes against {prm}",
            f"Outcomes by arm against the varied field {prm}. {how}",
        )
        if ctx.others:
            de = (
                _effects(res, ctx.diffs, prm, ctx.keys)
                if is_grid
                else _per_point(res, ctx.dstats, prm)
            )
            part.figure(
                rf.parameter_effects(
                    de,
                    ctx.others,
                    dpanels,
                    x=prm,
                    xlabel=xlabel,
                    lines=is_grid,
                    zero_line=True,
                    suptitle=f"Difference from {rf.label_of(ctx.baseline)} against {short[prm]}",
                    styles=ctx.styles,
                    replications=res.replications,
                ),
                f"{stem}_differences",
                f"Differences from {ctx.baseline} against {prm}",
                f"Each arm minus the baseline arm ({ctx.baseline}), paired by replication "
                f"within each design point, against {prm}. {how}",
            )
    return part


def _field_unit(path: str) -> str | None:
    """The unit of a dotted scenario field from the schema (None when it cannot be found)."""
    try:
        from typing import get_args, get_origin

        from pydantic import BaseModel

        from sim.scenario import Scenario

        cls: Any = Scenario
        parts = path.split(".")
        unit = None
        i = 0
        while i < len(parts):
            if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
                return None
            f = cls.model_fields.get(parts[i])
            if f is None:
                return None
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            unit = extra.get("unit")
            ann = f.annotation
            i += 1
            while get_origin(ann) in (dict, list) and i < len(parts):
                ann = get_args(ann)[-1]
                i += 1  # a key or an index
            cls = ann
        return str(unit) if unit else None
    except Exception:  # labels only
        return None


def _factor_text(res: Results, prm: str) -> str:
    """What a linked factor sets, and the fields derived from the factors (sweep file)."""
    text = ""
    for p in res.sweep.get("parameters") or []:
        if isinstance(p, dict) and p.get("field") == prm and p.get("fields"):
            text += f" The factor {prm} sets {', '.join(p['fields'])}."
    derived = res.sweep.get("derived") or {}
    if derived:
        text += " Derived: " + "; ".join(f"{k} = {v}" for k, v in derived.items()) + "."
    return text


def _effects(res: Results, wide: pd.DataFrame, prm: str, keys: list[str]) -> pd.DataFrame:
    """Main effect of one parameter of a grid: per (level, arm, replicate) the mean over the
    design points at that level, then mean and t-interval over replications."""
    levels = res.design.set_index("point")[prm]
    w = wide.assign(**{prm: wide["point"].map(levels)})
    per_rep = w.groupby([prm, "arm", "replicate"], sort=False)[keys].mean().reset_index()
    return describe(per_rep, [prm, "arm"], keys)


def _per_point(res: Results, stats: pd.DataFrame, prm: str) -> pd.DataFrame:
    levels = res.design.set_index("point")[prm]
    return stats.assign(**{prm: stats["point"].map(levels)})


SECTION = Section(
    "parameters",
    "Outcomes against the varied parameters",
    build,
    step="parameters",
    kinds=("sweep",),
)
