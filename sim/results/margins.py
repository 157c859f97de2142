"""Each arm's effect decomposed by margin, against the baseline arm, and the providers'
admission rates by payer and risk group: ``decomposition.csv``, ``decomposition_replicates.csv``
and ``admission_rates.csv`` of a results folder.

**What is decomposed.** Provider revenue per member-month, R/M: what providers received for
the care of the members (payer payments plus patients' cost sharing, lump payments,
pay-for-performance and reconciliations included: the monthly table's ``provider_revenue``), over
the run's summary window (the last ``outputs.summary_months`` months, as ``summary.csv``).
It is the payer's and the patients' spending on care together; the payer's share of
adverse-event costs (in ``spending``) is left out, as no margin of care prices it.

**The identity.** In a setting, over the window of one replicate of an arm, with C the
episodes of care started (cases: admissions, accepted patients, starts of care — with
``behaviour.admission`` on, the cases the providers took), V the visits (days of stay where
the service unit is a day), U the service units, κ the coding ratio and p the price per unit
net of coding:

    R/M = (C/M) · (V/C) · (U/V) · κ · p,        p = R / (κ·U),

so, for an arm a against the baseline b in the same replicate (Δx = ln x_a − ln x_b),

    Δln(R/M) = Δln(C/M) + Δln(V/C) + Δln(U/V) + Δln κ + Δln p
    total    = cases    + length of stay + intensity + coding + price,

exactly (terms in natural-log points; × 100 ≈ percent for small changes):

- **cases**: episodes started per member-month;
- **length of stay**: visits per case — days of stay per case where the unit is a day of
  stay or an inpatient day, visits per episode elsewhere;
- **intensity**: service units per visit (15-minute units per therapy visit; 1 where the
  unit is the visit or the day, so the term is 0 there);
- **coding**: κ, the coded/true risk of the patients in care over the window, Σ
  ``coded_risk_in_care`` / Σ ``risk_in_care`` (the monthly columns of coding as a decision;
  their ratio by row is ``coded_risk_ratio``). It is 1 — the term 0 — when the run has no
  such columns, or no risk in care in the setting;
- **price**: revenue per service unit net of coding, R/(κ·U). Under capitation or a bundle
  revenue does not follow units, so fewer units show as a higher price per unit.

Intensity per case, units per case U/C, is length of stay × intensity (``d_intensity_per_case``
= ``d_length_of_stay`` + ``d_intensity``; not a further term). Length of stay is measured on
the cases of the window (visits of the window per case started in it), not on the stays that
ended in it (``episode_units_ended / episodes_ended``), so that the terms add up; in a steady
state the two agree, and the tables give the ended stays' units per episode beside it
(``units_per_ended_episode``, ``d_units_per_ended_episode``) as a check, not a term.

**All settings.** Units differ between settings (15-minute units, visits, days), so they are
never added across settings. The all-settings row splits the total by the logarithmic-mean
Divisia index (LMDI; Ang 2004): with r_s = R_s/M the revenue per member-month of setting s
(r = Σ_s r_s), L(x, y) = (x − y)/(ln x − ln y) and L(x, x) = x the logarithmic mean,

    Δln r = Σ_s ω_s · Δln r_s,     ω_s = L(r_s,a, r_s,b) / L(r_a, r_b),

exactly (L(x, y)·ln(x/y) = x − y), and each margin's all-settings term is Σ_s ω_s × its
setting term, so the all-settings terms add up to the all-settings total as well. A setting
with revenue in neither arm adds nothing; a setting with revenue in one arm only (or none of
its cases, visits or units) has no split, and the all-settings terms are then NaN (the total
is not).

**Replicates and intervals.** Every term is computed within each replicate (the arms of a
replicate share their random numbers: common random numbers), then averaged over replicates
with a 95% t-interval of the mean, mean ± t(0.975, n−1)·s/√n (none below 2 replicates), as
every statistic of ``sim report``. Means of the terms add up to the mean total; intervals do
not add. A term is NaN where a quantity in its log is not positive (no cases, no units, or no
revenue in a setting).

**Admission rates.** With ``behaviour.admission`` on, the share of the cases that sought care
which the providers took (``admission_rate``), by setting, payer (and all payers) and risk-score
quartile (and all members), over the summary window, per replicate: admitted / decided, the
monthly ratios weighted by their cases decided (``cases_decided``,
``cases_decided_risk_q1`` … ``q4``); then the mean, its interval, and the paired change from
the baseline arm.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

#: the monthly sums of the coded and the true risk scores of the patients in care, whose
#: ratio is the coding factor κ (absent: κ = 1)
CODED_RISK, TRUE_RISK = "coded_risk_in_care", "risk_in_care"
#: the risk-score quartiles of the admission columns
RISK_GROUPS = ("q1", "q2", "q3", "q4")
#: the additive terms of the decomposition, in order: (key, label)
TERMS: tuple[tuple[str, str], ...] = (
    ("cases", "cases"),
    ("length_of_stay", "length of stay"),
    ("intensity", "intensity per visit"),
    ("coding", "coding"),
    ("price", "price per unit"),
)
#: the monthly columns the decomposition reads (besides the coding column, when present)
NEEDED = ("arm", "replicate", "month", "setting", "payer", "members", "provider_revenue",
          "episodes", "visits", "service_units", "episode_units_ended", "episodes_ended")  # fmt: skip

_ID = {
    "arm": ("string", "name", "Arm."),
    "baseline": ("string", "name", "The baseline arm the changes are taken against."),
    "setting": ("string", "name", "Care setting, or 'all' for every setting together (LMDI: see the module's docstring)."),
}  # fmt: skip
_LEVELS = {
    "revenue_pmpm": ("float64", "USD/member-month", "Provider revenue (payer payments + patients' cost sharing) per member-month: the quantity decomposed."),
    "cases_per_1000": ("float64", "episodes/1000 member-months", "Episodes of care started (cases taken) per 1,000 member-months."),
    "visits_per_case": ("float64", "visits/episode", "Visits per case (days of stay per case where the unit is a day): length of stay. NaN for 'all'."),
    "units_per_visit": ("float64", "units/visit", "Service units per visit (1 where the unit is the visit or the day): intensity. NaN for 'all'."),
    "coding_ratio": ("float64", "ratio", "Coded/true risk of the patients in care over the window, Σ coded_risk_in_care / Σ risk_in_care (1 without them). NaN for 'all'."),
    "price_per_unit": ("float64", "USD/unit", "Provider revenue per service unit net of coding, revenue / (coding_ratio × service_units). NaN for 'all'."),
    "units_per_ended_episode": ("float64", "units/episode", "Units over the whole of the episodes that ended in the window per episode ended (length of stay of ended stays; a check on visits_per_case × units_per_visit, not a term). NaN for 'all'."),
}  # fmt: skip
_CHANGES = {
    "d_total": ("float64", "log points", "ln(revenue_pmpm) minus the baseline's: the change decomposed (= d_cases + d_length_of_stay + d_intensity + d_coding + d_price)."),
    "d_cases": ("float64", "log points", "Change in ln(cases per member-month): the cases margin."),
    "d_length_of_stay": ("float64", "log points", "Change in ln(visits per case): the length-of-stay margin."),
    "d_intensity": ("float64", "log points", "Change in ln(units per visit): the intensity margin (per visit or day)."),
    "d_coding": ("float64", "log points", "Change in ln(coding_ratio): the coding margin (0 without coding as a decision)."),
    "d_price": ("float64", "log points", "Change in ln(price_per_unit): the price-per-unit margin, net of coding."),
    "d_intensity_per_case": ("float64", "log points", "Change in ln(units per case) = d_length_of_stay + d_intensity (not a further term)."),
    "d_units_per_ended_episode": ("float64", "log points", "Change in ln(units_per_ended_episode): length of stay measured on the stays ended (a check, not a term)."),
}  # fmt: skip
CHANGE_KEYS = list(_CHANGES)

#: decomposition_replicates.csv: one row per arm, setting and replicate
REPLICATE_COLUMNS: dict[str, tuple[str, str, str]] = {
    **_ID,
    "replicate": ("int32", "index", "Replication (common random numbers across arms)."),
    "member_months": ("float64", "member-months", "Member-months of the window."),
    **_LEVELS,
    **_CHANGES,
}
#: decomposition.csv: one row per arm and setting
DECOMPOSITION_COLUMNS: dict[str, tuple[str, str, str]] = {
    **_ID,
    "replicates": ("int64", "runs", "Replications averaged."),
    **{k: (t, u, f"{d} Mean over replications.") for k, (t, u, d) in _LEVELS.items()},
    **{
        c: entry
        for k, (t, u, d) in _CHANGES.items()
        for c, entry in (
            (k, (t, u, f"{d} Mean over replications of the paired change.")),
            (f"{k}_ci_low", (t, u, f"95% t-interval of {k}, low end (NaN with 1 replication).")),
            (f"{k}_ci_high", (t, u, f"95% t-interval of {k}, high end.")),
        )
    },
}
#: admission_rates.csv: one row per arm, setting, payer and risk group
ADMISSION_COLUMNS: dict[str, tuple[str, str, str]] = {
    "arm": ("string", "name", "Arm."),
    "baseline": ("string", "name", "The baseline arm of admission_rate_change."),
    "setting": ("string", "name", "Care setting."),
    "payer": ("string", "name", "Payer of the patients, or 'all'."),
    "risk_group": ("string", "label", "Risk-score quartile q1 (lowest) to q4 (quartiles of the whole population at the start), or 'all'."),
    "replicates": ("int64", "runs", "Replications averaged."),
    "cases_decided": ("float64", "episodes", "Cases that sought care and were decided on over the window (mean over replications)."),
    "admission_rate": ("float64", "fraction", "Share of the cases decided that the providers took (mean over replications of each replicate's admitted / decided)."),
    "admission_rate_ci_low": ("float64", "fraction", "95% t-interval of admission_rate, low end (NaN with 1 replication)."),
    "admission_rate_ci_high": ("float64", "fraction", "95% t-interval of admission_rate, high end."),
    "admission_rate_change": ("float64", "fraction", "admission_rate minus the baseline arm's, paired by replication (mean)."),
    "admission_rate_change_ci_low": ("float64", "fraction", "95% t-interval of admission_rate_change, low end."),
    "admission_rate_change_ci_high": ("float64", "fraction", "95% t-interval of admission_rate_change, high end."),
}  # fmt: skip


def log_mean(x: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    """The logarithmic mean L(x, y) = (x − y)/(ln x − ln y), L(x, x) = x, of positive
    numbers (NaN where either is not positive)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0)
    xs, ys = np.where(ok, x, 1.0), np.where(ok, y, 1.0)
    d = np.log(xs) - np.log(ys)
    same = np.abs(d) < 1e-12
    out = np.where(same, 0.5 * (xs + ys), (xs - ys) / np.where(same, 1.0, d))
    return np.where(ok, out, np.nan)


def _log(x: Any) -> Any:
    """ln x, NaN where x is not positive."""
    x = np.asarray(x, float)
    return np.log(np.where(x > 0, x, np.nan))


def window(monthly: pd.DataFrame, last_months: int = 0) -> pd.DataFrame:
    """The rows of the summary window: the last ``last_months`` months (0: all)."""
    if last_months:
        return monthly[monthly["month"] > monthly["month"].max() - last_months]
    return monthly


def levels(monthly: pd.DataFrame, last_months: int = 0) -> pd.DataFrame:
    """Per (arm, replicate, setting): the window's sums and the factors of the identity
    (module docstring), one row each."""
    m = window(monthly, last_months)
    keys = ["arm", "replicate", "setting"]
    m = m.assign(arm=m["arm"].astype(str), setting=m["setting"].astype(str))
    coding = CODED_RISK in m and TRUE_RISK in m
    cols = ["members", "provider_revenue", "episodes", "visits", "service_units",
            "episode_units_ended", "episodes_ended", *([CODED_RISK, TRUE_RISK] if coding else [])]  # fmt: skip
    s = m.groupby(keys, sort=False)[cols].sum().astype(float)
    units = s["service_units"]
    if coding:
        true = s[TRUE_RISK]
        kappa = (s[CODED_RISK] / true.where(true > 0)).fillna(1.0)
    else:
        kappa = pd.Series(1.0, index=s.index)
    coded_units = units * kappa
    out = pd.DataFrame(index=s.index)
    out["member_months"] = s["members"]
    out["revenue"] = s["provider_revenue"]
    out["revenue_pmpm"] = s["provider_revenue"] / s["members"]
    out["cases_per_1000"] = 1000 * s["episodes"] / s["members"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["visits_per_case"] = s["visits"] / s["episodes"].where(s["episodes"] > 0)
        out["units_per_visit"] = units / s["visits"].where(s["visits"] > 0)
        out["coding_ratio"] = kappa
        out["price_per_unit"] = s["provider_revenue"] / coded_units.where(coded_units > 0)
        out["units_per_ended_episode"] = s["episode_units_ended"] / s["episodes_ended"].where(
            s["episodes_ended"] > 0
        )
    return out.reset_index()


#: each change's level: Δ of its log (d_total's is revenue per member-month)
_OF = {
    "d_total": "revenue_pmpm",
    "d_coding": "coding_ratio",
    "d_price": "price_per_unit",
    "d_intensity": "units_per_visit",
    "d_length_of_stay": "visits_per_case",
    "d_units_per_ended_episode": "units_per_ended_episode",
}


def by_replicate(
    monthly: pd.DataFrame, baseline: str, last_months: int = 0, arms: list[str] | None = None
) -> pd.DataFrame:
    """decomposition_replicates.csv: per (arm, setting, replicate), the levels and the log
    changes from the baseline arm in the same replicate; settings in the table's order, then
    ``all``; arms in the order of ``arms`` (default: as found)."""
    lv = levels(monthly, last_months)
    arms = arms or list(dict.fromkeys(lv["arm"]))
    settings = list(dict.fromkeys(lv["setting"]))
    base = lv[lv["arm"] == baseline].set_index(["replicate", "setting"])
    rows = []
    for arm in arms:
        mine = lv[lv["arm"] == arm].set_index(["replicate", "setting"])
        b = base.reindex(mine.index)
        d = pd.DataFrame(index=mine.index)
        for k, col in _OF.items():
            d[k] = _log(mine[col]) - _log(b[col])
        # cases per member-month: members may differ between arms (the total's M too)
        d["d_cases"] = _log(mine["cases_per_1000"]) - _log(b["cases_per_1000"])
        d["d_intensity_per_case"] = d["d_length_of_stay"] + d["d_intensity"]
        setting_rows = pd.concat([mine, d], axis=1).reset_index()
        rows.append(setting_rows.assign(arm=arm))
        rows.append(_all_settings(arm, mine, b, d, settings))
    out = pd.concat(rows, ignore_index=True).assign(baseline=baseline)
    order = {s: i for i, s in enumerate([*settings, "all"])}
    rank = {a: i for i, a in enumerate(arms)}
    out = out.assign(_a=out["arm"].map(rank), _s=out["setting"].map(order))
    out = out.sort_values(["_a", "_s", "replicate"], kind="stable")
    return _typed(out.drop(columns=["_a", "_s"]), REPLICATE_COLUMNS)


def _all_settings(
    arm: str, mine: pd.DataFrame, base: pd.DataFrame, d: pd.DataFrame, settings: list[str]
) -> pd.DataFrame:
    """The all-settings rows of one arm, one per replicate (LMDI weights: module docstring)."""
    rows = []
    for rep in dict.fromkeys(mine.index.get_level_values("replicate")):
        a, b, dd = mine.loc[rep], base.loc[rep], d.loc[rep]
        mm_a = float(a["member_months"].iloc[0])
        ra, rb = a["revenue_pmpm"].to_numpy(float), b["revenue_pmpm"].to_numpy(float)
        tot_a, tot_b = float(ra.sum()), float(rb.sum())
        row: dict[str, Any] = {
            "arm": arm,
            "setting": "all",
            "replicate": rep,
            "member_months": mm_a,
            "revenue_pmpm": tot_a,
            "cases_per_1000": float(a["cases_per_1000"].sum()),
            "d_total": float(_log(tot_a) - _log(tot_b)),
        }
        both = (ra > 0) & (rb > 0)
        neither = (ra == 0) & (rb == 0)
        w = log_mean(ra, rb) / log_mean(tot_a, tot_b)
        terms = [k for k, _ in TERMS]
        split = dd[[f"d_{k}" for k in terms]].to_numpy(float)
        ok = bool((both | neither).all()) and np.isfinite(split[both]).all()
        for i, k in enumerate(terms):
            row[f"d_{k}"] = float(np.sum(w[both] * split[both, i])) if ok else np.nan
        row["d_intensity_per_case"] = row["d_length_of_stay"] + row["d_intensity"]
        rows.append(row)
    return pd.DataFrame(rows)


def _typed(df: pd.DataFrame, columns: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    out = df.reindex(columns=list(columns)).reset_index(drop=True)
    return out.astype({k: v[0] for k, v in columns.items()})


def interval(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of the finite values of ``x`` (NaN interval below 2)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if n < 2:
        return m, np.nan, np.nan
    h = float(sps.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h


def table(per_rep: pd.DataFrame) -> pd.DataFrame:
    """decomposition.csv: per (arm, setting), the mean levels and the mean changes with their
    95% t-intervals over replications."""
    rows = []
    for (arm, setting), d in per_rep.groupby(["arm", "setting"], sort=False):
        row: dict[str, Any] = {
            "arm": arm,
            "baseline": d["baseline"].iloc[0],
            "setting": setting,
            "replicates": int(d["replicate"].nunique()),
        }
        for k in _LEVELS:
            row[k] = float(d[k].mean())  # NaN when all are NaN
        for k in _CHANGES:
            row[k], row[f"{k}_ci_low"], row[f"{k}_ci_high"] = interval(d[k].to_numpy(float))
        rows.append(row)
    return _typed(pd.DataFrame(rows), DECOMPOSITION_COLUMNS)


def decompose(
    monthly: pd.DataFrame, baseline: str, last_months: int = 0, arms: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The decomposition of a run's monthly table: ``replicates`` (per arm, setting and
    replicate) and ``table`` (means and intervals)."""
    per_rep = by_replicate(monthly, baseline, last_months, arms)
    return {"replicates": per_rep, "table": table(per_rep)}


# ---------------------------------------------------------------------------------------------
# admission rates


def has_admissions(monthly: pd.DataFrame) -> bool:
    """Whether the run's providers decided on cases (``behaviour.admission`` on)."""
    return "cases_decided" in monthly and bool((monthly["cases_decided"] > 0).any())


def admission_rates(
    monthly: pd.DataFrame, baseline: str, last_months: int = 0, arms: list[str] | None = None
) -> pd.DataFrame:
    """admission_rates.csv: per arm, setting, payer (and all) and risk quartile (and all),
    the share of the cases decided that providers took over the window (module docstring)."""
    m = window(monthly, last_months)
    m = m.assign(
        arm=m["arm"].astype(str), setting=m["setting"].astype(str), payer=m["payer"].astype(str)
    )
    groups = {"all": ("admission_rate", "cases_decided")} | {
        q: (f"admission_rate_risk_{q}", f"cases_decided_risk_{q}") for q in RISK_GROUPS
    }
    parts: dict[str, pd.Series] = {}
    for g, (rate, decided) in groups.items():
        # the monthly ratio times its cases decided: the admitted (whole numbers)
        parts[f"admitted_{g}"] = (m[rate].astype(float) * m[decided].astype(float)).round()
        parts[f"decided_{g}"] = m[decided].astype(float)
    m = pd.concat([m[["arm", "replicate", "setting", "payer"]], pd.DataFrame(parts)], axis=1)
    by_payer = m.groupby(["arm", "replicate", "setting", "payer"], sort=False).sum()
    by_all = m.drop(columns="payer").groupby(["arm", "replicate", "setting"], sort=False).sum()
    by_all = by_all.assign(payer="all").set_index("payer", append=True)
    sums = pd.concat([by_payer, by_all])
    long = []
    for g in groups:
        dec = sums[f"decided_{g}"]
        long.append(
            pd.DataFrame(
                {
                    "risk_group": g,
                    "decided": dec,
                    "rate": sums[f"admitted_{g}"] / dec.where(dec > 0),
                }
            )
        )
    per_rep = pd.concat(long).reset_index()
    arms = arms or list(dict.fromkeys(per_rep["arm"]))
    payers = [*dict.fromkeys(m["payer"]), "all"]
    key = ["setting", "payer", "risk_group", "replicate"]
    base = per_rep.loc[per_rep["arm"] == baseline, [*key, "rate"]]
    per_rep = per_rep.merge(base, on=key, how="left", suffixes=("", "_base"), sort=False)
    per_rep["change"] = per_rep["rate"] - per_rep["rate_base"]
    rows = []
    for arm in arms:
        mine = per_rep[per_rep["arm"] == arm]
        for (setting, payer, grp), d in mine.groupby(
            ["setting", "payer", "risk_group"], sort=False
        ):
            if not (d["decided"] > 0).any():
                continue
            r, lo, hi = interval(d["rate"].to_numpy(float))
            c, clo, chi = interval(d["change"].to_numpy(float))
            rows.append({
                "arm": arm, "baseline": baseline, "setting": setting, "payer": payer,
                "risk_group": grp, "replicates": int(d["replicate"].nunique()),
                "cases_decided": float(d["decided"].mean()), "admission_rate": r,
                "admission_rate_ci_low": lo, "admission_rate_ci_high": hi,
                "admission_rate_change": c, "admission_rate_change_ci_low": clo,
                "admission_rate_change_ci_high": chi,
            })  # fmt: skip
    out = pd.DataFrame(rows, columns=list(ADMISSION_COLUMNS))
    order = {
        "arm": {a: i for i, a in enumerate(arms)},
        "setting": {s: i for i, s in enumerate(dict.fromkeys(m["setting"]))},
        "payer": {p: i for i, p in enumerate(payers)},
        "risk_group": {g: i for i, g in enumerate(groups)},
    }

    def rank(c: pd.Series) -> pd.Series:
        return c.map(order[str(c.name)])

    out = out.sort_values(list(order), key=rank, kind="stable").reset_index(drop=True)
    return _typed(out, ADMISSION_COLUMNS)
