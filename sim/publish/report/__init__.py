"""Paper-ready figures and tables from a results folder: ``sim report RESULTS``.

Works on a single run (``sim run``: ``monthly.parquet``, ``metadata.json``, optionally
``providers.parquet``) and on a sweep (``sim sweep``: ``sweep.json``, ``design.parquet``,
``summary.parquet``, optionally ``monthly.parquet``). The report folder (default
``RESULTS/report/``) holds ``figures/`` (PNG and PDF), ``tables/`` (CSV, Markdown, LaTeX),
``data/`` (the per-replication values and monthly statistics behind the figures), a
self-contained ``report.html`` and ``index.md``, the list of what was written.

Statistics. Every outcome is first computed per replication: for a run, by applying
:func:`sim.results.tables.summarize` to one replicate's monthly rows (so the definitions are exactly
those of ``summary.csv``); for a sweep, from its summary rows, which are per design point and
replication. Tables and figures show the mean over replications with a 95% t-interval of the
mean, mean ± t(0.975, n−1)·s/√n. Differences from the baseline arm are paired by replication:
the arms of a replication share their random numbers, so the difference is taken within each
replication first. With one replication no interval exists and none is drawn: the tables say
"n/a (1 replication)". Ratios (units per treated patient, low-value share, spending per point)
are averaged over replications, so they can differ slightly from ``summary.csv``, which pools
the replications before dividing.

The package, along the report's call tree:

- :mod:`~sim.publish.report.results`: the results folder read (:func:`load_results`);
- :mod:`~sim.publish.report.statistics`: the outcomes per replication, means, intervals and
  paired differences;
- :mod:`~sim.publish.report.tables`: numbers as text; each table as CSV, Markdown and LaTeX;
- :mod:`~sim.publish.report.context`: what a section works from (``Context``) and gives back
  (``Part``), and the ``Section`` record;
- :mod:`~sim.publish.report.sections`: one module per section, listed in order in ``SECTIONS``
  (adding a figure: a module and one line there; docs/howto/add-a-report-figure.md);
- :mod:`~sim.publish.report.page`: report.html (jinja2 template) and index.md from the parts;
- :mod:`~sim.publish.report.build`: :func:`build_report`, which runs them into a staged folder.

Figures share one style and one look per arm through :mod:`sim.publish.figures`.
"""

from sim.publish.report.build import REPORT_MARKERS, Report, ReportProgress, build_report
from sim.publish.report.context import Context, DataOut, FigureOut, Part, Section
from sim.publish.report.page import MAX_HTML_ROWS, render_markdown
from sim.publish.report.results import (
    PANEL_COLUMNS,
    RUN_MONTHLY_COLUMNS,
    SWEEP_SUMMARY_COLUMNS,
    Results,
    key_measures,
    load_results,
    scenario_baseline,
)
from sim.publish.report.sections import SECTIONS
from sim.publish.report.sections.outcomes import difference_tables, summary_tables
from sim.publish.report.sections.subgroups import (
    MAX_GROUPS_FIGURE,
    SUBGROUP_MEASURES,
    subgroups_by_replicate,
)
from sim.publish.report.sections.trends import MAX_POINT_FIGURES
from sim.publish.report.statistics import (
    CI_METHOD,
    NA_ONE,
    Measure,
    monthly_by_replicate,
    outcomes_by_replicate,
    paired,
    table_measures,
)
from sim.publish.report.tables import (
    LATEX_FIT_COLUMNS,
    TableOut,
    latex_escape,
    latex_fit,
    latex_table,
    markdown_table,
)

__all__ = [
    "CI_METHOD",
    "LATEX_FIT_COLUMNS",
    "MAX_GROUPS_FIGURE",
    "MAX_HTML_ROWS",
    "MAX_POINT_FIGURES",
    "NA_ONE",
    "PANEL_COLUMNS",
    "REPORT_MARKERS",
    "RUN_MONTHLY_COLUMNS",
    "SECTIONS",
    "SUBGROUP_MEASURES",
    "SWEEP_SUMMARY_COLUMNS",
    "Context",
    "DataOut",
    "FigureOut",
    "Measure",
    "Part",
    "Report",
    "ReportProgress",
    "Results",
    "Section",
    "TableOut",
    "build_report",
    "difference_tables",
    "key_measures",
    "latex_escape",
    "latex_fit",
    "latex_table",
    "load_results",
    "markdown_table",
    "monthly_by_replicate",
    "outcomes_by_replicate",
    "paired",
    "render_markdown",
    "scenario_baseline",
    "subgroups_by_replicate",
    "summary_tables",
    "table_measures",
]
