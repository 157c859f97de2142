"""Prediction intervals from a posterior: ``sim run --posterior FILE --draws N`` and
``sim validate --posterior FILE --draws N``.

A posterior is the sample an ABC-SMC calibration wrote (``posterior.parquet`` in its results
folder, its final generation's particles with their weights; the fields each parameter sets
come from the folder's ``calibration.json``). A run with ``N`` draws resamples ``N`` parameter
vectors from it (weighted, with a stream of its own: ``SeedSequence(seed,
spawn_key=(2**32 + 1,))``) and runs replicate ``d`` with draw ``d``: each replicate has its own
parameters and its own random numbers, so the spread of any figure over the replicates combines
parameter and stochastic uncertainty — a prediction interval, read as the 2.5% and 97.5%
quantiles over the draws (not a confidence interval of a mean). The arms of a replicate share
its draw and its random numbers, so an effect (the difference of two arms) is computed draw by
draw. Over the draws, the economics table, the cost-effectiveness plane and the acceptability
curve are a probabilistic sensitivity analysis (CHEERS 2022; ISPOR–SMDM).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ScenarioError

#: the spawn key of the posterior draws' stream (apart from the replicates' streams, which
#: use their replicate number)
DRAW_KEY = 2**32 + 1


@dataclass(frozen=True)
class Posterior:
    """A posterior sample: each parameter's values and the fields it sets, and the weights."""

    source: str
    names: list[str]
    fields: dict[str, list[str]]
    values: np.ndarray  # particles × parameters
    weights: np.ndarray
    integer: dict[str, bool]
    #: parameters no target depends on, by name: each draw takes a fresh value from the prior
    prior_only: dict[str, Any] = field(default_factory=dict)

    def draws(self, n: int, seed: int) -> list[dict[str, float]]:
        """``n`` parameter vectors resampled with the weights, by name; a prior-only
        parameter drawn afresh from its prior for each (after the resampling, from the same
        stream), so that its spread is not that of the few particles the weights favour."""
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DRAW_KEY,)))
        p = self.weights / self.weights.sum()
        idx = rng.choice(len(p), size=n, replace=True, p=p)
        fresh = rng.random((n, len(self.prior_only))) if self.prior_only else None
        out = []
        for row, i in enumerate(idx):
            d = {}
            for k, name in enumerate(self.names):
                v = float(self.values[i, k])
                d[name] = round(v) if self.integer.get(name) else v  # an integer field: an int
            for j, (name, par) in enumerate(self.prior_only.items()):
                assert fresh is not None
                d[name] = par.value(float(fresh[row, j]))
            out.append(d)
        return out

    def fields_of(self, draw: dict[str, float]) -> dict[str, float]:
        """A draw as the scenario fields it sets (wildcards kept)."""
        return {f: draw[n] for n in self.names for f in self.fields[n]}


def load_posterior(path: str | Path, option: str = "--posterior") -> Posterior:
    """The posterior of an ABC-SMC results folder (or of its ``posterior.parquet``)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    table = folder / "posterior.parquet" if path.is_dir() else path
    spec = folder / "calibration.json"
    if not table.is_file() or not spec.is_file():
        raise ScenarioError(
            option, None,
            f"{path}: not an ABC-SMC calibration's results (posterior.parquet and "
            "calibration.json, as `sim calibrate` writes them with method = \"abc_smc\")",
        )  # fmt: skip
    try:
        cal = json.loads(spec.read_text(encoding="utf-8"))["calibration"]
        params = cal["parameters"]
        df = pd.read_parquet(table)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScenarioError(option, None, f"{path}: cannot read the posterior ({exc})") from None
    if cal.get("method") != "abc_smc":
        raise ScenarioError(option, None, f"{path}: not an ABC-SMC posterior")
    names = [p["name"] for p in params]
    missing = [n for n in names if n not in df.columns]
    if missing or "generation" not in df or "weight" not in df or df.empty:
        raise ScenarioError(option, None, f"{path}: posterior.parquet lacks {missing or 'rows'}")
    final = df[df["generation"] == df["generation"].max()]
    from sim.experiments.priors import FreeParameter

    try:
        alone = {p["name"]: FreeParameter.model_validate(p) for p in params if p.get("prior_only")}
    except ValueError as exc:
        why = f"{path}: a parameter's prior is invalid: {exc}"
        raise ScenarioError(option, None, why) from None
    return Posterior(
        source=str(folder),
        names=names,
        fields={p["name"]: list(p["fields"]) for p in params},
        values=final[names].to_numpy(np.float64),
        weights=final["weight"].to_numpy(np.float64),
        integer={p["name"]: bool(p.get("integer")) for p in params},
        prior_only=alone,
    )


def draw_scenarios(
    data: dict[str, Any], posterior: Posterior, draws: int, seed: int
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The scenario's data (validated and dumped) with each draw applied, and a table of the
    draws (draw, parameter values)."""
    from sim.scenario.parameters import apply_parameters

    out = []
    rows = []
    for d, draw in enumerate(posterior.draws(draws, seed)):
        applied, n = apply_parameters(data, posterior.fields_of(draw))
        out.append(applied)
        rows.append({"draw": d, **draw, "fields_set": n})
    return out, pd.DataFrame(rows)


def prediction_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the central ``level`` quantile interval of a figure over posterior draws."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    a = (1 - level) / 2
    lo, hi = np.quantile(x, [a, 1 - a])
    return float(x.mean()), float(lo), float(hi)
