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
    hint = f" ({hint})" if hint else ""
    if not path.exists():
        raise ResultsError(f"{path}: missing{hint}")
    if not path.is_file():
        raise ResultsError(f"{path}: not a file{hint}")
    try:
        df = pd.read_parquet(path)
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
    return df


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
    num = params if numeric_parameters else []
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
