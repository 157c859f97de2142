"""Global sensitivity analysis of a finished sweep (SALib): Sobol or Morris indices.

``sim sensitivity RESULTS`` reads the sweep's design and run summaries, averages each outcome
over replications at every design point, and computes, per arm:

- Sobol (``design.method = "sobol"``): first-order and total indices with confidence intervals
  (``SALib.analyze.sobol``);
- Morris (``design.method = "morris"``): μ*, its confidence interval, μ and σ
  (``SALib.analyze.morris``).

The model is stochastic: at a design point, replications (seeds) give different outcomes. Every
table therefore also says how much of the outcome's variance is the seed's (``seed_share``: a
one-way random-effects ANOVA over design points, σ²_seed / (σ²_seed + σ²_design), with σ²_seed
the mean variance between replications at a point and σ²_design the variance of the point means
less σ²_seed / r; the indices of the replicate means leave it out) and how much seed noise is
left in the means the indices are computed from (``seed_share_of_means``: σ²_seed / r over the
variance of the means, at most 1). With one replication neither can be estimated (NaN, and a
warning). Sobol indices are checked: an index outside [0, 1] beyond its confidence interval, or
S1 above ST beyond both intervals, means the sample is too small (or the seed noise too large)
for the indices to be read. The warning says what to change: while the seed makes more than 5%
of the variance of the means, the replications that bring it below 5% (more design points do
not remove seed noise); then the base sample N that brings the widest interval to ±0.05
(intervals shrink as 1/√N), rounded up to a power of 2. When either would be beyond what anyone
runs (more than 100 replications, or N above 2^14), the warning says the outcome hardly moves
over the ranges swept, instead of recommending a design nobody can run.

Tables go to ``RESULTS/sensitivity/<method>_<outcome>.csv``, figures beside them, and the
warnings to ``RESULTS/sensitivity/warnings.txt`` (and the terminal).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import ResultsError, ScenarioError
from sim.guards.extras import require
from sim.results.read import load_sweep_spec, sweep_tables
from sim.results.tables import SUMMARY_COLUMNS
from sim.scenario.sweep import SweepConfig

DEFAULT_OUTCOMES = ("spending_pmpm", "oop_pmpm", "function_change", "adverse_events_per_1000")
#: the indices each method gives, per parameter
KEYS = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "morris": ("mu", "mu_star", "mu_star_conf", "sigma"),
}


def _load_config(folder: Path) -> SweepConfig:
    return load_sweep_spec(folder).config


#: widest confidence half-width of a Sobol index that the recommended sample size aims at
TARGET_HALF_WIDTH = 0.05
#: the seed's share of the variance of the replicate means the recommended replications aim at
TARGET_SEED_SHARE = 0.05
#: the largest base sample the advice recommends (2^14 · (2k + 2) runs per replication)
MAX_SAMPLES = 2**14
#: the most replications per design point the advice recommends
MAX_REPLICATIONS = 100


def seed_variance(y: np.ndarray) -> tuple[float, float]:
    """(seed_share, seed_share_of_means) of runs ``y`` (points × replications).

    One-way random-effects ANOVA: the seed's variance σ²_w is the mean within-point variance
    (unbiased), the design's variance σ²_x = var(point means) − σ²_w / r (at least 0), and
    seed_share = σ²_w / (σ²_w + σ²_x), in [0, 1]. seed_share_of_means = (σ²_w / r) /
    var(point means), at most 1: the part of the means' variation (what the indices see) that
    is seed noise. NaN with one replication or one point."""
    points, r = y.shape
    if r < 2 or points < 2:
        return np.nan, np.nan
    within = float(y.var(axis=1, ddof=1).mean())
    means = float(y.mean(axis=1).var(ddof=1))
    design = max(0.0, means - within / r)
    share = within / (within + design) if within + design > 0 else np.nan
    of_means = min(1.0, (within / r) / means) if means > 0 else np.nan
    return share, of_means


def _pow2(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(x, 1.0))))


def sobol_warnings(df: pd.DataFrame, samples: int, replications: int, outcome: str) -> list[str]:
    """What is wrong with the Sobol indices of one outcome's table (one line per arm)."""
    out = []
    for arm, d in df.groupby("arm", sort=False):
        s1, c1 = d["S1"].to_numpy(float), d["S1_conf"].to_numpy(float)
        st, ct = d["ST"].to_numpy(float), d["ST_conf"].to_numpy(float)
        if not np.isfinite(s1).any():
            continue
        problems = []
        for name, v, c in (("S1", s1, c1), ("ST", st, ct)):
            if np.any(v - c > 1) or np.any(v + c < 0):
                problems.append(f"{name} outside [0, 1] beyond its confidence interval")
        if np.any(s1 - c1 > st + ct):
            problems.append("S1 above ST beyond both confidence intervals")
        seed_means = float(d["seed_share_of_means"].iloc[0])
        if replications < 2:
            problems.append("one replication: the seed's share of the variance is unknown")
        elif np.isfinite(seed_means) and seed_means > TARGET_SEED_SHARE:
            problems.append(f"the seed makes {100 * seed_means:.0f}% of the variance of the means")
        if not problems:
            continue
        widest = float(np.nanmax(np.concatenate([c1, ct])))
        out.append(
            f"{outcome}, arm {arm}: {'; '.join(problems)} (samples = {samples}, widest "
            f"interval ±{widest:.3g}): {_advice(samples, replications, widest, seed_means)}"
        )
    return out


def _advice(samples: int, replications: int, widest: float, seed_means: float) -> str:
    """What to change in the sweep so that its Sobol indices can be read.

    Seed noise first: while the seed makes more than :data:`TARGET_SEED_SHARE` of the variance
    of the means, more design points cannot narrow the intervals by much, so the advice is the
    replications that bring it below (the samples are judged again after that run). Then the
    base sample N that brings the widest interval to ±:data:`TARGET_HALF_WIDTH`, unless that
    is beyond :data:`MAX_SAMPLES`: then the outcome hardly varies over the ranges swept, and
    no design a computer can run will resolve its indices."""
    if replications < 2:
        return "use replications >= 2 (the seed's share of the variance is unknown with one)"
    if np.isfinite(seed_means) and seed_means > TARGET_SEED_SHARE:
        # the seed's share m of the means' variance with r replications is (σ²_w / r) / V,
        # the design's part V(1 − m); with r' it is (m·r/r') / (1 − m + m·r/r'), which is at
        # most t from r' = m·r·(1 − t) / (t·(1 − m))
        t, m = TARGET_SEED_SHARE, min(seed_means, 1.0)
        r_rec = math.ceil(m * replications * (1 - t) / (t * (1 - m))) if m < 1 else math.inf
        if r_rec > MAX_REPLICATIONS:
            return (
                f"the parameters barely move this outcome beyond the seed's noise (it would take "
                f"more than {MAX_REPLICATIONS} replications to bring the seed's share below "
                f"{100 * t:.0f}%); leave this outcome out (--outcome) or widen the ranges"
            )
        return (
            f"use replications = {r_rec} (or a larger population) so that the seed makes less "
            f"than {100 * t:.0f}% of the variance of the means, then run sim sensitivity "
            "again; more design points do not remove seed noise"
        )
    n_rec = _pow2(samples * (widest / TARGET_HALF_WIDTH) ** 2) if widest > 0 else samples
    if n_rec > MAX_SAMPLES:
        return (
            f"no practical design.samples gets the intervals to ±{TARGET_HALF_WIDTH} (it would "
            f"take {n_rec:,}): the outcome hardly varies over the ranges swept; widen the "
            "ranges, or leave this outcome out (--outcome)"
        )
    return f"use design.samples = {max(n_rec, samples)}"


def analyse(
    folder: str | Path,
    outcomes: list[str] | None = None,
    *,
    setting: str = "all",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Sensitivity indices per outcome (one DataFrame each, one row per arm and parameter),
    with the seed's share of the variance (``seed_share``, ``seed_share_of_means``) and, for
    Sobol, a ``warning`` column (empty when the indices pass the checks; the module's
    docstring). ``progress(done, total)`` after each (outcome, arm)."""
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
    arms = list(dict.fromkeys(rows["arm"]))
    total, done = len(outcomes) * len(arms), 0
    for outcome in outcomes:
        records = []
        for arm, d in rows.groupby("arm", sort=False):
            done += 1
            if progress is not None:
                progress(done, total)
            runs = d.pivot_table(index="point", columns="replicate", values=outcome,
                                 aggfunc="mean").reindex(design["point"])  # fmt: skip
            seed_share, seed_means = seed_variance(runs.to_numpy(float))
            share = {"seed_share": seed_share, "seed_share_of_means": seed_means}
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
                        | share
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
                    | share
                )
        df = pd.DataFrame.from_records(records)
        if method == "sobol":
            lines = sobol_warnings(df, cfg.design.samples, cfg.replications, outcome)
            df["warning"] = df["arm"].map(
                {a: next((x for x in lines if f", arm {a}:" in x), "") for a in arms}
            )
        results[outcome] = df
    return results


def warnings_of(results: dict[str, pd.DataFrame]) -> list[str]:
    """Every distinct warning of the tables, in order."""
    out: list[str] = []
    for df in results.values():
        if "warning" in df:
            out += [w for w in dict.fromkeys(df["warning"]) if w and w not in out]
    return out


def write(folder: str | Path, results: dict[str, pd.DataFrame], method: str) -> list[Path]:
    """Write each outcome's table (CSV) and figure (PNG, PDF, SVG) under
    RESULTS/sensitivity/."""
    from sim.guards import files
    from sim.publish.plots import sensitivity_figure
    from sim.results.folder import staged_folder
    from sim.results.read import sensitivity_folder

    folder = Path(folder)
    out = folder / "sensitivity"
    names = []
    kept = sensitivity_folder(folder)  # checked: a folder of files, no links
    with staged_folder(out) as tmp:  # all tables and figures, or none
        for old in kept:  # keep the analyses of other outcomes or methods
            (tmp / old).write_bytes(files.read_bytes(folder, f"sensitivity/{old}"))
        for outcome, df in results.items():
            csv, png = f"{method}_{outcome}.csv", f"{method}_{outcome}.png"
            df.to_csv(tmp / csv, index=False, float_format="%.6g")
            figures = sensitivity_figure(df, method, outcome, tmp / png)
            names += [csv, *(p.name for p in figures)]
        warnings = warnings_of(results)
        if warnings:
            (tmp / "warnings.txt").write_text("\n".join(warnings) + "\n", encoding="utf-8")
            names.append("warnings.txt")
        elif (tmp / "warnings.txt").exists():
            (tmp / "warnings.txt").unlink()
    return [out / n for n in names]
