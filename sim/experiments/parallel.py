"""Running independent tasks in worker processes, with one stream of progress.

:func:`map_tasks` calls a module-level function on each task, in this process and in a spawn
process pool (the same on Linux, macOS and Windows, and safe with threads in the parent), and
returns the results in task order, so whatever the workers' finishing order the caller
assembles the same tables as a serial loop. A task function takes ``progress=`` (a callable of
one int: months just done); in a worker it reports through a queue that this process drains
between its own months and while it waits, so the caller's progress callback is called from
the caller's thread only.

This module imports nothing of the model: :mod:`sim.experiments.run` hands it the function to call.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

#: set in each worker by :func:`_init_worker`: where it reports months done
_QUEUE: Any = None


def cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says, else all)."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        return max(1, counter() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


#: below this many patient-months in all, a run stays in one process: starting a worker (a
#: fresh interpreter importing the model, about 1-2 s) would cost more than it saves
PARALLEL_MIN_PATIENT_MONTHS = 20_000_000


def default_workers(patient_months_per_task: int, tasks: int) -> int:
    """Workers for ``tasks`` equal tasks when not told: every core, at most one per task, and
    1 (this process) for work too small to gain from worker processes."""
    if tasks < 2 or patient_months_per_task * tasks < PARALLEL_MIN_PATIENT_MONTHS:
        return 1
    return min(cores(), tasks)


def _init_worker(q: Any) -> None:
    global _QUEUE
    _QUEUE = q


def _report(months: int) -> None:
    _QUEUE.put(months)


class LostWorker(RuntimeError):
    """A worker process that died while it ran a task (killed, out of memory): the message
    names the process, how it ended and the task."""


class WorkerError(RuntimeError):
    """A task's exception that could not be sent back from its worker as itself (its class
    does not pickle): its type, message and traceback as text."""


def _call(fn: Callable[..., Any], args: tuple[Any, ...], index: int = -1) -> Any:
    """The worker's entry point: ``fn(*args, progress=...)`` reporting to the parent (first
    which process runs task ``index``). An exception that would not survive the trip back
    (and would break the pool) is re-raised as a :class:`WorkerError` with its text."""
    _QUEUE.put(("start", index, os.getpid()))
    try:
        return fn(*args, progress=_report)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            text = traceback.format_exc()
            raise WorkerError(f"{type(exc).__name__}: {exc}\n{text}") from None
        raise


def _how_it_ended(code: int) -> str:
    import signal

    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (killed by hand, or by the system for want of memory?)" if code == -9 else ""
        return f"was killed by {name}{why}"
    return f"exited with status {code}"


def _warm(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in a worker, so that its first task finds them loaded."""
    import importlib

    for m in modules:
        importlib.import_module(m)


class Workers:
    """``n`` spawn worker processes, started at once, to run :meth:`map` with.

    ``warm`` names modules each worker imports as soon as it starts: started before the
    caller's own heavy imports, the workers' start-up (a fresh interpreter importing the model,
    a second or two) overlaps with the caller's instead of following it. Use as a context
    manager, or call :meth:`close`."""

    def __init__(self, n: int, warm: Sequence[str] = ()) -> None:
        self.n = n
        self._closed = False
        ctx = multiprocessing.get_context("spawn")
        # a SimpleQueue writes to its pipe in put() itself (no feeder thread), so a task's
        # months are all in the pipe before its result is sent
        self._queue = ctx.SimpleQueue()
        self._started: dict[int, int] = {}  # task -> the worker process that took it
        self._pool = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(self._queue,)
        )
        # one warm-up task per worker: the pool starts a process per task it cannot place
        self._warming = [self._pool.submit(_warm, tuple(warm)) for _ in range(n)]

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)

    def close(self, cancel: bool = False) -> None:
        """Stop the workers (after their running tasks; ``cancel``: drop those not started)."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        self._queue.close()

    def _drain(self, on_progress: Callable[[int], None] | None) -> None:
        while not self._queue.empty():
            item = self._queue.get()
            if isinstance(item, tuple):  # ("start", task, pid)
                self._started[item[1]] = item[2]
            elif on_progress is not None:
                on_progress(item)

    def _lost(self, pending: dict[Future[Any], int], describe: Callable[[int], str]) -> LostWorker:
        """The error for a pool broken by a worker's death: which worker, how, and its task
        (the other workers are stopped by the pool)."""
        import signal

        processes = dict(getattr(self._pool, "_processes", None) or {})
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._closed = True
        self._drain(None)
        self._queue.close()
        running = {self._started[i]: i for i in pending.values() if i in self._started}
        ends = {pid: p.exitcode for pid, p in processes.items()}
        dead = [pid for pid, code in ends.items() if code not in (None, -signal.SIGTERM)]
        for pid in sorted(dead, key=lambda pid: pid not in running):
            what = f"while running {describe(running[pid])}" if pid in running else (
                "before it started a task"
            )  # fmt: skip
            return LostWorker(f"worker process {pid} {_how_it_ended(ends[pid])} {what}")
        what = ", ".join(describe(i) for i in running.values()) or "its tasks"
        return LostWorker(f"a worker process died while running {what}")

    def map(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[tuple[Any, ...]],
        on_progress: Callable[[int], None] | None = None,
        describe: Callable[[int], str] | None = None,
    ) -> list[Any]:
        """``[fn(*t, progress=...) for t in tasks]``, in task order, on the workers and this
        process: this process runs tasks itself and each worker takes the next one when it
        comes free (see :func:`map_tasks`). A worker that dies raises :class:`LostWorker`
        naming it and its task (``describe(i)``: task ``i`` in words) as soon as it is seen."""
        for f in self._warming:
            if f.done():
                f.result()  # a module that failed to import fails here, not in a task
        describe = describe or (lambda i: f"task {i}")
        results: list[Any] = [None] * len(tasks)
        pending: dict[Future[Any], int] = {}
        todo = list(reversed(range(len(tasks))))  # not started yet, next last

        def poll() -> None:
            """Months reported, results collected, free workers given the next task."""
            self._drain(on_progress)
            for f in [f for f in pending if f.done()]:
                try:
                    results[pending[f]] = f.result()
                except BrokenProcessPool:
                    raise self._lost(pending, describe) from None
                del pending[f]
            while todo and len(pending) < self.n:
                i = todo.pop()
                pending[self._pool.submit(_call, fn, tuple(tasks[i]), i)] = i

        def local(k: int) -> None:
            if on_progress is not None:
                on_progress(k)
            poll()

        poll()
        while todo or pending:
            if todo:
                i = todo.pop()
                results[i] = fn(*tasks[i], progress=local)
                poll()
            else:
                wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                poll()
        self._drain(on_progress)
        return results


def map_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    workers: int,
    on_progress: Callable[[int], None] | None = None,
    pool: Workers | None = None,
    describe: Callable[[int], str] | None = None,
) -> list[Any]:
    """``[fn(*t, progress=...) for t in tasks]`` on ``workers`` processes, in task order.

    This process is one of the workers: it runs tasks itself while ``workers - 1`` spawn
    processes start (or ``pool``'s, started earlier) and take the others, one at a time, as
    they come free. ``fn`` must be importable by name (a module-level function).
    ``on_progress(k)`` is called in this thread each time a task reports ``k`` months done,
    wherever it runs. The first task that raises cancels those not started and re-raises
    here; a worker process that dies raises :class:`LostWorker` (``describe(i)``: task ``i``
    in words)."""
    if pool is None and (workers <= 1 or len(tasks) <= 1):
        report = on_progress or (lambda k: None)
        return [fn(*t, progress=report) for t in tasks]
    if pool is not None:
        try:
            return pool.map(fn, tasks, on_progress, describe)
        except BaseException:
            pool.close(cancel=True)
            raise
    with Workers(workers - 1) as w:
        return w.map(fn, tasks, on_progress, describe)
