"""report.html and index.md, built from the report's sections in the order of
``SECTIONS``. The page is rendered from ``sim/publish/templates/report.html.j2`` (jinja2,
autoescaped): what the results are, then each section's figures (PNG embedded as base64) before
its tables; notes, introductions and captions are Markdown, rendered with raw HTML escaped.
"""

from __future__ import annotations

import base64
from typing import Any

import pandas as pd

from sim.publish.labels import label_of
from sim.publish.report.context import Context, FigureOut, Part, Section
from sim.publish.report.statistics import CI_METHOD, NA_ONE
from sim.publish.report.tables import TableOut, latex_fit

#: rows of a table shown in report.html (the files always hold every row)
MAX_HTML_ROWS = 300

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;
margin:2em auto;padding:0 1em;color:#111;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #bbb;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}th{background:#eee}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td .ci{display:block;color:#555;font-size:.9em}.tablewrap{max-width:100%;overflow-x:auto}
figure{margin:1.2em 0}img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#333;margin-top:.3em}.note{background:#f4f4f4;padding:.6em .8em;
border-left:4px solid #888;margin:.6em 0}code{background:#f1f1f1;padding:0 .2em}
.files{font-size:.85em}.toc{font-size:.9em;margin:.8em 0}.toc a{margin:0 .2em}
"""


def render_markdown(text: str, *, inline: bool = False) -> str:
    """Markdown as safe HTML (CommonMark by markdown-it-py, a dependency of rich; raw HTML in
    the text is escaped, not passed through)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return md.renderInline(text) if inline else md.render(text)


def _cell(value: object) -> tuple[str, str]:
    """A cell as (value, interval): ``12.3 [11.0, 13.6]`` shows its interval on a line of its
    own, so a column is as wide as a number, not as a number and its interval."""
    text = str(value)
    head, sep, tail = text.partition(" [")
    if sep and tail.endswith("]") and head and not head.startswith("["):
        return head, f"[{tail}"
    return text, ""


def table_html(
    df: pd.DataFrame,
    numeric: set[str] | None = None,
    *,
    table_id: str = "",
    caption: str = "",
    row_ids: list[str] | None = None,
    col_ids: list[str] | None = None,
) -> str:
    """A table as HTML from the report's template (``templates/table.html.j2``, autoescaped):
    numeric columns right-aligned, an interval on a line of its own. ``row_ids`` and
    ``col_ids`` become ``data-row`` and ``data-col`` attributes (the explorer's table)."""
    return _render(
        "table.html.j2",
        columns=[str(c) for c in df.columns],
        rows=[[_cell(v) for v in row] for row in df.itertuples(index=False)],
        numeric=set(map(str, numeric or set())),
        table_id=table_id,
        caption=caption,
        row_ids=row_ids,
        col_ids=col_ids,
    )


_table_html = table_html


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from sim.guards.paths import TEMPLATES, data_file

    env = Environment(
        loader=FileSystemLoader(str(data_file(TEMPLATES))),
        autoescape=select_autoescape(["html", "j2"], default=True),
        keep_trailing_newline=True,
    )
    return env


def _render(which: str, **context: Any) -> str:
    return _environment().get_template(which).render(**context)


def notes(ctx: Context, parts: list[tuple[Section, Part]]) -> list[str]:
    """The notes of every section, in order, then why the provider figure is missing."""
    out = [n for _, p in parts for n in p.notes]
    if ctx.res.providers is None and ctx.res.providers_note:
        out.append(ctx.res.providers_note)
    return out


def html(ctx: Context, parts: list[tuple[Section, Part]]) -> str:
    """The self-contained report page: the facts of the results, the arms, how the statistics
    are made, the notes, then each section that shows something, in order."""
    from markupsafe import Markup

    res, root, baseline = ctx.res, ctx.root, ctx.baseline
    meta = res.meta
    versions = meta.get("versions")
    if not isinstance(versions, dict):
        versions = {}
    command = meta.get("command")
    facts: list[tuple[str, str]] = [
        ("results", str(res.folder)),
        ("kind", "sweep (sim sweep)" if res.kind == "sweep" else "single run (sim run)"),
    ]
    if res.kind == "sweep":
        facts += [
            (
                "base scenario",
                f"{res.sweep.get('base_name') or '?'}: "
                f"{res.sweep.get('base_description') or '(no description)'}",
            ),
            (
                "design",
                f"{res.sweep.get('design', {}).get('method', '?')}, {len(res.design)} point(s)",
            ),
            ("varied factors", ", ".join(res.parameters)),
        ]
    facts += [
        ("seed", str(res.seed)),
        ("replications", str(res.replications)),
        *([("months", str(res.months))] if res.months else []),
        ("start", str(ctx.start)),
        ("baseline arm", baseline),
        ("git commit", str(meta.get("git_commit") or "unknown")),
        ("command", " ".join(map(str, command)) if isinstance(command, list) else str(command)),
        ("software", ", ".join(f"{k} {v}" for k, v in versions.items()) or "unknown"),
    ]
    allrows = res.per_rep[res.per_rep["setting"].astype(str) == "all"]
    models = (
        {
            str(arm): ", ".join(dict.fromkeys(",".join(d.astype(str)).split(",")))
            for arm, d in allrows.groupby(allrows["arm"].astype(str))["payment_models"]
        }
        if "payment_models" in allrows
        else {}
    )
    arms = pd.DataFrame(
        {
            "arm": [label_of(a) for a in res.arms],
            "name in the tables": res.arms,
            "description": [res.arm_descriptions.get(a, "") for a in res.arms],
            "payment models": [models.get(a, "") for a in res.arms],
        }
    )
    statistics = (
        "Outcomes are computed per replication, then averaged over replications. 95% "
        f"confidence intervals: {CI_METHOD}. Differences from the baseline arm "
        f"(**{baseline}**) are paired by replication (the arms of a replication share their "
        "random numbers). "
        + (
            f"With one replication no interval is available: {NA_ONE}."
            if res.replications == 1
            else f"{res.replications} replications."
        )
    )

    def md(text: str, inline: bool = False) -> Any:
        return Markup(render_markdown(text, inline=inline))

    def figure(fg: FigureOut) -> dict[str, Any]:
        png = next(f for f in fg.files if f.suffix == ".png")
        return {
            "stem": fg.stem,
            "title": fg.title,
            "caption": md(fg.caption, inline=True),
            "png": base64.b64encode(png.read_bytes()).decode("ascii"),
            "files": [str(f.relative_to(root)) for f in fg.files],
        }

    def table(t: TableOut) -> dict[str, Any]:
        shown = t.display.head(MAX_HTML_ROWS)
        # as printed: each "X 95% CI" column joined to its "X" column (half the columns)
        fitted = latex_fit(shown)
        return {
            "stem": t.stem,
            "title": t.title,
            "html": Markup(_table_html(fitted, {c for c in fitted.columns if c in t.numeric})),
            "truncated": len(t.display) > len(shown),
            "shown": len(shown),
            "rows": len(t.display),
            "notes": md(t.notes),
            "files": [str(f.relative_to(root)) for f in t.files],
        }

    sections = [
        {
            "id": sec.id,
            "title": sec.title,
            "intro": md(part.intro) if part.intro else "",
            "figures": [figure(fg) for fg in part.figures],
            "tables": [table(t) for t in part.tables],
        }
        for sec, part in parts
        if part.shown
    ]
    return _render(
        "report.html.j2",
        name=res.name,
        description=res.description,
        css=Markup(_CSS),
        facts=facts,
        arms_table=Markup(_table_html(arms)),
        statistics_note=md(statistics),
        notes=[md(n) for n in notes(ctx, parts)],
        sections=sections,
    )


def index(ctx: Context, parts: list[tuple[Section, Part]], head: Part) -> str:
    """index.md: every file of the report with what it holds (``head``: the files written
    before the sections)."""
    res, root = ctx.res, ctx.root
    lines = [
        f"# Report: {res.name}",
        "",
        f"From `{res.folder}` ({'sweep' if res.kind == 'sweep' else 'single run'}, "
        f"{res.replications} replication(s)); baseline arm: {ctx.baseline}.",
        "",
        "- `report.html`: everything below in one self-contained page (images embedded).",
        "",
        "## Tables (CSV: tidy numbers; Markdown and LaTeX: formatted)",
        "",
    ]
    for t in (t for _, p in parts for t in p.tables):
        files = ", ".join(f"`{f.relative_to(root)}`" for f in t.files)
        lines.append(f"- {t.title}: {files}")
    lines += ["", "## Figures (PNG at 300 dpi, PDF and SVG)", ""]
    for fg in (fg for _, p in parts for fg in p.figures):
        files = ", ".join(f"`{f.relative_to(root)}`" for f in fg.files)
        lines.append(f"- {fg.title}: {files}")
    lines += ["", "## Data behind the tables and figures (CSV)", ""]
    for d in (d for p in (head, *(p for _, p in parts)) for d in p.data_files):
        lines.append(f"- `{d.file.relative_to(root)}`: {d.about}")
    extra: list[str | None] = [n for _, p in parts for n in p.notes]
    extra += [res.providers_note] if res.providers is None else []
    if extra:
        lines += ["", "## Notes", "", *(f"- {n}" for n in extra if n)]
    return "\n".join(lines) + "\n"
