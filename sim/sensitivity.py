"""Global sensitivity analysis of a finished sweep (SALib): Sobol or Morris indices.

``sim sensitivity RESULTS`` reads the sweep's design and run summaries, averages each outcome
over replications at every design point, and computes, per arm:

- Sobol (``design.method = "sobol"``): first-order and total indices with confidence intervals
  (``SALib.analyze.sobol``);
- Morris (``design.method = "morris"``): μ*, its confidence interval, μ and σ
  (``SALib.analyze.morris``).

Tables go to ``RESULTS/sensitivity/<method>_<outcome>.csv``, figures beside them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim._optional import require
from sim.errors import ResultsError, ScenarioError
from sim.folders import load_sweep_spec, sweep_tables
from sim.outputs import SUMMARY_COLUMNS
from sim.sweep import SweepConfig

DEFAULT_OUTCOMES = ("spending_pmpm", "oop_pmpm", "function_change", "adverse_events_per_1000")
#: the indices each method gives, per parameter
KEYS = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "morris": ("mu", "mu_star", "mu_star_conf", "sigma"),
}


def _load_config(folder: Path) -> SweepConfig:
    return load_sweep_spec(folder).config


def analyse(
    folder: str | Path,
    outcomes: list[str] | None = None,
    *,
    setting: str = "all",
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Sensitivity indices per outcome (one DataFrame each, one row per arm and parameter)."""
    folder = Path(folder)
    spec = load_sweep_spec(folder)
    cfg = spec.config
    method = cfg.design.method
    if method not in ("sobol", "morris"):
        raise ResultsError(
            f"{folder}: the sweep's design is {method!r}; sensitivity indices need a sobol or "
            "morris design"
        )
    outcomes = list(outcomes or DEFAULT_OUTCOMES)
    numeric = [c for c, (t, _, _) in SUMMARY_COLUMNS.items() if t in ("float64", "int64")]
    for o in outcomes:
        if o not in numeric:
            raise ScenarioError("--outcome", o, f"unknown outcome; allowed: {', '.join(numeric)}")
    design, summary, _ = sweep_tables(folder, spec, outcomes, numeric_parameters=True)
    if set(design["point"]) != set(range(len(design))):
        raise ResultsError(
            f"{folder / 'design.parquet'}: points should be 0..{len(design) - 1}; the table is "
            "damaged"
        )
    if setting not in set(summary["setting"]):
        allowed = ", ".join(dict.fromkeys(summary["setting"]))
        raise ScenarioError("--setting", setting, f"unknown setting; allowed: {allowed}")
    names = [p.field for p in cfg.parameters]
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [[p.low, p.high] for p in cfg.parameters],
    }
    x = design.sort_values("point")[names].to_numpy(dtype=float)
    rows = summary[summary["setting"] == setting]
    results: dict[str, pd.DataFrame] = {}
    for outcome in outcomes:
        records = []
        for arm, d in rows.groupby("arm", sort=False):
            y = d.groupby("point")[outcome].mean().reindex(design["point"]).to_numpy(float)
            if np.isnan(y).any():
                raise ResultsError(
                    f"{folder}: outcome {outcome} is missing or NaN at some design points "
                    f"for arm {arm}"
                )
            if np.ptp(y) == 0:
                # the outcome does not vary at all (e.g. spending under a fixed PMPM): the
                # indices are undefined, not zero
                for name in names:
                    records.append(
                        {"arm": arm, "setting": setting, "outcome": outcome, "parameter": name}
                        | dict.fromkeys(KEYS[method], np.nan)
                    )
                continue
            if method == "sobol":
                sobol = require("SALib.analyze.sobol", "sensitivity", "sim sensitivity")
                si = sobol.analyze(problem, y, calc_second_order=cfg.design.second_order, seed=seed)
                keys = KEYS[method]
            else:
                morris = require("SALib.analyze.morris", "sensitivity", "sim sensitivity")
                si = morris.analyze(problem, x, y, num_levels=cfg.design.morris_levels, seed=seed)
                keys = KEYS[method]
            for i, name in enumerate(names):
                records.append(
                    {"arm": arm, "setting": setting, "outcome": outcome, "parameter": name}
                    | {k: si[k][i] for k in keys}
                )
        results[outcome] = pd.DataFrame.from_records(records)
    return results


def write(folder: str | Path, results: dict[str, pd.DataFrame], method: str) -> list[Path]:
    """Write each outcome's table (CSV) and figure (PNG) under RESULTS/sensitivity/."""
    from sim.outputs import staged_folder
    from sim.plots import sensitivity_figure

    out = Path(folder) / "sensitivity"
    names = []
    with staged_folder(out) as tmp:  # all tables and figures, or none
        if out.exists():  # keep the analyses of other outcomes or methods
            for old in out.iterdir():
                (tmp / old.name).write_bytes(old.read_bytes())
        for outcome, df in results.items():
            csv, png = f"{method}_{outcome}.csv", f"{method}_{outcome}.png"
            df.to_csv(tmp / csv, index=False, float_format="%.6g")
            sensitivity_figure(df, method, outcome, tmp / png)
            names += [csv, png]
    return [out / n for n in names]
