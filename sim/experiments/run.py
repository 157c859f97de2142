"""Running a scenario: every arm under common random numbers, every replicate.

``run(scenario)`` is a pure function of (scenario, seed): no module-level state, so a sweep can
call it in any process. It returns the tables; :func:`sim.results.folder.write_results` writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.engine import kernels
from sim.engine.model import STREAMS, HealthSystemModel
from sim.results.tables import (
    LIFE_TABLE_COLUMNS,
    MONTHLY_COLUMNS,
    PROVIDER_COLUMNS,
    SUMMARY_COLUMNS,
    summarize,
)
from sim.scenario import Scenario

if TYPE_CHECKING:
    from sim.experiments.parallel import Workers

#: progress callback: (months done, months in all, patient-months done)
Progress = Callable[[int, int, int], None]


@dataclass
class RunResult:
    """The tables of a run (monthly, summary, provider panel or None) with its scenario, seed,
    arms and the money ledgers of each arm and replicate; :meth:`metadata` for provenance."""

    scenario: Scenario
    seed: int
    arms: list[str]
    monthly: pd.DataFrame
    providers: pd.DataFrame | None
    ledgers: list[dict[str, Any]] = field(default_factory=list)
    #: monthly rows by subgroup (sim/engine/subgroups.py) when the scenario has an [analysis] table
    subgroups: pd.DataFrame | None = None
    #: shards each (replicate, arm) was split into (sim/experiments/shards.py); None: not sharded
    shards: int | None = None
    #: the life table's rows (sim/engine/month/lifecourse.py) when the scenario has [life]
    life: pd.DataFrame | None = None
    #: with parameter draws from a posterior (sim/experiments/posterior.py): the draw of each
    #: replicate (draw = replicate) and where the posterior came from
    draws: pd.DataFrame | None = None
    posterior: str | None = None

    @cached_property
    def summary(self) -> pd.DataFrame:
        """The summary table of the monthly one (:func:`sim.results.tables.summarize`), made
        when first read: a calibration's or a sweep's measures read the monthly table only."""
        sc = self.scenario
        return summarize(self.monthly, sc.investment_counterfactuals(), sc.outputs.summary_months)

    def metadata(self) -> dict[str, Any]:
        """What a results folder's ``metadata.json`` records: the scenario as loaded, seed,
        replicates, arms, random streams, package version, library versions, git commit."""
        from sim.results.folder import provenance, versions

        return {
            "scenario": self.scenario.model_dump(mode="json"),
            "seed": self.seed,
            "replicates": self.scenario.replications,
            "arms": self.arms,
            "random_streams": {
                "method": "numpy.random.SeedSequence(seed, spawn_key=(replicate,)).spawn("
                f"{len(STREAMS)}); every arm of a replicate uses the same streams "
                "(common random numbers)",
                "streams": list(STREAMS),
            },
            "shards": self._shards(),
            "uncertainty": (
                {
                    "kind": "posterior draws",
                    "posterior": self.posterior,
                    "note": "replicate d runs posterior draw d (draws.csv): intervals over the "
                    "replicates are prediction intervals combining parameter and stochastic "
                    "uncertainty (2.5% and 97.5% quantiles)",
                }
                if self.draws is not None
                else {"kind": "replicates", "note": "intervals over replicates: stochastic only"}
            ),
            "versions": versions(),
            **provenance(),
        }

    def _shards(self) -> dict[str, Any] | None:
        if self.shards is None:
            return None
        from sim.experiments.shards import assign_regions

        names = list(self.scenario.population.regions)
        shares = [r.share for r in self.scenario.population.regions.values()]
        return {
            "count": self.shards,
            "regions": [sorted(names[r] for r in k) for k in assign_regions(shares, self.shards)],
            "note": "the same scenario, seed and shard count give the same bytes; other shard "
            "counts agree to floating-point rounding",
        }


def default_workers(scenario: Scenario, tasks: int) -> int:
    """Workers a run of ``tasks`` (replicate, arm) pairs uses when not told: every core, at
    most one per task, and 1 (this process) for runs too small to gain from worker processes
    (:data:`sim.experiments.parallel.PARALLEL_MIN_PATIENT_MONTHS`)."""
    from sim.experiments import parallel

    return parallel.default_workers(scenario.population.patients * scenario.months, tasks)


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    arms: Sequence[str] | None = None,
    progress: Progress | None = None,
    replicate: int | None = None,
    workers: int | None = 1,
    pool: Workers | None = None,
    shards: int | None = None,
    shard_scheduler: str | None = None,
    draws: Sequence[Mapping[str, Any]] | None = None,
) -> RunResult:
    """Run every replicate of every arm; return the monthly table, summary and panels.

    ``replicate`` runs that one replication only (a sweep's run), with the same streams it has
    in a full run. ``workers`` > 1 runs the (replicate, arm) pairs in that many worker
    processes (:mod:`sim.experiments.parallel`); ``None`` picks :func:`default_workers`. The tables
    are the same, byte for byte, whatever the number of workers: each pair is a pure function of
    (scenario, seed, arm, replicate) and the pairs are assembled in the serial order. ``pool``:
    worker processes started earlier (:class:`sim.experiments.parallel.Workers`, as ``sim run`` does
    before its imports), used instead of starting ``workers - 1`` new ones.

    ``shards``: split each pair's patients by region over that many worker processes
    (:mod:`sim.experiments.shards`); the pairs then run one after another. One shard gives the same
    bytes as none; more shards agree with it to floating-point rounding. ``shard_scheduler``: run
    the shards on a Dask cluster (its address, or ``"local"``) instead of local processes.

    ``draws``: one scenario (as data: validated and dumped) per replicate, replicate ``d``
    running draw ``d`` (:func:`sim.experiments.posterior.draw_scenarios`): posterior draws,
    with the same arms, months and seed as ``scenario``."""
    seed = scenario.seed if seed is None else seed
    arm_names = list(arms) if arms else [a.name for a in scenario.arms]
    for a in arm_names:
        scenario.arm(a)  # KeyError for unknown arms is the caller's to report
    months = scenario.months
    by_rep: dict[int, Scenario] = {}
    if draws is not None:
        from sim.scenario import validate_scenario

        if len(draws) != scenario.replications:
            raise ValueError(f"{len(draws)} draws for {scenario.replications} replications")
        by_rep = {d: validate_scenario(dict(x), f"draw {d}") for d, x in enumerate(draws)}

    def sc_of(rep: int) -> Scenario:
        return by_rep.get(rep, scenario)

    replicates = range(scenario.replications) if replicate is None else [replicate]
    pairs = [(rep, arm) for rep in replicates for arm in arm_names]
    total = months * len(pairs)
    n = scenario.population.patients
    if pool is not None:
        workers = pool.n + 1
    elif workers is None:
        workers = default_workers(scenario, len(pairs))
    if workers < 1:
        raise ValueError(f"workers must be at least 1 (got {workers})")
    workers = min(workers, len(pairs))
    done = 0

    def advance(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total, done * n)

    if shards is not None:
        from sim.experiments import shards as sharding

        sharding.check(scenario, shards)
        parts = [_sharded_pair(sc_of(rep), seed, arm, rep, shards, advance) for rep, arm in pairs]
    elif workers == 1 and pool is None:
        parts = []
        for rep, arm in pairs:
            parts.append(run_pair(sc_of(rep), seed, arm, rep, progress=advance))
    else:
        from sim.experiments.parallel import map_tasks

        data = scenario.model_dump(mode="json")
        tasks = [
            (dict(draws[rep]) if draws is not None else data, seed, arm, rep) for rep, arm in pairs
        ]
        parts = map_tasks(
            run_pair, tasks, workers, on_progress=advance, pool=pool,
            describe=lambda i: f"replicate {pairs[i][0]} of arm {pairs[i][1]!r}",
        )  # fmt: skip
    monthly = pd.concat([p.monthly for p in parts], ignore_index=True)
    providers = None
    if scenario.outputs.provider_panel:
        providers = pd.concat([p.providers for p in parts], ignore_index=True)
    subgroups = None
    if scenario.analysis is not None:
        subgroups = pd.concat([p.subgroups for p in parts], ignore_index=True)
    life = None
    if scenario.life is not None:
        life = pd.concat([p.life for p in parts], ignore_index=True)
    return RunResult(
        scenario=scenario,
        seed=seed,
        arms=arm_names,
        monthly=monthly,
        providers=providers,
        ledgers=[p.ledger for p in parts],
        subgroups=subgroups,
        shards=shards,
        life=life,
    )


@dataclass
class PairResult:
    """The tables of one (replicate, arm) of a run, tagged with arm, replicate and seed."""

    monthly: pd.DataFrame
    providers: pd.DataFrame | None
    ledger: dict[str, Any]
    subgroups: pd.DataFrame | None = None
    life: pd.DataFrame | None = None


#: a finished model holding at least this many bytes of patient arrays is collected at once
#: (Mesa's model and agents refer to each other, so only the cycle collector frees them); a
#: full collection costs tens of milliseconds, more than a small model is worth holding
COLLECT_MIN_BYTES = 16 * 2**20

#: the last scenario a worker validated (its JSON form and the Scenario), reused by the next
#: task of the same run
_VALIDATED: tuple[str, Scenario] | None = None


def _scenario_of(scenario: Scenario | Mapping[str, Any]) -> Scenario:
    global _VALIDATED
    if isinstance(scenario, Scenario):
        return scenario
    import json

    from sim.scenario import validate_scenario

    key = json.dumps(scenario, sort_keys=True)
    if _VALIDATED is None or _VALIDATED[0] != key:
        _VALIDATED = (key, validate_scenario(dict(scenario), "run"))
    return _VALIDATED[1]


def _frame(
    rows: list[dict[str, Any]], tag: dict[str, Any], columns: dict[str, tuple[str, str, str]]
) -> pd.DataFrame:
    """``outputs.frame`` of ``{**tag, **row}`` for each row, built column by column in its
    dtype (the same table; several times faster than a frame of dicts cast column by column,
    which matters when a sweep runs thousands of small runs)."""
    n = len(rows)
    data: dict[str, Any] = {}
    for k, (dtype, _, _) in columns.items():
        values = [tag[k]] * n if k in tag else [r[k] for r in rows]
        data[k] = pd.array(values, dtype="string") if dtype == "string" else np.array(values, dtype)
    return pd.DataFrame(data, columns=list(columns))


def run_pair(
    scenario: Scenario | Mapping[str, Any],
    seed: int,
    arm: str,
    replicate: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> PairResult:
    """One (replicate, arm) of a run: build the model, run every month, return its tables.

    ``scenario`` may be a scenario's JSON data (``model_dump(mode="json")``), as a worker
    process receives it. ``progress(1)`` after each month. The model is dropped before this
    returns (collected at once when it is large: :data:`COLLECT_MIN_BYTES`), so a run holds
    one large model at a time (per worker)."""
    import gc

    sc = _scenario_of(scenario)
    model = HealthSystemModel(sc, arm, rng=seed, replicate=replicate)
    for _ in range(sc.months):
        model.step()
        if progress is not None:
            progress(1)
    # a process running many small runs (a calibration's, sweep's or posterior run's worker)
    # loads the compiled kernels once it has run enough of them on numpy's
    kernels.ran(model.world.kernels, sc.population.patients * sc.months)
    tag = {"arm": arm, "replicate": replicate, "seed": seed}
    monthly = _frame(model.rows, tag, MONTHLY_COLUMNS)
    providers = None
    if sc.outputs.provider_panel:
        providers = _frame(model.provider_rows, tag, PROVIDER_COLUMNS)
    subgroups = None
    if model.subgroups is not None:
        subgroups = _frame(model.subgroups.rows, tag, model.subgroups.columns)
    life = None
    if model.life_rows is not None:
        life = _frame(model.life_rows, tag, LIFE_TABLE_COLUMNS)
    book = model.world.ledgers
    ledger = {
        **tag,
        "payer_paid": float(book.payer.sum()),
        "payer_paid_adverse_events": float(book.payer_adverse_events.sum()),
        "patients_paid": float(book.oop.sum()),
        "providers_received": float(sum(x.sum() for x in book.provider)),
    }
    # Mesa's agents and the model refer to each other: collect a large model's cycle now, not
    # after the next model has been built
    large = model.world.population.nbytes >= COLLECT_MIN_BYTES
    del model, book
    if large:
        gc.collect()
    return PairResult(monthly, providers, ledger, subgroups, life)


def _sharded_pair(
    scenario: Scenario,
    seed: int,
    arm: str,
    replicate: int,
    shards: int,
    progress,
    scheduler: str | None = None,
) -> PairResult:
    """One (replicate, arm) in ``shards`` shards (:func:`sim.experiments.shards.run_pair`), as
    tables."""
    from sim.experiments import shards as sharding

    out = sharding.run_pair(
        scenario,
        seed,
        arm,
        replicate,
        shards,
        progress=progress,
        backend="process" if scheduler is None else "dask",
        scheduler=None if scheduler == "local" else scheduler,
        checked=True,  # run() checked the scenario once for all its pairs
    )
    tag = {"arm": arm, "replicate": replicate, "seed": seed}
    providers = None
    if scenario.outputs.provider_panel:
        providers = _frame(out["provider_rows"], tag, PROVIDER_COLUMNS)
    subgroups = None
    if out["subgroup_rows"] is not None:
        from sim.engine.subgroups import subgroup_columns

        columns = subgroup_columns(scenario.life is not None)
        subgroups = _frame(out["subgroup_rows"], tag, columns)
    life = None
    if out["life_rows"] is not None:
        life = _frame(out["life_rows"], tag, LIFE_TABLE_COLUMNS)
    return PairResult(
        _frame(out["rows"], tag, MONTHLY_COLUMNS),
        providers,
        {**tag, **out["ledger"]},
        subgroups,
        life,
    )


def evaluate(
    scenario: Scenario,
    params: Mapping[str, Any] | None = None,
    *,
    arm: str | None = None,
    seed: int | None = None,
    replicate: int = 0,
    setting: str = "all",
) -> dict[str, float]:
    """Run one arm of a scenario with some fields changed and return its summary outcomes.

    ``params`` maps dotted scenario fields to values, as in ``--set``. A plain function of
    (scenario, params, seed): call it from SALib, EMA Workbench or any optimiser.

    >>> evaluate(sc, {"settings.outpatient_therapy.conversion_factor": 30.0}, arm="ffs")
    {'spending_pmpm': ..., 'oop_pmpm': ..., ...}
    """
    if params:
        from sim.scenario import apply_override, validate_scenario

        data = scenario.model_dump(mode="json")
        for key, value in params.items():
            apply_override(data, key.split("."), value, "evaluate(params)")
        scenario = validate_scenario(data, "evaluate(params)")
    arm = arm or scenario.arms[0].name
    result = run(scenario, seed=seed, arms=[arm], replicate=replicate)
    row = result.summary[result.summary["setting"] == setting].iloc[0]
    return {
        k: float(row[k])
        for k, (dtype, _, _) in SUMMARY_COLUMNS.items()
        if dtype in ("float64", "int64") and k not in ("replicates", "member_months")
    }


def make_function(
    scenario: Scenario,
    names: Mapping[str, str],
    *,
    arm: str | None = None,
    seed: int | None = None,
    setting: str = "all",
) -> Callable[..., dict[str, float]]:
    """A keyword-argument function for tools that call models by parameter name (EMA
    Workbench's ``Model(function=...)``): ``names`` maps each keyword to a dotted field."""

    def model_function(**kwargs: Any) -> dict[str, float]:
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(names)}")
        params = {names[k]: v for k, v in kwargs.items()}
        return evaluate(scenario, params, arm=arm, seed=seed, setting=setting)

    return model_function
