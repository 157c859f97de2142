"""Sharded runs: one (replicate, arm) whose patients are split by region over worker processes.

A population too large for one process (a whole country) can be split into ``k`` **shards**:
each shard is a :class:`~sim.engine.model.HealthSystemModel` holding the patients of some regions
and those regions' providers (:func:`assign_regions`), in its own process. Providers serve the
patients of their own region only, and panel churn, participation's search and capacity stay
within a region, so everything a provider learns from is in its shard. What crosses regions is
exchanged each month through a hub (this process), in shard order 0, 1, …, k−1:

* after the estimates (``Exchange.peers``): every provider's profit and benefit per patient and
  its styles at the start of the month, which imitation compares and copies (a peer may be in
  any region);
* in the records (``Exchange.sums``): the month's sums by (setting, payer), added up shard by
  shard (``sim.engine.columns.add_up``); every shard reads the same rows off them, each column
  by its declaration (a sum, a ratio of sums, derived: ``sim.engine.columns``);
* when a payment model sets rates from every provider of the run (``Exchange.totals`` through
  ``PaymentModel.run_totals``: the national readmission rate, the mean ACO benchmark), at the
  same months in every shard.

At the end the hub merges the provider panels (by provider) and adds up the money ledgers.

**The same patients whatever the sharding.** Every shard draws the initial characteristics and
the monthly need uniforms of the whole population from the run's streams, in pieces, and keeps
its own patients' (:class:`sim.engine.population.Shard`); counter-based draws and the providers'
experiments are keyed by a patient's number in the whole run, and imitation's draws by a
provider's. So a sharded run simulates the same patients and providers as the whole run: one
shard gives the same bytes as the unsharded run, the same scenario, seed and shard count give
identical bytes, and different shard counts differ only by the order of floating-point sums
(tested in ``tests/experiments/test_shards.py``).

**What can be sharded.** A scenario with at least ``k`` regions whose features and payment
models can be split (``Feature.SHARDABLE``, ``PaymentModel.shardable``: every shipped one).
The subgroup tables (``[analysis]``) add up their cells over the shards too (every
combination of groups is a cell in every shard; quantile edges are the whole population's).
:func:`check` says what stands in the way.

Backends: ``"process"`` (spawn processes on this machine), ``"dask"`` (each shard a
long-running task on a worker of a Dask cluster, for many machines: ``scheduler`` is its
address, or a local cluster of one worker per shard is started; messages go through
``distributed.Queue``s on the scheduler) and ``"thread"`` (threads of this process: the same
exchange, for tests).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import numpy as np

from sim.engine.columns import add_up
from sim.engine.world import Exchange, Peers, local_peers


class ShardError(ValueError):
    """A scenario that cannot be run in shards, or a shard that failed."""


def assign_regions(region_shares: list[float], count: int) -> list[frozenset[int]]:
    """Regions of each of ``count`` shards: largest region first, each to the shard with the
    fewest patients so far (ties: the lowest shard), so shards are about equal."""
    load = [0.0] * count
    regions: list[set[int]] = [set() for _ in range(count)]
    for r in sorted(range(len(region_shares)), key=lambda r: (-region_shares[r], r)):
        k = min(range(count), key=lambda k: (load[k], k))
        regions[k].add(r)
        load[k] += region_shares[r]
    return [frozenset(r) for r in regions]


def check(scenario, count: int) -> None:
    """Raise :class:`ShardError` naming what keeps ``scenario`` from running in ``count``
    shards (nothing when it can)."""
    from sim.engine.model import HealthSystemModel

    problems = []
    n_regions = len(scenario.population.regions)
    if count < 1:
        problems.append(f"shards must be at least 1 (got {count})")
    elif n_regions < count:
        problems.append(
            f"population.regions: a run is sharded by region, and the scenario has {n_regions} "
            f"region(s) for {count} shards; give population.regions at least {count} regions"
        )
    # the features and payment models a run of this scenario builds (a small probe model)
    mpp = max(c.providers.members_per_provider for c in scenario.settings.values())
    patients = min(scenario.population.patients, int(3 * n_regions * mpp) + 1)
    probe = scenario.model_copy(
        update={"population": scenario.population.model_copy(update={"patients": patients})}
    )
    for arm in scenario.arms:
        model = HealthSystemModel(probe, arm.name)
        for f in model.features:
            if not f.SHARDABLE:
                problems.append(
                    f"feature {f.name or type(f).__name__!r} (arm {arm.name!r}) acts across "
                    "regions or is not yet reduced across shards"
                )
        contracts = [p.contracts for p in model.world.payers]
        contracts += [[c for *_, c in due] for due in model._pending_contracts.values()]
        for c in (c for cs in contracts for c in cs):
            if not c.shardable:
                problems.append(
                    f"payment model {c.name!r} (arm {arm.name!r}) sets rates from "
                    "aggregates of the whole population that are not reduced across shards"
                )
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ShardError("cannot run in shards: " + "; ".join(unique))


# ---------------------------------------------------------------------------------------------
# the shards' side


class ShardExchange(Exchange):
    """A shard's end of the monthly exchange: sends its part to the hub and waits for the
    run's."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _ask(self, tag: str, payload: Any) -> Any:
        self.conn.send((tag, payload))
        return self.conn.recv()

    def peers(self, providers) -> None:
        """Send this shard's providers' figures; set every provider's of the run."""
        mine = [(p.global_id, local_peers(p)) for p in providers]
        for p, peers in zip(providers, self._ask("peers", mine), strict=True):
            p.peers = peers

    def sums(self, sums: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        """Send this shard's sums of the month; return the run's."""
        return self._ask("sums", sums)

    def totals(self, values: np.ndarray) -> np.ndarray:
        """Send this shard's sums (a payment model's aggregates); return the run's."""
        return self._ask("sums", [{"totals": np.asarray(values, np.float64)}])[0]["totals"]


def _shard_main(
    conn: Connection,
    data: Mapping[str, Any],
    seed: int,
    arm: str,
    replicate: int,
    shard: tuple[int, int, frozenset[int]],
) -> None:
    """A shard's life: build its model, run every month (exchanging with the hub), send back
    its tables."""
    try:
        from sim.engine.model import HealthSystemModel
        from sim.scenario import Scenario

        sc = data if isinstance(data, Scenario) else Scenario.model_validate(data)
        model = HealthSystemModel(
            sc, arm, rng=seed, replicate=replicate, shard=shard, exchange=ShardExchange(conn)
        )
        conn.send(("built", [p.n_total for p in model.world.providers]))
        for _ in range(sc.months):
            model.step()
            conn.send(("month", None))
        book = model.world.ledgers
        providers = model.world.providers
        conn.send(
            (
                "done",
                {
                    "rows": model.rows if shard[0] == 0 else None,
                    "subgroup_rows": (
                        model.subgroups.rows if shard[0] == 0 and model.subgroups else None
                    ),
                    "provider_rows": model.provider_rows,
                    "life_rows": model.life_rows if shard[0] == 0 else None,
                    "ledger": {
                        "payer_paid": book.payer,
                        "payer_paid_adverse_events": book.payer_adverse_events,
                        "patients_paid": book.oop,
                        "providers_received": [
                            (p.global_id, x) for p, x in zip(providers, book.provider, strict=True)
                        ],
                    },
                },
            )
        )
    except BaseException as exc:  # the hub reports it; others are stopped
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


class _Line(Protocol):
    """The hub's end of a shard's line: a pipe's :class:`Connection` or a :class:`_QueueConn`."""

    def send(self, obj: Any) -> None: ...

    def recv(self) -> Any: ...

    def close(self) -> None: ...


class _QueueConn:
    """One end of a shard's line to the hub over two ``distributed.Queue``s (by name, so it
    pickles into a Dask task): messages pickled to bytes. The hub's end watches the shard's
    task, so a worker that dies does not leave the hub waiting."""

    def __init__(self, inbox: str, outbox: str, watch: Any = None) -> None:
        self.inbox, self.outbox, self.watch = inbox, outbox, watch
        self._queues: tuple[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"inbox": self.inbox, "outbox": self.outbox, "watch": None, "_queues": None}

    def _q(self) -> tuple[Any, Any]:
        if self._queues is None:
            from distributed import Queue

            self._queues = (Queue(self.inbox), Queue(self.outbox))
        return self._queues

    def send(self, obj: Any) -> None:
        self._q()[1].put(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def recv(self) -> Any:
        inbox = self._q()[0]
        while True:
            try:
                return pickle.loads(inbox.get(timeout=1))
            except TimeoutError:
                if self.watch is not None and self.watch.done():
                    error = self.watch.exception() if self.watch.status == "error" else None
                    raise EOFError(f"the shard's task ended: {error!r}") from None

    def close(self) -> None:
        self._queues = None


# ---------------------------------------------------------------------------------------------
# the hub


def _reduce_peers(parts: list[list[tuple]], n_total: list[int]) -> list[Peers]:
    """Every provider's figures in the run's numbering, from each shard's own."""

    def blank(x: np.ndarray, n: int) -> np.ndarray:
        return np.full((n, *x.shape[1:]), np.nan)

    out = []
    for s, n in enumerate(n_total):
        first = parts[0][s][1]
        run = Peers(
            blank(first.profit_pp, n),
            blank(first.benefit_pp, n),
            [blank(x, n) for x in first.before],
            [None if x is None else blank(x, n) for x in first.separate_before],
        )
        for part in parts:
            gid, mine = part[s]
            run.profit_pp[gid], run.benefit_pp[gid] = mine.profit_pp, mine.benefit_pp
            for k, x in enumerate(mine.before):
                run.before[k][gid] = x
            for k, x in enumerate(mine.separate_before):
                if x is not None:
                    into = run.separate_before[k]
                    assert into is not None  # every shard's styles have the same parts
                    into[gid] = x
        out.append(run)
    return out


def _add_in_order(arrays: list[np.ndarray]) -> np.ndarray:
    """Shard 0's array, plus shard 1's, … (in that order, so the same shard count gives the
    same bits)."""
    total = np.array(arrays[0], copy=True)
    for x in arrays[1:]:
        total += x
    return total


def _start(backend: str, target: Callable, args: tuple) -> BaseProcess | threading.Thread:
    worker: BaseProcess | threading.Thread
    if backend == "process":
        ctx = multiprocessing.get_context("spawn")
        worker = ctx.Process(target=target, args=args, daemon=True)
    elif backend == "thread":
        worker = threading.Thread(target=target, args=args, daemon=True)
    else:
        raise ShardError(f"unknown shard backend {backend!r} (allowed: process, thread)")
    worker.start()
    return worker


def run_pair(
    scenario,
    seed: int,
    arm: str,
    replicate: int,
    shards: int,
    *,
    progress: Callable[[int], None] | None = None,
    backend: str = "process",
    scheduler: str | None = None,
    checked: bool = False,
) -> dict[str, Any]:
    """One (replicate, arm) of ``scenario`` in ``shards`` shards: the monthly rows, the
    provider-panel rows (in the unsharded order) and the money ledger's totals.
    ``checked``: the caller has run :func:`check` on the scenario already (once per run)."""
    if not checked:
        check(scenario, shards)
    regions = assign_regions([r.share for r in scenario.population.regions.values()], shards)
    if backend == "dask":
        return _run_dask(scenario, seed, arm, replicate, regions, progress, scheduler)
    data = scenario.model_dump(mode="json") if backend == "process" else scenario
    conns: list[Connection] = []
    workers: list[BaseProcess | threading.Thread] = []  # processes, or threads (_start)

    def ended(k: int) -> str:
        """How shard ``k``'s process ended (it is given a second to be seen ended)."""
        w = workers[k]
        if not isinstance(w, BaseProcess):  # a thread
            return ""
        w.join(timeout=1)
        return f" (process {w.pid} {_how_it_ended(w.exitcode)})"

    try:
        for k in range(shards):
            here, there = multiprocessing.Pipe()
            shard = (k, shards, regions[k])
            workers.append(_start(backend, _shard_main, (there, data, seed, arm, replicate, shard)))
            conns.append(here)
            if backend == "process":
                # the child holds its own copy: with this one closed, a shard that dies is
                # seen at once as the end of its pipe, instead of a wait for ever
                there.close()
        parts, n_total = _hub(conns, progress, ended)
    finally:
        # a shard still waiting for the hub stops when its end of the pipe closes
        for c in conns:
            c.close()
        for w in workers:
            w.join(timeout=10)
            if isinstance(w, BaseProcess) and w.is_alive():
                w.terminate()
    return _assemble(parts, n_total)


def _run_dask(scenario, seed, arm, replicate, regions, progress, scheduler) -> dict[str, Any]:
    """The shards as long-running tasks of a Dask cluster (one worker thread each)."""
    from sim.guards.extras import require

    require("distributed", "cluster", "--shards with a Dask scheduler")
    from distributed import Client, LocalCluster

    count = len(regions)
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            host="127.0.0.1",
        )
        client = Client(cluster)
    run_id = uuid.uuid4().hex
    data = scenario.model_dump(mode="json")
    futures = []
    try:
        conns = []
        for k in range(count):
            to_shard, to_hub = f"shard-{run_id}-{k}-in", f"shard-{run_id}-{k}-out"
            shard = (k, count, regions[k])
            future = client.submit(
                _shard_main,
                _QueueConn(to_shard, to_hub),
                data,
                seed,
                arm,
                replicate,
                shard,
                pure=False,
                key=f"shard-{run_id}-{k}",
            )
            futures.append(future)
            conns.append(_QueueConn(to_hub, to_shard, watch=future))
        parts, n_total = _hub(conns, progress)
    finally:
        client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
    return _assemble(parts, n_total)


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "is still running but closed its end of the line"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _hub(
    conns: Sequence[_Line], progress, ended: Callable[[int], str] = lambda k: ""
) -> tuple[list[dict[str, Any]], list[int]]:
    """Answer the shards' exchanges, in shard order, until every shard is done; a shard whose
    line ends (its process died) is named, with ``ended(k)``: how it ended."""
    n_total: list[int] = []
    while True:
        msgs = []
        for k, conn in enumerate(conns):
            try:
                msgs.append(conn.recv())
            except (EOFError, ConnectionResetError):
                raise ShardError(
                    f"shard {k} of {len(conns)} stopped without a word{ended(k)}: killed by "
                    "hand, or by the system for want of memory?"
                ) from None
        tags = {m[0] for m in msgs}
        if "error" in tags:
            k = next(i for i, m in enumerate(msgs) if m[0] == "error")
            raise ShardError(f"shard {k} failed: {msgs[k][1]}")
        if len(tags) != 1:
            raise ShardError(f"shards out of step: {[m[0] for m in msgs]}")
        tag = tags.pop()
        if tag == "peers":
            reply: Any = _reduce_peers([m[1] for m in msgs], n_total)
        elif tag == "sums":
            reply = add_up([m[1] for m in msgs])
        elif tag == "month":
            if progress is not None:
                progress(1)
            continue
        elif tag == "built":
            n_total = msgs[0][1]
            continue
        elif tag == "done":
            return [m[1] for m in msgs], n_total
        else:  # pragma: no cover - a programming error
            raise ShardError(f"unknown message {tag!r}")
        for conn in conns:
            conn.send(reply)


def _assemble(parts: list[dict[str, Any]], n_total: list[int]) -> dict[str, Any]:
    rows = parts[0]["rows"]
    provider_rows = [r for part in parts for r in part["provider_rows"]]
    setting_order: dict[str, int] = {}
    for r in rows:
        setting_order.setdefault(r["setting"], len(setting_order))
    provider_rows.sort(key=lambda r: (r["month"], setting_order[r["setting"]], r["provider"]))
    ledgers = [p["ledger"] for p in parts]
    total = {
        k: _add_in_order([lg[k] for lg in ledgers])
        for k in ("payer_paid", "payer_paid_adverse_events", "patients_paid")
    }
    received = [np.zeros(n) for n in n_total]
    for lg in ledgers:
        for s, (gid, x) in enumerate(lg["providers_received"]):
            received[s][gid] = x
    return {
        "rows": rows,
        "subgroup_rows": parts[0]["subgroup_rows"],
        "life_rows": parts[0]["life_rows"],
        "provider_rows": provider_rows,
        "ledger": {
            "payer_paid": float(total["payer_paid"].sum()),
            "payer_paid_adverse_events": float(total["payer_paid_adverse_events"].sum()),
            "patients_paid": float(total["patients_paid"].sum()),
            "providers_received": float(sum(x.sum() for x in received)),
        },
    }
