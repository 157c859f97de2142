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
    LIFE_SUMMARY_COLUMNS,
    LIFE_TABLE_COLUMNS,
    MONTHLY_COLUMNS,
    PROVIDER_COLUMNS,
    SUMMARY_COLUMNS,
    column_dictionary,
    subgroup_summary_columns,
    summarize_life,
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
    (``.<out>.tmp-*``, ``.<out>.old-*``) are removed first. ``out`` is taken as its absolute
    path, so ``.`` or ``..`` name the folder they stand for."""
    out = Path(os.path.abspath(out))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for pattern in (".tmp-*", ".old-*"):
            for stale in out.parent.glob(f".{glob_escape(out.name)}{pattern}"):
                if stale.is_dir() and not stale.is_symlink():
                    shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        from sim.guards.limits import describe_os_error

        raise ResultsError(f"cannot write {describe_os_error(exc, out)}") from None
    try:
        yield tmp
        if os.path.lexists(out):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------
# what may be written into: empty, absent, or a folder of the command's own kind


#: what ``sim run`` writes into its folder (``report/``: ``sim report``'s default output)
RUN_ENTRIES = {
    **dict.fromkeys(
        ("monthly.parquet", "summary.csv", "metadata.json", "providers.parquet",
         "subgroups.parquet", "summary_subgroups.csv", "economics.csv",
         "economics_replicates.csv", "ceac.csv", "trends.png", "trends.pdf", "trends.svg",
         "datapackage.json", "life.parquet", "summary_life.csv", "decomposition.csv",
         "decomposition_replicates.csv", "admission_rates.csv", "draws.csv"),
        "file",
    ),
    "report": "folder",
}  # fmt: skip
#: what ``sim report`` writes into its folder
REPORT_ENTRIES = {"report.html": "file", "index.md": "file", "figures": "folder",
                  "tables": "folder", "data": "folder"}  # fmt: skip


def _temporary(name: str) -> bool:
    """A temporary file or folder of an earlier writer that was stopped (``.x.tmp``,
    ``.x.123-0.tmp``, ``.x.tmp-abc``, ``.x.old-abc``, ``sweep.tmp``)."""
    return name.endswith(".tmp") or (name.startswith(".") and (".tmp-" in name or ".old-" in name))


def check_folder(
    out: Path,
    *,
    command: str,
    entries: dict[str, str],
    own: Callable[[Path], str | None] | None = None,
    option: str = "--out",
) -> bool:
    """Refuse to write into ``out`` unless it is absent, empty, or a folder of ``command``'s
    own results, judged by its content: every entry is one ``command`` writes (``entries``:
    name -> "file" or "folder"; temporary files of a stopped writer too), none is a link, a
    FIFO or a device, and ``own(out)`` (the command's check of its identifying file) finds no
    problem. Return whether ``out`` exists and holds entries (results to replace or resume)."""
    from sim.guards import files

    out = Path(out)
    absolute = Path(os.path.abspath(out))
    what = files.kind(absolute.parent, absolute.name)
    if what == "missing":
        return False
    if what == "link":
        raise ResultsError(
            f"{option}: {out} is a symbolic link; give the folder itself (results are never "
            "written through links)"
        )
    if what != "folder":
        raise ResultsError(f"{option}: {out} exists and is not a folder; choose another {option}")
    listing = files.entries(out)
    if not listing:
        return False
    for name, kind in listing.items():
        if kind in ("link", "other"):
            raise ResultsError(
                f"{option}: {out / name} "
                + ("is a symbolic link" if kind == "link" else "is not a regular file (a pipe, "
                   "device or socket)")
                + f"; {command} writes only into a folder of its own results, which holds "
                "neither: remove it or choose another " + option
            )  # fmt: skip
    foreign = [
        n
        for n, k in listing.items()
        if entries.get(n) != k and not (_temporary(n) and k != "other")
    ]
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise ResultsError(
            f"{option}: {out} holds {shown}, which {command} does not write; it writes only "
            "into a folder that is empty, absent or one of its own results folders. Choose "
            f"another {option}, or move those away"
        )
    problem = own(out) if own is not None else None
    if problem:
        raise ResultsError(
            f"{option}: {out} is not a results folder of {command} ({problem}); choose another "
            f"{option} or remove it"
        )
    return True


def _own_json(out: Path, name: str, keys: dict[str, type]) -> str | None:
    """``None`` if ``out/name`` is a JSON object with ``keys`` of their types, else why not."""
    from sim.guards import files

    try:
        data = json.loads(files.read_bytes(out, name))
    except ResultsError:
        return f"no {name}, or not a regular file"
    except (ValueError, RecursionError):
        return f"{name} is not readable JSON"
    if not isinstance(data, dict) or not all(isinstance(data.get(k), t) for k, t in keys.items()):
        return f"its {name} is not one it writes"
    return None


def _own_run(out: Path) -> str | None:
    return _own_json(out, "metadata.json", {"scenario": dict, "files": list, "arms": list})


def _own_report(out: Path) -> str | None:
    from sim.guards import files

    missing = [f for f in ("report.html", "index.md") if files.kind(out, f) != "file"]
    return f"no {' and no '.join(missing)}" if missing else None


def check_run_folder(out: Path, option: str = "--out") -> bool:
    """:func:`check_folder` for ``sim run``: it replaces a run's results folder as a whole."""
    return check_folder(out, command="sim run", entries=RUN_ENTRIES, own=_own_run, option=option)


def check_report_folder(out: Path, option: str = "--out") -> bool:
    """:func:`check_folder` for ``sim report``: it replaces a report folder as a whole."""
    return check_folder(
        out, command="sim report", entries=REPORT_ENTRIES, own=_own_report, option=option
    )


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
    life: pd.DataFrame | None = None,
) -> Written:
    """Write a results folder atomically (assembled in a temporary sibling, then renamed).

    With ``life`` (the life table's rows: the scenario has a ``[life]`` table) the folder also
    holds ``life.parquet`` and ``summary_life.csv``; the subgroup and economic tables then
    count members of the month and add deaths and life-years.

    With ``subgroups`` (the run's subgroup rows: the scenario has an ``[analysis]`` table) the
    folder also holds ``subgroups.parquet``, ``summary_subgroups.csv`` and the health-economic
    tables ``economics.csv``, ``economics_replicates.csv`` and ``ceac.csv``
    (:mod:`sim.results.economics`). With ``scenario``, a run of two arms or more with its
    baseline arm also gets the decomposition of each arm's effect by margin
    (``decomposition.csv``, ``decomposition_replicates.csv``), and a run whose providers
    decided on cases (``behaviour.admission``) ``admission_rates.csv``
    (:mod:`sim.results.margins`).

    ``figures``, if given, draws figures into the folder being assembled and returns their file
    names (the caller's: ``sim run`` draws ``trends.png`` with :mod:`sim.publish`), so the
    folder, figures included, still appears all at once. ``extras``: further tables (CSV) by file
    name, e.g. the posterior draws of a run with parameter uncertainty (``draws.csv``)."""
    out = Path(out)
    check_run_folder(out)
    with staged_folder(out) as tmp:
        files = ["monthly.parquet", "summary.csv", "metadata.json"]
        _write_parquet(monthly, tmp / "monthly.parquet")
        summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g")
        if providers is not None:
            _write_parquet(providers, tmp / "providers.parquet")
            files.append("providers.parquet")
        extra_columns: dict[str, Any] = {}
        if life is not None:
            _write_parquet(life, tmp / "life.parquet")
            summarize_life(life).to_csv(tmp / "summary_life.csv", index=False, float_format="%.6g")
            files += ["life.parquet", "summary_life.csv"]
            extra_columns = {
                "life.parquet": column_dictionary(LIFE_TABLE_COLUMNS),
                "summary_life.csv": column_dictionary(LIFE_SUMMARY_COLUMNS),
            }
        if subgroups is not None and scenario is not None and scenario.analysis is not None:
            from sim.engine.subgroups import subgroup_columns
            from sim.results import economics

            has_life = scenario.life is not None

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
            eco_cols = economics.economics_columns(scenario.analysis.wtp, has_life)
            extra_columns |= {
                "subgroups.parquet": column_dictionary(subgroup_columns(has_life)),
                "summary_subgroups.csv": column_dictionary(subgroup_summary_columns(has_life)),
                "economics.csv": column_dictionary(eco_cols),
                "economics_replicates.csv": column_dictionary(
                    economics.increment_columns(scenario.analysis.wtp, has_life)
                ),
                "ceac.csv": column_dictionary(economics.CEAC_COLUMNS),
            }
        if scenario is not None:
            more, cols = _margin_tables(tmp, monthly, scenario)
            files += more
            extra_columns |= cols
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


def _margin_tables(
    tmp: Path, monthly: pd.DataFrame, scenario: Scenario
) -> tuple[list[str], dict[str, Any]]:
    """The decomposition by margin against the baseline arm (a run of two arms or more with
    its baseline) and the admission rates (a run whose providers decided on cases):
    :mod:`sim.results.margins`."""
    from sim.results import margins

    arms = list(dict.fromkeys(monthly["arm"].astype(str)))
    base, last = scenario.baseline, scenario.outputs.summary_months
    files: list[str] = []
    cols: dict[str, Any] = {}
    if len(arms) >= 2 and base in arms:
        dec = margins.decompose(monthly, base, last, arms)
        dec["table"].to_csv(tmp / "decomposition.csv", index=False, float_format="%.6g")
        dec["replicates"].to_csv(
            tmp / "decomposition_replicates.csv", index=False, float_format="%.10g"
        )
        files += ["decomposition.csv", "decomposition_replicates.csv"]
        cols["decomposition.csv"] = column_dictionary(margins.DECOMPOSITION_COLUMNS)
        cols["decomposition_replicates.csv"] = column_dictionary(margins.REPLICATE_COLUMNS)
    if margins.has_admissions(monthly) and base in arms:
        rates = margins.admission_rates(monthly, base, last, arms)
        rates.to_csv(tmp / "admission_rates.csv", index=False, float_format="%.6g")
        files.append("admission_rates.csv")
        cols["admission_rates.csv"] = column_dictionary(margins.ADMISSION_COLUMNS)
    return files, cols


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
