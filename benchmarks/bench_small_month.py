#!/usr/bin/env python
"""A small run's month: the shipped main comparison's first arm at a small population, CPU clock.

    PYTHONPATH=. python benchmarks/bench_small_month.py --patients 6000 --preload
    PYTHONPATH=. python benchmarks/bench_small_month.py --patients 20000 --calls

Builds the arm (``scenarios/compare_payment_models.toml`` of the tree whose ``sim`` is imported,
with ``population.patients`` and ``months`` set), runs it once as a warm-up, then ``--rounds``
fresh models of ``--months`` calls of ``step()`` each, and prints the best and mean ms a month.
``--preload`` gives the small model the compiled kernels (``kernels.preload()``, what a process
that has run large or many small models has); without it a small model runs numpy's.
``--calls`` profiles one run instead (``cProfile``) and prints its function calls a month and the
functions with the most time of their own (``--top``): a figure the machine's load does not move.
To compare two trees, run this script with each tree's ``sim`` on ``PYTHONPATH`` (an older tree
need not have it), alternating; for instructions a month, run it under ``valgrind
--tool=cachegrind --cache-sim=no`` at two ``--months`` and divide the difference of the
instruction counts by twice the difference of the months (warm-up and timed run).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preload", action="store_true", help="the compiled kernels")
    ap.add_argument("--calls", action="store_true", help="profile one run: calls a month")
    ap.add_argument("--top", type=int, default=25, help="--calls: functions shown")
    a = ap.parse_args(argv)

    import sim
    from sim.engine import kernels
    from sim.engine.model import HealthSystemModel
    from sim.scenario.loading import load_scenario

    path = Path(sim.__file__).resolve().parents[1] / "scenarios" / "compare_payment_models.toml"
    sc = load_scenario(
        path, [f"population.patients={a.patients}", f"months={a.months}", "replications=1"]
    )
    if a.preload:
        kernels.preload()
    arm = sc.arms[0].name

    def months(model: HealthSystemModel) -> float:
        t0 = time.process_time()
        for _ in range(a.months):
            model.step()
        return time.process_time() - t0

    months(HealthSystemModel(sc, arm, rng=sc.seed))  # warm-up: imports, kernels, caches
    model = HealthSystemModel(sc, arm, rng=sc.seed)
    label = f"{a.patients:,} patients × {a.months} months, {model.world.kernels.name} kernels"
    if a.calls:
        profile = cProfile.Profile()
        profile.enable()
        months(model)
        profile.disable()
        stats = pstats.Stats(profile)
        print(f"{label}: {stats.total_calls / a.months:,.0f} function calls a month")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(a.top)
        return 0
    seconds = [months(model)] + [
        months(HealthSystemModel(sc, arm, rng=sc.seed)) for _ in range(a.rounds - 1)
    ]
    best, mean = min(seconds), sum(seconds) / len(seconds)
    print(f"{label}: best {best / a.months * 1e3:.2f} ms a month, mean {mean / a.months * 1e3:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
