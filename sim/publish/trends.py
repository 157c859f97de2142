"""Monthly trends of a run: the statistics and the figure that ``sim run`` writes as
``trends.png`` and ``sim report`` draws as its monthly figures (one code path). Reads a run's
monthly table and its scenario as data; imports no results-folder reader, so the writer of a
results folder (:mod:`sim.results.tables`) can call it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

CI_LEVEL = 0.95


def plural(unit: str) -> str:
    """The plural of a unit's name: "visit" → "visits", "day of stay" → "days of stay"."""
    head, sep, tail = unit.partition(" of ")
    if sep:
        return f"{plural(head)}{sep}{tail}"
    return unit if unit.endswith("s") else f"{unit}s"


#: outcomes over all settings: (summary column, label, unit, decimals shown)


def monthly_panels(settings: list[str], units: dict[str, str]) -> list[tuple[str, str, str]]:
    """Monthly measures: (key, title, y label with unit); settings named in words."""
    from sim.publish.labels import label_of

    return [
        ("spending_pmpm", "Payer spending", "USD per member-month"),
        ("oop_pmpm", "Out-of-pocket", "USD per member-month"),
        *[
            (
                f"units_per_treated:{s}",
                f"Units per treated patient: {label_of(s)}",
                f"{plural(units[s])} per treated patient",
            )
            for s in settings
        ],
        ("function_change", "Mean change in function since month 0", "points (0-100 scale)"),
        ("adverse_events_per_1000", "Adverse events", "events per 1,000 member-months"),
    ]


def setting_units(sc: dict[str, Any], found: list[str]) -> dict[str, str]:
    """The unit of each setting in ``found``, from the scenario's ``settings`` tables
    ("service unit" where the scenario names none)."""
    settings = sc.get("settings")
    if not isinstance(settings, dict):
        settings = {}
    units = {}
    for s in found:
        unit = settings.get(s, {}).get("unit") if isinstance(settings.get(s), dict) else None
        units[s] = str(unit) if unit else "service unit"
    return units


def ordered(found: list[str], preferred: list[str]) -> list[str]:
    """The names ``found``, those in ``preferred`` first and in its order (the arms in the
    scenario's order), then the others as found."""
    return [a for a in preferred if a in found] + [a for a in found if a not in preferred]


def _interval(n: pd.Series, mean: pd.Series, sd: pd.Series) -> tuple[pd.Series, pd.Series]:
    """95% t-interval of the mean; NaN where fewer than 2 values."""
    count = np.asarray(n, dtype=float)
    ok = count >= 2
    dof = np.where(ok, count - 1, 1.0)
    tcrit = sps.t.ppf(0.5 + CI_LEVEL / 2, dof)
    half = np.where(ok, tcrit * np.asarray(sd, float) / np.sqrt(np.where(ok, count, 1.0)), np.nan)
    return mean - half, mean + half


def describe(wide: pd.DataFrame, by: list[str], keys: list[str]) -> pd.DataFrame:
    """Mean, SD and 95% t-interval over replications of each measure, per ``by`` group.

    ``wide`` has one row per (``by``, replicate) and one column per measure key."""
    long = wide.melt(id_vars=[*by, "replicate"], value_vars=keys, var_name="measure")
    long["value"] = long["value"].astype(float).replace([np.inf, -np.inf], np.nan)
    g = long.groupby([*by, "measure"], sort=False)["value"]
    out = g.agg(n="count", mean="mean", sd="std").reset_index()
    out["n"] = out["n"].astype(np.int64)
    out["ci_low"], out["ci_high"] = _interval(out["n"], out["mean"], out["sd"])
    return out


def monthly_wide(monthly: pd.DataFrame, arms: list[str], settings: list[str]) -> pd.DataFrame:
    """The monthly panels' measures per (point, arm, replicate, month) of a monthly table
    (a ``point`` column is added when missing): what ``sim run``'s trends figure and
    ``sim report``'s monthly figures draw."""
    keys = ["point", "arm", "replicate", "month"]
    m = monthly.assign(arm=monthly["arm"].astype(str), setting=monthly["setting"].astype(str))
    if "point" not in m:
        m = m.assign(point=0)
    first = m[m["setting"] == settings[0]]
    members = first.groupby(keys)["members"].sum().astype(float)
    total = m.groupby(keys)[["spending", "oop", "adverse_events"]].sum()
    fc = (first["function_change"] * first["members"]).groupby(
        [first[k] for k in keys]
    ).sum() / members
    cols = {
        "spending_pmpm": total["spending"] / members,
        "oop_pmpm": total["oop"] / members,
    }
    for s in settings:
        g = m[m["setting"] == s].groupby(keys)[["service_units", "patients_treated"]].sum()
        treated = g["patients_treated"].where(g["patients_treated"] > 0)
        cols[f"units_per_treated:{s}"] = g["service_units"] / treated
    cols["function_change"] = fc
    cols["adverse_events_per_1000"] = 1000 * total["adverse_events"] / members
    wide = pd.DataFrame(cols).reset_index()
    return sort_by_arm(wide, arms, ["point", "replicate", "month"])


def sort_by_arm(df: pd.DataFrame, arms: list[str], then: list[str]) -> pd.DataFrame:
    """Rows sorted by design point (when there is a ``point`` column), then arm in the order of
    ``arms``, then the columns ``then``; a fresh index."""
    rank = {a: i for i, a in enumerate(arms)}
    cols = [c for c in ["point"] if c in df] + ["_arm", *[c for c in then if c != "point"]]
    out = df.assign(_arm=df["arm"].map(rank)).sort_values(cols, kind="stable")
    return out.drop(columns="_arm").reset_index(drop=True)


def scenario_start(scenario: dict[str, Any]) -> dt.date:
    """The calendar month of month 0 (``start``; 2025-01-01 when the scenario has none)."""
    start = scenario.get("start") if isinstance(scenario, dict) else None
    try:
        return start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    except ValueError:
        return dt.date(2025, 1, 1)


def switch_events(scenario: dict[str, Any], arms: list[str]) -> list[tuple[Any, str]]:
    """Policy switches of the arms shown, one per month: (date as datetime64, label naming the
    arms that switch and the month)."""
    from sim.publish.labels import label_of

    start = scenario_start(scenario)
    by_month: dict[int, list[str]] = {}
    for arm in scenario.get("arms") or [] if isinstance(scenario, dict) else []:
        if not isinstance(arm, dict) or arm.get("name") not in arms:
            continue
        for sw in arm.get("switches") or []:
            if isinstance(sw, dict) and isinstance(sw.get("month"), int):
                by_month.setdefault(sw["month"], []).append(str(arm["name"]))
    out = []
    for month, names in sorted(by_month.items()):
        k = start.year * 12 + start.month - 1 + month
        day = dt.date(k // 12, k % 12 + 1, 1)
        who = "" if len(names) == len(arms) else f" ({', '.join(label_of(n) for n in names)})"
        out.append((np.datetime64(day, "D"), f"switch {day:%b %Y}{who}"))
    return out


def trends_figure(monthly: pd.DataFrame, scenario: dict[str, Any] | None) -> Any:
    """``sim run``'s trends figure: the report's monthly figure (same code, same style), drawn
    from a run's monthly table; returns the matplotlib figure."""
    from sim.publish import figures as rf
    from sim.publish.labels import capitalised, label_of

    sc = scenario or {}
    arms = list(dict.fromkeys(monthly["arm"].astype(str)))
    settings = list(dict.fromkeys(monthly["setting"].astype(str)))
    units = setting_units(sc, settings)
    panels = monthly_panels(settings, units)
    keys = [k for k, _, _ in panels]
    wide = monthly_wide(monthly, arms, settings)
    stats = describe(wide, ["point", "arm", "month"], keys)
    stats["date"] = rf.as_dates(stats["month"], scenario_start(sc))
    reps = int(monthly["replicate"].nunique())
    order = [str(a.get("name")) for a in sc.get("arms") or [] if isinstance(a, dict)]
    styles = rf.arm_styles(ordered(arms, order))
    name = capitalised(label_of(sc.get("name") or "run"))
    return rf.band_lines(
        stats,
        arms,
        panels,
        x="date",
        xlabel="calendar month",
        suptitle=f"{name}: monthly trends by arm",
        styles=styles,
        events=switch_events(sc, arms),
        replications=reps,
    )
