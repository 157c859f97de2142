"""The results folder as the report reads it: a run (``monthly.parquet``, ``metadata.json``,
optionally ``providers.parquet``, ``subgroups.parquet`` and the health-economic tables) or a
sweep (``sweep.json``, ``design.parquet``, ``summary.parquet``, optionally ``monthly.parquet``),
both as one :class:`Results`: a run is a sweep with one design point.

A run's outcomes per replication are :func:`sim.results.tables.summarize` applied to one
replicate's monthly rows, so their definitions are exactly those of ``summary.csv``; a sweep's
are its summary rows, already per design point and replication.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import ResultsError
from sim.guards import files
from sim.publish.trends import ordered, setting_units
from sim.results.read import (
    check_arms,
    load_sweep_spec,
    read_csv_table,
    read_table,
    run_metadata,
    sweep_tables,
)
from sim.results.tables import summarize

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
    arms = sc.get("arms")
    if not isinstance(arms, list):
        arms = []
    return {
        str(a.get("name")): str(a.get("description") or "") for a in arms if isinstance(a, dict)
    }


def _summary_months(scenario: dict) -> int:
    """The run's ``outputs.summary_months`` (0 for runs written before it existed)."""
    outputs = scenario.get("outputs")
    if not isinstance(outputs, dict):
        outputs = {}
    value = outputs.get("summary_months", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _load_run(folder: Path) -> Results:
    meta = run_metadata(folder)
    sc = meta.get("scenario")
    if not isinstance(sc, dict):
        sc = {}
    monthly = _read_parquet(
        folder / "monthly.parquet",
        RUN_MONTHLY_COLUMNS,
        "written by `sim run`",
        key=["arm", "replicate", "month", "setting", "payer"],
    )
    check_arms(monthly["arm"], meta.get("arms") or [], folder / "monthly.parquet", "metadata.json")
    arms = ordered(
        list(dict.fromkeys(monthly["arm"].astype(str))),
        [str(a) for a in meta.get("arms") or []] or list(_arm_descriptions(sc)),
    )
    settings = list(dict.fromkeys(monthly["setting"].astype(str)))
    reps = sorted(int(r) for r in monthly["replicate"].unique())
    per_rep: pd.DataFrame = pd.concat(
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
        units=setting_units(sc, settings),
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
    params = [p.column for p in sweep_spec.config.parameters]
    design, summary, monthly = sweep_tables(
        folder,
        sweep_spec,
        [*SWEEP_SUMMARY_COLUMNS, *params],
        monthly_columns=RUN_MONTHLY_COLUMNS,
    )
    meta = run_metadata(folder)
    check_arms(summary["arm"], sweep_spec.arms, folder / "summary.parquet", "sweep.json")
    base = sweep_spec.base
    full = _validated(base)
    arms = ordered(list(dict.fromkeys(summary["arm"].astype(str))), sweep_spec.arms)
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
        units=setting_units(full, settings),
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
    if not all(files.kind(folder, n) != "missing" for n in names.values()):
        return None
    return {k: read_csv_table(folder, n) for k, n in names.items()}


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


def scenario_baseline(scenario: dict[str, Any], arms: list[str]) -> str:
    """The scenario's baseline arm (``analysis.baseline``), else the first arm."""
    analysis = scenario.get("analysis") if isinstance(scenario, dict) else None
    base = analysis.get("baseline") if isinstance(analysis, dict) else None
    return str(base) if base in arms else arms[0]


def key_measures(scenario: dict[str, Any]) -> list[str]:
    """The scenario's key measures (``analysis.key_measures``)."""
    analysis = scenario.get("analysis") if isinstance(scenario, dict) else None
    return list(analysis.get("key_measures") or []) if isinstance(analysis, dict) else []
