"""Registered forecasts: predictions of a reform whose evaluation has not been published,
made from the base world as it stands and committed with a date before the evidence exists
(MODEL.md, "Calibration and validation").

``sim forecast SPEC.toml --posterior FOLDER --draws N --out FILE`` runs the spec's measures
(each a measure of :mod:`sim.experiments.measures`: a scenario, an arm against a baseline, a
column or ratio, a window, a statistic) with ``N`` posterior draws of the world's parameters
and writes the forecast file: the spec, each measure's predicted mean and 95% prediction
interval, the date, the posterior and the code that made them. The file is committed and
never edited after (``tests/experiments/test_forecasts.py`` checks every registered file's hash);
``sim validate SUITE`` lists the forecasts of ``SUITE/forecasts/`` as awaiting evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import field_validator

from sim.errors import ScenarioError
from sim.experiments.measures import MeasureConfig
from sim.guards.limits import parse_toml, read_input
from sim.scenario import F, Strict, check_label

#: where a suite keeps its registered forecasts
FOLDER = "forecasts"


class ForecastMeasure(MeasureConfig):
    """One predicted outcome: a measure, named and described."""

    name: str = F(..., "name", "Short name of the outcome.")
    description: str = F(..., "text", "What the outcome is, in words, with its unit.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "outcome name")


class ForecastSpec(Strict):
    """What is forecast: the reform, its rules and sources, the outcomes."""

    id: str = F(..., "name", "Forecast id.")
    title: str = F(..., "text", "The reform, in one line.")
    reform: str = F(..., "text", "The reform's rules as the replay models them.")
    sources: list[str] = F(..., "citations", "Where the rules come from (full citations).")
    evaluation: str = F(..., "text", "What evaluation the forecast awaits, and when.")
    notes: str = F("", "text", "What the replay leaves out.")
    outcomes: list[ForecastMeasure] = F(..., "table", "The outcomes predicted.")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_label(v, "forecast id")


def load_spec(path: Path) -> ForecastSpec:
    """A forecast spec (a ``[forecast]`` table), checked, with its measures checked against
    their scenarios."""
    from pydantic import ValidationError

    from sim.experiments.measures import check_against
    from sim.scenario import load_scenario

    raw = parse_toml(read_input(path), str(path))
    if set(raw) != {"forecast"}:
        raise ScenarioError(str(path), None, "a forecast spec holds one [forecast] table")
    try:
        spec = ForecastSpec.model_validate(raw["forecast"])
    except ValidationError as exc:
        raise ScenarioError.from_validation(str(path), exc) from None
    for k, m in enumerate(spec.outcomes):
        sc = load_scenario(path.parent / m.scenario)
        check_against(m, sc, str(path), f"forecast.outcomes.{k}")
    return spec


def register(
    path: Path, posterior: Any, draws: int, out: Path, *, executor: str = "process",
    workers: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run the spec's outcomes with posterior draws and write the forecast file ``out``
    (refusing to overwrite one: a registered forecast is never edited)."""
    from sim.experiments.measures import MeasureTask, execute, executors, read_part
    from sim.guards.extras import require

    tomli_w = require("tomli_w", "explore", "sim forecast")
    from sim.experiments.posterior import draw_scenarios, prediction_interval
    from sim.experiments.sweep import code_hash
    from sim.results.folder import provenance
    from sim.scenario import load_scenario

    if out.exists():
        raise ScenarioError(str(out), None, "a registered forecast is never overwritten")
    spec = load_spec(path)
    parts = out.parent / f".{out.stem}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    # outcomes of the same scenario and arms share their runs: one run per draw measures all
    groups: dict[tuple[str, tuple[str, ...]], list[ForecastMeasure]] = {}
    for m in spec.outcomes:
        arms = tuple(a for a in (m.arm, m.baseline) if a)
        groups.setdefault((m.scenario, arms), []).append(m)
    tasks = []
    parts_of: list[list[Path]] = []
    for g, ((scenario, arms), outcomes) in enumerate(groups.items()):
        sc = load_scenario(path.parent / scenario)
        sc = sc.model_copy(update={"replications": draws})
        data, _ = draw_scenarios(sc.model_dump(mode="json"), posterior, draws, sc.seed)
        measures = tuple(
            (m.name, m.model_dump(mode="json", include=set(MeasureConfig.model_fields)))
            for m in outcomes
        )
        parts_of.append([parts / f"g{g:02d}-d{d:04d}.json" for d in range(draws)])
        for d, part in enumerate(parts_of[-1]):
            if read_part(part, parts) is None:
                tasks.append(MeasureTask(
                    point=g, replicate=d, seed=sc.seed, scenario=data[d], arms=arms,
                    measures=measures, part=str(part), code=code_hash(), folder=str(parts),
                ))  # fmt: skip
    with executors(executor, workers or 1, None) as pool:
        for res in pool.results(tasks, execute):
            if res.status != "done":
                raise ScenarioError(str(path), None, f"a run failed: {res.error}")
    by_name: dict[str, dict[str, Any]] = {}
    for g, outcomes in enumerate(groups.values()):
        for m in outcomes:
            values = [(read_part(p, parts) or {}).get(m.name, np.nan) for p in parts_of[g]]
            mean, lo, hi = prediction_interval(np.asarray(values, np.float64))
            by_name[m.name] = {
                "outcome": m.name, "statistic": m.statistic, "mean": mean,
                "interval_low": lo, "interval_high": hi, "level": 0.95,
            }  # fmt: skip
    predictions = [by_name[m.name] for m in spec.outcomes]  # in the spec's order
    doc = {
        "forecast": spec.model_dump(mode="json", exclude_none=True),
        "registration": {
            "date": dt.date.today().isoformat(),
            "posterior": str(posterior.source),
            "draws": draws,
            "code": code_hash(),
            **{k: v for k, v in provenance().items() if v is not None},
        },
        "predictions": predictions,
    }
    text = (
        "# A registered forecast (sim forecast): written once, never edited after it is "
        "committed\n# (tests/experiments/test_forecasts.py checks its hash).\n" + tomli_w.dumps(doc)
    )
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    import shutil

    shutil.rmtree(parts, ignore_errors=True)
    return doc


def registered(suite: Path) -> list[dict[str, Any]]:
    """The registered forecasts of a suite (``SUITE/forecasts/*.toml``), as read."""
    folder = Path(suite) / FOLDER
    out = []
    for f in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        raw = parse_toml(read_input(f), str(f))
        if not {"forecast", "registration", "predictions"} <= set(raw):
            raise ScenarioError(str(f), None, "not a registered forecast (sim forecast)")
        out.append({"file": f.name, **raw})
    return out


def markdown(forecasts: list[dict[str, Any]]) -> str:
    """The registered forecasts as Markdown: awaiting evidence."""
    if not forecasts:
        return ""
    lines = ["## Forecasts awaiting evidence", ""]
    for fc in forecasts:
        f, reg = fc["forecast"], fc["registration"]
        lines += [
            f"### {f['title']} (`{fc['file']}`, registered {reg['date']})",
            "",
            f"Awaits: {f['evaluation']}",
            "",
            "| outcome | statistic | predicted | 95% prediction interval |",
            "|---|---|---|---|",
        ]
        for p in fc["predictions"]:
            lines.append(
                f"| {p['outcome']} | {p['statistic']} | {p['mean']:.4g} "
                f"| [{p['interval_low']:.4g}, {p['interval_high']:.4g}] |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def dumps(doc: dict[str, Any]) -> str:
    """A forecast document as JSON (for metadata)."""
    return json.dumps(doc, sort_keys=True)
