"""Writing a results folder atomically, and the provenance written into it.

A results folder holds the tables of :mod:`sim.results.tables`, ``metadata.json`` (the
scenario as loaded, seeds, versions, git commit, the column dictionary) and whatever figures
its caller draws into it (``trends.png`` for ``sim run``). Nothing is written in place: the
folder is assembled under a temporary name next to its destination and renamed at the end, so
a failed run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import ResultsError
from sim.results.tables import (
    MONTHLY_COLUMNS,
    PROVIDER_COLUMNS,
    SUBGROUP_SUMMARY_COLUMNS,
    SUMMARY_COLUMNS,
    column_dictionary,
    summarize_subgroups,
)

if TYPE_CHECKING:
    from sim.scenario import Scenario

# ---------------------------------------------------------------------------------------------
# provenance


def package_version() -> str:
    """The installed version of payment-sim (from its distribution metadata)."""
    try:
        return importlib_metadata.version("payment-sim")
    except importlib_metadata.PackageNotFoundError:
        from sim import __version__

        return __version__


def git_commit() -> str | None:
    """The git commit of the source tree the package runs from, with '-dirty' if modified.

    ``None`` when the package does not run from a git checkout of its own (an installed wheel,
    even one installed into a virtual environment inside some repository): then the package
    version (:func:`package_version`) is what identifies the code."""
    from sim.guards.paths import package_dir

    root = package_dir().resolve().parent
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if Path(top).resolve() != root:
            return None
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("-dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """What identifies the code that made an output: the package version and, when running
    from a git checkout, the commit (``None`` otherwise, e.g. from an installed wheel)."""
    return {"version": package_version(), "git_commit": git_commit()}


def versions() -> dict[str, str]:
    """Versions of Python, payment-sim and the libraries that shape its results."""
    out = {"python": platform.python_version()}
    for dist in ("payment-sim", "mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic",
                 "matplotlib"):  # fmt: skip
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------
# writing


@dataclass
class Written:
    """A written results folder and the files in it."""

    path: Path
    files: list[str]


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``out`` and put it in place only when the
    ``with`` block succeeds (replacing an old ``out``); on any error nothing is left behind.

    Temporary folders left beside ``out`` by an earlier process that was killed
    (``.<out>.tmp-*``) are removed first."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for stale in out.parent.glob(f".{glob_escape(out.name)}.tmp-*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        from sim.guards.limits import describe_os_error

        raise ResultsError(f"cannot write {describe_os_error(exc, out)}") from None
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    # no pandas index; fixed compression; statistics off keeps the bytes independent of
    # writer heuristics. Same data -> same bytes.
    df.to_parquet(path, engine="pyarrow", index=False, compression="zstd", write_statistics=False)


def write_results(
    out: Path,
    *,
    monthly: pd.DataFrame,
    summary: pd.DataFrame,
    providers: pd.DataFrame | None,
    meta: dict[str, Any],
    figures: Callable[[Path], list[str]] | None = None,
    extras: dict[str, pd.DataFrame] | None = None,
    subgroups: pd.DataFrame | None = None,
    scenario: Scenario | None = None,
) -> Written:
    """Write a results folder atomically (assembled in a temporary sibling, then renamed).

    With ``subgroups`` (the run's subgroup rows: the scenario has an ``[analysis]`` table) the
    folder also holds ``subgroups.parquet``, ``summary_subgroups.csv`` and the health-economic
    tables ``economics.csv``, ``economics_replicates.csv`` and ``ceac.csv``
    (:mod:`sim.results.economics`).

    ``figures``, if given, draws figures into the folder being assembled and returns their file
    names (the caller's: ``sim run`` draws ``trends.png`` with :mod:`sim.publish`), so the
    folder, figures included, still appears all at once. ``extras``: further tables (CSV) by file
    name, e.g. the posterior draws of a run with parameter uncertainty (``draws.csv``)."""
    out = Path(out)
    if out.exists() and not (
        out.is_dir() and (not any(out.iterdir()) or (out / "metadata.json").exists())
    ):
        raise ResultsError(
            f"{out}: exists and is not a results folder (no metadata.json); "
            "choose another --out or remove it"
        )
    with staged_folder(out) as tmp:
        files = ["monthly.parquet", "summary.csv", "metadata.json"]
        _write_parquet(monthly, tmp / "monthly.parquet")
        summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g")
        if providers is not None:
            _write_parquet(providers, tmp / "providers.parquet")
            files.append("providers.parquet")
        extra_columns: dict[str, Any] = {}
        if subgroups is not None and scenario is not None and scenario.analysis is not None:
            from sim.engine.subgroups import SUBGROUP_COLUMNS
            from sim.results import economics

            _write_parquet(subgroups, tmp / "subgroups.parquet")
            sub_summary = summarize_subgroups(subgroups)
            sub_summary.to_csv(tmp / "summary_subgroups.csv", index=False, float_format="%.6g")
            eco = economics.analyse(monthly, subgroups, scenario.analysis, scenario.baseline)
            eco["table"].to_csv(tmp / "economics.csv", index=False, float_format="%.6g")
            eco["increments"].to_csv(
                tmp / "economics_replicates.csv", index=False, float_format="%.6g"
            )
            eco["ceac"].to_csv(tmp / "ceac.csv", index=False, float_format="%.6g")
            files += ["subgroups.parquet", "summary_subgroups.csv", "economics.csv",
                      "economics_replicates.csv", "ceac.csv"]  # fmt: skip
            eco_cols = {**economics.ECONOMICS_COLUMNS,
                        **economics.wtp_columns(scenario.analysis.wtp)}  # fmt: skip
            extra_columns = {
                "subgroups.parquet": column_dictionary(SUBGROUP_COLUMNS),
                "summary_subgroups.csv": column_dictionary(SUBGROUP_SUMMARY_COLUMNS),
                "economics.csv": column_dictionary(eco_cols),
                "economics_replicates.csv": column_dictionary(
                    economics.increment_columns(scenario.analysis.wtp)
                ),
                "ceac.csv": column_dictionary(economics.CEAC_COLUMNS),
            }
        for name, table in (extras or {}).items():
            table.to_csv(tmp / name, index=False, float_format="%.10g")
            files.append(name)
        if figures is not None:
            files += figures(tmp)
        meta = {
            **meta,
            "files": files,
            "columns": {
                "monthly.parquet": column_dictionary(MONTHLY_COLUMNS),
                "summary.csv": column_dictionary(SUMMARY_COLUMNS),
                **(
                    {"providers.parquet": column_dictionary(PROVIDER_COLUMNS)}
                    if providers is not None
                    else {}
                ),
                **extra_columns,
            },
        }
        (tmp / "metadata.json").write_text(
            json.dumps(meta, indent=2, sort_keys=False, default=_json_default) + "\n",
            encoding="utf-8",
        )
    return Written(out, files)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def command_line() -> list[str]:
    """The command as a user would type it (``sim ...``)."""
    return ["sim", *sys.argv[1:]]
