"""Batch scenario sweeps: designs, replications, executors, resumable runs, a citable dataset.

A sweep file (TOML) names a base scenario, the parameters to vary and a design (full grid,
Latin hypercube, Sobol or Morris), the replications, the arms and what to keep. Every
(design point, replication) is one *run*: all arms of the scenario with that point's
parameters, under common random numbers. Replication ``r`` uses the child stream
``SeedSequence(seed, spawn_key=(r,))`` at every design point and in every arm, so the points
and arms of a replication differ only by their parameters.

Each run writes its own Parquet part files (written under a temporary name, then renamed, so a
part is either whole or absent) and the coordinator appends the run's status to an index
(``runs.jsonl``). Killing a sweep at any moment and running the same command again finishes the
remaining runs: a run is done exactly when its part exists, so none is lost and none runs twice.
When every run is done the parts are gathered, sorted, into the dataset tables; the bytes do not
depend on the executor or on the number of workers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim.errors import ResultsError, ScenarioError
from sim.guards.extras import require
from sim.guards.limits import (
    MAX_RUNS,
    RUNS_WITHOUT_YES,
    check_memory,
    check_scheduler,
    duration,
    gb,
    parse_toml,
    read_input,
    run_bytes,
    run_seconds,
)
from sim.results.tables import MONTHLY_COLUMNS, SUMMARY_COLUMNS, frame, summarize
from sim.scenario import (
    Scenario,
    apply_override,
    read_scenario_data,
    validate_scenario,
)
from sim.scenario.sweep import (
    IDENTIFIER,
    SweepConfig,
    evaluate_expression,
    expand_path,
)

PARTS = "parts"
INDEX = "runs.jsonl"
SPEC = "sweep.json"


# ---------------------------------------------------------------------------------------------
# designs


def design_points(sweep: SweepConfig) -> pd.DataFrame:
    """The design: one row per point, one column per parameter (in the sweep's order).

    Sampled designs draw from their own stream, ``SeedSequence(seed, spawn_key=(2**32,))``,
    apart from the replications' streams.
    """
    params = sweep.parameters
    names = [p.column for p in params]
    d = sweep.design
    design_seed = int(
        np.random.SeedSequence(sweep.seed, spawn_key=(2**32,)).generate_state(1, np.uint32)[0]
    )
    if d.method == "grid":
        # validated: a grid design has every factor's levels, a sampled one their bounds
        rows = list(itertools.product(*[cast(list, p.levels) for p in params]))
        df = pd.DataFrame(rows, columns=names)
    else:
        bounds = [cast("list[float]", [p.low, p.high]) for p in params]
        problem = {"num_vars": len(params), "names": names, "bounds": bounds}
        if d.method == "lhs":
            from scipy.stats import qmc

            u = qmc.LatinHypercube(d=len(params), rng=np.random.default_rng(design_seed)).random(
                d.samples
            )
            x = qmc.scale(u, [b[0] for b in bounds], [b[1] for b in bounds])
        elif d.method == "sobol":
            sobol = require("SALib.sample.sobol", "sensitivity", "a sobol design")
            x = sobol.sample(problem, d.samples, calc_second_order=d.second_order, seed=design_seed)
        else:
            morris = require("SALib.sample.morris", "sensitivity", "a morris design")
            x = morris.sample(problem, d.samples, num_levels=d.morris_levels, seed=design_seed)
        df = pd.DataFrame(x, columns=names)
        for p in params:
            if p.integer:
                df[p.column] = df[p.column].round().astype(np.int64)
    df.insert(0, "point", np.arange(len(df), dtype=np.int64))
    return df


def expected_size(sweep: SweepConfig) -> int:
    """Number of design points the method gives (Sobol: N·(2D+2), Morris: N·(D+1))."""
    d, k = sweep.design, len(sweep.parameters)
    if d.method == "grid":
        return math.prod(len(p.levels or []) for p in sweep.parameters)
    if d.method == "lhs":
        return d.samples
    if d.method == "sobol":
        return d.samples * (2 * k + 2 if d.second_order else k + 2)
    return d.samples * (k + 1)


# ---------------------------------------------------------------------------------------------
# loading and validation


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its config, base scenario data and design."""

    config: SweepConfig
    source: str
    base: dict[str, Any]  # the base scenario (with the sweep's fixed overrides) as raw data
    design: pd.DataFrame
    arms: list[str]
    #: per factor, the scenario fields it sets ('*' expanded); per derived entry, its fields
    targets: dict[str, list[str]] = dataclass_field(default_factory=dict)
    derived_targets: dict[str, list[str]] = dataclass_field(default_factory=dict)

    @property
    def runs(self) -> list[tuple[int, int]]:
        """Every (design point, replicate) of the sweep, in order."""
        return [(int(p), r) for p in self.design["point"] for r in range(self.config.replications)]

    def point_overrides(self, point: int) -> dict[str, Any]:
        """The varied fields and their values at one design point."""
        row = self.design.iloc[point]
        return {p.column: _plain(row[p.column]) for p in self.config.parameters}

    def point_fields(self, point: int) -> dict[str, Any]:
        """Every scenario field the design point sets: each factor's fields (a linked
        factor's several) and the derived fields computed from the factors."""
        factors = self.point_overrides(point)
        out: dict[str, Any] = {}
        for key, value in factors.items():
            for f in self.targets.get(key, [key]):
                out[f] = value
        numbers = {k: float(v) for k, v in factors.items() if IDENTIFIER.fullmatch(k)
                   and isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
        for target, text in self.config.derived.items():
            try:
                value = evaluate_expression(text, numbers)
            except ValueError as exc:
                raise ScenarioError(self.source, f"derived.{target}", str(exc)) from None
            for f in self.derived_targets.get(target, [target]):
                out[f] = value
        return out

    def scenario_data(self, point: int) -> dict[str, Any]:
        """The base scenario (as data) with the design point's values applied."""
        data = json.loads(json.dumps(self.base))
        for key, value in self.point_fields(point).items():
            apply_override(data, key.split("."), value, self.source)
        return data

    def fingerprint(self) -> str:
        """A hash of the sweep, its base scenario and design: a results folder belongs to one."""
        blob = json.dumps(
            {
                "sweep": self.config.model_dump(mode="json"),
                "base": self.base,
                "arms": self.arms,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def load_sweep(path: str | Path, *, yes: bool = True, workers: int | None = None) -> Sweep:
    """Read and validate a sweep file, its base scenario and every design point, up front.

    The runs are counted before the design is built: more than :data:`~sim.guards.limits.MAX_RUNS`
    are refused, and more than :data:`~sim.guards.limits.RUNS_WITHOUT_YES` unless ``yes``."""
    path = Path(path)
    source = str(path)
    raw = parse_toml(read_input(path), source)
    raw.setdefault("name", path.stem)
    try:
        config = SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError.from_validation(source, exc) from None
    except RecursionError:
        raise ScenarioError(source, None, "values nested too deeply") from None

    scen_path = (path.parent / config.scenario).resolve()
    base = read_scenario_data(scen_path, source, "scenario")
    for key, value in config.set.items():
        apply_override(base, key.split("."), value, f"{source} (set.{key})")
    given = f"with the [set] overrides of {source}" if config.set else f"with {source}"
    scenario = validate_scenario(json.loads(json.dumps(base)), f"{scen_path} ({given})")
    known = [a.name for a in scenario.arms]
    arms = known if config.arms is None else config.arms
    allowed = f"allowed: {', '.join(known)} (each once)"
    if not arms:
        raise ScenarioError(source, "arms", f"an empty list runs nothing; {allowed}")
    for a in arms:
        if a not in known:
            raise ScenarioError(source, "arms", f"unknown arm {a!r}; {allowed}")
    dup = sorted({a for a in arms if arms.count(a) > 1})
    if dup:
        raise ScenarioError(source, "arms", f"arm(s) named twice: {', '.join(dup)}; {allowed}")

    _check_runs(config, scenario, len(arms), source, yes, workers)
    design = design_points(config)
    full = scenario.model_dump(mode="json")  # defaults included: what '*' expands over

    def expanded(path: str, where: str) -> list[str]:
        try:
            return expand_path(path, full)
        except ValueError as exc:
            raise ScenarioError(source, where, str(exc)) from None

    targets = {
        p.column: [
            f for j, t in enumerate(p.fields) for f in expanded(t, f"parameters.{i}.fields.{j}")
        ]
        for i, p in enumerate(config.parameters)
        if p.fields
    }
    derived_targets = {t: expanded(t, f"derived.{t}") for t in config.derived}
    sweep = Sweep(config=config, source=source, base=base, design=design, arms=list(arms),
                  targets=targets, derived_targets=derived_targets)  # fmt: skip
    # every design point must give a valid scenario: check them all before running any
    for point in range(len(design)):
        try:
            Scenario.model_validate(sweep.scenario_data(point))
        except ValidationError as exc:
            err = ScenarioError.from_validation(source, exc)
            values = ", ".join(f"{k}={v}" for k, v in sweep.point_overrides(point).items())
            err.problems = [
                (f"parameters (design point {point}: {values}) -> {f}", m) for f, m in err.problems
            ]
            err.args = (err._text(),)
            raise err from None
        except ScenarioError as exc:  # a path that cannot be set
            raise ScenarioError(source, "parameters", str(exc)) from None
    return sweep


def _check_runs(
    config: SweepConfig, scenario: Scenario, arms: int, source: str, yes: bool, workers: int | None
) -> None:
    """Count the runs first; refuse above the limits, with the count and an estimated time."""
    points = expected_size(config)
    runs = points * config.replications
    workers = workers or os.cpu_count() or 1
    pm = scenario.population.patients * scenario.months * arms
    eta = duration(run_seconds(pm, runs, workers))
    what = (
        f"{points:,} design points × {config.replications:,} replications = {runs:,} runs "
        f"(about {eta} on {workers} workers)"
    )
    if runs > MAX_RUNS:
        raise ScenarioError(source, "design", f"{what}; a sweep may have at most {MAX_RUNS:,} runs")
    if runs > RUNS_WITHOUT_YES and not yes:
        raise ScenarioError(
            source,
            "design",
            f"{what}; more than {RUNS_WITHOUT_YES:,} runs need --yes to confirm",
        )


def check_sweep_memory(sweep: Sweep, executor: str, workers: int | None) -> None:
    """Refuse a sweep whose runs, as many at once as there are workers, do not fit in memory."""
    scenario = validate_scenario(sweep.scenario_data(0), sweep.source)
    per_run = run_bytes(scenario, len(sweep.arms), 1)
    at_once = 1
    if executor in ("process", "dask-local"):
        at_once = min(workers or os.cpu_count() or 1, len(sweep.runs))
    check_memory(
        per_run * at_once,
        sweep.source,
        f"{at_once} run(s) at once of {scenario.population.patients:,} patients "
        f"({gb(per_run)} each)",
        "Use fewer --workers or fewer patients.",
    )


# ---------------------------------------------------------------------------------------------
# one run (executed by workers: module-level and picklable)


_CODE_HASH: str | None = None


def code_hash() -> str:
    """A hash of the simulation's source files, as imported by this process."""
    global _CODE_HASH
    if _CODE_HASH is None:
        from sim.guards.paths import package_dir

        root = package_dir()
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
        _CODE_HASH = h.hexdigest()[:16]
    return _CODE_HASH


@dataclass(frozen=True)
class Task:
    """One run of a sweep as sent to a worker: design point, replicate, scenario, code hash."""

    point: int
    replicate: int
    seed: int
    code: str
    scenario: dict[str, Any]
    params: dict[str, Any]
    arms: tuple[str, ...]
    outputs: str
    folder: str


@dataclass(frozen=True)
class TaskResult:
    """What a worker reports for one run: done or failed, time taken, error text."""

    point: int
    replicate: int
    seed: int
    status: str  # "done" or "failed"
    seconds: float
    error: str | None = None
    worker: str = ""


def part_name(point: int, replicate: int, table: str) -> str:
    """File name of one run's part of a table (under parts/)."""
    return f"{table}-p{point:07d}-r{replicate:05d}.parquet"


def _write_part(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_parquet(tmp, engine="pyarrow", index=False, compression="zstd", write_statistics=False)
    os.replace(tmp, path)


def run_task(task: Any, finish: Callable[[Any], None], whose: str) -> TaskResult:
    """A worker's run of one task, shared by sweeps (:func:`execute`) and measures
    (:func:`sim.experiments.measures.execute`): check the worker runs the coordinator's code
    (``whose``: "the sweep's", "the coordinator's"), validate the task's scenario, run its arms
    for its replicate, and hand the result to ``finish``, which writes the task's part. A
    failure is returned as a failed :class:`TaskResult` with its traceback, never raised."""
    from sim.experiments.run import run

    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        if code_hash() != task.code:
            raise RuntimeError(
                f"this worker runs different simulation code ({code_hash()}) from {whose} "
                f"({task.code}): was the source changed while it ran?"
            )
        scenario = Scenario.model_validate(task.scenario)
        finish(run(scenario, seed=task.seed, arms=list(task.arms), replicate=task.replicate))
    except Exception as exc:  # a failed run is recorded, not fatal for the sweep
        return TaskResult(
            task.point, task.replicate, task.seed, "failed", time.perf_counter() - started,
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}", worker,
        )  # fmt: skip
    return TaskResult(
        task.point, task.replicate, task.seed, "done", time.perf_counter() - started, None, worker
    )


def execute(task: Task) -> TaskResult:
    """Run all arms for one design point and replication; write its parts. Never raises."""

    def finish(result: Any) -> None:
        folder = Path(task.folder) / PARTS
        tag = {"point": task.point, **task.params}
        if task.outputs == "monthly":
            monthly = result.monthly.assign(**tag)
            _write_part(monthly, folder / part_name(task.point, task.replicate, "monthly"))
        summary = result.summary.assign(replicate=task.replicate, seed=task.seed, **tag)
        # the summary part is written last: its presence marks the run as done
        _write_part(summary, folder / part_name(task.point, task.replicate, "summary"))

    return run_task(task, finish, "the sweep's")


# ---------------------------------------------------------------------------------------------
# executors


Executor = Literal["process", "dask", "dask-local", "serial"]


class Executors:
    """An executor kept open across several batches of tasks (``sim calibrate`` asks for a
    batch of trials at a time): the process pool or the Dask client and cluster start once,
    at the first batch, and stop at :meth:`close`. A task needs ``point``, ``replicate`` and
    ``seed`` (a lost worker's failure names them)."""

    def __init__(self, executor: str, workers: int, scheduler: str | None) -> None:
        self.executor, self.workers, self.scheduler = executor, workers, scheduler
        self._pool: Any = None
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> Executors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; runs not started are cancelled."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def results(
        self, tasks: list[Any], fn: Callable[[Any], TaskResult] | None = None
    ) -> Iterator[TaskResult]:
        """Results of ``fn(task)`` (default :func:`execute`) as they finish."""
        fn = fn or execute
        if not tasks:
            return
        executor, workers = self.executor, self.workers
        if executor == "serial" or (executor == "process" and workers == 1):
            for t in tasks:
                yield fn(t)
            return
        if executor == "process":
            from concurrent.futures import as_completed

            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                ctx = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
            futures = {self._pool.submit(fn, t): t for t in tasks}
            try:
                for f in as_completed(futures):
                    yield _result(f, futures[f])
            finally:
                # if the coordinator stops early, queued runs are cancelled, not run to the end
                for f in futures:
                    f.cancel()
            return
        require("distributed", "cluster", f"--executor {executor}")
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed

        if self._client is None:
            if executor == "dask":
                if not self.scheduler:
                    raise ScenarioError(
                        "--scheduler", None, "--executor dask needs --scheduler tcp://HOST:PORT"
                    )
                self._client = Client(self.scheduler, timeout="30s")
            else:
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # no fixed port: 8787 may be taken
                    host="127.0.0.1",
                )
                self._client = Client(self._cluster)
        submitted = []
        try:
            submitted = self._client.map(fn, tasks, pure=False)
            by_key = {s.key: t for s, t in zip(submitted, tasks, strict=True)}
            for s in dask_completed(submitted):
                yield _result(s, by_key[s.key])
        finally:
            self._client.cancel(submitted)  # runs not yet finished when the coordinator stops


def _iter_results(
    tasks: list[Task], executor: str, workers: int, scheduler: str | None
) -> Iterator[TaskResult]:
    if not tasks:
        return
    with Executors(executor, workers, scheduler) as ex:
        yield from ex.results(tasks)


def _result(future, task: Task) -> TaskResult:
    """A finished future's result; a worker that died (killed, out of memory) is a failed run."""
    try:
        return future.result()
    except Exception as exc:
        return TaskResult(
            task.point, task.replicate, task.seed, "failed", 0.0,
            f"worker lost: {type(exc).__name__}: {exc}", "",
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the coordinator


@dataclass
class SweepOutcome:
    """How a sweep went: runs in all, done, failed and skipped, and the time taken."""

    folder: Path
    total: int
    done: int
    failed: list[TaskResult]
    skipped: int
    seconds: float


def _read_index(folder: Path) -> list[dict[str, Any]]:
    path = folder / INDEX
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
    return out


def prepare_folder(sweep: Sweep, folder: Path) -> set[tuple[int, int]]:
    """Create or check the results folder; return the runs already done."""
    spec = folder / SPEC
    if folder.exists():
        if not folder.is_dir():
            raise ResultsError(f"{folder}: exists and is not a folder; choose another --out")
        if spec.exists():
            from sim.guards.limits import read_json_object

            try:
                old = read_json_object(spec)
            except ResultsError as exc:
                raise ResultsError(f"{exc}; remove the folder or choose another --out") from None
            if old.get("fingerprint") != sweep.fingerprint():
                raise ResultsError(
                    f"{folder}: holds results of a different sweep or scenario "
                    f"({old.get('name')!r}); choose another --out or remove it"
                )
            if old.get("code") not in (None, code_hash()):
                raise ResultsError(
                    f"{folder}: was started with other simulation code ({old.get('code')}; "
                    f"this is {code_hash()}); finishing it would mix results of two versions. "
                    "Choose another --out, or rerun the whole sweep"
                )
        elif any(folder.iterdir()):
            raise ResultsError(
                f"{folder}: exists and is not a sweep results folder (no {SPEC}); "
                "choose another --out or remove it"
            )
    (folder / PARTS).mkdir(parents=True, exist_ok=True)
    if not spec.exists():
        tmp = spec.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "name": sweep.config.name,
                    "fingerprint": sweep.fingerprint(),
                    "code": code_hash(),
                    "sweep": sweep.config.model_dump(mode="json"),
                    "base_scenario": sweep.base,
                    "arms": sweep.arms,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        os.replace(tmp, spec)
    for leftover in (folder / PARTS).glob(".*.tmp"):
        leftover.unlink()
    need_monthly = sweep.config.outputs == "monthly"
    done = set()
    for p, r in sweep.runs:
        if (folder / PARTS / part_name(p, r, "summary")).exists() and (
            not need_monthly or (folder / PARTS / part_name(p, r, "monthly")).exists()
        ):
            done.add((p, r))
    return done


def run_sweep(
    sweep: Sweep,
    folder: Path,
    *,
    executor: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    command: list[str] | None = None,
    data_license: str = "CC-BY-4.0",
    data_version: str = "1.0.0",
) -> SweepOutcome:
    """Run every run not yet done, record each in the index, and gather the dataset (its data
    package under ``data_license``, an SPDX identifier, and version ``data_version``)."""
    started = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    folder = Path(folder)
    if executor == "dask":
        if not scheduler:
            raise ScenarioError(
                "--scheduler", None, "--executor dask needs --scheduler tcp://HOST:PORT"
            )
        check_scheduler(scheduler)  # before any folder is made
    done = prepare_folder(sweep, folder)
    indexed = {(e["point"], e["replicate"]) for e in _read_index(folder) if e["status"] == "done"}

    def record(entry: dict[str, Any]) -> None:
        index.write(json.dumps(entry) + "\n")
        index.flush()
        os.fsync(index.fileno())

    tasks = [
        Task(
            point=p,
            replicate=r,
            seed=sweep.config.seed,
            code=code_hash(),
            scenario=sweep.scenario_data(p),
            params=sweep.point_overrides(p),
            arms=tuple(sweep.arms),
            outputs=sweep.config.outputs,
            folder=str(folder),
        )
        for p, r in sweep.runs
        if (p, r) not in done
    ]
    index = (folder / INDEX).open("a", encoding="utf-8")
    for p, r in sorted(done - indexed):  # done, but killed before the index heard of it
        record({"point": p, "replicate": r, "seed": sweep.config.seed, "status": "done",
                "seconds": None, "error": None, "worker": "recovered from part file"})  # fmt: skip
    total = len(sweep.runs)
    n_done = len(done)
    failed: list[TaskResult] = []
    if progress:
        progress(n_done, len(failed), total)
    try:
        for res in _iter_results(tasks, executor, workers, scheduler):
            record(
                {
                    "point": res.point,
                    "replicate": res.replicate,
                    "seed": res.seed,
                    "status": res.status,
                    "seconds": round(res.seconds, 4),
                    "error": res.error,
                    "worker": res.worker,
                }
            )
            if res.status == "done":
                n_done += 1
            else:
                failed.append(res)
            if progress:
                progress(n_done, len(failed), total)
    finally:
        index.close()
    if n_done == total:
        gather(sweep, folder, command, data_license=data_license, data_version=data_version)
    return SweepOutcome(folder, total, n_done, failed, len(done), time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# the dataset


def _sorted_parts(folder: Path, table: str, sweep: Sweep) -> pd.DataFrame:
    frames = []
    for p, r in sorted(sweep.runs):
        path = folder / PARTS / part_name(p, r, table)
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise ResultsError(
                f"{path}: cannot be read ({type(exc).__name__}); delete it and run the sweep "
                "again to redo that run"
            ) from None
    return pd.concat(frames, ignore_index=True)


def gather(
    sweep: Sweep,
    folder: Path,
    command: list[str] | None = None,
    *,
    data_license: str = "CC-BY-4.0",
    data_version: str = "1.0.0",
) -> list[str]:
    """Write the dataset tables, design, datapackage.json, metadata and README (atomically
    each), from the parts in (point, replicate) order."""
    from sim.results.dataset import write_dataset

    tables: dict[str, pd.DataFrame] = {"design": sweep.design}
    tables["summary"] = _sorted_parts(folder, "summary", sweep)
    if sweep.config.outputs == "monthly":
        tables["monthly"] = _sorted_parts(folder, "monthly", sweep)
    return write_dataset(
        sweep,
        folder,
        tables,
        command,
        code_hash(),
        data_license=data_license,
        data_version=data_version,
    )


def load_table(folder: Path, table: str) -> pd.DataFrame:
    """A gathered table of a finished sweep (design, summary, monthly), or a ResultsError."""
    path = Path(folder) / f"{table}.parquet"
    if not path.exists():
        raise ResultsError(f"{path}: missing (is the sweep finished? run it again to complete it)")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ResultsError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


__all__ = [
    "MONTHLY_COLUMNS",
    "SUMMARY_COLUMNS",
    "Sweep",
    "SweepConfig",
    "design_points",
    "execute",
    "expected_size",
    "frame",
    "load_sweep",
    "run_sweep",
    "summarize",
]
