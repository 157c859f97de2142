"""Whole Medicare: 67 million beneficiaries × 120 months of one arm, in shards.

The main comparison's FFS arm (both default settings, learning providers, participation and
capacity on, all monthly outputs) with the population of Medicare (67M beneficiaries) split
into the nine US Census divisions (shares: approximate 2020 Census population shares, an
assumption for the split only: the regions share every parameter), run for ten years in
``--shards`` worker processes (:mod:`sim.experiments.shards`; default 2, this machine's cores).

Prints progress with an ETA, then the figures: wall time, patient-months per second, peak
resident memory of the parent and of the largest shard process (``ru_maxrss`` of the reaped
children: the largest one), and the run's spending PMPM as a sanity line.

    PYTHONPATH=. python benchmarks/bench_whole_medicare.py                  # the full run
    PYTHONPATH=. python benchmarks/bench_whole_medicare.py --patients 2000000 --months 12
    PYTHONPATH=. python benchmarks/bench_whole_medicare.py --shards 1      # one process
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the nine Census divisions, approximate shares of the 2020 US population (percent)
DIVISIONS = {
    "new_england": 4.6,
    "middle_atlantic": 12.8,
    "east_north_central": 14.5,
    "west_north_central": 6.4,
    "south_atlantic": 20.8,
    "east_south_central": 5.9,
    "west_south_central": 12.3,
    "mountain": 7.6,
    "pacific": 15.1,
}


def scenario(patients: int, months: int):
    from sim.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "compare_payment_models.toml")
    pop = sc.population
    base = next(iter(pop.regions.values()))
    total = sum(DIVISIONS.values())
    regions = {k: base.model_copy(update={"share": v / total}) for k, v in DIVISIONS.items()}
    return sc.model_copy(
        update={
            "name": "whole_medicare",
            "population": pop.model_copy(update={"patients": patients, "regions": regions}),
            "months": months,
            "replications": 1,
            "analysis": None,
        }
    )


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=67_000_000)
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--arm", default="ffs")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from sim.experiments.run import run

    sc = scenario(args.patients, args.months)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(
        f"whole Medicare: {args.patients:,} patients × {args.months} months, arm {args.arm}, "
        f"{args.shards} shard(s), {len(DIVISIONS)} regions; commit {commit}; "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    state = {"first": None, "last_print": 0.0}

    def progress(done: int, total: int, patient_months: int) -> None:
        now = time.perf_counter()
        if state["first"] is None:
            # the first month ends after the shards are built: the ETA counts months only
            state["first"] = (now, done)
            print(f"  built and month 1 done at {_clock(now - t0)}", flush=True)
            return
        t1, d1 = state["first"]
        if now - state["last_print"] < 30 and done < total:
            return
        state["last_print"] = now
        rate = (done - d1) / (now - t1)
        eta = (total - done) / rate if rate > 0 else float("nan")
        print(
            f"  month {done:4d}/{total} ({100 * done / total:5.1f}%)  elapsed {_clock(now - t0)}"
            f"  {rate * 60:5.1f} months/min  ETA {_clock(eta)}",
            flush=True,
        )

    start = time.perf_counter()
    result = run(sc, arms=[args.arm], progress=progress, shards=args.shards)
    wall = time.perf_counter() - start
    total_wall = time.perf_counter() - t0
    pm = args.patients * args.months
    mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    m = result.monthly
    spending = m["spending"].sum() / (m["members"].sum() / len(sc.settings))
    print()
    print("| figure | value |")
    print("|---|---|")
    print(f"| patients × months | {args.patients:,} × {args.months} |")
    print(f"| shards (processes) | {args.shards} |")
    print(f"| wall time, `run()` (build, months, tables) | {_clock(wall)} ({wall:.0f} s) |")
    print(f"| wall time, whole script (imports included) | {_clock(total_wall)} |")
    print(f"| patient-months per second | {pm / wall / 1e6:.1f} million |")
    print(f"| peak RSS, largest shard process | {children:.2f} GiB |")
    print(f"| peak RSS, parent (hub) | {mine:.2f} GiB |")
    print(f"| spending PMPM, all months (sanity) | {spending:.2f} USD |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
