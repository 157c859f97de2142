"""Key measures a scenario can lead its report with (``[analysis] key_measures``).

A measure is a ratio of sums of monthly-table columns, per (arm, replicate, month) and over
the run: e.g. therapy minutes per day of a skilled-nursing stay is the setting's three therapy
minute columns over its days of stay (``service_units``). Names are ``measure`` for measures
over every setting and ``measure:setting`` for a setting's (``therapy_minutes_per_day:snf``).
No module of the simulation imports this one; the scenario schema checks names against
:data:`MEASURES` and :mod:`sim.publish.report` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the denominator "members": members counted once (from one setting's rows)
MEMBERS = "members"


@dataclass(frozen=True)
class MeasureSpec:
    """One measure: ``scale`` × Σ numerator columns / Σ denominator columns.

    ``per_setting``: the sums are over the named setting's rows (else over every setting).
    ``den_all_settings``: the denominator sums every setting's rows even for a setting's
    measure (discharge shares: the discharges are on the acute setting's rows). ``level``:
    a level rather than a flow (function change): over the run, its value in the last month."""

    label: str
    unit: str
    num: tuple[str, ...]
    den: tuple[str, ...]
    per_setting: bool = False
    scale: float = 1.0
    den_all_settings: bool = False
    level: bool = False
    decimals: int = 2


_TM = ("therapy_minutes_individual", "therapy_minutes_concurrent", "therapy_minutes_group")

MEASURES: dict[str, MeasureSpec] = {
    "spending_pmpm": MeasureSpec("Payer spending", "USD per member-month", ("spending",), (MEMBERS,)),
    "public_payer_pmpm": MeasureSpec("Public-payer spending", "USD per member-month", ("public_payer_spending",), (MEMBERS,)),
    "oop_pmpm": MeasureSpec("Out-of-pocket cost", "USD per member-month", ("oop",), (MEMBERS,)),
    "provider_margin_pct": MeasureSpec("Provider margin", "% of provider revenue", ("provider_margin",), ("provider_revenue",), scale=100.0, decimals=1),
    "adverse_events_per_1000": MeasureSpec("Adverse events", "per 1,000 member-months", ("adverse_events",), (MEMBERS,), scale=1000.0, decimals=3),
    "function_change": MeasureSpec("Change in function since month 0", "points (0-100 scale)", ("function_change",), (), level=True, decimals=3),
    "units_per_treated": MeasureSpec("Service units per treated patient", "units per patient-month", ("service_units",), ("patients_treated",), per_setting=True),
    "spending_by_setting_pmpm": MeasureSpec("Payer spending", "USD per member-month", ("spending",), (MEMBERS,), per_setting=True),
    "therapy_minutes_per_day": MeasureSpec("Therapy minutes per day", "minutes per day of stay", _TM, ("service_units",), per_setting=True, decimals=1),
    "therapy_minutes_individual_per_day": MeasureSpec("Individual therapy minutes per day", "minutes per day of stay", _TM[:1], ("service_units",), per_setting=True, decimals=1),
    "therapy_minutes_concurrent_per_day": MeasureSpec("Concurrent therapy minutes per day", "minutes per day of stay", _TM[1:2], ("service_units",), per_setting=True, decimals=1),
    "therapy_minutes_group_per_day": MeasureSpec("Group therapy minutes per day", "minutes per day of stay", _TM[2:], ("service_units",), per_setting=True, decimals=1),
    "length_of_stay": MeasureSpec("Length of stay", "units per ended episode", ("episode_units_ended",), ("episodes_ended",), per_setting=True, decimals=1),
    "discharge_share": MeasureSpec("Acute discharges to", "share of acute discharges", ("referrals_in",), ("discharges",), per_setting=True, den_all_settings=True, decimals=3),
    "discharge_home_share": MeasureSpec("Acute discharges home", "share of acute discharges", ("discharges_home",), ("discharges",), decimals=3),
    "readmission_rate": MeasureSpec("30-day readmission rate", "fraction of discharges", ("readmissions_30d",), ("discharges",), decimals=3),
}  # fmt: skip


def parse(name: str) -> tuple[str, str | None]:
    """``"measure:setting"`` → (measure, setting); ``"measure"`` → (measure, None)."""
    base, _, setting = name.partition(":")
    return base, (setting or None)


def check(name: str, settings: list[str]) -> str | None:
    """What is wrong with a key-measure name (None when it is valid)."""
    base, setting = parse(name)
    spec = MEASURES.get(base)
    if spec is None:
        return f"unknown measure {base!r}; allowed: {', '.join(MEASURES)}"
    if spec.per_setting and setting is None:
        return f"{base} is a setting's measure: write {base}:<setting> ({', '.join(settings)})"
    if not spec.per_setting and setting is not None:
        return f"{base} is over every setting: write it without ':{setting}'"
    if setting is not None and setting not in settings:
        return f"unknown setting {setting!r}; allowed: {', '.join(settings)}"
    return None


def label(name: str) -> tuple[str, str]:
    """(readable title, unit) of a measure name."""
    base, setting = parse(name)
    spec = MEASURES[base]
    where = "" if setting is None else setting.replace("_", " ")
    sep = " " if spec.label.endswith(" to") else ": "
    title = spec.label if setting is None else f"{spec.label}{sep}{where}"
    return title, spec.unit


def _sums(monthly: pd.DataFrame, cols: tuple[str, ...], keys: list[str]) -> pd.Series:
    first = monthly["setting"].iloc[0]
    parts = []
    for c in cols:
        if c == MEMBERS:
            d = monthly[monthly["setting"] == first]
            parts.append(d.groupby(keys, sort=False)["members"].sum())
        elif c in monthly:
            parts.append(monthly.groupby(keys, sort=False)[c].sum())
        else:
            raise KeyError(c)
    return sum(parts[1:], parts[0]).astype(float)


def compute(monthly: pd.DataFrame, name: str, *, by_month: bool = True) -> pd.DataFrame:
    """The measure per (arm, replicate[, month]): a frame with column ``value``.

    Raises KeyError naming a column the monthly table lacks (a therapy measure of a run
    without therapy)."""
    base, setting = parse(name)
    spec = MEASURES[base]
    keys = ["arm", "replicate", "month"] if by_month or spec.level else ["arm", "replicate"]
    scoped = monthly if setting is None else monthly[monthly["setting"] == setting]
    if spec.level:  # a members-weighted level, from one setting's rows
        first = monthly["setting"].iloc[0]
        d = monthly[monthly["setting"] == first]
        w = (d[spec.num[0]] * d["members"]).groupby([d[k] for k in keys], sort=False).sum()
        value = w / d.groupby(keys, sort=False)["members"].sum()
        out = value.rename("value").reset_index()
        if not by_month:
            last = out["month"].max()
            out = out[out["month"] == last].drop(columns="month").reset_index(drop=True)
        return out
    num = _sums(scoped, spec.num, keys)
    den_rows = monthly if spec.den_all_settings else scoped
    if spec.den == (MEMBERS,):
        den = _sums(monthly, spec.den, keys)
    else:
        den = _sums(den_rows, spec.den, keys)
    num, den = num.align(den, join="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = spec.scale * num / den.where(den != 0)
    return value.rename("value").reset_index()
