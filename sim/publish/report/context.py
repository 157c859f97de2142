"""What a section of the report works from and what it gives back.

A section is a :class:`Section`: an anchor, a heading and a function ``build(ctx)`` that takes
the report's :class:`Context` (the results, the baseline arm, the outcomes per replication and
their statistics, the arms' looks) and returns a :class:`Part` — the figures, tables, data files
and notes it wrote — or None when it has nothing to show. The report lists its sections in
``sim.publish.report.sections.SECTIONS``; report.html and index.md are built from their parts,
in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.publish.report.results import Results
from sim.publish.report.statistics import CI_METHOD, Measure
from sim.publish.report.tables import TableOut, lead, write_table
from sim.publish.trends import scenario_start, switch_events


@dataclass
class FigureOut:
    """A figure of the report: file stem, title, caption and the files written."""

    stem: str
    title: str
    caption: str
    files: list[Path]


@dataclass
class DataOut:
    """A data file of the report (CSV, under ``data/``) and what it holds, for index.md."""

    file: Path
    about: str


@dataclass
class Part:
    """What one section adds to the report, in the order it added it: an introduction,
    figures (shown before the tables), tables, data files and notes (shown at the top of
    report.html and listed in index.md). The methods write the files under the report's
    folder and record them."""

    root: Path = field(repr=False)
    intro: str = ""
    figures: list[FigureOut] = field(default_factory=list)
    tables: list[TableOut] = field(default_factory=list)
    data_files: list[DataOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        """Whether report.html gives the section a heading (notes alone do not)."""
        return bool(self.intro or self.figures or self.tables)

    def figure(self, fig: Any, stem: str, title: str, caption: str) -> FigureOut:
        """Save a matplotlib figure as ``figures/stem.png`` (300 dpi), ``.pdf`` and ``.svg``
        (:func:`sim.publish.figures.save`); ``caption`` is Markdown."""
        from sim.publish import figures as rf

        out = FigureOut(stem, title, caption, rf.save(fig, self.root / "figures", stem))
        self.figures.append(out)
        return out

    def table(
        self,
        stem: str,
        title: str,
        notes: str,
        data: pd.DataFrame,
        display: pd.DataFrame,
        n_text: int,
    ) -> TableOut:
        """Write ``tables/stem.csv`` (``data``), ``.md`` and ``.tex`` (``display``; see
        :func:`sim.publish.report.tables.write_table`)."""
        out = write_table(self.root / "tables", stem, title, notes, data, display, n_text)
        self.tables.append(out)
        return out

    def data(self, df: pd.DataFrame, name: str, about: str) -> Path:
        """Write the numbers behind a figure or table as ``data/name`` (CSV); ``about``: what
        it holds, for index.md."""
        path = self.root / "data" / name
        df.to_csv(path, index=False, float_format="%.10g")
        self.data_files.append(DataOut(path, about))
        return path

    def note(self, text: str) -> None:
        """A note (Markdown) for the top of report.html and index.md."""
        self.notes.append(text)


@dataclass
class Context:
    """What the report is built from: the results, the baseline arm, the report's folder, the
    table outcomes per (point, arm, replicate) with their statistics and paired differences,
    and one look per arm."""

    res: Results
    baseline: str
    root: Path
    measures: list[Measure]
    wide: pd.DataFrame  # outcomes per (point, arm, replicate)
    keys: list[str]  # measure columns of ``wide``
    stats: pd.DataFrame  # their mean and CI per (point, arm)
    diffs: pd.DataFrame  # paired differences per (point, arm, replicate)
    dstats: pd.DataFrame  # their mean and CI per (point, arm)
    styles: dict[str, dict] = field(default_factory=dict)

    def part(self, intro: str = "") -> Part:
        """An empty part of the report, writing under its folder; ``intro`` is Markdown."""
        return Part(self.root, intro)

    @property
    def events(self) -> list[tuple[Any, str]]:
        """The policy switches to mark on time series (calendar dates)."""
        return switch_events(self.res.scenario, self.res.arms)

    @property
    def start(self) -> Any:
        """The calendar month of month 0."""
        return scenario_start(self.res.scenario)

    @property
    def others(self) -> list[str]:
        """The arms other than the baseline, in order."""
        return [a for a in self.res.arms if a != self.baseline]

    @property
    def ci_fig(self) -> str:
        """What a figure's error bars are, for its caption."""
        return f"95% {CI_METHOD}" if self.res.replications >= 2 else "no intervals (1 replication)"

    def by_month(self, data: Any, arms: list[str], panels: list, suptitle: str, **kw: Any) -> Any:
        """Panels of ``data`` by calendar month with their bands, the run's arm styles and its
        policy switches marked (the report's time-series figure)."""
        from sim.publish import figures as rf

        return rf.band_lines(
            data,
            arms,
            panels,
            x="date",
            xlabel="calendar month",
            suptitle=suptitle,
            styles=self.styles,
            events=self.events,
            replications=self.res.replications,
            **kw,
        )


@dataclass(frozen=True)
class Section:
    """A section of the report: its anchor in report.html (``id``), its heading, the function
    that writes it, the progress line's name for its step (default: the heading) and the kinds
    of results it applies to ("run", "sweep")."""

    id: str
    title: str
    build: Callable[[Context], Part | None]
    step: str = ""
    kinds: tuple[str, ...] = ("run", "sweep")

    @property
    def label(self) -> str:
        """The progress line's name for the section's step."""
        return self.step or self.title


def band_caption(res: Results, what: str, *, paired: bool = False, arms: int = 0) -> str:
    """A time-series caption: ``what``, then what the lines and bands are (``arms``: how many
    arms the figure draws; with more than :data:`sim.publish.figures.MANY_ARMS` it has no
    bands)."""
    from sim.publish.figures import with_bands

    mean = "mean paired difference" if paired else "mean"
    if res.replications >= 2 and not with_bands(arms):
        return (
            f"{what} Lines: {mean} over {res.replications} replications; with {arms} arms the "
            "95% bands are left out so that the lines can be told apart (the intervals are in "
            "the data file)."
        )
    if res.replications >= 2:
        return (
            f"{what} Lines: {mean} over {res.replications} replications; shaded bands: "
            f"95% {CI_METHOD} (each band's edges are drawn in its arm's line style)."
        )
    return f"{what} One replication: no band (an interval needs at least 2 replications)."


def point_text(res: Results, point: int) -> str:
    """`` (design point k: a = 1, b = 2)`` for a sweep's figure titles; empty for a run."""
    if res.kind != "sweep":
        return ""
    values = ", ".join(f"{k} = {v}" for k, v in lead(res, point).items() if k != "point")
    return f" (design point {point}: {values})"
