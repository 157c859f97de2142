"""Running independent tasks in worker processes, with one stream of progress.

:func:`map_tasks` calls a module-level function on each task, in this process and in a spawn
process pool (the same on Linux, macOS and Windows, and safe with threads in the parent), and
returns the results in task order, so whatever the workers' finishing order the caller
assembles the same tables as a serial loop. A task function takes ``progress=`` (a callable of
one int: months just done); in a worker it reports through a queue that this process drains
between its own months and while it waits, so the caller's progress callback is called from
the caller's thread only.

This module imports nothing of the model: :mod:`sim.run` hands it the function to call.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue as queue_module
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
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


def _init_worker(q: Any) -> None:
    global _QUEUE
    _QUEUE = q


def _report(months: int) -> None:
    _QUEUE.put(months)


class WorkerError(RuntimeError):
    """A task's exception that could not be sent back from its worker as itself (its class
    does not pickle): its type, message and traceback as text."""


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The worker's entry point: ``fn(*args, progress=...)`` reporting to the parent. An
    exception that would not survive the trip back (and would break the pool) is re-raised
    as a :class:`WorkerError` with its text."""
    try:
        return fn(*args, progress=_report)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            text = traceback.format_exc()
            raise WorkerError(f"{type(exc).__name__}: {exc}\n{text}") from None
        raise


def map_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    workers: int,
    on_progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """``[fn(*t, progress=...) for t in tasks]`` on ``workers`` processes, in task order.

    This process is one of the workers: it runs tasks itself while ``workers - 1`` spawn
    processes start (a fresh interpreter importing the model takes a second or two, during
    which no core is idle) and take the others, one at a time, as they come free. ``fn`` must
    be importable by name (a module-level function). ``on_progress(k)`` is called in this
    thread each time a task reports ``k`` months done, wherever it runs. The first task that
    raises cancels those not started and re-raises here."""
    if workers <= 1 or len(tasks) <= 1:
        report = on_progress or (lambda k: None)
        return [fn(*t, progress=report) for t in tasks]
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    results: list[Any] = [None] * len(tasks)
    pending: dict[Future[Any], int] = {}
    todo = list(range(len(tasks)))  # not started yet, in task order
    todo.reverse()
    pool = ProcessPoolExecutor(
        max_workers=workers - 1, mp_context=ctx, initializer=_init_worker, initargs=(q,)
    )

    def drain(timeout: float | None = None) -> None:
        try:
            item = q.get(timeout=timeout) if timeout else q.get_nowait()
            while True:
                if on_progress is not None:
                    on_progress(item)
                item = q.get_nowait()
        except queue_module.Empty:
            pass

    def poll() -> None:
        """Months reported, results collected, free workers given the next task."""
        drain()
        for f in [f for f in pending if f.done()]:
            results[pending.pop(f)] = f.result()
        while todo and len(pending) < workers - 1:
            i = todo.pop()
            pending[pool.submit(_call, fn, tuple(tasks[i]))] = i

    def local(k: int) -> None:
        if on_progress is not None:
            on_progress(k)
        poll()

    try:
        poll()
        while todo or pending:
            if todo:
                i = todo.pop()
                results[i] = fn(*tasks[i], progress=local)
                poll()
            else:
                wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                poll()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    # months reported after the last result (the queue's feeder threads flush late)
    drain(0.05 if on_progress is not None else None)
    q.close()
    q.join_thread()
    return results
