#!/usr/bin/env python
"""What the compiled kernels cost a fresh process: compiled once per install, loaded after.

Runs ``--processes`` fresh processes one after another on one empty numba cache folder (a
temporary ``NUMBA_CACHE_DIR``). Each builds the shipped main comparison's first arm at
``--patients`` (default 1,000,000) with ``SIM_KERNELS=numba`` and runs two months; it reports

* ``import numba`` (seconds; paid by any process that uses numba);
* the kernels' load: the first month's time less the second's, with numba imported
  beforehand (numba's own start-up on a kernel's first call, and each kernel compiled or
  loaded from the cache);
* numba's cache statistics of every kernel (hits, misses: a miss is a compilation);

and, after each process, the files in the cache folder. The first process compiles every
kernel it calls; from the second on there should be no miss and no new file. Process time
(CPU) is shown beside the wall clock, which a shared machine's load stretches.

    PYTHONPATH=. python benchmarks/bench_kernel_load.py
    PYTHONPATH=. python benchmarks/bench_kernel_load.py --patients 200000 --processes 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(patients: int) -> None:
    """One fresh process (see the module docstring); prints one JSON line."""
    from sim.engine import kernels
    from sim.engine.model import HealthSystemModel
    from sim.scenario.loading import load_scenario

    sc = load_scenario(
        ROOT / "scenarios" / "compare_payment_models.toml", [f"population.patients={patients}"]
    )
    m = HealthSystemModel(sc, sc.arms[0].name)
    w0, c0 = time.perf_counter(), time.process_time()
    import numba  # noqa: F401

    w1, c1 = time.perf_counter(), time.process_time()
    m.step()
    w2, c2 = time.perf_counter(), time.process_time()
    m.step()
    w3, c3 = time.perf_counter(), time.process_time()
    stats = {k: d.stats for k, d in kernels._compiled().items()}
    print(
        json.dumps(
            {
                "import_wall": w1 - w0,
                "import_cpu": c1 - c0,
                "load_wall": (w2 - w1) - (w3 - w2),
                "load_cpu": (c2 - c1) - (c3 - c2),
                "hits": sum(sum(s.cache_hits.values()) for s in stats.values()),
                "misses": sum(sum(s.cache_misses.values()) for s in stats.values()),
                "kernels": m.world.kernels.name,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a.patients)
        return 0
    print("command: PYTHONPATH=. python benchmarks/bench_kernel_load.py", *sys.argv[1:])
    print(
        "| process | import numba s (wall / CPU) | kernel load s (wall / CPU) | cache hits "
        "| misses (compiled) | cache files |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "SIM_KERNELS": "numba"}
        for i in range(a.processes):
            p = subprocess.run(
                [sys.executable, __file__, "--child", "--patients", str(a.patients)],
                env=env, capture_output=True, text=True, check=False, cwd=ROOT,
            )  # fmt: skip
            if p.returncode != 0:
                raise SystemExit(p.stderr)
            r = json.loads(p.stdout.strip().splitlines()[-1])
            files = sum(1 for f in Path(cache).rglob("*") if f.is_file())
            print(
                f"| {i + 1} | {r['import_wall']:.2f} / {r['import_cpu']:.2f} "
                f"| {r['load_wall']:.2f} / {r['load_cpu']:.2f} | {r['hits']} | {r['misses']} "
                f"| {files} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
