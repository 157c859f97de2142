"""Each arm's effect by margin: the change in provider revenue per member-month against the
baseline arm split into cases, length of stay, intensity per visit, coding and price per unit
(the run's ``decomposition_replicates.csv``, defined in :mod:`sim.results.margins`), and the
providers' admission rates by payer and risk quartile when they decided on cases
(``admission_rates.csv``). A run only: a sweep keeps no such tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.errors import ResultsError
from sim.publish.report.context import Context, Part, Section
from sim.publish.report.tables import with_ci
from sim.publish.trends import describe

#: the bars of the figure and columns of the table: (change column, label)
BARS = (
    ("d_total", "total"),
    ("d_cases", "cases"),
    ("d_length_of_stay", "length of stay"),
    ("d_intensity", "intensity per visit"),
    ("d_coding", "coding"),
    ("d_price", "price per unit"),
)
UNIT = "log points (≈ % change)"


def _read(path, what: str) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, keep_default_na=True)
    except Exception as exc:  # pandas raises several types for damaged files
        raise ResultsError(f"{path}: cannot be read as CSV ({exc}); {what}") from None


def build(ctx: Context) -> Part | None:
    """The decomposition figure and table; the admission-rate figure and table."""
    res = ctx.res
    per_rep = _read(res.folder / "decomposition_replicates.csv", "written by `sim run`")
    rates = _read(res.folder / "admission_rates.csv", "written by `sim run`")
    if per_rep is None and rates is None:
        return None
    part = ctx.part(
        "Each arm's effect on provider revenue per member-month (payer payments plus "
        "patients' cost sharing) against the baseline arm, split by margin over the summary "
        "window: cases (episodes started), length of stay (visits or days of stay per case), "
        "intensity per visit (service units per visit; 0 where the unit is the visit or the "
        "day), coding (coded/true risk; 0 without coding as a decision) and price per unit "
        "net of coding. In log points, total = cases + length of stay + intensity + coding + "
        "price, exactly, in every replication; all settings together by the log-mean Divisia "
        "index. Definitions: `sim/results/margins.py`."
    )
    if per_rep is not None:
        _decomposition(ctx, part, per_rep)
    if rates is not None:
        _admissions(ctx, part, rates)
    return part


def _decomposition(ctx: Context, part: Part, per_rep: pd.DataFrame) -> None:
    from sim.publish import figures as rf

    res = ctx.res
    base = str(per_rep["baseline"].iloc[0])
    d = per_rep.assign(arm=per_rep["arm"].astype(str), setting=per_rep["setting"].astype(str))
    keys = [k for k, _ in BARS]
    d[keys] = 100 * d[keys]
    others = [a for a in res.arms if a != base and a in set(d["arm"])]
    if not others:
        return
    settings = ["all", *[s for s in dict.fromkeys(d["setting"]) if s != "all"]]
    stats = describe(d[d["arm"].isin(others)], ["arm", "setting"], keys)
    label = dict(BARS)
    tidy = stats.assign(term=stats["measure"].map(label))
    part.data(
        tidy.drop(columns="measure"),
        "decomposition.csv",
        "change in provider revenue per member-month by margin, log points: mean and 95% CI",
    )
    # tick labels on two lines, so that six groups fit under a panel
    wrap = {lbl: lbl.replace(" ", "\n", 1) for _, lbl in BARS}
    figure_stats = stats.assign(group=tidy["term"].map(wrap), measure=stats["setting"])
    panels = [
        (s, "All settings" if s == "all" else f"{s} ({res.units.get(s, 'unit')})", UNIT)
        for s in settings
    ]
    fig = rf.group_bars(
        figure_stats,
        others,
        [wrap[lbl] for _, lbl in BARS],
        panels,
        xlabel="margin",
        suptitle=f"Effect on provider revenue by margin, against {rf.label_of(base)}",
        styles=ctx.styles,
        replications=res.replications,
    )
    for ax in fig.axes[: len(panels)]:
        ax.axvline(0.5, color="0.55", linewidth=0.6, linestyle=":")  # the total | its parts
    part.figure(
        fig,
        "decomposition",
        f"Effect on provider revenue by margin, against {base}",
        "Bars: mean over replications of the change in provider revenue per member-month "
        f"from the baseline arm ({base}), paired by replication, in log points (100 × the "
        "change in the natural log; ≈ % for small changes), and its split by margin (left "
        "of the dotted line: the total; right: the margins, which add up to it). Error "
        f"bars: {ctx.ci_fig}.",
    )
    rows = []
    for arm in others:
        for s in settings:
            st = stats[(stats["arm"] == arm) & (stats["setting"] == s)].set_index("measure")
            if st.empty:
                continue
            row = {"Arm": arm, "Setting": s}
            for k, lbl in BARS:
                r = st.loc[k]
                # a margin that did not move in any replication (coding without coded risk,
                # intensity where the unit is the visit): 0, without a spurious interval
                zero = r["mean"] == 0 and not (r["sd"] > 0)
                text = with_ci(r, 1, res.replications, signed=True)
                row[lbl.capitalize()] = "0" if zero else text
            rows.append(row)
    part.table(
        "decomposition",
        f"Effect on provider revenue per member-month by margin, against {base}",
        "Log points (100 × the change in the natural log; ≈ % for small changes); cells: mean "
        f"[95% CI] over {res.replications} replication(s) of the paired change. Total = cases "
        "+ length of stay + intensity per visit + coding + price per unit (the means add up "
        "exactly; intervals do not); 0: no change in any replication. n/a: a margin without a "
        "value (no cases, units or revenue in a setting of one of the arms).",
        tidy.drop(columns="measure"),
        pd.DataFrame(rows),
        2,
    )


def _admissions(ctx: Context, part: Part, rates: pd.DataFrame) -> None:
    from sim.publish import figures as rf

    res = ctx.res
    r = rates.assign(
        arm=rates["arm"].astype(str),
        setting=rates["setting"].astype(str),
        payer=rates["payer"].astype(str),
        risk_group=rates["risk_group"].astype(str),
    )
    arms = [a for a in res.arms if a in set(r["arm"])]
    payers = [p for p in dict.fromkeys(r["payer"]) if p != "all"]
    shown_payers = payers if len(payers) > 1 else ["all"]
    groups = [g for g in ("q1", "q2", "q3", "q4", "all") if g in set(r["risk_group"])]
    stats = r.rename(
        columns={
            "admission_rate": "mean",
            "admission_rate_ci_low": "ci_low",
            "admission_rate_ci_high": "ci_high",
            "risk_group": "group",
        }
    )
    stats["measure"] = stats["setting"] + " | " + stats["payer"]
    panels = [
        (f"{s} | {p}", f"{s}: {p}" if p != "all" else f"{s}: all payers", "share of cases taken")
        for s in dict.fromkeys(r["setting"])
        for p in shown_payers
        if ((r["setting"] == s) & (r["payer"] == p)).any()
    ]
    part.figure(
        rf.group_bars(
            stats,
            arms,
            groups,
            panels,
            xlabel="risk-score quartile (q1 lowest)",
            suptitle="Admission rates by payer and risk quartile",
            styles=ctx.styles,
            replications=res.replications,
        ),
        "admission_rates",
        "Admission rates by payer and risk quartile",
        "Bars: mean over replications of the share of the cases that sought care which the "
        "providers took over the summary window (admitted / decided), by setting, payer, "
        f"risk-score quartile (fixed at month 0) and arm; error bars: {ctx.ci_fig}.",
    )
    rows = []
    for (s, p, g), d in r.groupby(["setting", "payer", "risk_group"], sort=False):
        row = {"Setting": s, "Payer": p, "Risk group": g}
        for arm in arms:
            rows_of_arm = d[d["arm"] == arm]
            if rows_of_arm.empty:
                row[arm] = "n/a"
                continue
            x = rows_of_arm.iloc[0]
            n = int(x["replicates"])
            cell = pd.Series(
                {
                    "n": n if np.isfinite(x["admission_rate"]) else 0,
                    "mean": x["admission_rate"],
                    "ci_low": x["admission_rate_ci_low"],
                    "ci_high": x["admission_rate_ci_high"],
                }
            )
            row[arm] = with_ci(cell, 3, res.replications)
        rows.append(row)
    part.table(
        "admission_rates",
        "Admission rates by setting, payer and risk quartile",
        "Share of the cases decided that the providers took over the summary window; cells: "
        f"mean [95% CI] over {res.replications} replication(s). The paired change from the "
        "baseline arm is in the CSV (admission_rate_change).",
        r,
        pd.DataFrame(rows),
        3,
    )


SECTION = Section(
    "decomposition", "Effects by margin", build, step="effects by margin", kinds=("run",)
)
