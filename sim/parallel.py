"""Running independent tasks in worker processes, with one stream of progress.

:func:`map_tasks` calls a module-level function on each task in a spawn process pool (the same
on Linux, macOS and Windows, and safe with threads in the parent) and returns the results in
task order, so whatever the workers' finishing order the caller assembles the same tables as a
serial loop. A task function takes ``progress=`` (a callable of one int: months just done);
in a worker it reports through a queue that the parent drains while it waits, so the
parent's own progress callback is called from the parent's main thread only.

This module imports nothing of the model: :mod:`sim.run` hands it the function to call.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
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


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The worker's entry point: ``fn(*args, progress=...)`` reporting to the parent."""
    return fn(*args, progress=_report)


def map_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    workers: int,
    on_progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """``[fn(*t, progress=...) for t in tasks]`` in ``workers`` spawn processes, in task order.

    ``fn`` must be importable by name (a module-level function). ``on_progress(k)`` is called
    in this thread each time a worker reports ``k`` months done. The first task that raises
    cancels those not started and re-raises here."""
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    results: list[Any] = [None] * len(tasks)

    def drain(timeout: float | None) -> None:
        try:
            item = q.get(timeout=timeout) if timeout else q.get_nowait()
            while True:
                if on_progress is not None:
                    on_progress(item)
                item = q.get_nowait()
        except queue_module.Empty:
            pass

    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(q,)
    ) as pool:
        pending: dict[Future[Any], int] = {
            pool.submit(_call, fn, tuple(t)): i for i, t in enumerate(tasks)
        }
        try:
            while pending:
                done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                drain(None)
                for f in done:
                    results[pending.pop(f)] = f.result()
        except BaseException:
            for f in pending:
                f.cancel()
            raise
        finally:
            # months reported after the last result (queue feeder threads flush late)
            drain(0.05 if on_progress is not None else None)
    q.close()
    q.join_thread()
    return results
