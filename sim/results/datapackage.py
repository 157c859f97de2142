"""A single run's results folder as a Frictionless data package (``sim run --datapackage``).

``datapackage.json`` describes every table of the folder (``monthly.parquet``,
``summary.csv``, ``providers.parquet`` when written, and with an ``[analysis]`` table the
subgroup, economics and acceptability-curve tables) and every column: type, unit and meaning
from the data dictionary in :mod:`sim.results.tables`. The package is built and validated with the
``frictionless`` library (the ``datapackage`` extra): data are checked against the schemas
before the file is put in place, so an invalid package is never written.

The licence and the version of the data are the user's to set: by default CC-BY-4.0 and 1.0.0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sim.errors import ResultsError
from sim.guards.extras import require
from sim.results.margins import ADMISSION_COLUMNS, DECOMPOSITION_COLUMNS
from sim.results.margins import REPLICATE_COLUMNS as DECOMPOSITION_REPLICATE_COLUMNS
from sim.results.tables import (
    LIFE_SUMMARY_COLUMNS,
    LIFE_TABLE_COLUMNS,
    MONTHLY_COLUMNS,
    PROVIDER_COLUMNS,
    SUMMARY_COLUMNS,
)

DEFAULT_LICENSE = "CC-BY-4.0"
DEFAULT_VERSION = "1.0.0"

#: dtype of the data dictionary -> Frictionless Table Schema type
TYPES = {"string": "string", "int32": "integer", "int64": "integer", "float64": "number",
         "bool": "boolean"}  # fmt: skip

#: table file -> (resource name, columns, description)
TABLES: dict[str, tuple[str, dict[str, tuple[str, str, str]], str]] = {
    "monthly.parquet": ("monthly", MONTHLY_COLUMNS,
                        "One row per arm, replicate, month, care setting and payer."),
    "summary.csv": ("summary", SUMMARY_COLUMNS,
                    "One row per arm and care setting (and 'all' settings), averaged over "
                    "replicates."),
    "providers.parquet": ("providers", PROVIDER_COLUMNS,
                          "One row per arm, replicate, month, setting and provider."),
    "life.parquet": ("life", LIFE_TABLE_COLUMNS,
                     "With a life course: one row per arm, replicate, month, care setting and "
                     "payer (members' flow, survival, deaths)."),
    "summary_life.csv": ("summary_life", LIFE_SUMMARY_COLUMNS,
                         "With a life course: one row per arm and care setting (and 'all'), "
                         "averaged over replicates."),
    "decomposition.csv": ("decomposition", DECOMPOSITION_COLUMNS,
                          "One row per arm and care setting (and 'all'): the change in provider "
                          "revenue per member-month against the baseline arm by margin."),
    "decomposition_replicates.csv": ("decomposition-replicates", DECOMPOSITION_REPLICATE_COLUMNS,
                                     "The decomposition per replicate."),
    "admission_rates.csv": ("admission-rates", ADMISSION_COLUMNS,
                            "Share of cases taken by arm, setting, payer and risk quartile."),
}  # fmt: skip

#: SPDX identifiers with a title and a licence text address (others are written by name only)
KNOWN_LICENSES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0",
                  "https://creativecommons.org/licenses/by/4.0/"),
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal",
                "https://creativecommons.org/publicdomain/zero/1.0/"),
    "ODC-By-1.0": ("Open Data Commons Attribution License v1.0",
                   "https://opendatacommons.org/licenses/by/1-0/"),
    "ODbL-1.0": ("Open Data Commons Open Database License v1.0",
                 "https://opendatacommons.org/licenses/odbl/1-0/"),
    "PDDL-1.0": ("Open Data Commons Public Domain Dedication and License v1.0",
                 "https://opendatacommons.org/licenses/pddl/1-0/"),
}  # fmt: skip


def license_descriptor(spdx: str) -> dict[str, str]:
    """A Data Package ``licenses`` entry for an SPDX licence identifier or expression
    (``CC-BY-4.0``, ``CC-BY-4.0 OR ODbL-1.0``, ``LicenseRef-mine``), checked against the SPDX
    licence list and written in its canonical case."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    allowed = (
        "give an SPDX licence identifier (https://spdx.org/licenses/), e.g. CC-BY-4.0, CC0-1.0 "
        "or ODbL-1.0, or LicenseRef-<name> for a licence of your own"
    )
    if not spdx.strip():
        raise ResultsError(f"--license: {allowed}")
    try:
        spdx = canonicalize_license_expression(spdx.strip())
    except InvalidLicenseExpression:
        raise ResultsError(f"--license: {spdx!r} is not an SPDX licence; {allowed}") from None
    entry: dict[str, str] = {"name": spdx}
    if spdx in KNOWN_LICENSES:
        title, path = KNOWN_LICENSES[spdx]
        entry.update(title=title, path=path)
    return entry


#: a version of the data: semantic versioning (MAJOR.MINOR.PATCH, with an optional
#: pre-release and build), as the Data Package specification recommends
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def check_version(version: str) -> str:
    """A version of the data, checked: MAJOR.MINOR.PATCH (semantic versioning)."""
    if not _SEMVER.fullmatch(version):
        raise ResultsError(
            f"--data-version: {version!r} is not a version; give MAJOR.MINOR.PATCH (semantic "
            "versioning, https://semver.org), e.g. 1.0.0 or 2.1.0-rc.1"
        )
    return version


def _fields(columns: dict[str, tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": TYPES[dtype], "description": desc, "unit": unit}
        for name, (dtype, unit, desc) in columns.items()
    ]


def analysis_tables(
    wtp: list[float], life: bool = False
) -> dict[str, tuple[str, dict[str, Any], str]]:
    """The tables a run with an ``[analysis]`` table also writes (their NMB columns: one per
    willingness-to-pay threshold ``wtp``; with a life course (``life``) the columns of deaths
    and life-years too), as :data:`TABLES` lists the others."""
    from sim.engine.subgroups import subgroup_columns
    from sim.results import economics
    from sim.results.tables import subgroup_summary_columns

    return {
        "subgroups.parquet": (
            "subgroups", subgroup_columns(life),
            "One row per arm, replicate, month, subgroup dimension and group.",
        ),
        "summary_subgroups.csv": (
            "summary-subgroups", subgroup_summary_columns(life),
            "One row per arm, subgroup dimension and group, averaged over replicates.",
        ),
        "economics.csv": (
            "economics", economics.economics_columns(wtp, life),
            "One row per arm: QALYs, costs, increments against the baseline, ICER and net "
            "monetary benefit.",
        ),
        "economics_replicates.csv": (
            "economics-replicates", economics.increment_columns(wtp, life),
            "One row per arm and replicate: the increments against the baseline.",
        ),
        "ceac.csv": (
            "ceac", economics.CEAC_COLUMNS,
            "The cost-effectiveness acceptability curve: one row per threshold and arm.",
        ),
    }  # fmt: skip


def package_descriptor(
    folder: Path, *, license: str = DEFAULT_LICENSE, version: str = DEFAULT_VERSION
) -> dict[str, Any]:
    """The data package of a results folder as a descriptor (not yet validated): every table
    the run wrote (those of its ``[analysis]`` too)."""
    from sim.guards import files
    from sim.guards.limits import read_json_object

    folder = Path(folder)
    if files.kind(folder, "metadata.json") == "missing":
        raise ResultsError(f"{folder}: not a results folder of `sim run` (no metadata.json)")
    meta = read_json_object(folder / "metadata.json")
    value = meta.get("scenario")
    scenario = value if isinstance(value, dict) else {}
    name = str(scenario.get("name", folder.name))
    value = scenario.get("analysis")
    analysis = value if isinstance(value, dict) else {}
    value = analysis.get("wtp")
    wtp = value if isinstance(value, list) else []
    if not all(isinstance(w, int | float) and not isinstance(w, bool) for w in wtp):
        raise ResultsError(f"{folder / 'metadata.json'}: corrupt, scenario.analysis.wtp")
    resources = []
    tables = {**TABLES, **analysis_tables(wtp, scenario.get("life") is not None)}
    for file, (res_name, columns, desc) in tables.items():
        if files.kind(folder, file) != "file":
            continue
        resources.append(
            {
                "name": res_name,
                "path": file,
                "profile": "tabular-data-resource",
                "description": desc,
                "schema": {"fields": _fields(columns)},
            }
        )
    return {
        "profile": "tabular-data-package",
        "name": name.lower().replace("_", "-"),
        "title": f"payment-sim run: {name}",
        "description": scenario.get("description") or f"A run of scenario {name}.",
        "version": version,
        "licenses": [license_descriptor(license)],
        "created_with": f"payment-sim {meta.get('version', 'unknown')}",
        "git_commit": meta.get("git_commit"),
        "seed": meta.get("seed"),
        "command": meta.get("command"),
        "resources": resources,
    }


def write_run_datapackage(
    folder: str | Path, *, license: str = DEFAULT_LICENSE, version: str = DEFAULT_VERSION
) -> Path:
    """Build ``datapackage.json`` for a results folder with frictionless, validate the
    descriptor and every table against it, and write it (atomically); return its path.

    Raises :class:`~sim.errors.ResultsError` listing the problems if validation fails."""
    folder = Path(folder)
    descriptor = package_descriptor(folder, license=license, version=check_version(version))
    return write_package(folder, descriptor)


#: name of the frictionless plugin registered by :func:`rows_read_once`
ROWS_ONCE = "payment_sim_rows_once"
_REGISTERED: set[str] = set()


def rows_read_once(frictionless: Any) -> None:
    """Register (once per process) a frictionless plugin whose parser of data frames (used for
    parquet files too) yields the same cells as frictionless's own, building each row's
    dictionary once instead of once per column: frictionless 5.21 spends time proportional to
    rows × columns² there, most of a sweep's time for a monthly table of about 120 columns.
    A frictionless without the private method this copies keeps its own parser."""
    from frictionless.formats.pandas.parser import PandasParser

    if ROWS_ONCE in _REGISTERED or not hasattr(PandasParser, "_PandasParser__read_convert_schema"):
        return
    import numpy as np
    import pandas as pd

    class RowsOnce(PandasParser):
        def read_cell_stream_create(self):  # PandasParser's, to_dict() out of the field loop
            assert isinstance(self.resource.data, pd.DataFrame)
            dataframe = self.resource.data
            schema = self._PandasParser__read_convert_schema()  # type: ignore[attr-defined]
            if not self.resource.schema:
                self.resource.schema = schema
            yield schema.field_names
            for index, item in dataframe.iterrows():
                pk: Any = index if isinstance(index, tuple) else [index]
                row = item.to_dict()
                cells: list[Any] = []
                for field in schema.fields:
                    if field.name in schema.primary_key:
                        value = pk[schema.primary_key.index(field.name)]
                    else:
                        value = row[field.name]
                    if value is np.nan:
                        value = None
                    elif isinstance(value, pd.Timestamp):
                        value = value.to_pydatetime()
                    cells.append(value)
                yield cells

    class Plugin(frictionless.Plugin):
        def create_parser(self, resource):
            if resource.format == "pandas":
                return RowsOnce(resource)
            return None

    frictionless.system.register(ROWS_ONCE, Plugin())
    _REGISTERED.add(ROWS_ONCE)


def write_package(folder: Path, descriptor: dict[str, Any], *, rows: int | None = None) -> Path:
    """Build a data package from ``descriptor`` with frictionless (its paths relative to
    ``folder``), validate the descriptor and the tables against their schemas (every row, or
    the first ``rows`` of each table), and write ``datapackage.json`` (atomically) as
    frictionless writes it; return its path. Used by ``sim run --datapackage`` and by a
    sweep's dataset (:mod:`sim.results.dataset`).

    Raises :class:`~sim.errors.ResultsError` listing the problems if validation fails."""
    frictionless = require("frictionless", "datapackage", "--datapackage")
    rows_read_once(frictionless)
    try:
        package = frictionless.Package.from_descriptor(descriptor, basepath=str(folder))
    except frictionless.FrictionlessException as exc:
        raise ResultsError(f"{folder}: the data package is not valid: {exc}") from None
    report = package.validate(limit_rows=rows) if rows else package.validate()
    if not report.valid:
        problems = [f"{e.type}: {e.message}" for t in report.tasks for e in t.errors]
        problems += [f"{e.type}: {e.message}" for e in report.errors]
        raise ResultsError(
            f"{folder}: the data package does not validate:\n  " + "\n  ".join(problems[:10])
        )
    from sim.guards import files

    text = json.dumps(package.to_descriptor(), indent=2, ensure_ascii=False) + "\n"
    files.write_text(folder, "datapackage.json", text)
    return folder / "datapackage.json"
