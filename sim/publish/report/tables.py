"""The report's tables: numbers and intervals as text, and each table written three ways —
``stem.csv`` (tidy numbers), ``stem.md`` (GitHub-flavoured Markdown) and ``stem.tex`` (booktabs
LaTeX, wide tables scaled to the text width; compiled by pdflatex in the tests) — by
:func:`write_table`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.publish.report.results import Results
from sim.publish.report.statistics import NA_ONE

# ---------------------------------------------------------------------------------------------
# numbers as text


def num(x: float, decimals: int) -> str:
    """A number with thousands separators and ``decimals`` decimals; "n/a" when not finite."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:,.{decimals}f}"


def ci_text(row: pd.Series, decimals: int, replications: int) -> str:
    """The 95% interval of a statistics row as ``[low, high]`` (with ``n`` when fewer
    replications than the run's had a value), or why there is none."""
    n = int(row["n"])
    if n == 0:
        return "n/a (no value)"
    if n == 1:
        return NA_ONE if replications == 1 else "n/a (1 replication with a value)"
    text = f"[{num(row['ci_low'], decimals)}, {num(row['ci_high'], decimals)}]"
    return text + (f" (n={n})" if n < replications else "")


def with_ci(r: pd.Series, decimals: int, replications: int, *, signed: bool = False) -> str:
    """A statistics row as ``mean [low, high]`` (the mean alone without an interval);
    ``signed`` for differences."""
    mean = r["mean"]
    text = f"{mean:+,.{decimals}f}" if signed and np.isfinite(mean) else num(mean, decimals)
    if int(r["n"]) >= 2 and np.isfinite(r["ci_low"]):
        return f"{text} [{num(r['ci_low'], decimals)}, {num(r['ci_high'], decimals)}]"
    return text


def short_names(fields: list[str]) -> dict[str, str]:
    """The shortest dotted suffix of each field that is unique among ``fields``."""
    out = {}
    for f in fields:
        parts = f.split(".")
        for k in range(1, len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(1 for g in fields if g == cand or g.endswith("." + cand)) == 1:
                out[f] = cand
                break
        else:
            out[f] = f
    return out


def slug(text: str) -> str:
    """``text`` as a file stem: runs of other characters than letters and digits as ``_``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "parameter"


def lead(res: Results, point: int) -> dict[str, Any]:
    """Leading columns of a sweep table row: the point and its parameter values."""
    if res.kind != "sweep":
        return {}
    row = res.design.set_index("point").loc[point]
    short = short_names(res.parameters)
    return {"point": point, **{short[p]: _plain(row[p]) for p in res.parameters}}


def shown(lead: dict[str, Any]) -> dict[str, Any]:
    """Leading columns for display: parameter values to 6 significant digits."""
    return {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in lead.items()}


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


# ---------------------------------------------------------------------------------------------
# Markdown and LaTeX


def markdown_table(df: pd.DataFrame, numeric: set[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table (no tabulate needed)."""
    numeric = numeric or set()

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if c in numeric else "---" for c in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


#: characters pdflatex does not know without extra packages: typographic signs as text, Greek
#: letters and mathematical signs in math mode
_LATEX_UNICODE = {
    "−": "-",
    "–": "--",
    "—": "---",
    "’": "'",
    "‘": "`",
    "“": "``",
    "”": "''",
    "…": r"\ldots{}",
    "\u00a0": "~",
    "°": r"$^\circ$",
    "±": r"$\pm$",
    "√": r"$\surd$",
    "×": r"$\times$",
    "÷": r"$\div$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "≈": r"$\approx$",
    "≠": r"$\neq$",
    "→": r"$\rightarrow$",
    "·": r"$\cdot$",
    "²": r"$^2$",
    "³": r"$^3$",
    "∞": r"$\infty$",
    "Δ": r"$\Delta$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "δ": r"$\delta$",
    "ε": r"$\varepsilon$",
    "θ": r"$\theta$",
    "κ": r"$\kappa$",
    "λ": r"$\lambda$",
    "μ": r"$\mu$",
    "ρ": r"$\rho$",
    "σ": r"$\sigma$",
    "τ": r"$\tau$",
    "φ": r"$\phi$",
    "χ": r"$\chi$",
    "ω": r"$\omega$",
}


def latex_escape(text: Any) -> str:
    """Text safe in a LaTeX table compiled by pdflatex without extra packages: special
    characters escaped, typographic signs as text, Greek letters and mathematical signs in math
    mode, accented letters as LaTeX accents; any other character outside ASCII is an error
    (add it to the map), so a table never fails to compile on a character nobody saw."""
    import unicodedata

    out = []
    for ch in str(text):
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_UNICODE:
            out.append(_LATEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            base = unicodedata.normalize("NFD", ch)
            accents = {"\u0301": "'", "\u0300": "`", "\u0308": '"', "\u0302": "^", "\u0303": "~",
                       "\u0327": "c"}  # fmt: skip
            if len(base) == 2 and ord(base[0]) < 128 and base[1] in accents:
                out.append(f"\\{accents[base[1]]}{{{base[0]}}}")
            else:
                raise ValueError(
                    f"character {ch!r} (U+{ord(ch):04X}) in {str(text)!r} has no LaTeX form in "
                    "sim.publish.report.tables._LATEX_UNICODE"
                )
    return "".join(out)


#: a LaTeX table with more columns than this is scaled to the text width
LATEX_FIT_COLUMNS = 6


def latex_fit(df: pd.DataFrame) -> pd.DataFrame:
    """The columns a printed table keeps: each ``X 95% CI`` column joins its ``X`` column as
    ``mean [low, high]`` (half the columns, the same numbers)."""
    out: dict[str, list[str]] = {}
    cols = list(df.columns)
    for c in cols:
        name = str(c)
        if name.endswith(" 95% CI") and name[: -len(" 95% CI")] in out:
            base = name[: -len(" 95% CI")]
            out[base] = [
                m if ci.startswith("n/a") else f"{m} {ci}"
                for m, ci in zip(out[base], df[c].astype(str), strict=True)
            ]
        else:
            out[name] = list(df[c].astype(str))
    return pd.DataFrame(out)


def _fit_width(tex: str, columns: int) -> str:
    """A tabular that never runs off the page: set in a box, and scaled down to the text width
    (graphicx's resizebox) when the box is wider; more than :data:`LATEX_FIT_COLUMNS` columns
    are also set small."""
    small = "\\small\n" if columns > LATEX_FIT_COLUMNS else ""
    tex = tex.replace("\\begin{tabular}", f"{small}\\sbox0{{%\n\\begin{{tabular}}", 1)
    return tex.replace(
        "\\end{tabular}",
        "\\end{tabular}}%\n"
        "\\ifdim\\wd0>\\linewidth\\resizebox{\\linewidth}{!}{\\usebox0}\\else\\usebox0\\fi",
        1,
    )


def latex_table(df: pd.DataFrame, caption: str, label: str, align: str) -> str:
    """A booktabs LaTeX table (pandas ``to_latex``, whose template engine, jinja2, is a
    dependency), every cell and header through :func:`latex_escape`. A table wider than the
    text is scaled to its width (``\\resizebox``; needs ``\\usepackage{booktabs,graphicx}``),
    and one of more than :data:`LATEX_FIT_COLUMNS` columns is set small."""
    tex = (
        df.map(latex_escape)
        .rename(columns=latex_escape)
        .to_latex(
            index=False,
            escape=False,
            caption=latex_escape(caption),
            label=label,
            column_format=align,
        )
    )
    return _fit_width(tex, len(df.columns))


# ---------------------------------------------------------------------------------------------
# table files


@dataclass
class TableOut:
    """A table of the report: file stem, title, notes and the frame shown."""

    stem: str
    title: str
    notes: str
    display: pd.DataFrame
    numeric: set[str]
    files: list[Path]


def write_table(
    folder: Path,
    stem: str,
    title: str,
    notes: str,
    data: pd.DataFrame,
    display: pd.DataFrame,
    n_text: int,
) -> TableOut:
    """``stem.csv`` (tidy numbers), ``stem.md`` and ``stem.tex`` (formatted for a paper).

    ``data`` goes to the CSV; ``display`` (text cells) to Markdown and LaTeX, its first
    ``n_text`` columns left-aligned and the others, numbers, right-aligned."""
    csv, md, tex = (folder / f"{stem}.{ext}" for ext in ("csv", "md", "tex"))
    data.to_csv(csv, index=False, float_format="%.10g")
    numeric = set(display.columns[n_text:])
    md.write_text(f"**{title}**\n\n{markdown_table(display, numeric)}\n{notes}\n", encoding="utf-8")
    printed = latex_fit(display)
    align = "l" * n_text + "r" * (len(printed.columns) - n_text)
    tex.write_text(
        latex_table(printed, f"{title}. {notes}", f"tab:{stem}", align), encoding="utf-8"
    )
    return TableOut(stem, title, notes, display, numeric, [csv, md, tex])
