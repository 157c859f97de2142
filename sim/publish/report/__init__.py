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

The report is assembled in a temporary folder next to its destination and renamed at the end:
an error leaves nothing half-written.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ResultsError
from sim.publish.trends import (
    _ordered,
    _plural,
    _scenario_settings,
    _sort,
    describe,
    monthly_panels,
    monthly_wide,
    scenario_start,
    switch_events,
)
from sim.results.folder import staged_folder
from sim.results.read import load_sweep_spec, read_table, run_metadata, sweep_tables
from sim.results.tables import summarize

CI_METHOD = "t-interval over replications, mean ± t(0.975, n−1)·s/√n"
NA_ONE = "n/a (1 replication)"
#: sweeps: monthly figures for at most this many design points
MAX_POINT_FIGURES = 12
#: rows of a table shown in report.html (the files always hold every row)
MAX_HTML_ROWS = 300
#: a folder holding both is a report folder that may be replaced
REPORT_MARKERS = ("report.html", "index.md")

#: columns the report reads (others may come and go)
RUN_MONTHLY_COLUMNS = (
    "arm", "replicate", "month", "setting", "payer", "payment_model", "members",
    "patients_treated", "service_units", "spending", "oop", "provider_revenue", "provider_margin",
    "adverse_events", "function_change", "function_gain", "low_value_units",
)  # fmt: skip
PANEL_COLUMNS = (
    "arm", "replicate", "month", "setting", "provider", "theta", "theta_optimal",
    "patients_treated", "service_units", "margin",
)  # fmt: skip
SWEEP_SUMMARY_COLUMNS = (
    "arm", "setting", "point", "replicate", "spending_pmpm", "oop_pmpm", "units_per_treated",
    "function_change", "adverse_events_per_1000", "provider_margin_pct", "low_value_share",
    "spending_per_function_point",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# measures


@dataclass(frozen=True)
class Measure:
    """An outcome of the tables: a summary column for one setting (or ``all``)."""

    key: str
    column: str
    setting: str
    label: str
    unit: str
    decimals: int


_OVERALL = {
    "head": [
        ("spending_pmpm", "Payer spending", "USD per member-month", 2),
        ("oop_pmpm", "Out-of-pocket", "USD per member-month", 2),
    ],
    "tail": [
        ("function_change", "Change in function, month 0 to last", "points (0-100 scale)", 3),
        ("adverse_events_per_1000", "Adverse events", "events per 1,000 member-months", 3),
        ("provider_margin_pct", "Provider margin", "% of provider revenue", 1),
        ("low_value_share", "Low-value share of volume", "fraction of service units", 3),
        ("spending_per_function_point", "Spending per point of function gained",
         "USD (payer + OOP) per point gained", 1),
    ],
}  # fmt: skip


def table_measures(settings: list[str], units: dict[str, str]) -> list[Measure]:
    """The outcomes of the summary and difference tables, in order: spending and OOP, units
    per treated patient in each setting, then function, adverse events, margin, low-value
    share and spending per point of function."""

    def overall(part: str) -> list[Measure]:
        return [Measure(c, c, "all", label, unit, dec) for c, label, unit, dec in _OVERALL[part]]

    per_setting = [
        Measure(f"units_per_treated:{s}", "units_per_treated", s,
                f"Units per treated patient: {s}",
                f"{_plural(units[s])} per treated patient-month", 2)
        for s in settings
    ]  # fmt: skip
    return [*overall("head"), *per_setting, *overall("tail")]


# ---------------------------------------------------------------------------------------------
# loading


@dataclass
class Results:
    """A results folder as the report needs it; a run is a sweep with one point."""

    folder: Path
    kind: str  # "run" or "sweep"
    name: str
    description: str
    arms: list[str]
    arm_descriptions: dict[str, str]
    settings: list[str]
    units: dict[str, str]
    seed: Any
    replications: int
    per_rep: pd.DataFrame  # summary rows: one per (point, replicate, arm, setting)
    monthly: pd.DataFrame | None  # with a ``point`` column
    providers: pd.DataFrame | None
    design: pd.DataFrame  # point + one column per varied field
    parameters: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    providers_note: str | None = None
    #: the scenario with its defaults (a sweep's: its base scenario)
    scenario: dict[str, Any] = field(default_factory=dict)
    #: subgroups.parquet and the health-economic tables, when the run wrote them
    subgroups: pd.DataFrame | None = None
    economics: dict[str, pd.DataFrame] | None = None

    @property
    def months(self) -> int | None:
        """Months of the run (None when the monthly table was not kept)."""
        if self.monthly is None:
            return None
        return int(self.monthly["month"].max()) + 1


def _read_parquet(
    path: Path, required: tuple[str, ...] | list[str], hint: str, key: list[str] | None = None
) -> pd.DataFrame:
    return read_table(path, required, key=key, hint=hint)


def load_results(folder: str | Path) -> Results:
    """Read a run or sweep results folder; ResultsError names what is missing or damaged."""
    folder = Path(folder)
    expected = (
        "expected a results folder of `sim run` (monthly.parquet, metadata.json) or of "
        "`sim sweep` (sweep.json, design.parquet, summary.parquet)"
    )
    if not folder.exists():
        raise ResultsError(f"{folder}: no such folder; {expected}")
    if not folder.is_dir():
        raise ResultsError(f"{folder}: not a folder; {expected}")
    if (folder / "sweep.json").exists():
        return _load_sweep(folder)
    run_files = ("monthly.parquet", "metadata.json")
    present = [f for f in (*run_files, "summary.csv") if (folder / f).exists()]
    if not present:
        raise ResultsError(f"{folder}: not a results folder; {expected}")
    missing = [f for f in run_files if f not in present]
    if missing:
        raise ResultsError(
            f"{folder}: incomplete results folder: {', '.join(missing)} missing; {expected}"
        )
    return _load_run(folder)


def _arm_descriptions(sc: dict[str, Any]) -> dict[str, str]:
    arms = sc.get("arms") if isinstance(sc.get("arms"), list) else []
    return {
        str(a.get("name")): str(a.get("description") or "") for a in arms if isinstance(a, dict)
    }


def _summary_months(scenario: dict) -> int:
    """The run's ``outputs.summary_months`` (0 for runs written before it existed)."""
    outputs = scenario.get("outputs") if isinstance(scenario.get("outputs"), dict) else {}
    value = outputs.get("summary_months", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _load_run(folder: Path) -> Results:
    meta = run_metadata(folder)
    sc = meta.get("scenario") if isinstance(meta.get("scenario"), dict) else {}
    monthly = _read_parquet(
        folder / "monthly.parquet",
        RUN_MONTHLY_COLUMNS,
        "written by `sim run`",
        key=["arm", "replicate", "month", "setting", "payer"],
    )
    arms = _ordered(
        list(dict.fromkeys(monthly["arm"].astype(str))),
        [str(a) for a in meta.get("arms") or []] or list(_arm_descriptions(sc)),
    )
    settings = list(dict.fromkeys(monthly["setting"].astype(str)))
    reps = sorted(int(r) for r in monthly["replicate"].unique())
    per_rep = pd.concat(
        [
            summarize(monthly[monthly["replicate"] == r], last_months=_summary_months(sc)).assign(
                replicate=r, point=0
            )
            for r in reps
        ],
        ignore_index=True,
    )
    providers, note = None, None
    ppath = folder / "providers.parquet"
    if ppath.exists():
        providers = _read_parquet(
            ppath,
            PANEL_COLUMNS,
            "written by `sim run`",
            key=["arm", "replicate", "month", "setting", "provider"],
        )
    else:
        note = (
            "This results folder has no provider panel (providers.parquet), so the distributions "
            "across providers are not shown. To get them, set `provider_panel = true` under "
            "`[outputs]` in the scenario (or run with `--set outputs.provider_panel=true`) and "
            "run `sim run` again."
        )
    return Results(
        folder=folder,
        kind="run",
        name=str(sc.get("name") or folder.name),
        description=str(sc.get("description") or ""),
        arms=arms,
        arm_descriptions=_arm_descriptions(sc),
        settings=settings,
        units=_scenario_settings(sc, settings),
        seed=meta.get("seed"),
        replications=len(reps),
        per_rep=per_rep,
        monthly=monthly.assign(point=0),
        providers=providers,
        design=pd.DataFrame({"point": [0]}),
        parameters=[],
        meta=meta,
        providers_note=note,
        scenario=sc,
        subgroups=_read_subgroups(folder),
        economics=_read_economics(folder),
    )


def _load_sweep(folder: Path) -> Results:
    sweep_spec = load_sweep_spec(folder)
    cfg = sweep_spec.config.model_dump(mode="json")
    params = [p.field for p in sweep_spec.config.parameters]
    design, summary, monthly = sweep_tables(
        folder,
        sweep_spec,
        [*SWEEP_SUMMARY_COLUMNS, *params],
        monthly_columns=RUN_MONTHLY_COLUMNS,
    )
    meta = run_metadata(folder)
    base = sweep_spec.base
    full = _validated(base)
    arms = _ordered(list(dict.fromkeys(summary["arm"].astype(str))), sweep_spec.arms)
    settings = [s for s in dict.fromkeys(summary["setting"].astype(str)) if s != "all"]
    description = str(cfg.get("description") or "")
    base_description = str(base.get("description") or "")
    return Results(
        folder=folder,
        kind="sweep",
        name=str(cfg.get("name") or folder.name),
        description=description or base_description,
        arms=arms,
        arm_descriptions=_arm_descriptions(full),
        settings=settings,
        units=_scenario_settings(full, settings),
        seed=cfg.get("seed"),
        replications=int(summary["replicate"].nunique()),
        per_rep=summary,
        monthly=monthly,
        providers=None,
        design=design.sort_values("point").reset_index(drop=True),
        parameters=params,
        meta=meta,
        sweep={
            **cfg,
            "base_description": base_description,
            "base_name": str(base.get("name") or ""),
        },
        providers_note=(
            "A sweep does not keep the provider panel, so the distributions across providers "
            "are not shown. Run one design point with `sim run` and `provider_panel = true` "
            "under `[outputs]` in the scenario to see them."
        ),
        scenario=full,
    )


def _read_subgroups(folder: Path) -> pd.DataFrame | None:
    path = folder / "subgroups.parquet"
    if not path.exists():
        return None
    from sim.engine.subgroups import SUBGROUP_COLUMNS

    return _read_parquet(
        path,
        list(SUBGROUP_COLUMNS),
        "written by `sim run` with [analysis] subgroups",
        key=["arm", "replicate", "month", "subgroup", "group"],
    )


def _read_economics(folder: Path) -> dict[str, pd.DataFrame] | None:
    names = {"table": "economics.csv", "increments": "economics_replicates.csv", "ceac": "ceac.csv"}
    if not all((folder / n).exists() for n in names.values()):
        return None
    out = {}
    for k, n in names.items():
        try:
            out[k] = pd.read_csv(folder / n, keep_default_na=True)
        except Exception as exc:  # pandas raises several types for damaged files
            raise ResultsError(f"{folder / n}: cannot be read as CSV ({exc})") from None
    return out


def _validated(base: dict[str, Any]) -> dict[str, Any]:
    """The base scenario with its defaults filled in (for setting units and arm descriptions);
    the raw data if it no longer validates."""
    try:
        from sim.scenario import validate_scenario

        return validate_scenario(json.loads(json.dumps(base)), "base scenario").model_dump(
            mode="json"
        )
    except Exception:  # a label source only: never fail the report on it
        return base


# ---------------------------------------------------------------------------------------------
# statistics


def paired(
    wide: pd.DataFrame, arms: list[str], baseline: str, pair: list[str], keys: list[str]
) -> pd.DataFrame:
    """Per-replication differences arm − baseline (paired on ``pair``, which includes the
    replicate), one row per (arm, ``pair``)."""
    base = wide[wide["arm"] == baseline].set_index(pair)[keys]
    frames = []
    for arm in arms:
        if arm == baseline:
            continue
        a = wide[wide["arm"] == arm].set_index(pair)[keys]
        frames.append((a - base).reset_index().assign(arm=arm))
    if not frames:
        return pd.DataFrame(columns=["arm", *pair, *keys])
    return pd.concat(frames, ignore_index=True)


def outcomes_by_replicate(res: Results, measures: list[Measure]) -> pd.DataFrame:
    """One row per (point, arm, replicate); a column per table measure plus, for the value
    figures, ``low_value_share:<setting>`` and (with monthly data)
    ``function_gain_per_treated:<setting>``."""
    keys = ["point", "arm", "replicate"]
    pr = res.per_rep.assign(
        arm=res.per_rep["arm"].astype(str), setting=res.per_rep["setting"].astype(str)
    )
    cols = []
    for m in measures:
        cols.append(pr.loc[pr["setting"] == m.setting].set_index(keys)[m.column].rename(m.key))
    for s in res.settings:
        d = pr.loc[pr["setting"] == s].set_index(keys)
        cols.append(d["low_value_share"].rename(f"low_value_share:{s}"))
    if res.monthly is not None:
        m = res.monthly.assign(
            arm=res.monthly["arm"].astype(str), setting=res.monthly["setting"].astype(str)
        )
        g = m.groupby([*keys, "setting"])[["function_gain", "patients_treated"]].sum()
        treated = g["patients_treated"].where(g["patients_treated"] > 0)
        gain = (g["function_gain"] / treated).unstack("setting")
        for s in res.settings:
            if s in gain:
                cols.append(gain[s].rename(f"function_gain_per_treated:{s}"))
    wide = pd.concat(cols, axis=1).reset_index()
    return _sort(wide, res.arms, ["point", "replicate"])


def monthly_by_replicate(res: Results) -> pd.DataFrame:
    """Monthly measures per (point, arm, replicate, month), as in ``sim.publish.plots``."""
    assert res.monthly is not None
    return monthly_wide(res.monthly, res.arms, res.settings)


def _sort_stats(df: pd.DataFrame, arms: list[str], order: list[str]) -> pd.DataFrame:
    rank = {a: i for i, a in enumerate(arms)}
    mrank = {k: i for i, k in enumerate(order)}
    extra = [c for c in ("month",) if c in df]
    out = df.assign(_a=df["arm"].map(rank), _m=df["measure"].map(mrank))
    out = out.sort_values(["point", "_m", "_a", *extra], kind="stable")
    return out.drop(columns=["_a", "_m"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# formatting and table files


def _num(x: float, decimals: int) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:,.{decimals}f}"


def _ci_text(row: pd.Series, decimals: int, replications: int) -> str:
    n = int(row["n"])
    if n == 0:
        return "n/a (no value)"
    if n == 1:
        return NA_ONE if replications == 1 else "n/a (1 replication with a value)"
    text = f"[{_num(row['ci_low'], decimals)}, {_num(row['ci_high'], decimals)}]"
    return text + (f" (n={n})" if n < replications else "")


def _short_names(fields: list[str]) -> dict[str, str]:
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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "parameter"


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


#: characters pdflatex does not know without extra packages
_LATEX_UNICODE = {
    "−": "-",
    "–": "--",
    "—": "---",
    "±": r"$\pm$",
    "√": r"$\surd$",
    "×": r"$\times$",
    "θ": r"$\theta$",
    "α": r"$\alpha$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "·": r"$\cdot$",
}


def latex_escape(text: Any) -> str:
    """Text safe in a LaTeX table: special characters escaped, common symbols as math."""
    return "".join(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch, ch) for ch in str(text))


#: a LaTeX table with more columns than this is scaled to the text width
LATEX_FIT_COLUMNS = 6


def latex_fit(df: pd.DataFrame) -> pd.DataFrame:
    """The columns a printed table keeps: each ``X 95% CI`` column joins its ``X`` column as
    ``mean [low, high]`` (half the columns, the same numbers)."""
    out = {}
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
    """Scale a wide tabular to the text width (graphicx's resizebox) and set it small."""
    if columns <= LATEX_FIT_COLUMNS:
        return tex
    tex = tex.replace(
        "\\begin{tabular}", "\\small\n\\resizebox{\\linewidth}{!}{%\n\\begin{tabular}", 1
    )
    return tex.replace("\\end{tabular}", "\\end{tabular}%\n}", 1)


def latex_table(
    df: pd.DataFrame, caption: str, label: str, align: str, *, use_pandas: bool | None = None
) -> str:
    """A booktabs LaTeX table: pandas ``to_latex`` when jinja2 is installed, else written here
    (same layout). Tables of more than :data:`LATEX_FIT_COLUMNS` columns are scaled to the
    text width (``\\resizebox``; needs ``\\usepackage{booktabs,graphicx}``)."""
    return _fit_width(
        _latex_table(df, caption, label, align, use_pandas=use_pandas), len(df.columns)
    )


def _latex_table(
    df: pd.DataFrame, caption: str, label: str, align: str, *, use_pandas: bool | None = None
) -> str:
    if use_pandas is None:
        import importlib.util

        use_pandas = importlib.util.find_spec("jinja2") is not None
    if use_pandas:
        return (
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
    lines = [
        r"\begin{table}",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in df.columns) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(v) for v in row) + r" \\" for row in df.itertuples(index=False)),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class TableOut:
    """A table of the report: file stem, title, notes and the frame shown."""

    stem: str
    title: str
    notes: str
    display: pd.DataFrame
    numeric: set[str]
    files: list[Path]


def _write_table(
    folder: Path,
    stem: str,
    title: str,
    notes: str,
    data: pd.DataFrame,
    display: pd.DataFrame,
    n_text: int,
) -> TableOut:
    """``stem.csv`` (tidy numbers), ``stem.md`` and ``stem.tex`` (formatted for a paper)."""
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


def _lead(res: Results, point: int) -> dict[str, Any]:
    """Leading columns of a sweep table row: the point and its parameter values."""
    if res.kind != "sweep":
        return {}
    row = res.design.set_index("point").loc[point]
    short = _short_names(res.parameters)
    return {"point": point, **{short[p]: _plain(row[p]) for p in res.parameters}}


def _shown(lead: dict[str, Any]) -> dict[str, Any]:
    """Leading columns for display: parameter values to 6 significant digits."""
    return {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in lead.items()}


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def summary_tables(
    res: Results, stats: pd.DataFrame, measures: list[Measure]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy numbers for CSV, formatted display table) of the per-arm summary."""
    data_rows, disp_rows = [], []
    for point in res.design["point"]:
        s = stats[stats["point"] == point]
        lead = _lead(res, int(point))
        for m in measures:
            disp = {**_shown(lead), "Measure": m.label, "Unit": m.unit}
            for arm in res.arms:
                r = s[(s["arm"] == arm) & (s["measure"] == m.key)]
                if r.empty:
                    disp[arm] = disp[f"{arm} 95% CI"] = "n/a"
                    continue
                r = r.iloc[0]
                data_rows.append(_data_row(lead, arm, m, r, res.replications))
                disp[arm] = _num(r["mean"], m.decimals)
                disp[f"{arm} 95% CI"] = _ci_text(r, m.decimals, res.replications)
            disp_rows.append(disp)
    return pd.DataFrame(data_rows), pd.DataFrame(disp_rows)


def difference_tables(
    res: Results, stats: pd.DataFrame, measures: list[Measure], baseline: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tidy numbers for CSV, formatted display table) of the paired differences."""
    others = [a for a in res.arms if a != baseline]
    data_rows, disp_rows = [], []
    for point in res.design["point"]:
        s = stats[stats["point"] == point]
        lead = _lead(res, int(point))
        for m in measures:
            disp = {**_shown(lead), "Measure": m.label, "Unit": m.unit}
            for arm in others:
                col = f"{arm} vs {baseline}"
                r = s[(s["arm"] == arm) & (s["measure"] == m.key)]
                if r.empty:
                    disp[col] = disp[f"{col} 95% CI"] = "n/a"
                    continue
                r = r.iloc[0]
                data_rows.append(
                    {**_data_row(lead, arm, m, r, res.replications), "baseline": baseline}
                )
                disp[col] = _num(r["mean"], m.decimals)
                disp[f"{col} 95% CI"] = _ci_text(r, m.decimals, res.replications)
            disp_rows.append(disp)
    data = pd.DataFrame(data_rows)
    if not data.empty:
        cols = list(data.columns)
        cols.insert(cols.index("arm") + 1, cols.pop(cols.index("baseline")))
        data = data[cols]
    return data, pd.DataFrame(disp_rows)


def _data_row(lead: dict, arm: str, m: Measure, r: pd.Series, replications: int) -> dict:
    n = int(r["n"])
    return {
        **lead,
        "arm": arm,
        "measure": m.key,
        "label": m.label,
        "setting": m.setting,
        "unit": m.unit,
        "n": n,
        "mean": r["mean"],
        "sd": r["sd"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "ci_method": f"95% {CI_METHOD}" if n >= 2 else _ci_text(r, 0, replications),
    }


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class FigureOut:
    """A figure of the report: file stem, title, caption and the files written."""

    stem: str
    title: str
    caption: str
    files: list[Path]


@dataclass
class Report:
    """A written report: its folder and files."""

    folder: Path
    files: list[Path]


def _field_unit(path: str) -> str | None:
    """The unit of a dotted scenario field from the schema (None when it cannot be found)."""
    try:
        from typing import get_args, get_origin

        from pydantic import BaseModel

        from sim.scenario import Scenario

        cls: Any = Scenario
        parts = path.split(".")
        unit = None
        i = 0
        while i < len(parts):
            if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
                return None
            f = cls.model_fields.get(parts[i])
            if f is None:
                return None
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            unit = extra.get("unit")
            ann = f.annotation
            i += 1
            while get_origin(ann) in (dict, list) and i < len(parts):
                ann = get_args(ann)[-1]
                i += 1  # a key or an index
            cls = ann
        return str(unit) if unit else None
    except Exception:  # labels only
        return None


def _band_caption(res: Results, what: str, *, paired: bool = False) -> str:
    if res.replications >= 2:
        mean = "mean paired difference" if paired else "mean"
        return (
            f"{what} Lines: {mean} over {res.replications} replications; shaded bands: "
            f"95% {CI_METHOD} (each band's edges are drawn in its arm's line style)."
        )
    return f"{what} One replication: no band (an interval needs at least 2 replications)."


#: progress callback of ``build_report``: (step done, steps, what comes next)
ReportProgress = Any


def scenario_baseline(scenario: dict[str, Any], arms: list[str]) -> str:
    """The scenario's baseline arm (``analysis.baseline``), else the first arm."""
    analysis = scenario.get("analysis") if isinstance(scenario, dict) else None
    base = analysis.get("baseline") if isinstance(analysis, dict) else None
    return str(base) if base in arms else arms[0]


def key_measures(scenario: dict[str, Any]) -> list[str]:
    """The scenario's key measures (``analysis.key_measures``)."""
    analysis = scenario.get("analysis") if isinstance(scenario, dict) else None
    return list(analysis.get("key_measures") or []) if isinstance(analysis, dict) else []


def build_report(
    results: str | Path,
    *,
    baseline: str | None = None,
    out: str | Path | None = None,
    progress: ReportProgress | None = None,
) -> Report:
    """Read a results folder and write its report folder (atomically); return the files.

    ``baseline``: default the scenario's ``analysis.baseline``, else the first arm.
    ``progress(done, total, label)`` after each step."""
    res = load_results(results)
    if baseline is None:
        baseline = scenario_baseline(res.scenario, res.arms)
    elif baseline not in res.arms:
        raise ResultsError(
            f"--baseline: unknown arm {baseline!r} in {res.folder}; allowed: {', '.join(res.arms)}"
        )
    out = Path(out) if out is not None else res.folder / "report"
    _check_out(out, res.folder)
    with staged_folder(out) as tmp:
        rel = _write(res, baseline, tmp, progress)
    return Report(out, [out / p for p in rel])


def _check_out(out: Path, results: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise ResultsError(f"--out: {out} exists and is not a folder")
        is_report = all((out / f).exists() for f in REPORT_MARKERS)
        if any(out.iterdir()) and not is_report:
            raise ResultsError(
                f"--out: {out} exists and is not a report folder (no report.html and index.md); "
                "choose another --out or remove it"
            )
    r, o = results.resolve(), out.resolve()
    if o == r or o in r.parents:
        raise ResultsError(f"--out: {out} would replace the results folder {results}")


@dataclass
class _Build:
    """What the report is being built from, and what it has written so far."""

    res: Results
    baseline: str
    root: Path
    measures: list[Measure]
    wide: pd.DataFrame  # outcomes per (point, arm, replicate)
    keys: list[str]  # measure columns of ``wide``
    stats: pd.DataFrame  # their mean and CI per (point, arm)
    diffs: pd.DataFrame  # paired differences per (point, arm, replicate)
    dstats: pd.DataFrame  # their mean and CI per (point, arm)
    tables: list[TableOut] = field(default_factory=list)
    figures: list[FigureOut] = field(default_factory=list)
    data_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the report's sections, in order: (id, title, intro, figure stems, table stems)
    sections: list[dict[str, Any]] = field(default_factory=list)
    styles: dict[str, dict] = field(default_factory=dict)

    def section(self, sid: str, title: str, intro: str = "") -> None:
        """Start a section: figures and tables added next belong to it."""
        self.sections.append(
            {"id": sid, "title": title, "intro": intro, "figures": [], "tables": []}
        )

    @property
    def events(self) -> list[tuple[Any, str]]:
        """The policy switches to mark on time series (calendar dates)."""
        return switch_events(self.res.scenario, self.res.arms)

    @property
    def start(self) -> Any:
        return scenario_start(self.res.scenario)

    @property
    def others(self) -> list[str]:
        return [a for a in self.res.arms if a != self.baseline]

    @property
    def ci_fig(self) -> str:
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

    def figure(self, fig: Any, stem: str, title: str, caption: str) -> None:
        from sim.publish import figures as rf

        self.figures.append(
            FigureOut(stem, title, caption, rf.save(fig, self.root / "figures", stem))
        )
        if self.sections:
            self.sections[-1]["figures"].append(stem)

    def table(self, t: TableOut) -> None:
        self.tables.append(t)
        if self.sections:
            self.sections[-1]["tables"].append(t.stem)

    def data(self, df: pd.DataFrame, name: str) -> None:
        path = self.root / "data" / name
        df.to_csv(path, index=False, float_format="%.10g")
        self.data_files.append(path)


def _write(
    res: Results, baseline: str, root: Path, progress: ReportProgress | None = None
) -> list[Path]:
    """Write every figure, table, data file, report.html and index.md under ``root``; return
    the paths relative to it."""
    from sim.publish import figures as rf

    for d in ("figures", "tables", "data"):
        (root / d).mkdir()
    measures = table_measures(res.settings, res.units)
    wide = outcomes_by_replicate(res, measures)
    keys = [c for c in wide.columns if c not in ("point", "arm", "replicate")]
    order = [*(m.key for m in measures), *keys]
    diffs = paired(wide, res.arms, baseline, ["point", "replicate"], keys)
    b = _Build(
        res=res,
        baseline=baseline,
        root=root,
        measures=measures,
        wide=wide,
        keys=keys,
        stats=_sort_stats(describe(wide, ["point", "arm"], keys), res.arms, order),
        diffs=diffs,
        dstats=_sort_stats(describe(diffs, ["point", "arm"], keys), res.arms, order),
        styles=rf.arm_styles(res.arms),
    )
    b.data(wide, "outcomes_by_replicate.csv")
    steps: list[tuple[str, Any]] = [
        ("key measures", _key_measures),
        ("monthly figures", _monthly_figures),
        ("subgroups", _subgroups),
        ("health economics", _economics),
        ("parameters", _parameter_figures if res.kind == "sweep" else None),
        ("sensitivity", _sensitivity if res.kind == "sweep" else None),
        ("providers and value", _provider_and_value),
        ("tables", _tables),
    ]
    steps = [(label, f) for label, f in steps if f is not None]
    for i, (label, f) in enumerate(steps):
        if progress is not None:
            progress(i, len(steps) + 1, label)
        f(b)
    if progress is not None:
        progress(len(steps), len(steps) + 1, "report.html")
    rel = [
        Path("index.md"),
        Path("report.html"),
        *(f.relative_to(root) for t in b.tables for f in t.files),
        *(f.relative_to(root) for fg in b.figures for f in fg.files),
        *(f.relative_to(root) for f in b.data_files),
    ]
    (root / "report.html").write_text(_html(b), encoding="utf-8")
    (root / "index.md").write_text(_index(b), encoding="utf-8")
    if progress is not None:
        progress(len(steps) + 1, len(steps) + 1, "done")
    return rel


def _tables(b: _Build) -> None:
    res, reps = b.res, b.res.replications
    b.section("tables", "All outcomes by arm")
    n_lead = 1 + len(res.parameters) if res.kind == "sweep" else 0
    ci_note = (
        f"Mean over {reps} replications; 95% CI: {CI_METHOD}."
        if reps > 1
        else f"One replication: point estimates only; intervals are {NA_ONE}."
    )
    notes = (
        f"{ci_note} Outcomes are computed per replication with the definitions of summary.csv "
        "(ratios are averaged over replications, so they can differ slightly from summary.csv, "
        "which pools replications). Spending is payer spending; spending per point of function "
        "adds OOP. Settings: "
        + ", ".join(f"{s} (unit: {res.units[s]})" for s in res.settings)
        + "."
    )
    what = "design point and arm" if res.kind == "sweep" else "arm"
    data, display = summary_tables(res, b.stats, b.measures)
    b.table(
        _write_table(
            b.root / "tables",
            "summary_by_arm",
            f"Outcomes by {what}: mean and 95% CI over replications",
            notes,
            data,
            display,
            n_lead + 2,
        )
    )
    if not b.others:
        b.notes.append("One arm only: no differences from a baseline arm.")
        return
    dnotes = (
        f"Each arm minus the baseline arm ({b.baseline}), paired by replication (the arms of "
        "a replication share their random numbers). "
        + (
            f"Mean of {reps} paired differences; 95% CI: {CI_METHOD}."
            if reps > 1
            else f"One replication: the difference of the two runs; intervals are {NA_ONE}."
        )
    )
    data, display = difference_tables(res, b.dstats, b.measures, b.baseline)
    title = f"Differences from the baseline arm ({b.baseline})"
    if res.kind == "sweep":
        title += " by design point"
    b.table(
        _write_table(b.root / "tables", "differences", title, dnotes, data, display, n_lead + 2)
    )


def _monthly_figures(b: _Build) -> None:
    from sim.publish import figures as rf

    res = b.res
    if res.monthly is None:
        b.notes.append(
            'No monthly figures: the sweep kept summaries only. Set outputs = "monthly" in the '
            "sweep file and run it again to get them."
        )
        return
    b.section("trends", "Monthly trends")
    panels = monthly_panels(res.settings, res.units)
    diff_panels = [(k, t, f"difference, {u}") for k, t, u in panels]
    mwide = monthly_by_replicate(res)
    keys = [k for k, _, _ in panels]
    by = ["point", "arm", "month"]
    mstats = _sort_stats(describe(mwide, by, keys), res.arms, keys)
    mdiff = paired(mwide, res.arms, b.baseline, ["point", "replicate", "month"], keys)
    mdstats = _sort_stats(describe(mdiff, by, keys), res.arms, keys)
    mstats["date"] = rf.as_dates(mstats["month"], b.start)
    mdstats["date"] = rf.as_dates(mdstats["month"], b.start)
    b.data(mstats, "monthly_trends.csv")
    b.data(mdstats.assign(baseline=b.baseline), "monthly_differences.csv")
    points = list(res.design["point"])[:MAX_POINT_FIGURES]
    for point in points:
        sfx = f"_point{int(point)}" if res.kind == "sweep" else ""
        at = _point_text(res, int(point))
        b.figure(
            b.by_month(
                mstats[mstats["point"] == point],
                res.arms,
                panels,
                f"Monthly trends by arm{at}",
            ),
            f"trends{sfx}",
            f"Monthly trends by arm{at}",
            _band_caption(
                res,
                "Monthly payer spending and out-of-pocket per member-month, "
                "service units per treated patient in each setting, mean "
                "change in members' function since month 0 and adverse "
                "events per 1,000 member-months, by arm.",
            ),
        )
        if b.others:
            b.figure(
                b.by_month(
                    mdstats[mdstats["point"] == point],
                    b.others,
                    diff_panels,
                    f"Difference from {rf.label_of(b.baseline)} by month{at}",
                    zero_line=True,
                ),
                f"differences{sfx}",
                f"Monthly differences from {b.baseline}{at}",
                _band_caption(
                    res,
                    f"Each arm minus the baseline arm ({b.baseline}), "
                    "paired by replication, month by month.",
                    paired=True,
                ),
            )

    if len(res.design) > len(points):
        b.notes.append(
            f"Monthly figures are drawn for the first {len(points)} of {len(res.design)} design "
            "points; data/monthly_trends.csv and data/monthly_differences.csv hold every point."
        )


def _provider_figure(b: _Build) -> None:
    from sim.publish import figures as rf

    res = b.res
    if res.providers is None:
        return
    p = res.providers.assign(
        arm=res.providers["arm"].astype(str), setting=res.providers["setting"].astype(str)
    )
    last = p[p["month"] == p["month"].max()].copy()
    treated = last["patients_treated"].where(last["patients_treated"] > 0)
    last["units_per_patient"] = last["service_units"] / treated
    last["margin_per_patient"] = last["margin"] / treated
    n_prov = last.groupby(["arm", "setting"]).size()
    lo, hi = int(n_prov.min()), int(n_prov.max())
    per_box = f"{lo}" if lo == hi else f"{lo} to {hi}"
    b.figure(
        rf.providers(
            last, res.arms, res.settings, {k: _plural(u) for k, u in res.units.items()}, b.styles
        ),
        "providers",
        "Distributions across providers in the last month",
        f"Month {int(last['month'].max())} (the last), providers pooled over "
        f"{res.replications} replication(s) ({per_box} provider-replications per box). "
        "Boxes: median and quartiles, whiskers to 1.5 IQR, "
        "circles beyond. Units and margin per treated patient leave out providers who "
        "treated no one that month. Right: each provider's learned practice style θ "
        "against the closed-form optimum θ* under the month's contracts (dashed: θ = θ*; "
        "above it, more care per patient than the provider's optimum).",
    )


def _value_figures(b: _Build) -> None:
    from sim.publish import figures as rf

    res = b.res
    if res.kind == "run":
        s0 = b.stats[b.stats["point"] == 0]
        spp = s0[s0["measure"] == "spending_per_function_point"]
        groups = [*res.settings, "all"]
        low = pd.concat(
            [
                s0[
                    s0["measure"] == (f"low_value_share:{g}" if g != "all" else "low_value_share")
                ].assign(group=g)
                for g in groups
            ]
        )
        b.figure(
            rf.value(spp, low, res.arms, groups, b.styles),
            "value",
            "Value: spending per point of function and low-value volume",
            "Left: payer spending plus out-of-pocket per point of function gained from "
            "care, by arm. Right: share of service units whose marginal patient benefit is "
            "below the setting's low-value threshold, by arm and setting. Bars: mean over "
            f"replications; error bars: {b.ci_fig}. Hatching identifies the arm.",
        )

    qstats = _wide_stats(b.stats)
    grid = [
        [
            (
                (
                    f"units_per_treated:{s}",
                    s,
                    f"{_plural(res.units[s])} per treated patient-month",
                ),
                ("function_change", "Change in function", "points (0-100), month 0 to last"),
            )
            for s in res.settings
        ]
    ]
    with_gain = all(f"function_gain_per_treated:{s}" in qstats for s in res.settings)
    if with_gain:
        grid.append(
            [
                (
                    x,
                    (
                        f"function_gain_per_treated:{s}",
                        "Function gained per patient",
                        "points per treated patient-month",
                    ),
                )
                for (x, _), s in zip(grid[0], res.settings, strict=True)
            ]
        )
    few = len(res.design) <= 30
    b.figure(
        rf.quality_quantity(qstats, res.arms, grid, errorbars=few, styles=b.styles),
        "quality_quantity",
        "Quality against quantity",
        "Outcome against volume: one marker per arm"
        + (" and design point" if res.kind == "sweep" else "")
        + ", at its mean over replications, with "
        + (f"{b.ci_fig} on both axes." if few else "no error bars (too many points).")
        + " Top: mean change in members' function from month 0 to the last month"
        + (
            "; bottom: function gained from care per treated patient-month in the setting"
            if with_gain
            else ""
        )
        + ". x: service units per treated patient-month in the setting. More volume with "
        "no more function gained is low-value care.",
    )


def _parameter_figures(b: _Build) -> None:
    from sim.publish import figures as rf

    res = b.res
    b.section(
        "parameters",
        "Outcomes against the varied parameters",
        "Each panel: an outcome against one factor of the sweep (a linked factor moves every "
        "field it names together).",
    )
    short = _short_names(res.parameters)
    panels = [(m.key, m.label, m.unit) for m in b.measures]
    dpanels = [(k, t, f"difference, {u}") for k, t, u in panels]
    is_grid = str(res.sweep.get("design", {}).get("method", "grid")) == "grid"
    for prm in res.parameters:
        unit = _field_unit(prm)
        xlabel = f"{short[prm]} ({unit})" if unit else short[prm]
        if is_grid:
            e = _effects(res, b.wide, prm, b.keys)
            how = (
                f"For each level of {prm}, the outcome is averaged over the other parameters' "
                "levels within each replication; markers: mean over replications; error bars: "
                f"{b.ci_fig}."
            )
        else:
            e = _per_point(res, b.stats, prm)
            how = (
                f"One marker per design point and arm at its value of {prm}: mean over "
                f"replications with {b.ci_fig}."
            )
        stem = f"parameter_{_slug(short[prm])}"
        how += _factor_text(res, prm)
        b.figure(
            rf.parameter_effects(
                e,
                res.arms,
                panels,
                x=prm,
                xlabel=xlabel,
                lines=is_grid,
                suptitle=f"Outcomes against {short[prm]}",
                styles=b.styles,
                replications=res.replications,
            ),
            stem,
            f"Outcomes against {prm}",
            f"Outcomes by arm against the varied field {prm}. {how}",
        )
        if b.others:
            de = _effects(res, b.diffs, prm, b.keys) if is_grid else _per_point(res, b.dstats, prm)
            b.figure(
                rf.parameter_effects(
                    de,
                    b.others,
                    dpanels,
                    x=prm,
                    xlabel=xlabel,
                    lines=is_grid,
                    zero_line=True,
                    suptitle=f"Difference from {rf.label_of(b.baseline)} against {short[prm]}",
                    styles=b.styles,
                    replications=res.replications,
                ),
                f"{stem}_differences",
                f"Differences from {b.baseline} against {prm}",
                f"Each arm minus the baseline arm ({b.baseline}), paired by replication "
                f"within each design point, against {prm}. {how}",
            )


def _factor_text(res: Results, prm: str) -> str:
    """What a linked factor sets, and the fields derived from the factors (sweep file)."""
    text = ""
    for p in res.sweep.get("parameters") or []:
        if isinstance(p, dict) and p.get("field") == prm and p.get("fields"):
            text += f" The factor {prm} sets {', '.join(p['fields'])}."
    derived = res.sweep.get("derived") or {}
    if derived:
        text += " Derived: " + "; ".join(f"{k} = {v}" for k, v in derived.items()) + "."
    return text


def _point_text(res: Results, point: int) -> str:
    if res.kind != "sweep":
        return ""
    lead = _lead(res, point)
    values = ", ".join(f"{k} = {v}" for k, v in lead.items() if k != "point")
    return f" (design point {point}: {values})"


def _wide_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """Stats with one row per (point, arm): ``key``, ``key_lo``, ``key_hi`` columns."""
    piv = stats.pivot_table(
        index=["point", "arm"],
        columns="measure",
        values=["mean", "ci_low", "ci_high"],
        dropna=False,
        sort=False,
    )
    out = piv["mean"].copy()
    for k in piv["mean"].columns:
        out[f"{k}_lo"] = piv["ci_low"][k]
        out[f"{k}_hi"] = piv["ci_high"][k]
    out.columns.name = None
    return out.reset_index()


def _effects(res: Results, wide: pd.DataFrame, prm: str, keys: list[str]) -> pd.DataFrame:
    """Main effect of one parameter of a grid: per (level, arm, replicate) the mean over the
    design points at that level, then mean and t-interval over replications."""
    levels = res.design.set_index("point")[prm]
    w = wide.assign(**{prm: wide["point"].map(levels)})
    per_rep = w.groupby([prm, "arm", "replicate"], sort=False)[keys].mean().reset_index()
    return describe(per_rep, [prm, "arm"], keys)


def _per_point(res: Results, stats: pd.DataFrame, prm: str) -> pd.DataFrame:
    levels = res.design.set_index("point")[prm]
    return stats.assign(**{prm: stats["point"].map(levels)})


# ---------------------------------------------------------------------------------------------
# calendar, switches, key measures, subgroups, health economics, sensitivity


def _key_measures(b: _Build) -> None:
    """The scenario's key measures first: monthly by arm and against the baseline (figures),
    and over the run (a table), with paired differences."""
    from sim.publish import figures as rf
    from sim.scenario import key_measures as ms

    res = b.res
    names = key_measures(res.scenario)
    if not names:
        return
    b.section(
        "key",
        "Key measures",
        "The measures the scenario declares as its key ones (`[analysis] key_measures`), "
        f"against the baseline arm **{b.baseline}** (the counterfactual).",
    )
    if res.monthly is None:
        b.notes.append("Key measures need the monthly tables (a sweep with outputs = monthly).")
        return
    m = res.monthly.assign(
        arm=res.monthly["arm"].astype(str), setting=res.monthly["setting"].astype(str)
    )
    monthly_parts, run_parts, shown = [], [], []
    for name in names:
        try:
            per_month, per_run = [], []
            for point, d in m.groupby("point", sort=False):
                per_month.append(ms.compute(d, name).assign(point=point))
                per_run.append(ms.compute(d, name, by_month=False).assign(point=point))
        except KeyError as exc:
            b.notes.append(f"Key measure {name}: this run has no column {exc.args[0]}.")
            continue
        monthly_parts.append(pd.concat(per_month).rename(columns={"value": name}))
        run_parts.append(pd.concat(per_run).rename(columns={"value": name}))
        shown.append(name)
    if not shown:
        return
    keys_m, keys_r = ["point", "arm", "replicate", "month"], ["point", "arm", "replicate"]
    mw = monthly_parts[0]
    for part in monthly_parts[1:]:
        mw = mw.merge(part, on=keys_m, how="outer")
    rw = run_parts[0]
    for part in run_parts[1:]:
        rw = rw.merge(part, on=keys_r, how="outer")
    mw, rw = (
        _sort(mw, res.arms, ["point", "replicate", "month"]),
        _sort(rw, res.arms, ["point", "replicate"]),
    )
    panels = [(n, *ms.label(n)) for n in shown]
    mstats = describe(mw, ["point", "arm", "month"], shown)
    mstats["date"] = rf.as_dates(mstats["month"], b.start)
    mdiff = paired(mw, res.arms, b.baseline, ["point", "replicate", "month"], shown)
    mdstats = describe(mdiff, ["point", "arm", "month"], shown)
    mdstats["date"] = rf.as_dates(mdstats["month"], b.start)
    b.data(mstats, "key_measures_monthly.csv")
    b.data(mdstats.assign(baseline=b.baseline), "key_measures_monthly_differences.csv")
    point = res.design["point"].iloc[0]
    at = _point_text(res, int(point))
    band = _band_caption(res, "")
    b.figure(
        b.by_month(
            mstats[mstats["point"] == point],
            res.arms,
            panels,
            f"Key measures by arm{at}",
            ncols=min(3, len(panels)),
        ),
        "key_measures",
        f"Key measures by arm{at}",
        "Each key measure by calendar month and arm; dashed vertical lines: policy switches."
        + band,
    )
    if b.others:
        dpanels = [(k, t, f"difference, {u}") for k, t, u in panels]
        b.figure(
            b.by_month(
                mdstats[mdstats["point"] == point],
                b.others,
                dpanels,
                f"Key measures: difference from {rf.label_of(b.baseline)}{at}",
                zero_line=True,
                ncols=min(3, len(dpanels)),
            ),
            "key_measures_differences",
            f"Key measures: difference from {b.baseline}{at}",
            f"Each arm minus the baseline arm ({b.baseline}), paired by replication, month by "
            "month." + _band_caption(res, "", paired=True),
        )
    # over the run: one row per measure (and point), arms as columns, then differences
    rstats = describe(rw, ["point", "arm"], shown)
    rdiff = paired(rw, res.arms, b.baseline, ["point", "replicate"], shown)
    rdstats = describe(rdiff, ["point", "arm"], shown)
    rows, data = [], []
    for pt in res.design["point"]:
        lead = _shown(_lead(res, int(pt)))
        for name in shown:
            title, unit = ms.label(name)
            dec = ms.MEASURES[ms.parse(name)[0]].decimals
            row = {**lead, "Measure": title, "Unit": unit}
            for arm in res.arms:
                r = rstats[
                    (rstats["point"] == pt) & (rstats["arm"] == arm) & (rstats["measure"] == name)
                ]
                if r.empty:
                    row[arm] = "n/a"
                    continue
                r = r.iloc[0]
                row[arm] = _with_ci(r, dec, res.replications)
                data.append(
                    {
                        **_lead(res, int(pt)),
                        "arm": arm,
                        "measure": name,
                        "kind": "level",
                        **r[["n", "mean", "sd", "ci_low", "ci_high"]],
                    }
                )
            for arm in b.others:
                r = rdstats[
                    (rdstats["point"] == pt)
                    & (rdstats["arm"] == arm)
                    & (rdstats["measure"] == name)
                ]
                col = f"{arm} − {b.baseline}"
                if r.empty:
                    row[col] = "n/a"
                    continue
                r = r.iloc[0]
                row[col] = _with_ci(r, dec, res.replications, signed=True)
                data.append(
                    {
                        **_lead(res, int(pt)),
                        "arm": arm,
                        "measure": name,
                        "kind": f"difference from {b.baseline}",
                        **r[["n", "mean", "sd", "ci_low", "ci_high"]],
                    }
                )
            rows.append(row)
    n_lead = 1 + len(res.parameters) if res.kind == "sweep" else 0
    over = (
        "over the run (flows: pooled over every month; levels such as function change: "
        "the last month)"
    )
    b.table(
        _write_table(
            b.root / "tables",
            "key_measures",
            "Key measures by arm and against the baseline",
            f"Each key measure {over}, computed per replication; cells: mean "
            f"[95% CI] over {res.replications} replication(s)"
            + (f" ({NA_ONE} for intervals)" if res.replications == 1 else f", {CI_METHOD}")
            + f". Differences: arm − {b.baseline}, paired by replication.",
            pd.DataFrame(data),
            pd.DataFrame(rows),
            n_lead + 2,
        )
    )


def _with_ci(r: pd.Series, decimals: int, replications: int, *, signed: bool = False) -> str:
    mean = r["mean"]
    text = f"{mean:+,.{decimals}f}" if signed and np.isfinite(mean) else _num(mean, decimals)
    if int(r["n"]) >= 2 and np.isfinite(r["ci_low"]):
        return f"{text} [{_num(r['ci_low'], decimals)}, {_num(r['ci_high'], decimals)}]"
    return text


#: the subgroup outcomes over the run: (key, label, unit, decimals)
SUBGROUP_MEASURES = [
    ("oop_per_member_year", "Out-of-pocket cost", "USD per member-year", 2),
    ("function_change", "Change in function, month 0 to last", "points (0-100 scale)", 3),
    ("spending_pmpm", "Payer spending", "USD per member-month", 2),
    ("qalys_per_member", "QALYs per member (undiscounted)", "QALYs over the run", 4),
    ("adverse_events_per_1000", "Adverse events", "per 1,000 member-months", 3),
]
#: subgroup figures for dimensions of at most this many groups
MAX_GROUPS_FIGURE = 12


def subgroups_by_replicate(sub: pd.DataFrame) -> pd.DataFrame:
    """The subgroup outcomes over the run per (arm, subgroup, group, replicate)."""
    d = sub.assign(
        arm=sub["arm"].astype(str),
        subgroup=sub["subgroup"].astype(str),
        group=sub["group"].astype(str),
    )
    keys = ["arm", "subgroup", "group", "replicate"]
    g = d.groupby(keys, sort=False)
    tot = g[["members", "spending", "oop", "adverse_events", "qalys"]].sum()
    last = d[d["month"] == d["month"].max()].set_index(keys)
    out = pd.DataFrame(
        {
            "oop_per_member_year": 12 * tot["oop"] / tot["members"],
            "spending_pmpm": tot["spending"] / tot["members"],
            "adverse_events_per_1000": 1000 * tot["adverse_events"] / tot["members"],
            "qalys_per_member": tot["qalys"] / last["members"].reindex(tot.index),
            "function_change": last["function_change"].reindex(tot.index),
        }
    )
    return out.reset_index()


def _subgroups(b: _Build) -> None:
    """Tables (and figures for small dimensions) of the outcomes by subgroup and arm."""
    from sim.publish import figures as rf

    res = b.res
    if res.subgroups is None:
        return
    wide = subgroups_by_replicate(res.subgroups)
    dims = [d for d in dict.fromkeys(wide["subgroup"]) if d != "all"]
    if not dims:
        return
    b.section(
        "subgroups",
        "Subgroups",
        "Outcomes by subgroup (`[analysis] subgroups`); groups are fixed at month 0. Payments "
        "not tied to a claim (capitation) are attributed to members by risk score.",
    )
    keys = [k for k, *_ in SUBGROUP_MEASURES]
    stats = describe(wide, ["subgroup", "group", "arm"], keys)
    b.data(wide, "subgroups_by_replicate.csv")
    for dim in dims:
        st = stats[stats["subgroup"] == dim]
        groups = list(dict.fromkeys(wide.loc[wide["subgroup"] == dim, "group"]))
        k = int((res.scenario.get("analysis") or {}).get("risk_quantiles") or 4)
        title = f"By {_dimension_label(dim, k, short=True)}"
        if len(groups) <= MAX_GROUPS_FIGURE:
            panels = [(k, label, unit) for k, label, unit, _ in SUBGROUP_MEASURES[:2]]
            b.figure(
                rf.group_bars(
                    st,
                    res.arms,
                    groups,
                    panels,
                    xlabel=_dimension_label(dim, k),
                    suptitle=f"Out-of-pocket cost and function {title.lower()}",
                    styles=b.styles,
                    replications=res.replications,
                ),
                f"subgroups_{_slug(dim)}",
                f"Out-of-pocket cost and function {title.lower()}",
                "Bars: mean over replications of each group's out-of-pocket cost per "
                "member-year and its mean change in function from month 0 to the last month, "
                f"by arm; error bars: {b.ci_fig}.",
            )
        rows, data = [], []
        for grp in groups:
            for k, label, unit, dec in SUBGROUP_MEASURES:
                row = {"Group": grp, "Measure": label, "Unit": unit}
                for arm in res.arms:
                    r = st[(st["group"] == grp) & (st["arm"] == arm) & (st["measure"] == k)]
                    row[arm] = "n/a" if r.empty else _with_ci(r.iloc[0], dec, res.replications)
                    if not r.empty:
                        data.append(
                            {
                                "subgroup": dim,
                                "group": grp,
                                "arm": arm,
                                "measure": k,
                                **r.iloc[0][["n", "mean", "sd", "ci_low", "ci_high"]],
                            }
                        )
                rows.append(row)
        b.table(
            _write_table(
                b.root / "tables",
                f"subgroups_{_slug(dim)}",
                f"Outcomes {title.lower()} and arm",
                f"Cells: mean [95% CI] over {res.replications} replication(s) of each group's "
                "outcome over the run (out-of-pocket per member-year, function change from month "
                "0 to the last month, payer spending per member-month, undiscounted QALYs per "
                "member, adverse events per 1,000 member-months).",
                pd.DataFrame(data),
                pd.DataFrame(rows),
                3,
            )
        )


def _dimension_label(dim: str, quantiles: int = 4, *, short: bool = False) -> str:
    """A readable name of a subgroup dimension (an axis label, or a title with ``short``)."""
    q = {4: "quartile", 5: "quintile", 10: "decile"}.get(quantiles, "quantile")
    parts = {
        "risk_quantile": f"risk-score {q}" + ("" if short else " (Q1 lowest risk)"),
        "function_band": "function at month 0",
        "condition": "condition group",
    }
    return " × ".join(parts.get(p, p.replace("_", " ")) for p in dim.split("*"))


def _economics(b: _Build) -> None:
    """QALYs, costs, ICER and NMB against the baseline; the CE plane and the CEAC."""
    from sim.publish import figures as rf

    res = b.res
    eco = res.economics
    if eco is None:
        return
    t = eco["table"]
    base = str(t["baseline"].iloc[0])
    perspective = str(t["perspective"].iloc[0]).replace("_", " ")
    rate = float(t["discount_rate"].iloc[0])
    wtp = sorted(
        {float(c.split("_")[1]) for c in t.columns if c.startswith("nmb_") and c.count("_") == 1}
    )
    b.section(
        "economics",
        "Health-economic outcomes",
        f"QALYs per member (function mapped to utility), costs in the **{perspective}** "
        f"perspective, both discounted at {100 * rate:g}% a year, against the baseline arm "
        f"**{base}**; the model has no mortality, so QALYs differ only through function. "
        "Definitions: `sim/results/economics.py`.",
    )
    inc = eco["increments"]
    draws = int(inc["replicate"].nunique()) if "replicate" in inc else 0
    others = [a for a in res.arms if a != base and a in set(inc["arm"])]
    if others:
        b.figure(
            rf.ce_plane(
                inc,
                others,
                wtp,
                styles=b.styles,
                baseline=base,
                cost_label=f"incremental cost per member, USD ({perspective})",
            ),
            "ce_plane",
            f"Cost-effectiveness plane against {base}",
            f"Small markers: one per replication ({draws} draws of the probabilistic "
            "sensitivity analysis); large markers: the means. Lines through the origin: equal "
            "net monetary benefit at each willingness-to-pay threshold (below a line, the arm "
            "is cost-effective at that threshold).",
        )
    b.figure(
        rf.ceac_curve(
            eco["ceac"],
            [a for a in res.arms if a in set(eco["ceac"]["arm"])],
            wtp,
            styles=b.styles,
            draws=draws,
        ),
        "ceac",
        "Cost-effectiveness acceptability curve",
        "For each willingness to pay per QALY, the share of replications in which each arm "
        "has the highest net monetary benefit (dotted: the scenario's thresholds)."
        + (" One replication: each probability is 0 or 1." if draws == 1 else ""),
    )
    rows = []
    for _, r in t.iterrows():
        row = {
            "Arm": r["arm"],
            "QALYs/member": f"{r['qalys_per_member']:.4f}",
            "Cost/member (USD)": f"{r['cost_per_member']:,.2f}",
            "ΔCost (USD)": _ci3(r, "incremental_cost", 2),
            "ΔQALYs": _ci3(r, "incremental_qalys", 5),
            "ICER (USD/QALY)": (f"{r['icer']:,.0f}" if np.isfinite(r["icer"]) else "—")
            + (
                f" ({r['icer_note']})" if isinstance(r["icer_note"], str) and r["icer_note"] else ""
            ),
        }
        for w in wtp:
            row[f"NMB at ${w / 1000:,.0f}k"] = _ci3(r, f"nmb_{w:.0f}", 2)
        rows.append(row)
    b.table(
        _write_table(
            b.root / "tables",
            "economics",
            f"QALYs, costs, ICER and net monetary benefit against {base}",
            f"Per member over the run, discounted at {100 * rate:g}%/year; costs: {perspective} "
            "perspective. Δ: arm − baseline, paired by replication; cells: mean [95% CI]. "
            "ICER = mean ΔCost / mean ΔQALYs (shown where neither arm dominates); NMB = "
            "λ·ΔQALYs − ΔCost at willingness to pay λ per QALY.",
            t,
            pd.DataFrame(rows),
            1,
        )
    )


def _ci3(r: pd.Series, k: str, dec: int) -> str:
    m, lo, hi = r[k], r.get(f"{k}_ci_low"), r.get(f"{k}_ci_high")
    text = f"{m:+,.{dec}f}" if np.isfinite(m) else "n/a"
    if lo is not None and np.isfinite(lo) and np.isfinite(hi) and r["arm"] != r["baseline"]:
        text += f" [{lo:,.{dec}f}, {hi:,.{dec}f}]"
    return text


def _sensitivity(b: _Build) -> None:
    """The sensitivity analysis of a sweep (``sim sensitivity``), when it has been run."""
    folder = b.res.folder / "sensitivity"
    if not folder.is_dir():
        b.notes.append(
            "No sensitivity analysis yet: run `sim sensitivity RESULTS` (sobol or morris "
            "designs) and then `sim report` again to include it."
        )
        return
    tables = sorted(folder.glob("*.csv"))
    if not tables:
        return
    warn = folder / "warnings.txt"
    intro = "Indices from `sim sensitivity` (SALib), with the seed's share of the variance."
    if warn.exists():
        lines = [x for x in warn.read_text(encoding="utf-8").splitlines() if x]
        intro += "\n\n**Warnings:**\n\n" + "\n".join(f"- {x}" for x in lines)
    b.section("sensitivity", "Sensitivity analysis", intro)
    for csv in tables:
        df = pd.read_csv(csv)
        png = csv.with_suffix(".png")
        if png.exists():
            dest = b.root / "figures" / f"sensitivity_{png.name}"
            dest.write_bytes(png.read_bytes())
            b.figures.append(
                FigureOut(dest.stem, f"Sensitivity: {csv.stem}", f"From {csv.name}.", [dest])
            )
            b.sections[-1]["figures"].append(dest.stem)
        cols = [
            c
            for c in (
                "arm",
                "parameter",
                "S1",
                "S1_conf",
                "ST",
                "ST_conf",
                "mu_star",
                "mu_star_conf",
                "seed_share",
                "seed_share_of_means",
            )
            if c in df
        ]
        display = df[cols].copy()
        for c in cols[2:]:
            display[c] = display[c].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:.3f}")
        b.table(
            _write_table(
                b.root / "tables",
                f"sensitivity_{_slug(csv.stem)}",
                f"Sensitivity indices: {csv.stem}",
                "seed_share: the seed's share of the variance of single runs; "
                "seed_share_of_means: of the replicate means the indices use.",
                df,
                display,
                2,
            )
        )


def _provider_and_value(b: _Build) -> None:
    b.section("value", "Value and providers")
    _provider_figure(b)
    _value_figures(b)


# ---------------------------------------------------------------------------------------------
# HTML and index


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;
margin:2em auto;padding:0 1em;color:#111;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #bbb;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}th{background:#eee}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
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


def _table_html(df: pd.DataFrame, numeric: set[str] | None = None) -> str:
    return _render(
        "table.html.j2",
        columns=[str(c) for c in df.columns],
        rows=[[str(v) for v in row] for row in df.itertuples(index=False)],
        numeric=set(map(str, numeric or set())),
    )


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


def _html(b: _Build) -> str:
    """The self-contained report page (``sim/publish/templates/report.html.j2``): what the results
    are, then each section's figures (PNG embedded as base64) before its tables; notes and
    captions rendered from Markdown."""
    from markupsafe import Markup

    res, root, baseline = b.res, b.root, b.baseline
    meta = res.meta
    versions = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
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
        ("start", str(b.start)),
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
            "arm": res.arms,
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
    figures = {fg.stem: fg for fg in b.figures}
    tables = {t.stem: t for t in b.tables}

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
        return {
            "stem": t.stem,
            "title": t.title,
            "html": Markup(_table_html(shown, t.numeric)),
            "truncated": len(t.display) > len(shown),
            "shown": len(shown),
            "rows": len(t.display),
            "notes": md(t.notes),
            "files": [str(f.relative_to(root)) for f in t.files],
        }

    sections = []
    for sec in b.sections:
        if not sec["figures"] and not sec["tables"] and not sec["intro"]:
            continue
        sections.append(
            {
                "id": sec["id"],
                "title": sec["title"],
                "intro": md(sec["intro"]) if sec["intro"] else "",
                "figures": [figure(figures[f]) for f in sec["figures"]],
                "tables": [table(tables[t]) for t in sec["tables"]],
            }
        )
    notes = [*b.notes]
    if res.providers is None and res.providers_note:
        notes.append(res.providers_note)
    return _render(
        "report.html.j2",
        name=res.name,
        description=res.description,
        css=Markup(_CSS),
        facts=facts,
        arms_table=Markup(_table_html(arms)),
        statistics_note=md(statistics),
        notes=[md(n) for n in notes],
        sections=sections,
    )


def _index(b: _Build) -> str:
    """index.md: every file of the report with what it holds."""
    res, root = b.res, b.root
    lines = [
        f"# Report: {res.name}",
        "",
        f"From `{res.folder}` ({'sweep' if res.kind == 'sweep' else 'single run'}, "
        f"{res.replications} replication(s)); baseline arm: {b.baseline}.",
        "",
        "- `report.html`: everything below in one self-contained page (images embedded).",
        "",
        "## Tables (CSV: tidy numbers; Markdown and LaTeX: formatted)",
        "",
    ]
    for t in b.tables:
        files = ", ".join(f"`{f.relative_to(root)}`" for f in t.files)
        lines.append(f"- {t.title}: {files}")
    lines += ["", "## Figures (PNG at 300 dpi, PDF and SVG)", ""]
    for fg in b.figures:
        files = ", ".join(f"`{f.relative_to(root)}`" for f in fg.files)
        lines.append(f"- {fg.title}: {files}")
    lines += ["", "## Data behind the tables and figures (CSV)", ""]
    described = {
        "outcomes_by_replicate.csv": "every outcome per design point, arm and replication",
        "monthly_trends.csv": "monthly measures: mean and 95% CI per arm and month",
        "monthly_differences.csv": "monthly paired differences from the baseline arm",
        "key_measures_monthly.csv": "key measures: mean and 95% CI per arm and month",
        "key_measures_monthly_differences.csv": "key measures: paired differences by month",
        "subgroups_by_replicate.csv": "subgroup outcomes per arm, group and replication",
    }
    for f in b.data_files:
        lines.append(f"- `{f.relative_to(root)}`: {described.get(f.name, '')}")
    extra = [*b.notes, *([res.providers_note] if res.providers is None else [])]
    if extra:
        lines += ["", "## Notes", "", *(f"- {n}" for n in extra if n)]
    return "\n".join(lines) + "\n"
