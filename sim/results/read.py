"""Reading results folders back, validated against the schema their writers use.

Every reader of a ``sim run`` or ``sim sweep`` folder (``sim report``, ``sim sensitivity``, a
resumed ``sim sweep``) goes through this module, so a damaged folder is reported once, the same
way, by path and column:

- JSON files must parse to the documented shapes (``sweep.json``'s ``sweep`` through
  :class:`~sim.scenario.sweep.SweepConfig` itself, ``metadata.json``'s arms as a list of names,
  ...);
- tables must have the columns the reader needs, with the types of the data dictionary in
  :mod:`sim.results.tables` (``MONTHLY_COLUMNS``, ``SUMMARY_COLUMNS``, ``PROVIDER_COLUMNS``), rows,
  and no duplicated keys;
- a sweep folder is complete only when every file of its dataset is present: the dataset is
  gathered with ``metadata.json`` written last, so a gathering that was killed is seen as
  incomplete instead of being read in part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from sim.errors import ResultsError
from sim.guards.limits import json_kind as _kind
from sim.guards.limits import read_json_object
from sim.results.dataset import DATASET_MARKER
from sim.results.tables import MONTHLY_COLUMNS, PROVIDER_COLUMNS, SUMMARY_COLUMNS

if TYPE_CHECKING:
    from sim.scenario.sweep import SweepConfig

SPEC = "sweep.json"
#: the files of a gathered sweep dataset; ``metadata.json`` is written last
DATASET_FILES = ("summary.parquet", "design.parquet", "datapackage.json", "README.md")
#: the type of every documented column, from the data dictionary
COLUMN_TYPES: dict[str, str] = {
    **{c: t for c, (t, _, _) in PROVIDER_COLUMNS.items()},
    **{c: t for c, (t, _, _) in SUMMARY_COLUMNS.items()},
    **{c: t for c, (t, _, _) in MONTHLY_COLUMNS.items()},
    "point": "int64",
}
_KINDS = {
    "string": "text",
    "int32": "whole numbers",
    "int64": "whole numbers",
    "float64": "numbers",
    "bool": "true/false",
}


# ---------------------------------------------------------------------------------------------
# JSON


def _expect(data: Mapping[str, Any], key: str, kind: type, path: Path, what: str) -> Any:
    v = data.get(key)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise ResultsError(f"{path}: corrupt, '{key}' should be {what}, found {_kind(v)}")
    return v


def names(data: Mapping[str, Any], key: str, path: Path) -> list[str]:
    """A list of names (arms) in a JSON object."""
    v = _expect(data, key, list, path, "a list of names")
    if not all(isinstance(x, str) and x for x in v) or len(set(v)) != len(v):
        raise ResultsError(f"{path}: corrupt, '{key}' should be a list of distinct names")
    return v


@dataclass(frozen=True)
class SweepSpec:
    """A sweep folder's ``sweep.json``, validated."""

    path: Path
    config: SweepConfig
    raw: dict[str, Any]
    base: dict[str, Any]
    arms: list[str]


def load_sweep_spec(folder: Path) -> SweepSpec:
    """``sweep.json`` of a sweep folder, its ``sweep`` validated by the sweep file's schema."""
    from sim.scenario.sweep import SweepConfig

    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(
            f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}; "
            f"expected a sweep results folder"
        )
    path = folder / SPEC
    if not path.exists():
        raise ResultsError(f"{folder}: not a sweep results folder (no {SPEC})")
    spec = read_json_object(path)
    cfg = _expect(spec, "sweep", dict, path, "an object (the sweep as loaded)")
    try:
        config = SweepConfig.model_validate(cfg)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ResultsError(f"{path}: corrupt, sweep.{loc}: {first['msg']}") from None
    base = _expect(spec, "base_scenario", dict, path, "an object (the base scenario)")
    arms = names(spec, "arms", path)
    return SweepSpec(path, config, spec, base, arms)


# ---------------------------------------------------------------------------------------------
# tables


def _type_ok(series: pd.Series, dtype: str) -> bool:
    if dtype == "string":
        return bool(pd.api.types.is_string_dtype(series)) and all(
            isinstance(x, str) for x in series
        )
    if dtype in ("int32", "int64"):
        return bool(
            pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series)
        )
    if dtype == "float64":
        return bool(
            pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        )
    if dtype == "bool":
        return bool(pd.api.types.is_bool_dtype(series))
    return True


def read_table(
    path: Path,
    required: Iterable[str],
    *,
    key: list[str] | None = None,
    numeric: Iterable[str] = (),
    hint: str = "",
) -> pd.DataFrame:
    """A Parquet table with the ``required`` columns, each of its documented type (the data
    dictionary; ``numeric`` columns: any number), at least one row and, if ``key`` is given,
    no two rows with the same key."""
    from sim.guards import files

    hint = f" ({hint})" if hint else ""
    try:
        fh = files.open_file(path.parent, path.name)  # a regular file, not through a link
    except ResultsError as exc:
        raise ResultsError(f"{exc}{hint}") from None
    try:
        with fh:
            df = pd.read_parquet(fh)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ResultsError(
            f"{path}: corrupt, cannot be read as Parquet ({type(exc).__name__}){hint}"
        ) from None
    required = list(dict.fromkeys([*required, *(key or []), *numeric]))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ResultsError(
            f"{path}: missing column(s) {', '.join(missing)}; expected the columns documented in "
            "docs/outputs.md (was it written by another version of payment-sim?)"
        )
    numeric = set(numeric)
    for col in required:
        dtype = "float64" if col in numeric else COLUMN_TYPES.get(col)
        if dtype is not None and not _type_ok(df[col], dtype):
            raise ResultsError(
                f"{path}: column {col} should hold {_KINDS[dtype]} ({dtype}), found "
                f"{df[col].dtype}; the table is damaged"
            )
    if df.empty:
        raise ResultsError(f"{path}: has no rows")
    for col in required:
        if COLUMN_TYPES.get(col) in ("int32", "int64", "string") and df[col].isna().any():
            raise ResultsError(f"{path}: column {col} has missing values; the table is damaged")
    if key:
        dup = df.duplicated(key)
        if dup.any():
            raise ResultsError(
                f"{path}: {int(dup.sum())} duplicated rows ({', '.join(key)}); the table is damaged"
            )
    for col in required:
        check_values(df[col], path, col, numeric=col in numeric)
    return df


#: summary columns that are undefined (NaN) where their denominator is zero (no one treated,
#: no function gained, no investment counterfactual); every other number must be finite
MAY_BE_UNDEFINED = frozenset(
    {"units_per_treated", "spending_change_from_investment_pmpm", "spending_per_function_point",
     "low_value_share", "provider_margin_pct"}
)  # fmt: skip
#: units of decimal columns that cannot be negative (whole-number columns, counts and
#: indices, cannot either)
NON_NEGATIVE_UNITS = frozenset(
    {"units", "minutes", "FTE", "months", "fraction", "fraction/month", "weight",
     "units/person-month", "persons/1000 member-months", "events/1000 member-months",
     "episodes/1,000 members/year", "member-months", "points (0-100)"}
)  # fmt: skip
_UNITS: dict[str, str] = {
    **{c: u for c, (_, u, _) in PROVIDER_COLUMNS.items()},
    **{c: u for c, (_, u, _) in SUMMARY_COLUMNS.items()},
    **{c: u for c, (_, u, _) in MONTHLY_COLUMNS.items()},
}


def check_values(series: pd.Series, path: Path, col: str, *, numeric: bool = False) -> None:
    """Refuse a column of numbers holding what no run writes: a non-finite value (NaN or
    infinite; NaN is allowed in :data:`MAY_BE_UNDEFINED`), or a negative count (whole-number
    columns and those of :data:`NON_NEGATIVE_UNITS`)."""
    import numpy as np

    dtype = "float64" if numeric else COLUMN_TYPES.get(col)
    if dtype not in ("int32", "int64", "float64"):
        return
    x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isinf(x) if col in MAY_BE_UNDEFINED else ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ResultsError(
            f"{path}: column {col} has {int(bad.sum()):,} value(s) that are not finite numbers "
            f"(first: row {i}, {x[i]}); a run writes finite numbers only, so the table is "
            "damaged and is not used"
        )
    if dtype in ("int32", "int64") or _UNITS.get(col) in NON_NEGATIVE_UNITS:
        neg = x < 0
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            raise ResultsError(
                f"{path}: column {col} has {int(neg.sum()):,} negative value(s) (first: row "
                f"{i}, {x[i]:g}); it counts ({_UNITS.get(col, 'a count')}) and cannot be "
                "negative, so the table is damaged and is not used"
            )


def check_arms(present: Iterable[str], listed: Iterable[str], path: Path, where: str) -> None:
    """Every arm ``where`` lists (metadata.json, sweep.json) has rows in the table at ``path``:
    a table missing an arm's rows is damaged (and a report would compare the others with
    another baseline without a word)."""
    missing = [a for a in listed if a not in set(present)]
    if missing:
        raise ResultsError(
            f"{path}: no rows of arm(s) {', '.join(map(repr, missing))}, which {where} lists; "
            "the table is damaged and is not used (run the scenario again)"
        )


# ---------------------------------------------------------------------------------------------
# sweep folders


def check_dataset_complete(folder: Path, spec: SweepSpec) -> None:
    """Every file of the gathered dataset is present (``metadata.json`` last of all)."""
    wanted = [*DATASET_FILES, DATASET_MARKER]
    if spec.config.outputs == "monthly":
        wanted.insert(2, "monthly.parquet")
    missing = [f for f in wanted if not (folder / f).is_file()]
    if missing:
        also = f" (and {', '.join(missing[1:])})" if missing[1:] else ""
        raise ResultsError(
            f"{folder / missing[0]}: missing{also}: the sweep's dataset is incomplete, the "
            "sweep is unfinished or was stopped while gathering; run the same `sim sweep` "
            "command again to complete it"
        )


def sweep_tables(
    folder: Path,
    spec: SweepSpec,
    summary_columns: Iterable[str],
    *,
    numeric_parameters: bool = False,
    monthly_columns: Iterable[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The design, summary and (if kept) monthly tables of a complete sweep folder, checked
    against each other: one design row per point, the summary's points all in the design."""
    check_dataset_complete(folder, spec)
    params = [p.column for p in spec.config.parameters]
    # a sampled design's factors (low, high) and a grid's of numbers hold numbers
    num = [
        p.column
        for p in spec.config.parameters
        if numeric_parameters
        or p.levels is None
        or all(isinstance(x, int | float) and not isinstance(x, bool) for x in p.levels)
    ]
    design = read_table(folder / "design.parquet", ["point", *params], key=["point"], numeric=num)
    summary = read_table(
        folder / "summary.parquet",
        [*summary_columns, "point", "replicate", "arm", "setting"],
        key=["point", "replicate", "arm", "setting"],
    )
    unknown = sorted(set(summary["point"]) - set(design["point"]))
    if unknown:
        raise ResultsError(
            f"{folder / 'summary.parquet'}: point(s) {unknown[:5]} are not in design.parquet; "
            "the tables do not belong together"
        )
    monthly = None
    if spec.config.outputs == "monthly":
        monthly = read_table(
            folder / "monthly.parquet",
            [*monthly_columns, "point", "arm", "replicate", "month", "setting", "payer"],
            key=["point", "arm", "replicate", "month", "setting", "payer"],
        )
    return design, summary, monthly


# ---------------------------------------------------------------------------------------------
# run folders


def run_metadata(folder: Path) -> dict[str, Any]:
    """``metadata.json`` of a run folder with the fields readers use in their documented
    shapes (arms: a list of names; scenario: an object)."""
    path = folder / "metadata.json"
    meta = read_json_object(path)
    if "arms" in meta:
        names(meta, "arms", path)
    if "scenario" in meta:
        sc = _expect(meta, "scenario", dict, path, "an object (the scenario as loaded)")
        for key in ("settings", "payers"):
            if key in sc and not isinstance(sc[key], dict):
                raise ResultsError(f"{path}: corrupt, 'scenario.{key}' should be an object")
        if "arms" in sc and not (
            isinstance(sc["arms"], list) and all(isinstance(a, dict) for a in sc["arms"])
        ):
            raise ResultsError(f"{path}: corrupt, 'scenario.arms' should be a list of objects")
    return meta


# ---------------------------------------------------------------------------------------------
# sensitivity analyses

SENSITIVITY = "sensitivity"


@dataclass(frozen=True)
class SensitivityTable:
    """One table of ``RESULTS/sensitivity/`` (``sim sensitivity``): its file name, rows and
    the figure drawn from it (PNG bytes; None if absent)."""

    name: str
    table: pd.DataFrame
    figure: bytes | None


def sensitivity_folder(folder: Path) -> dict[str, str]:
    """The files of a results folder's ``sensitivity/`` (name -> "file"): empty when there is
    none; a ResultsError when it is a link, not a folder, or holds anything but files."""
    from sim.guards import files

    where = folder / SENSITIVITY
    what = files.kind(folder, SENSITIVITY)
    if what == "missing":
        return {}
    if what != "folder":
        why = f"is {files.KIND_WORDS[what]}" + ("" if what == "link" else ", not a folder")
        raise ResultsError(
            f"{where}: {why}; expected the folder `sim sensitivity` writes (nothing is read "
            "through links): remove it, and run `sim sensitivity` again"
        )
    listing = files.entries(folder, SENSITIVITY)
    for name, kind in listing.items():
        if kind != "file":
            raise ResultsError(
                f"{where / name}: is {files.KIND_WORDS[kind]}; `sim sensitivity` writes only "
                "files there: remove it"
            )
    return listing


def read_sensitivity(folder: Path) -> tuple[list[SensitivityTable], list[str]]:
    """The tables and figures of ``RESULTS/sensitivity/`` and its warnings, read without
    following links and checked: each table has ``arm`` and ``parameter`` columns of text and
    index columns of numbers."""
    from sim.guards import files

    listing = sensitivity_folder(folder)
    out = []
    for name in sorted(n for n in listing if n.endswith(".csv")):
        path = folder / SENSITIVITY / name
        try:
            with files.open_file(folder, f"{SENSITIVITY}/{name}") as fh:
                df = pd.read_csv(fh)
        except ResultsError:
            raise
        except Exception as exc:  # pandas raises several types for damaged files
            raise ResultsError(f"{path}: cannot be read as CSV ({type(exc).__name__})") from None
        missing = [c for c in ("arm", "parameter") if c not in df]
        if missing or df.empty:
            raise ResultsError(
                f"{path}: {'missing column(s) ' + ', '.join(missing) if missing else 'no rows'}; "
                "not a table of `sim sensitivity`: run it again"
            )
        for col in df.columns:
            if col in ("arm", "parameter", "setting", "outcome", "warning"):
                continue
            if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
                raise ResultsError(
                    f"{path}: column {col} should hold numbers, found {df[col].dtype}; the "
                    "table is damaged: run `sim sensitivity` again"
                )
        png = name.removesuffix(".csv") + ".png"
        figure = files.read_bytes(folder, f"{SENSITIVITY}/{png}") if png in listing else None
        out.append(SensitivityTable(name, df, figure))
    warnings = []
    if "warnings.txt" in listing:
        text = files.read_text(folder, f"{SENSITIVITY}/warnings.txt", limit=2**20)
        warnings = [x for x in text.splitlines() if x]
    return out, warnings


def read_csv_table(folder: Path, name: str) -> pd.DataFrame:
    """A CSV table of a results folder (``economics.csv``, ...), read only if it is a regular
    file reached without links, with at least one row."""
    from sim.guards import files

    path = folder / name
    try:
        with files.open_file(folder, name) as fh:
            df = pd.read_csv(fh, keep_default_na=True)
    except ResultsError:
        raise
    except Exception as exc:  # pandas raises several types for damaged files
        raise ResultsError(f"{path}: cannot be read as CSV ({type(exc).__name__})") from None
    if df.empty:
        raise ResultsError(f"{path}: has no rows")
    return df
