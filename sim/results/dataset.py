"""A sweep's results as a citable dataset: Parquet tables, a Frictionless ``datapackage.json``
describing every table and column (type, unit, meaning; built and validated by the
``frictionless`` library, as a run's is: :func:`sim.results.datapackage.write_package`),
metadata and a generated README.

Every file is written under a temporary name and renamed into place, and the dataset as a whole
is all or nothing to its readers: ``metadata.json``, the marker of a complete dataset, is
removed first and written last, so a gathering stopped half-way leaves a folder that every
reader (:mod:`sim.results.read`) reports as incomplete, and the next ``sim sweep`` gathers again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.guards import files as safe
from sim.results.folder import provenance, versions
from sim.results.tables import MONTHLY_COLUMNS, SUMMARY_COLUMNS

if TYPE_CHECKING:
    from sim.experiments.sweep import Sweep

TABLE_DOCS = {
    "design": "The design: one row per design point, one column per varied scenario field.",
    "summary": "Per run (design point × replication) and arm: the run summary per setting and "
    "for all settings together.",
    "monthly": "Per run and arm: the monthly table (one row per month, setting and payer).",
}


#: the file written last when a sweep's dataset is gathered: its presence marks the dataset
#: complete (:mod:`sim.results.read` checks it)
DATASET_MARKER = "metadata.json"
#: rows of each table checked against its schema when the data package is built (the
#: descriptor is always checked whole; a sweep's monthly table can hold millions of rows)
VALIDATE_ROWS = 10_000


def _atomic_write(path: Path, text: str) -> None:
    safe.write_text(path.parent, path.name, text)


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    with safe.writer(path.parent, path.name) as fh:
        df.to_parquet(fh, engine="pyarrow", index=False, compression="zstd",
                      write_statistics=False)  # fmt: skip


def _field_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "number"
    return "string"


def schema_fields(df: pd.DataFrame, sweep: Sweep) -> list[dict[str, Any]]:
    """Frictionless Table Schema fields for a table: type, unit and meaning of each column."""
    params = {p.field: p for p in sweep.config.parameters}
    known = {**SUMMARY_COLUMNS, **MONTHLY_COLUMNS}
    out = []
    for col in df.columns:
        field: dict[str, Any] = {"name": col, "type": _field_type(df[col])}
        if col == "point":
            field.update(unit="index", description="Design point number (row of design).")
        elif col in params:
            field.update(
                unit="as scenario field",
                description=f"Value of scenario field {col} at this design point "
                "(see the scenario field reference).",
            )
        elif col == "replicate":
            field.update(
                unit="index",
                description="Replication; its streams are SeedSequence(seed, "
                "spawn_key=(replicate,)), the same at every design point and arm.",
            )
        elif col == "seed":
            field.update(unit="integer", description="Root seed of the sweep.")
        elif col in known:
            _, unit, desc = known[col]
            field.update(unit=unit, description=desc)
        else:
            raise KeyError(f"column {col!r} has no documentation")
        out.append(field)
    return out


def write_dataset(
    sweep: Sweep,
    folder: Path,
    tables: dict[str, pd.DataFrame],
    command: list[str] | None,
    code: str,
    *,
    data_license: str = "CC-BY-4.0",
    data_version: str = "1.0.0",
) -> list[str]:
    """Write a sweep's tables as Parquet with ``datapackage.json`` (licence and version of the
    data: ``data_license``, an SPDX identifier, and ``data_version``), ``metadata.json`` and a
    README; return the file names. ``code``: the hash of the simulation code that ran it."""
    from sim.results.datapackage import check_version, license_descriptor, write_package

    folder = Path(folder)
    with safe.folder(folder) as fd, contextlib.suppress(FileNotFoundError):
        os.unlink(DATASET_MARKER, dir_fd=fd)  # incomplete until it is written again
    files = []
    resources = []
    for name, df in tables.items():
        path = folder / f"{name}.parquet"
        _atomic_parquet(df, path)
        files.append(path.name)
        resources.append(
            {
                "name": name,
                "path": path.name,
                "profile": "tabular-data-resource",
                "description": TABLE_DOCS[name],
                "schema": {
                    "fields": schema_fields(df, sweep),
                    **({"primaryKey": ["point"]} if name == "design" else {}),
                },
            }
        )
    cfg = sweep.config
    package = {
        "profile": "tabular-data-package",
        "name": cfg.name.lower().replace("_", "-"),
        "title": f"payment-sim sweep: {cfg.name}",
        "description": cfg.description or f"Sweep {cfg.name} of scenario {cfg.scenario}.",
        "version": check_version(data_version),
        "created_with": f"payment-sim {versions().get('payment-sim')}",
        "licenses": [license_descriptor(data_license)],
        "resources": resources,
    }
    write_package(folder, package, rows=VALIDATE_ROWS)
    files.append("datapackage.json")
    meta = {
        "sweep": cfg.model_dump(mode="json"),
        "sweep_file": sweep.source,
        "base_scenario": sweep.base,
        "arms": sweep.arms,
        "design_points": len(sweep.design),
        "runs": len(sweep.runs),
        "random_streams": "replication r of every design point and arm: "
        f"SeedSequence({cfg.seed}, spawn_key=(r,)); sampled designs: "
        f"SeedSequence({cfg.seed}, spawn_key=(2**32,))",
        "versions": versions(),
        **provenance(),
        "code_hash": code,
        "command": command,
    }
    _atomic_write(folder / "README.md", dataset_readme(sweep, tables, meta))
    files.append("README.md")
    with safe.folder(folder) as fd:  # left by an earlier gathering that was stopped
        for old in os.listdir(fd):
            if old.startswith(".") and old.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(old, dir_fd=fd)
    # last: its presence tells readers that every other file of the dataset is in place
    _atomic_write(folder / DATASET_MARKER, json.dumps(meta, indent=2, default=str) + "\n")
    files.insert(-1, DATASET_MARKER)
    return files


def dataset_readme(sweep: Sweep, tables: dict[str, pd.DataFrame], meta: dict[str, Any]) -> str:
    """The dataset's README.md: how it was made, the varied parameters, the files."""
    cfg = sweep.config
    lines = [
        f"# {cfg.name}",
        "",
        cfg.description or "A payment-sim sweep.",
        "",
        "## How it was made",
        "",
        f"- Base scenario: `{cfg.scenario}` with fixed overrides "
        f"{json.dumps(cfg.set) if cfg.set else '(none)'}.",
        f"- Design: {cfg.design.method}, {len(sweep.design)} points; "
        f"{cfg.replications} replication(s) each; arms: {', '.join(sweep.arms)}.",
        f"- Seeds: root seed {cfg.seed}; {meta['random_streams']}.",
        f"- Software: payment-sim {meta['versions'].get('payment-sim')}, Mesa "
        f"{meta['versions'].get('mesa')}, Python {meta['versions'].get('python')}; git commit "
        f"`{meta['git_commit']}`.",
        f"- Command: `{' '.join(meta['command'] or [])}`",
        "",
        "Rerunning the command on the same sweep file reproduces the tables byte for byte.",
        "",
        "## Varied parameters",
        "",
        "| field | levels or range |",
        "|---|---|",
    ]
    for p in cfg.parameters:
        rng = p.levels if p.levels is not None else f"[{p.low}, {p.high}]"
        lines.append(f"| `{p.field}` | {rng} |")
    lines += ["", "## Files", ""]
    for name, df in tables.items():
        lines.append(f"- `{name}.parquet` ({len(df):,} rows): {TABLE_DOCS[name]}")
    lines += [
        "- `datapackage.json`: Frictionless data package: every table and column with its type, "
        "unit and meaning.",
        "- `metadata.json`: the sweep and base scenario as loaded, versions, git commit, command.",
        "- `runs.jsonl`: the run index (status, timing, worker of each run).",
        "- `parts/`: one part per run, as written by the workers.",
        "",
        "Column meanings: see `datapackage.json` or the project's docs/outputs.md.",
        "",
    ]
    return "\n".join(lines)
