"""``build_report``: read a results folder, compute the outcomes per replication and their
statistics once (the :class:`~sim.publish.report.context.Context`), let each section of
``SECTIONS`` write its part, then write report.html and index.md from the parts. The report is
assembled in a temporary folder next to its destination and renamed at the end: an error leaves
nothing half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import ResultsError
from sim.publish.report import page
from sim.publish.report.context import Context, Part, Section
from sim.publish.report.results import Results, load_results, scenario_baseline
from sim.publish.report.sections import SECTIONS
from sim.publish.report.statistics import (
    outcomes_by_replicate,
    paired,
    sort_stats,
    table_measures,
)
from sim.publish.trends import describe
from sim.results.folder import check_report_folder, staged_folder

#: a folder holding both is a report folder that may be replaced
REPORT_MARKERS = ("report.html", "index.md")

#: progress callback of ``build_report``: (step done, steps, what comes next)
ReportProgress = Any


@dataclass
class Report:
    """A written report: its folder and files."""

    folder: Path
    files: list[Path]


def build_report(
    results: str | Path,
    *,
    baseline: str | None = None,
    out: str | Path | None = None,
    progress: ReportProgress | None = None,
    sections: Sequence[Section] = SECTIONS,
) -> Report:
    """Read a results folder and write its report folder (atomically); return the files.

    ``baseline``: default the scenario's ``analysis.baseline``, else the first arm.
    ``progress(done, total, label)`` after each step. ``sections``: the report's sections, in
    order (default :data:`~sim.publish.report.sections.SECTIONS`)."""
    res = load_results(results)
    if baseline is None:
        analysis = res.scenario.get("analysis")
        named = analysis.get("baseline") if isinstance(analysis, dict) else None
        if named is not None and named not in res.arms:
            raise ResultsError(
                f"{res.folder}: the scenario's baseline arm {named!r} (analysis.baseline) is not "
                f"in these results (arms: {', '.join(res.arms)}); give --baseline with one of "
                "them, or run the baseline too"
            )
        baseline = scenario_baseline(res.scenario, res.arms)
    elif baseline not in res.arms:
        raise ResultsError(
            f"--baseline: unknown arm {baseline!r} in {res.folder}; allowed: {', '.join(res.arms)}"
        )
    out = Path(out) if out is not None else res.folder / "report"
    _check_out(out, res.folder)
    with staged_folder(out) as tmp:
        rel = _write(res, baseline, tmp, sections, progress)
    return Report(out, [out / p for p in rel])


def _check_out(out: Path, results: Path) -> None:
    check_report_folder(out)  # absent, empty or a report folder, by content; no links
    r, o = results.resolve(), out.resolve()
    if o == r or o in r.parents:
        raise ResultsError(f"--out: {out} would replace the results folder {results}")


def context(res: Results, baseline: str, root: Path) -> Context:
    """The outcomes per replication, their statistics and paired differences, and the arms'
    looks: what every section works from."""
    from sim.publish import figures as rf

    measures = table_measures(res.settings, res.units)
    wide = outcomes_by_replicate(res, measures)
    keys = [c for c in wide.columns if c not in ("point", "arm", "replicate")]
    order = [*(m.key for m in measures), *keys]
    diffs = paired(wide, res.arms, baseline, ["point", "replicate"], keys)
    return Context(
        res=res,
        baseline=baseline,
        root=root,
        measures=measures,
        wide=wide,
        keys=keys,
        stats=sort_stats(describe(wide, ["point", "arm"], keys), res.arms, order),
        diffs=diffs,
        dstats=sort_stats(describe(diffs, ["point", "arm"], keys), res.arms, order),
        styles=rf.arm_styles(res.arms),
    )


def _write(
    res: Results,
    baseline: str,
    root: Path,
    sections: Sequence[Section],
    progress: ReportProgress | None = None,
) -> list[Path]:
    """Write every figure, table, data file, report.html and index.md under ``root``; return
    the paths relative to it."""
    for d in ("figures", "tables", "data"):
        (root / d).mkdir()
    ctx = context(res, baseline, root)
    head = ctx.part()
    head.data(
        ctx.wide,
        "outcomes_by_replicate.csv",
        "every outcome per design point, arm and replication",
    )
    steps = [s for s in sections if res.kind in s.kinds]
    parts: list[tuple[Section, Part]] = []
    for i, sec in enumerate(steps):
        if progress is not None:
            progress(i, len(steps) + 1, sec.label)
        part = sec.build(ctx)
        if part is not None:
            parts.append((sec, part))
    if progress is not None:
        progress(len(steps), len(steps) + 1, "report.html")
    everything = [head, *(p for _, p in parts)]
    rel = [
        Path("index.md"),
        Path("report.html"),
        *(f.relative_to(root) for p in everything for t in p.tables for f in t.files),
        *(f.relative_to(root) for p in everything for fg in p.figures for f in fg.files),
        *(d.file.relative_to(root) for p in everything for d in p.data_files),
    ]
    (root / "report.html").write_text(page.html(ctx, parts), encoding="utf-8")
    (root / "index.md").write_text(page.index(ctx, parts, head), encoding="utf-8")
    if progress is not None:
        progress(len(steps) + 1, len(steps) + 1, "done")
    return rel
