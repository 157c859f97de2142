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

import contextlib
import hashlib
import itertools
import json
import math
import os
import signal
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
            if p.integer:  # the nearest whole number within [low, high]
                low, high = cast(float, p.low), cast(float, p.high)  # validated, as above
                whole = df[p.column].round().clip(math.ceil(low), math.floor(high))
                df[p.column] = whole.astype(np.int64)
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


def _write_part(df: pd.DataFrame, folder: Path, name: str) -> None:
    """A part file in ``folder/parts/``, whole or absent, written without following links."""
    from sim.guards import files

    with files.writer(folder, f"{PARTS}/{name}") as fh:
        df.to_parquet(fh, engine="pyarrow", index=False, compression="zstd",
                      write_statistics=False)  # fmt: skip


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
        folder = Path(task.folder)
        tag = {"point": task.point, **task.params}
        if task.outputs == "monthly":
            monthly = result.monthly.assign(**tag)
            _write_part(monthly, folder, part_name(task.point, task.replicate, "monthly"))
        summary = result.summary.assign(replicate=task.replicate, seed=task.seed, **tag)
        # the summary part is written last: its presence marks the run as done
        _write_part(summary, folder, part_name(task.point, task.replicate, "summary"))

    return run_task(task, finish, "the sweep's")


# ---------------------------------------------------------------------------------------------
# executors


Executor = Literal["process", "dask", "dask-local", "serial"]


class Executors:
    """An executor kept open across several batches of tasks (``sim calibrate`` asks for a
    batch of trials at a time): the process pool or the Dask client and cluster start once,
    at the first batch, and stop at :meth:`close`. A task needs ``point``, ``replicate`` and
    ``seed`` (a lost worker's failure names them).

    A worker process that dies (killed, out of memory) costs the run it was running, reported
    as failed with the worker's process id and how it ended, and ``notice`` is told at once
    in one message; the pool is started afresh and the other unfinished runs go on there."""

    def __init__(
        self,
        executor: str,
        workers: int,
        scheduler: str | None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.executor, self.workers, self.scheduler = executor, workers, scheduler
        self.notice = notice
        self._pool: Any = None
        self._queue: Any = None
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
            self._queue.close()
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
            yield from self._process_results(tasks, fn)
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

    def _start_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")
            self._queue = ctx.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, initializer=_init_tracker,
                initargs=(self._queue,),
            )  # fmt: skip
        return self._pool

    def _drain_tracker(self, started: dict[int, int]) -> None:
        """Read the start messages the workers have sent so far into ``started``."""
        while not self._queue.empty():
            i, pid = self._queue.get()
            started[i] = pid

    def _process_results(
        self, tasks: list[Any], fn: Callable[[Any], TaskResult]
    ) -> Iterator[TaskResult]:
        """The tasks on the process pool; after a worker's death, on a fresh pool."""
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        todo = list(range(len(tasks)))
        strikes: dict[int, int] = {}
        while todo:
            pool = self._start_pool()
            futures = {pool.submit(_tracked, fn, i, tasks[i]): i for i in todo}
            processes = dict(getattr(pool, "_processes", None) or {})
            done: set[int] = set()
            started: dict[int, int] = {}  # run -> the worker process that took it
            broken = False
            try:
                for f in as_completed(futures):
                    # read the workers' start messages as results come: the pipe holds about
                    # 64 KiB, and a worker whose message nobody reads blocks in put() for ever
                    # (a sweep or calibration stopped after about 2,800 runs)
                    self._drain_tracker(started)
                    i = futures[f]
                    try:
                        res = f.result()
                    except BrokenProcessPool:
                        broken = True
                        break
                    except Exception as exc:  # a result that could not be sent back
                        res = _lost(tasks[i], f"{type(exc).__name__}: {exc}")
                    done.add(i)
                    yield res
            finally:
                if not broken:  # the coordinator stopped early: queued runs are cancelled
                    for f in futures:
                        f.cancel()
            if not broken:
                return
            # a worker died: which run it had, from the workers' start messages and exit codes
            processes.update(getattr(pool, "_processes", None) or {})
            pool.shutdown(wait=True, cancel_futures=True)
            self._drain_tracker(started)
            self._queue.close()
            self._pool = None
            unfinished = [i for i in todo if i not in done]
            running = [i for i in unfinished if i in started]
            ends = {pid: p.exitcode for pid, p in processes.items()}
            dead = {pid for pid, code in ends.items() if code not in (None, -signal.SIGTERM)}
            blamed = [i for i in running if started[i] in dead]
            if not blamed:  # the death is not told apart from the pool's own stopping
                for i in running:
                    strikes[i] = strikes.get(i, 0) + 1
                blamed = [i for i in running if strikes[i] >= 2]
            for i in blamed:
                pid = started[i]
                how = _how_it_ended(ends.get(pid))
                t = tasks[i]
                text = (
                    f"worker process {pid} {how} while running point {t.point} replicate "
                    f"{t.replicate}"
                )
                if self.notice is not None:
                    self.notice(
                        f"{text}: that run is marked failed; the other runs go on on a fresh "
                        "worker (run the same command again to retry it)"
                    )
                yield _lost(t, text)
            todo = [i for i in unfinished if i not in blamed]


_TRACKER: Any = None


def _init_tracker(queue: Any) -> None:
    global _TRACKER
    _TRACKER = queue


def _tracked(fn: Callable[[Any], TaskResult], index: int, task: Any) -> TaskResult:
    """``fn(task)`` in a pool worker, telling the coordinator first which worker runs it."""
    _TRACKER.put((index, os.getpid()))
    return fn(task)


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (killed by hand, or by the system for want of memory?)" if code == -9 else ""
        return f"was killed by {name}{why}"
    return f"exited with status {code}"


def _lost(task: Any, why: str) -> TaskResult:
    return TaskResult(
        task.point, task.replicate, task.seed, "failed", 0.0, f"worker lost: {why}", ""
    )


def _iter_results(
    tasks: list[Task],
    executor: str,
    workers: int,
    scheduler: str | None,
    notice: Callable[[str], None] | None = None,
) -> Iterator[TaskResult]:
    if not tasks:
        return
    with Executors(executor, workers, scheduler, notice) as ex:
        yield from ex.results(tasks)


def _result(future, task: Task) -> TaskResult:
    """A finished future's result; a worker that died (killed, out of memory) is a failed run."""
    try:
        return future.result()
    except Exception as exc:
        return _lost(task, f"{type(exc).__name__}: {exc}")


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
    """The run index's entries (lines that are not an entry, such as one cut short by a kill,
    are skipped); read only if it is a regular file in the folder."""
    from sim.guards import files

    if files.kind(folder, INDEX) == "missing":
        return []
    text = files.read_text(folder, INDEX)
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue  # a line cut short by a kill
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("point"), int)
            and isinstance(entry.get("replicate"), int)
            and isinstance(entry.get("status"), str)
        ):
            out.append(entry)
    return out


#: what ``sim sweep`` writes into its folder (``report/``, ``sensitivity/``: ``sim report`` and
#: ``sim sensitivity``)
SWEEP_ENTRIES = {
    **dict.fromkeys(
        (SPEC, INDEX, "summary.parquet", "monthly.parquet", "design.parquet", "datapackage.json",
         "README.md", "metadata.json"),
        "file",
    ),
    **dict.fromkeys((PARTS, "report", "sensitivity"), "folder"),
}  # fmt: skip


def _own_sweep(folder: Path) -> str | None:
    from sim.guards import files

    if files.kind(folder, SPEC) != "file":
        return f"no {SPEC}"
    listing = files.entries(folder, PARTS) if files.kind(folder, PARTS) == "folder" else {}
    for name, kind in listing.items():
        if kind != "file" and not name.endswith(".tmp"):
            return f"{PARTS}/{name} is not a file"
    return None


def prepare_folder(sweep: Sweep, folder: Path) -> set[tuple[int, int]]:
    """Create or check the results folder; return the runs already done.

    The folder must be absent, empty, or this sweep's own results folder (by content:
    :func:`sim.results.folder.check_folder`); nothing in it is followed through a link."""
    from sim.guards import files
    from sim.results.folder import check_folder

    if check_folder(folder, command="sim sweep", entries=SWEEP_ENTRIES, own=_own_sweep):
        try:
            old = json.loads(files.read_bytes(folder, SPEC))
        except (ResultsError, ValueError, RecursionError) as exc:
            why = exc if isinstance(exc, ResultsError) else f"{folder / SPEC}: not readable JSON"
            raise ResultsError(f"{why}; remove the folder or choose another --out") from None
        if not isinstance(old, dict):
            raise ResultsError(
                f"{folder / SPEC}: corrupt, expected a JSON object; remove the folder or choose "
                "another --out"
            )
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
    else:  # the spec first: a folder of this sweep is known by it from the start
        files.write_text(
            folder,
            SPEC,
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
        )
    with files.folder(folder, PARTS, create=True) as fd:
        for leftover in os.listdir(fd):
            if leftover.startswith(".") and leftover.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover, dir_fd=fd)
        present = {n for n, k in files.entries(folder, PARTS).items() if k == "file"}
    need_monthly = sweep.config.outputs == "monthly"
    done = set()
    for p, r in sweep.runs:
        if part_name(p, r, "summary") in present and (
            not need_monthly or part_name(p, r, "monthly") in present
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
    notice: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run every run not yet done, record each in the index, and gather the dataset (its data
    package under ``data_license``, an SPDX identifier, and version ``data_version``).
    ``notice(text)``: told at once when a worker process dies (its run fails, the others go
    on on a fresh worker)."""
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
    from sim.guards import files

    index = files.open_append(folder, INDEX)
    for p, r in sorted(done - indexed):  # done, but killed before the index heard of it
        record({"point": p, "replicate": r, "seed": sweep.config.seed, "status": "done",
                "seconds": None, "error": None, "worker": "recovered from part file"})  # fmt: skip
    total = len(sweep.runs)
    n_done = len(done)
    failed: list[TaskResult] = []
    if progress:
        progress(n_done, len(failed), total)
    try:
        for res in _iter_results(tasks, executor, workers, scheduler, notice):
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
    from sim.guards import files

    frames = []
    for p, r in sorted(sweep.runs):
        path = folder / PARTS / part_name(p, r, table)
        try:
            with files.open_file(folder, f"{PARTS}/{path.name}") as fh:
                frames.append(pd.read_parquet(fh))
        except ResultsError as exc:
            raise ResultsError(f"{exc}; delete it and run the sweep again") from None
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
