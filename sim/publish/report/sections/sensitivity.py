"""A sweep's sensitivity analysis (``sim sensitivity``, written to ``RESULTS/sensitivity/``):
its figures copied and its indices as tables, when it has been run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.publish.report.context import Context, FigureOut, Part, Section
from sim.publish.report.tables import slug

#: the columns of an index table shown, when present
COLUMNS = (
    "arm", "parameter", "S1", "S1_conf", "ST", "ST_conf", "mu_star", "mu_star_conf",
    "seed_share", "seed_share_of_means",
)  # fmt: skip


def build(ctx: Context) -> Part | None:
    """The sensitivity analysis of a sweep (``sim sensitivity``), when it has been run. Its
    folder is read without following links or opening anything but regular files
    (:func:`sim.results.read.read_sensitivity`)."""
    from sim.guards import files
    from sim.results.read import read_sensitivity

    if files.kind(ctx.res.folder, "sensitivity") == "missing":
        part = ctx.part()
        part.note(
            "No sensitivity analysis yet: run `sim sensitivity RESULTS` (sobol or morris "
            "designs) and then `sim report` again to include it."
        )
        return part
    tables, lines = read_sensitivity(ctx.res.folder)
    if not tables:
        return None
    intro = "Indices from `sim sensitivity` (SALib), with the seed's share of the variance."
    if lines:
        intro += "\n\n**Warnings:**\n\n" + "\n".join(f"- {x}" for x in lines)
    part = ctx.part(intro)
    for t in tables:
        df, csv = t.table, Path(t.name)
        if t.figure is not None:
            dest = ctx.root / "figures" / f"sensitivity_{csv.stem}.png"
            dest.write_bytes(t.figure)
            part.figures.append(
                FigureOut(dest.stem, f"Sensitivity: {csv.stem}", f"From {csv.name}.", [dest])
            )
        cols = [c for c in COLUMNS if c in df]
        display = df[cols].copy()
        for c in cols[2:]:
            display[c] = display[c].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:.3f}")
        part.table(
            f"sensitivity_{slug(csv.stem)}",
            f"Sensitivity indices: {csv.stem}",
            "seed_share: the seed's share of the variance of single runs; "
            "seed_share_of_means: of the replicate means the indices use.",
            df,
            display,
            2,
        )
    return part


SECTION = Section(
    "sensitivity", "Sensitivity analysis", build, step="sensitivity", kinds=("sweep",)
)
