"""Health-economic outcomes of a run: QALYs per member, costs by perspective, and between arms
the incremental cost and QALYs, the ICER and net monetary benefit (NMB) against the baseline
arm; over replications (or a sweep's runs) treated as a probabilistic sensitivity analysis,
the cost-effectiveness plane and the acceptability curve (CEAC).

Definitions (``[analysis]`` of the scenario):

- utility: each member's function at month end mapped to a weight (``utility_function`` /
  ``utility_values``, linear between points; the default is an assumption, labelled so);
  QALYs of a month = Σ utility / 12 over the month's members. Without a life course every
  member lives the whole run, so QALYs differ between arms only through function; with one
  (``[life]``) members die, and QALYs = Σ survival × utility / 12 differ through survival
  too; life-years are Σ members / 12.
- per member: without a life course, per member (every patient, all the run); with one, per
  person who was a member at some time in the run (the starting members and every entrant,
  the same in every arm), so deaths lower the QALYs and life-years per person.
- discounting: month ``m`` is weighted (1 + r)^(−m/12), r = ``discount_rate``; costs and QALYs
  alike.
- costs per member over the run, by perspective: ``health_system`` (payers' spending on care,
  adverse-event costs included, plus patients' out-of-pocket), ``public_payer`` (the public
  payer's spending, its capitation of plans included), ``plans`` (capitated plans' spending
  less their revenue: −plan margin), ``patients`` (out-of-pocket), ``providers`` (−provider
  margin: what care costs providers beyond what it earns them).
- per replication r, against the baseline arm b (paired: the arms of a replication share
  their random numbers): ΔC_r = C_r(arm) − C_r(b), ΔQ_r = Q_r(arm) − Q_r(b),
  NMB_r(λ) = λ·ΔQ_r − ΔC_r. The ICER is mean ΔC / mean ΔQ (a ratio of means, not a mean of
  ratios). CEAC(λ): the share of replications in which an arm has the highest NMB (the
  baseline's is 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

if TYPE_CHECKING:
    from sim.scenario import AnalysisConfig

PERSPECTIVE_COLUMNS = {
    "health_system": (("spending", 1.0), ("oop", 1.0)),
    "public_payer": (("public_payer_spending", 1.0),),
    "plans": (("plan_margin", -1.0),),
    "patients": (("oop", 1.0),),
    "providers": (("provider_margin", -1.0),),
}

#: economics.csv: one row per arm
ECONOMICS_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "baseline": (
        "string",
        "name",
        "The baseline (counterfactual) arm the increments are taken against.",
    ),
    "perspective": (
        "string",
        "name",
        "Cost perspective of cost_per_member, the increments, ICER and NMB.",
    ),
    "replicates": ("int64", "runs", "Replications (probabilistic-sensitivity draws) averaged."),
    "discount_rate": ("float64", "fraction/year", "Annual discount rate of costs and QALYs."),
    "qalys_per_member": (
        "float64",
        "QALYs",
        "Discounted QALYs per member over the run (mean over replications; with [life], per "
        "person who was a member at some time).",
    ),
    "cost_per_member": (
        "float64",
        "USD",
        "Discounted cost per member over the run, in the perspective (mean over replications).",
    ),
    **{
        f"cost_per_member_{p}": (
            "float64",
            "USD",
            f"Discounted cost per member over the run, {p.replace('_', ' ')} perspective.",
        )
        for p in PERSPECTIVE_COLUMNS
    },
    "incremental_cost": (
        "float64",
        "USD/member",
        "Mean over replications of the paired cost difference from the baseline.",
    ),
    "incremental_cost_ci_low": (
        "float64",
        "USD/member",
        "95% t-interval of incremental_cost, low end (NaN with 1 replication).",
    ),
    "incremental_cost_ci_high": (
        "float64",
        "USD/member",
        "95% t-interval of incremental_cost, high end.",
    ),
    "incremental_qalys": (
        "float64",
        "QALYs/member",
        "Mean over replications of the paired QALY difference from the baseline.",
    ),
    "incremental_qalys_ci_low": (
        "float64",
        "QALYs/member",
        "95% t-interval of incremental_qalys, low end.",
    ),
    "incremental_qalys_ci_high": (
        "float64",
        "QALYs/member",
        "95% t-interval of incremental_qalys, high end.",
    ),
    "icer": (
        "float64",
        "USD/QALY",
        "Incremental cost-effectiveness ratio: incremental_cost / incremental_qalys (NaN for the baseline, when ΔQALYs = 0, or when one arm dominates: see icer_note).",
    ),
    "icer_note": (
        "string",
        "text",
        "'dominant' (cheaper and better than the baseline), 'dominated' (dearer and worse), 'cheaper, worse' or 'dearer, better' (the ICER applies), or 'baseline'.",
    ),
}


#: economics_replicates.csv: one row per arm and draw (replicate; and point in a sweep)
INCREMENT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "replicate": ("int32", "index", "Replication (one probabilistic-sensitivity draw)."),
    "cost": ("float64", "USD/member", "Discounted cost per member in the analysis's perspective."),
    "qalys": ("float64", "QALYs/member", "Discounted QALYs per member."),
    "d_cost": ("float64", "USD/member", "cost minus the baseline arm's in the same replication."),
    "d_qalys": (
        "float64",
        "QALYs/member",
        "qalys minus the baseline arm's in the same replication.",
    ),
    "nmb_<wtp>": (
        "float64",
        "USD/member",
        "Net monetary benefit against the baseline at <wtp> USD/QALY: wtp·d_qalys − d_cost (one column per threshold).",
    ),
}

#: ceac.csv: the acceptability curve
CEAC_COLUMNS: dict[str, tuple[str, str, str]] = {
    "wtp": ("float64", "USD/QALY", "Willingness to pay per QALY (λ)."),
    "arm": ("string", "name", "Arm."),
    "probability": (
        "float64",
        "fraction",
        "Share of replications in which the arm has the highest net monetary benefit at λ.",
    ),
}


def increment_columns(wtp: list[float], life: bool = False) -> dict[str, tuple[str, str, str]]:
    """economics_replicates.csv's columns with one NMB column per threshold (and, with a life
    course, the life-year difference)."""
    out = {k: v for k, v in INCREMENT_COLUMNS.items() if k != "nmb_<wtp>"}
    if life:
        out["d_life_years"] = (
            "float64",
            "years/member",
            "Discounted life-years per person minus the baseline arm's in the same replication.",
        )
    t, u, d = INCREMENT_COLUMNS["nmb_<wtp>"]
    for w in wtp:
        out[f"nmb_{w:.0f}"] = (
            t,
            u,
            d.replace("<wtp>", f"{w:,.0f}").replace(" (one column per threshold)", ""),
        )
    return out


def wtp_columns(wtp: list[float]) -> dict[str, tuple[str, str, str]]:
    """The NMB columns of economics.csv, one mean and interval per threshold."""
    out: dict[str, tuple[str, str, str]] = {}
    for w in wtp:
        k = f"nmb_{w:.0f}"
        out[k] = ("float64", "USD/member", f"Net monetary benefit at ${w:,.0f}/QALY: λ·ΔQ − ΔC.")
        out[f"{k}_ci_low"] = ("float64", "USD/member", f"95% t-interval of {k}, low end.")
        out[f"{k}_ci_high"] = ("float64", "USD/member", f"95% t-interval of {k}, high end.")
        out[f"prob_cost_effective_{w:.0f}"] = (
            "float64",
            "fraction",
            f"Share of replications in which the arm's NMB at ${w:,.0f}/QALY is the highest of "
            "all arms (the acceptability curve at that threshold).",
        )
    return out


#: economics.csv's columns with a life course ([life])
LIFE_ECONOMICS_COLUMNS: dict[str, tuple[str, str, str]] = {
    "life_years_per_member": (
        "float64",
        "years",
        "Discounted life-years per person over the run (mean over replications).",
    ),
    "incremental_life_years": (
        "float64",
        "years/member",
        "Mean over replications of the paired life-year difference from the baseline.",
    ),
    "incremental_life_years_ci_low": (
        "float64",
        "years/member",
        "95% t-interval of incremental_life_years, low end.",
    ),
    "incremental_life_years_ci_high": (
        "float64",
        "years/member",
        "95% t-interval of incremental_life_years, high end.",
    ),
    "deaths_per_1000": (
        "float64",
        "deaths/1,000 persons",
        "Deaths over the run per 1,000 persons (mean over replications).",
    ),
}


def economics_columns(wtp: list[float], life: bool) -> dict[str, tuple[str, str, str]]:
    """economics.csv's columns: :data:`ECONOMICS_COLUMNS`, the life course's, the NMB ones."""
    return {**ECONOMICS_COLUMNS, **(LIFE_ECONOMICS_COLUMNS if life else {}), **wtp_columns(wtp)}


def discount(months: npt.ArrayLike, rate: float) -> np.ndarray:
    """Weights (1 + rate)^(−month/12)."""
    return (1.0 + rate) ** (-np.asarray(months, float) / 12.0)


def per_replicate(
    monthly: pd.DataFrame, subgroups: pd.DataFrame, cfg: AnalysisConfig, keys: list[str]
) -> pd.DataFrame:
    """Discounted QALYs and costs per member over the run, one row per ``keys`` (arm,
    replicate, and the sweep's point when there is one); with a life course (the subgroup
    table has ``deaths``) per person ever a member, with life-years and deaths."""
    first = monthly["setting"].iloc[0]
    mk = [*keys, "month"]
    members = monthly[monthly["setting"] == first].groupby(mk, sort=False)["members"].sum()
    everyone = subgroups[subgroups["subgroup"] == "all"]
    life = "deaths" in subgroups.columns
    if life:
        # per person ever a member: the same denominator every month
        persons = _persons(everyone, keys)
        members = (
            members.reset_index("month")
            .drop(columns="members")
            .join(persons)
            .set_index("month", append=True)["members"]
        )
    w = pd.Series(
        discount(members.index.get_level_values("month"), cfg.discount_rate), index=members.index
    )
    out = {}
    sums = monthly.groupby(mk, sort=False)[
        sorted({c for cols in PERSPECTIVE_COLUMNS.values() for c, _ in cols})
    ].sum()
    for p, cols in PERSPECTIVE_COLUMNS.items():
        cost = sum(sign * sums[c] for c, sign in cols)
        out[f"cost_per_member_{p}"] = (w * cost / members).groupby(keys, sort=False).sum()
    everyone = everyone.set_index(mk)
    if life:
        per = members.loc[everyone.index]
        q = everyone["qalys"] / per
    else:
        q = everyone["qalys"] / everyone["members"]
    wq = discount(q.index.get_level_values("month"), cfg.discount_rate)
    out["qalys_per_member"] = (q * wq).groupby(keys, sort=False).sum()
    out["qalys_per_member_undiscounted"] = q.groupby(keys, sort=False).sum()
    if life:
        ly = everyone["life_years"] / per
        out["life_years_per_member"] = (ly * wq).groupby(keys, sort=False).sum()
        out["deaths_per_1000"] = (1000.0 * everyone["deaths"] / per).groupby(keys, sort=False).sum()
    return pd.DataFrame(out).reset_index()


def _persons(everyone: pd.DataFrame, keys: list[str]) -> pd.Series:
    """People ever members in each run (``keys``) of the ``all`` group's rows: the first
    month's members less its entrants, plus every entrant (a Series named ``members``)."""
    start = everyone[everyone["month"] == everyone.groupby(keys)["month"].transform("min")]
    out = (
        start.groupby(keys, sort=False)["members"].sum()
        - start.groupby(keys, sort=False)["entries"].sum()
        + everyone.groupby(keys, sort=False)["entries"].sum()
    ).astype(float)
    return out.rename("members")


def _ci(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan
    h = float(sps.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h


def increments(
    per_rep: pd.DataFrame, cfg: AnalysisConfig, baseline: str, draw: list[str]
) -> pd.DataFrame:
    """Paired differences from the baseline per draw (``draw``: the replicate, and the point
    of a sweep): ``d_cost``, ``d_qalys`` and ``nmb_<λ>`` for each threshold."""
    cost = f"cost_per_member_{cfg.perspective}"
    base = per_rep.loc[per_rep["arm"] == baseline, [*draw, cost, "qalys_per_member"]]
    rows = per_rep.merge(base, on=draw, how="left", suffixes=("", "_base"), sort=False)
    out = rows[["arm", *draw]].copy()
    out["cost"] = rows[cost]
    out["qalys"] = rows["qalys_per_member"]
    out["d_cost"] = rows[cost] - rows[f"{cost}_base"]
    out["d_qalys"] = rows["qalys_per_member"] - rows["qalys_per_member_base"]
    if "life_years_per_member" in per_rep:
        base_ly = per_rep.loc[per_rep["arm"] == baseline, [*draw, "life_years_per_member"]]
        ly = per_rep.merge(base_ly, on=draw, how="left", suffixes=("", "_base"), sort=False)
        out["d_life_years"] = ly["life_years_per_member"] - ly["life_years_per_member_base"]
    for w in cfg.wtp:
        out[f"nmb_{w:.0f}"] = w * out["d_qalys"] - out["d_cost"]
    return out.reset_index(drop=True)


def ceac(inc: pd.DataFrame, draw: list[str], wtp: np.ndarray) -> pd.DataFrame:
    """The acceptability curve: for each λ and arm, the share of draws in which the arm's NMB
    (λ·ΔQ − ΔC against the baseline) is the highest of all arms (ties shared equally)."""
    arms = list(dict.fromkeys(inc["arm"]))
    dq = inc.pivot_table(index=draw, columns="arm", values="d_qalys", sort=False)[arms]
    dc = inc.pivot_table(index=draw, columns="arm", values="d_cost", sort=False)[arms]
    rows = []
    q, c = dq.to_numpy(float), dc.to_numpy(float)
    for lam in wtp:
        nmb = lam * q - c
        best = nmb >= nmb.max(axis=1, keepdims=True) - 1e-9 * (1 + np.abs(nmb).max())
        share = (best / best.sum(axis=1, keepdims=True)).mean(axis=0)
        rows += [
            {"wtp": float(lam), "arm": a, "probability": float(share[i])}
            for i, a in enumerate(arms)
        ]
    return pd.DataFrame(rows)


def _note(dc: float, dq: float) -> str:
    if not (np.isfinite(dc) and np.isfinite(dq)):
        return ""
    if dq > 0 and dc <= 0:
        return "dominant"
    if dq < 0 and dc >= 0:
        return "dominated"
    if dq < 0:
        return "cheaper, worse"
    if dq > 0:
        return "dearer, better"
    return "equal QALYs"


def table(
    per_rep: pd.DataFrame, inc: pd.DataFrame, cfg: AnalysisConfig, baseline: str, draw: list[str]
) -> pd.DataFrame:
    """economics.csv: one row per arm (columns :data:`ECONOMICS_COLUMNS` + NMB columns)."""
    probs = ceac(inc, draw, np.asarray(cfg.wtp, float)).set_index(["wtp", "arm"])["probability"]
    life = "life_years_per_member" in per_rep
    rows = []
    for arm, d in per_rep.groupby("arm", sort=False):
        i = inc[inc["arm"] == arm]
        dc = _ci(i["d_cost"].to_numpy(float))
        dq = _ci(i["d_qalys"].to_numpy(float))
        is_base = arm == baseline
        icer = np.nan
        if (
            not is_base
            and dq[0] != 0
            and _note(dc[0], dq[0]) in ("cheaper, worse", "dearer, better")
        ):
            icer = dc[0] / dq[0]
        row = {
            "arm": arm,
            "baseline": baseline,
            "perspective": cfg.perspective,
            "replicates": len(d),
            "discount_rate": cfg.discount_rate,
            "qalys_per_member": float(d["qalys_per_member"].mean()),
            "cost_per_member": float(d[f"cost_per_member_{cfg.perspective}"].mean()),
            **{
                f"cost_per_member_{p}": float(d[f"cost_per_member_{p}"].mean())
                for p in PERSPECTIVE_COLUMNS
            },
            "incremental_cost": dc[0],
            "incremental_cost_ci_low": dc[1],
            "incremental_cost_ci_high": dc[2],
            "incremental_qalys": dq[0],
            "incremental_qalys_ci_low": dq[1],
            "incremental_qalys_ci_high": dq[2],
            "icer": icer,
            "icer_note": "baseline" if is_base else _note(dc[0], dq[0]),
        }
        if life:
            dl = _ci(i["d_life_years"].to_numpy(float))
            row |= {
                "life_years_per_member": float(d["life_years_per_member"].mean()),
                "incremental_life_years": dl[0],
                "incremental_life_years_ci_low": dl[1],
                "incremental_life_years_ci_high": dl[2],
                "deaths_per_1000": float(d["deaths_per_1000"].mean()),
            }
        for w in cfg.wtp:
            k = f"nmb_{w:.0f}"
            m, lo, hi = _ci(i[k].to_numpy(float))
            row |= {
                k: m,
                f"{k}_ci_low": lo,
                f"{k}_ci_high": hi,
                f"prob_cost_effective_{w:.0f}": float(probs[(float(w), arm)]),
            }
        rows.append(row)
    cols = economics_columns(cfg.wtp, life)
    return pd.DataFrame(rows, columns=list(cols)).astype({k: v[0] for k, v in cols.items()})


def analyse(
    monthly: pd.DataFrame, subgroups: pd.DataFrame, cfg: AnalysisConfig, baseline: str
) -> dict[str, pd.DataFrame]:
    """Everything above for a run's tables: ``per_replicate``, ``increments``, ``table``,
    ``ceac`` (on a grid of λ from 0 to twice the largest threshold)."""
    keys = ["point", "arm", "replicate"] if "point" in monthly else ["arm", "replicate"]
    draw = [k for k in keys if k != "arm"]
    pr = per_replicate(monthly, subgroups, cfg, keys)
    inc = increments(pr, cfg, baseline, draw)
    grid = np.linspace(0.0, 2.0 * max(cfg.wtp), 41)
    return {
        "per_replicate": pr,
        "increments": inc,
        "table": table(pr, inc, cfg, baseline, draw),
        "ceac": ceac(inc, draw, grid),
    }
