"""Figures of a run and of a sensitivity analysis, for the writers outside the report
(``sim run``'s results folder, ``sim sensitivity``, the explorer's export). Kept outside the
simulation core; matplotlib is imported only in :mod:`sim.publish.figures`, whose style, arm
looks and save rules every figure shares."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: the formats every figure is written in
FORMATS = ("png", "pdf", "svg")


def trends_figure(monthly: pd.DataFrame, path: Path, scenario=None) -> list[Path]:
    """Cost and outcome trends by arm (``sim run``'s trends figure): the monthly figure of
    ``sim report`` — the same code (:func:`sim.publish.trends.trends_figure`) and style — with
    95% CIs of the mean over replications, calendar dates and the policy switches marked.
    Written as ``path`` (PNG, 300 dpi) with a PDF and an SVG beside it. ``scenario``: the run's
    Scenario (for dates, switches, units and arm order)."""
    from sim.publish import figures as rf
    from sim.publish.trends import trends_figure as figure

    data = scenario.model_dump(mode="json") if scenario is not None else None
    return rf.save(figure(monthly, data), path.parent, path.stem)


def trends_png(monthly: pd.DataFrame, scenario=None):
    """A ``figures`` callback for :func:`sim.results.folder.write_results`: draws
    ``trends.png``, ``trends.pdf`` and ``trends.svg`` (:func:`trends_figure`) into the folder
    being written."""

    def draw(folder: Path) -> list[str]:
        return [p.name for p in trends_figure(monthly, folder / "trends.png", scenario=scenario)]

    return draw


def sensitivity_figure(
    df: pd.DataFrame, method: str, outcome: str, path: Path, fields: list[str] | None = None
) -> list[Path]:
    """Sensitivity indices per parameter, one panel per arm, with 95% CIs
    (:func:`sim.publish.figures.sensitivity`), written as ``path`` (PNG) with a PDF and an SVG
    beside it. Parameters are named in words (:func:`sim.publish.labels.field_label`)."""
    from sim.publish import figures as rf
    from sim.publish.labels import field_label
    from sim.publish.report.statistics import outcome_label

    params = list(dict.fromkeys(df["parameter"]))
    labels = {p: field_label(p, fields or params) for p in params}
    known = outcome_label(outcome)
    title = f"{known[0].lower()} ({known[1]})" if known else ""
    return rf.save(rf.sensitivity(df, method, outcome, labels, title), path.parent, path.stem)
