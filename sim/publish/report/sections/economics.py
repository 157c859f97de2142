"""Health economics: QALYs, costs, ICER and net monetary benefit against the baseline arm
(from the run's ``economics.csv``, defined in :mod:`sim.results.economics`), the
cost-effectiveness plane and the cost-effectiveness acceptability curve (CEAC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.context import Context, Part, Section


def build(ctx: Context) -> Part | None:
    """QALYs, costs, ICER and NMB against the baseline; the CE plane and the CEAC."""
    from sim.publish import figures as rf

    res = ctx.res
    eco = res.economics
    if eco is None:
        return None
    t = eco["table"]
    base = str(t["baseline"].iloc[0])
    perspective = str(t["perspective"].iloc[0]).replace("_", " ")
    rate = float(t["discount_rate"].iloc[0])
    wtp = sorted(
        {float(c.split("_")[1]) for c in t.columns if c.startswith("nmb_") and c.count("_") == 1}
    )
    part = ctx.part(
        f"QALYs per member (function mapped to utility), costs in the **{perspective}** "
        f"perspective, both discounted at {100 * rate:g}% a year, against the baseline arm "
        f"**{base}**; "
        + (
            "members die (the life course), so QALYs and life-years per person ever a member "
            "differ through survival as well as function. "
            if "life_years_per_member" in t.columns
            else "the model has no mortality, so QALYs differ only through function. "
        )
        + "Definitions: `sim/results/economics.py`.",
    )
    inc = eco["increments"]
    draws = int(inc["replicate"].nunique()) if "replicate" in inc else 0
    others = [a for a in res.arms if a != base and a in set(inc["arm"])]
    if others:
        part.figure(
            rf.ce_plane(
                inc,
                others,
                wtp,
                styles=ctx.styles,
                baseline=base,
                cost_label=f"incremental cost per member, USD ({perspective})",
            ),
            "ce_plane",
            f"Cost-effectiveness plane against {label_of(base)}",
            f"Small markers: one per replication ({draws} draws of the probabilistic "
            "sensitivity analysis); large markers: the means. Lines through the origin: equal "
            "net monetary benefit at each willingness-to-pay threshold (below a line, the arm "
            "is cost-effective at that threshold).",
        )
    part.figure(
        rf.ceac_curve(
            eco["ceac"],
            [a for a in res.arms if a in set(eco["ceac"]["arm"])],
            wtp,
            styles=ctx.styles,
            draws=draws,
        ),
        "ceac",
        "Cost-effectiveness acceptability curve",
        "For each willingness to pay per QALY, the share of replications (draws) in which each "
        "arm has the highest net monetary benefit; dotted, labelled lines: the scenario's "
        "thresholds. Arms never the highest at any threshold shown are named under the figure "
        "instead of drawn on top of each other at zero."
        + (" One replication: each probability is 0 or 1." if draws == 1 else ""),
    )
    rows = []
    for _, r in t.iterrows():
        row = {
            "Arm": label_of(r["arm"]),
            "QALYs/member": f"{r['qalys_per_member']:.4f}",
            "Cost/member (USD)": f"{r['cost_per_member']:,.2f}",
            "ΔCost (USD)": _ci3(r, "incremental_cost", 2),
            "ΔQALYs": _ci3(r, "incremental_qalys", 5),
            **(
                {"ΔLife-years": _ci3(r, "incremental_life_years", 5)}
                if "incremental_life_years" in t.columns
                else {}
            ),
            "ICER (USD/QALY)": (f"{r['icer']:,.0f}" if np.isfinite(r["icer"]) else "—")
            + (
                f" ({r['icer_note']})" if isinstance(r["icer_note"], str) and r["icer_note"] else ""
            ),
        }
        for w in wtp:
            row[f"NMB at ${w / 1000:,.0f}k"] = _ci3(r, f"nmb_{w:.0f}", 2)
        rows.append(row)
    part.table(
        "economics",
        f"QALYs, costs, ICER and net monetary benefit against {base}",
        f"Per member over the run, discounted at {100 * rate:g}%/year; costs: {perspective} "
        "perspective. Δ: arm − baseline, paired by replication; cells: mean [95% CI]. "
        "ICER = mean ΔCost / mean ΔQALYs (shown where neither arm dominates); NMB = "
        "λ·ΔQALYs − ΔCost at willingness to pay λ per QALY.",
        t,
        pd.DataFrame(rows),
        1,
    )
    return part


def _ci3(r: pd.Series, k: str, dec: int) -> str:
    m, lo, hi = r[k], r.get(f"{k}_ci_low"), r.get(f"{k}_ci_high")
    text = f"{m:+,.{dec}f}" if np.isfinite(m) else "n/a"
    if (
        lo is not None
        and hi is not None
        and np.isfinite(lo)
        and np.isfinite(hi)
        and r["arm"] != r["baseline"]
    ):
        text += f" [{lo:,.{dec}f}, {hi:,.{dec}f}]"
    return text


SECTION = Section("economics", "Health-economic outcomes", build, step="health economics")
