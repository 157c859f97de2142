"""The report's statistics: the outcomes of its tables, computed per replication, their means
and 95% t-intervals over replications, and differences from the baseline arm paired by
replication (the arms of a replication share their random numbers).

The mean and interval of each group are :func:`sim.publish.trends.describe`'s (one code path
with ``sim run``'s trends figure): mean ± t(0.975, n−1)·s/√n, no interval below 2 values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.results import Results
from sim.publish.trends import monthly_wide, plural, sort_by_arm

CI_METHOD = "t-interval over replications, mean ± t(0.975, n−1)·s/√n"
NA_ONE = "n/a (1 replication)"


@dataclass(frozen=True)
class Measure:
    """An outcome of the tables: a summary column for one setting (or ``all``)."""

    key: str
    column: str
    setting: str
    label: str
    unit: str
    decimals: int


_OVERALL = {
    "head": [
        ("spending_pmpm", "Payer spending", "USD per member-month", 2),
        ("oop_pmpm", "Out-of-pocket", "USD per member-month", 2),
    ],
    "tail": [
        ("function_change", "Change in function, month 0 to last", "points (0-100 scale)", 3),
        ("adverse_events_per_1000", "Adverse events", "events per 1,000 member-months", 3),
        ("provider_margin_pct", "Provider margin", "% of provider revenue", 1),
        ("low_value_share", "Low-value share of volume", "fraction of service units", 3),
        ("spending_per_function_point", "Spending per point of function gained",
         "USD (payer + OOP) per point gained", 1),
    ],
}  # fmt: skip


def outcome_label(column: str) -> tuple[str, str] | None:
    """(label, unit) of a summary column over all settings, as the report's tables name it;
    None for a column they do not show."""
    for c, label, unit, _ in (*_OVERALL["head"], *_OVERALL["tail"]):
        if c == column:
            return label, unit
    return None


def table_measures(settings: list[str], units: dict[str, str]) -> list[Measure]:
    """The outcomes of the summary and difference tables, in order: spending and OOP, units
    per treated patient in each setting, then function, adverse events, margin, low-value
    share and spending per point of function."""

    def overall(part: str) -> list[Measure]:
        return [Measure(c, c, "all", label, unit, dec) for c, label, unit, dec in _OVERALL[part]]

    per_setting = [
        Measure(f"units_per_treated:{s}", "units_per_treated", s,
                f"Units per treated patient: {label_of(s)}",
                f"{plural(units[s])} per treated patient-month", 2)
        for s in settings
    ]  # fmt: skip
    return [*overall("head"), *per_setting, *overall("tail")]


def paired(
    wide: pd.DataFrame, arms: list[str], baseline: str, pair: list[str], keys: list[str]
) -> pd.DataFrame:
    """Per-replication differences arm − baseline (paired on ``pair``, which includes the
    replicate), one row per (arm, ``pair``)."""
    base = wide[wide["arm"] == baseline].set_index(pair)[keys]
    frames = []
    for arm in arms:
        if arm == baseline:
            continue
        a = wide[wide["arm"] == arm].set_index(pair)[keys]
        frames.append((a - base).reset_index().assign(arm=arm))
    if not frames:
        return pd.DataFrame(columns=["arm", *pair, *keys])
    return pd.concat(frames, ignore_index=True)


def outcomes_by_replicate(res: Results, measures: list[Measure]) -> pd.DataFrame:
    """One row per (point, arm, replicate); a column per table measure plus, for the value
    figures, ``low_value_share:<setting>`` and (with monthly data)
    ``function_gain_per_treated:<setting>``."""
    keys = ["point", "arm", "replicate"]
    pr = res.per_rep.assign(
        arm=res.per_rep["arm"].astype(str), setting=res.per_rep["setting"].astype(str)
    )
    cols = []
    for m in measures:
        cols.append(pr.loc[pr["setting"] == m.setting].set_index(keys)[m.column].rename(m.key))
    for s in res.settings:
        d = pr.loc[pr["setting"] == s].set_index(keys)
        cols.append(d["low_value_share"].rename(f"low_value_share:{s}"))
    if res.monthly is not None:
        monthly = res.monthly.assign(
            arm=res.monthly["arm"].astype(str), setting=res.monthly["setting"].astype(str)
        )
        g = monthly.groupby([*keys, "setting"])[["function_gain", "patients_treated"]].sum()
        treated = g["patients_treated"].where(g["patients_treated"] > 0)
        gain = (g["function_gain"] / treated).unstack("setting")
        for s in res.settings:
            if s in gain:
                cols.append(gain[s].rename(f"function_gain_per_treated:{s}"))
    wide = pd.concat(cols, axis=1).reset_index()
    return sort_by_arm(wide, res.arms, ["point", "replicate"])


def monthly_by_replicate(res: Results) -> pd.DataFrame:
    """Monthly measures per (point, arm, replicate, month), as in ``sim.publish.plots``."""
    assert res.monthly is not None
    return monthly_wide(res.monthly, res.arms, res.settings)


def sort_stats(df: pd.DataFrame, arms: list[str], order: list[str]) -> pd.DataFrame:
    """Statistics rows sorted by design point, measure (in ``order``), arm (in ``arms``) and
    month when there is one; a fresh index."""
    rank = {a: i for i, a in enumerate(arms)}
    mrank = {k: i for i, k in enumerate(order)}
    extra = [c for c in ("month",) if c in df]
    out = df.assign(_a=df["arm"].map(rank), _m=df["measure"].map(mrank))
    out = out.sort_values(["point", "_m", "_a", *extra], kind="stable")
    return out.drop(columns=["_a", "_m"]).reset_index(drop=True)


def wide_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """Stats with one row per (point, arm): ``key``, ``key_lo``, ``key_hi`` columns."""
    piv = stats.pivot_table(
        index=["point", "arm"],
        columns="measure",
        values=["mean", "ci_low", "ci_high"],
        dropna=False,
        sort=False,
    )
    out = piv["mean"].copy()
    for k in piv["mean"].columns:
        out[f"{k}_lo"] = piv["ci_low"][k]
        out[f"{k}_hi"] = piv["ci_high"][k]
    out.columns.name = None
    return out.reset_index()
