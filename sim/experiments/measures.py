"""Measures of a run: one number from a scenario's outputs, per replicate, and its interval.

Calibration targets (``sim calibrate``) and validation cases (``sim validate``) both name a
scenario, the arm measured (and optionally a counterfactual ``baseline`` arm), a table and a
column (or a ratio of sums of columns), the rows (setting, payer), a window of months and a
statistic. :func:`measure` computes it from one replicate's tables; every replicate of every
arm uses the same random streams (common random numbers), so a difference between arms is
computed replicate by replicate. :func:`interval` turns the replicates into a mean and a 95%
interval. :func:`execute` runs one (scenario, replicate) for a list of measures and writes
their values to a part file, on the sweep executors (:mod:`sim.experiments.sweep`), which is what
makes both commands resumable: a part that exists is not run again.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator, model_validator

from sim.experiments.sweep import TaskResult
from sim.results.tables import MONTHLY_COLUMNS, SUMMARY_COLUMNS
from sim.scenario import F, Strict

#: monthly columns that are averages over members, not sums: averaged over a month's rows
#: weighted by members (as are columns whose unit is a rate, "x/y")
MEAN_COLUMNS = frozenset({"mean_function", "function_change"})

Statistic = Literal["level", "difference", "relative_change", "elasticity"]


class MeasureConfig(Strict):
    """What is measured: scenario, arms, table, column or ratio, rows, window, statistic."""

    scenario: str = F(..., "path", "Scenario file, relative to the file that names it.")
    arm: str = F(..., "name", "The arm whose figure is measured.")
    baseline: str | None = F(
        None,
        "name",
        "The counterfactual arm (difference, relative_change, elasticity); absent: a level of "
        "`arm` alone.",
    )
    table: Literal["monthly", "summary"] = F(
        "monthly", "choice", "Output table measured (docs/outputs.md)."
    )
    column: str | None = F(None, "column", "An output column of that table.")
    numerator: list[str] | None = F(
        None,
        "columns",
        "monthly only, instead of column: the measure is the sum of these columns over the "
        "rows and months of the window divided by the sum of `denominator` (a ratio of sums, "
        "e.g. therapy minutes / days).",
    )
    denominator: list[str] | None = F(None, "columns", "The denominator of a ratio of sums.")
    setting: str | None = F(
        None,
        "name",
        "Rows of this setting only (summary: default 'all'; monthly: default every setting).",
    )
    payer: str | None = F(None, "name", "monthly only: rows of this payer only.")
    window: list[int] | None = F(
        None,
        "months",
        "[start, end): months averaged (monthly; default the whole run). A column is summed "
        "over a month's rows (member-weighted mean for rates and mean function; a rate per "
        "member-month is summed over a payer's settings, then member-weighted over payers), "
        "then averaged over the window's months.",
    )
    statistic: Statistic = F(
        "level",
        "choice",
        "level: the arm's figure; difference: arm − baseline; relative_change: (arm − "
        "baseline) / baseline; elasticity: ln(arm / baseline) / ln(price_ratio).",
    )
    price_ratio: float | None = F(
        None, "ratio", "elasticity only: the price in `arm` over that in `baseline`.", gt=0
    )
    set: dict[str, Any] = F(
        {}, "table", "Overrides of the scenario (dotted keys), applied before anything else."
    )

    @field_validator("window")
    @classmethod
    def _window(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 2 or not 0 <= v[0] < v[1]):
            raise ValueError("window: [start, end) with 0 <= start < end (months from 0)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> MeasureConfig:
        ratio = self.numerator is not None or self.denominator is not None
        if ratio and (not self.numerator or not self.denominator):
            raise ValueError("give both numerator and denominator (non-empty lists of columns)")
        if ratio == (self.column is not None):
            raise ValueError("give either column or numerator and denominator")
        columns = MONTHLY_COLUMNS if self.table == "monthly" else SUMMARY_COLUMNS
        if self.column:
            names = [self.column]
        else:
            assert self.numerator and self.denominator  # checked above
            names = [*self.numerator, *self.denominator]
        for c in names:
            dtype = columns.get(c, ("", "", ""))[0]
            if dtype not in ("float64", "int64", "int32"):
                raise ValueError(
                    f"{c!r} is not a numeric column of the {self.table} table (see docs/outputs.md)"
                )
        if self.table == "summary" and (ratio or self.payer or self.window):
            raise ValueError("numerator, denominator, payer and window are for table = monthly")
        if self.statistic != "level" and self.baseline is None:
            raise ValueError(f"statistic {self.statistic!r} needs a baseline arm")
        if self.statistic == "level" and self.baseline is not None:
            raise ValueError("statistic 'level' measures one arm: remove baseline or change it")
        if self.baseline is not None and self.baseline == self.arm:
            raise ValueError(
                f"baseline: the arm {self.arm!r} compared with itself measures nothing; name "
                "the counterfactual arm"
            )
        if (self.statistic == "elasticity") != (self.price_ratio is not None):
            raise ValueError("price_ratio is needed by, and only by, statistic 'elasticity'")
        if self.price_ratio == 1:
            raise ValueError("price_ratio: must differ from 1")
        return self

    @property
    def arms(self) -> list[str]:
        """The arms the measure needs."""
        return [self.arm] if self.baseline is None else [self.arm, self.baseline]


def check_against(m: MeasureConfig, scenario: Any, source: str, where: str) -> None:
    """Refuse a measure naming an arm, setting, payer or month the scenario does not have."""
    from sim.errors import ScenarioError

    arms = [a.name for a in scenario.arms]
    for a in m.arms:
        if a not in arms:
            raise ScenarioError(source, where, f"unknown arm {a!r}; the scenario has {arms}")
    settings = list(scenario.settings)
    if (m.setting is not None and m.setting not in [*settings, "all"]) or (
        m.setting == "all" and m.table == "monthly"
    ):
        raise ScenarioError(
            source, f"{where}.setting", f"unknown setting {m.setting!r}; allowed: {settings}"
        )
    if m.payer is not None and m.payer not in scenario.payers:
        raise ScenarioError(
            source, f"{where}.payer", f"unknown payer {m.payer!r}; allowed: {list(scenario.payers)}"
        )
    if m.window is not None and m.window[1] > scenario.months:
        raise ScenarioError(
            source, f"{where}.window", f"ends after the run ({scenario.months} months)"
        )


def _figure(m: MeasureConfig, monthly: pd.DataFrame, arm: str) -> float:
    """One arm's figure in one replicate's monthly table."""
    df = monthly[monthly["arm"] == arm]
    if m.table == "summary":
        from sim.results.tables import summarize

        s = summarize(df)
        row = s[s["setting"] == (m.setting or "all")]
        return float(row[m.column].iloc[0]) if len(row) else math.nan
    if m.setting is not None:
        df = df[df["setting"] == m.setting]
    if m.payer is not None:
        df = df[df["payer"] == m.payer]
    if m.window is not None:
        df = df[(df["month"] >= m.window[0]) & (df["month"] < m.window[1])]
    if df.empty:
        return math.nan
    if m.numerator:
        num = float(df[m.numerator].to_numpy(np.float64).sum())
        den = float(df[m.denominator].to_numpy(np.float64).sum())
        return num / den if den else math.nan
    col = m.column
    assert col is not None  # a measure is a column or a ratio (validated)
    unit = MONTHLY_COLUMNS[col][1]
    if col in MEAN_COLUMNS or "/" in unit:
        w = df["members"].to_numpy(np.float64)
        v = df[col].to_numpy(np.float64) * w
        if unit.endswith("/member-month"):
            # per member, and a payer's members are on each of its settings' rows: the
            # settings' rates add up (spending per member in every setting), so the weight
            # counts each payer's members once a month
            w = w / df.groupby(["month", "payer"])["setting"].transform("size").to_numpy()
        per_month = (
            pd.Series(v).groupby(df["month"].to_numpy()).sum()
            / pd.Series(w).groupby(df["month"].to_numpy()).sum()
        )
    else:
        per_month = df.groupby("month")[col].sum()
    return float(per_month.mean())


def measure(m: MeasureConfig, monthly: pd.DataFrame) -> float:
    """The measure's statistic in one replicate's monthly table (NaN where undefined)."""
    a = _figure(m, monthly, m.arm)
    if m.baseline is None:
        return a
    b = _figure(m, monthly, m.baseline)
    with np.errstate(divide="ignore", invalid="ignore"):
        if m.statistic == "difference":
            return a - b
        if b == 0 or math.isnan(b):
            return math.nan
        if m.statistic == "relative_change":
            return a / b - 1.0
        if a <= 0 or b < 0:
            return math.nan
        return math.log(a / b) / math.log(m.price_ratio or math.nan)


def interval(values: list[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the replicates and its ``level`` t-interval (NaN bounds with one replicate)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


# ---------------------------------------------------------------------------------------------
# one run of measures, on the sweep executors


@dataclass(frozen=True)
class MeasureTask:
    """One (scenario, replicate) and the measures taken from it, as sent to a worker; its
    values go to ``part`` (JSON: ``{"values": {id: value}}``)."""

    point: int  # the job's number (for the executor's failure reports)
    replicate: int
    seed: int
    scenario: dict[str, Any]
    arms: tuple[str, ...]
    measures: tuple[tuple[str, dict[str, Any]], ...]  # (id, MeasureConfig as data)
    part: str
    code: str
    folder: str  # the output folder the part lies in (nothing below it is a link)


def _inside(path: Path, root: Path | None) -> tuple[Path, str]:
    root = path.parent if root is None else Path(root)
    return root, path.relative_to(root).as_posix()


def write_json(path: Path, data: dict[str, Any], root: Path | None = None) -> None:
    """Write JSON atomically (a temporary file renamed): whole or absent after a kill. No link
    below ``root`` (default: the file's folder) is followed (:mod:`sim.guards.files`)."""
    from sim.guards import files

    files.write_text(*_inside(Path(path), root), json.dumps(data, indent=1, allow_nan=True) + "\n")


def read_part(path: Path, root: Path | None = None) -> dict[str, float] | None:
    """A part's values, or None if it is absent, unreadable, or not a regular file reached
    without links below ``root`` (then it is run again, and its writer replaces it)."""
    from sim.errors import ResultsError
    from sim.guards import files

    try:
        data = json.loads(files.read_bytes(*_inside(Path(path), root), limit=2**20))
        return {k: float(v) for k, v in data["values"].items()}
    except (ResultsError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def execute(task: MeasureTask) -> TaskResult:
    """Run the task's arms for its replicate, take its measures, write its part. Never raises."""
    from sim.experiments.sweep import run_task

    def finish(result: Any) -> None:
        values = {
            mid: measure(MeasureConfig.model_validate(spec), result.monthly)
            for mid, spec in task.measures
        }
        write_json(
            Path(task.part),
            {"values": values, "replicate": task.replicate, "seed": task.seed},
            root=Path(task.folder),
        )

    return run_task(task, finish, "the coordinator's")


def executors(
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    notice: Any = None,
):
    """A sweep executor (process pool, Dask, serial) kept open across batches: its
    ``results(tasks, execute)`` gives each task's result as it finishes; ``notice(text)`` is
    told when a worker process dies."""
    from sim.experiments.sweep import Executors

    return Executors(executor, workers or os.cpu_count() or 1, scheduler, notice)
