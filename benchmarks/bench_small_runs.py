#!/usr/bin/env python
"""Startup per run and throughput of many small runs, for two revisions in the same run.

A *small run* is the four arms of a 1,000-patient, 6-month scenario (``--patients``,
``--months``). For each revision (``--base``, default the commit before issue 16's work, and
the working tree), a fresh child process (``PYTHONPATH`` = that revision's ``sim``) reports:

* ``import sim.experiments.run`` (seconds, once per process: a sweep worker pays it once);
* per run, median of repeated calls: scenario validation (``validate_scenario`` of the run's
  data), one model build, one arm's build and months, ``outputs.summarize`` of the four arms'
  monthly table, ``run()`` of the four arms;
* runs per minute of a plain loop of ``run()`` calls (scenarios validated beforehand) and of
  ``run_sweep(..., executor="serial")`` over the same number of runs (whole call: folder,
  tasks, runs, parts, index, dataset), ``--runs`` runs each;
* the whole-process wall time of ``python -m sim run`` of one small run (median of 3).

Revisions alternate round by round (``--rounds``) so the shared machine's load falls on both;
the table shows the best round.

``--efficiency``: small runs at large-run cost (issue 27). In one process, the shipped main
comparison's first arm (fee-for-service, ``scenarios/compare_payment_models.toml`` with its
participation, capacity and ``[analysis]`` tables), one replication, whole ``run()`` (model
build, months, tables, summary, subgroup tables), at 20,000 patients × 60 months and at
1,000,000 × 60 months (``--small``, ``--large``, ``--run-months``), alternating, best of
``--rounds``; prints patient-months per second of each and their ratio (target ≥ 0.8), by
wall clock and by the process's CPU time (steadier on a shared machine).

    PYTHONPATH=. python benchmarks/bench_small_runs.py
    PYTHONPATH=. python benchmarks/bench_small_runs.py --base HEAD~3 --runs 50 --rounds 2
    PYTHONPATH=. python benchmarks/bench_small_runs.py --efficiency --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the last commit before issue 16's work
BEFORE = "ed870c8"
ARMS = [
    ("ffs", '{ model = "ffs" }'),
    ("capitation", '{ model = "capitation", pmpm = 12.0 }'),
    ("bundled", '{ model = "bundled", base_rate = 900.0 }'),
    ("blended", '{ model = "blended", pmpm = 6.0, fee_fraction = 0.5 }'),
]


def scenario_toml(patients: int, months: int) -> str:
    arms = "\n".join(f'[[arms]]\nname = "{a}"\ncontracts = [{c}]\n' for a, c in ARMS)
    return (
        f'name = "small"\nmonths = {months}\nseed = 1\nreplications = 1\n\n'
        f"[population]\npatients = {patients}\n\n[outputs]\nfigure = false\n\n{arms}"
    )


def sweep_toml(runs: int) -> str:
    levels = [round(25.0 + 15.0 * i / max(runs // 2 - 1, 1), 4) for i in range(max(runs // 2, 1))]
    return (
        'name = "small_sweep"\nscenario = "small.toml"\nreplications = 2\nseed = 3\n'
        'outputs = "summary"\n\n[design]\nmethod = "grid"\n\n[[parameters]]\n'
        f'field = "settings.outpatient_therapy.conversion_factor"\nlevels = {levels}\n'
    )


def median_seconds(fn, min_seconds: float = 0.5, min_calls: int = 5) -> float:
    times: list[float] = []
    while len(times) < min_calls or sum(times) < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def child(folder: Path, runs: int) -> None:
    """Measure this process's ``sim`` (see the module docstring); print one JSON line."""
    t0 = time.perf_counter()
    import sim.experiments.run  # noqa: F401

    import_s = time.perf_counter() - t0
    import tomllib

    from sim.engine.model import HealthSystemModel
    from sim.experiments.run import run
    from sim.experiments.sweep import load_sweep, run_sweep
    from sim.results.tables import summarize
    from sim.scenario import validate_scenario

    data = tomllib.loads((folder / "small.toml").read_text())
    sc = validate_scenario(data)
    out: dict[str, float] = {"import_s": import_s}
    out["validate_ms"] = median_seconds(lambda: validate_scenario(data)) * 1e3
    out["build_ms"] = median_seconds(lambda: HealthSystemModel(sc, "ffs")) * 1e3
    out["run_ms"] = median_seconds(lambda: run(sc)) * 1e3

    def months() -> None:
        m = HealthSystemModel(sc, "ffs")
        for _ in range(sc.months):
            m.step()

    out["months_ms"] = median_seconds(months) * 1e3
    monthly = run(sc).monthly
    out["summarize_ms"] = median_seconds(lambda: summarize(monthly)) * 1e3
    sweep = load_sweep(folder / "sweep.toml")
    jobs = [(r, validate_scenario(sweep.scenario_data(p))) for p, r in sweep.runs]
    t0 = time.perf_counter()
    for r, s in jobs:
        run(s, seed=sweep.config.seed, replicate=r)
    out["plain_runs_per_min"] = len(jobs) / (time.perf_counter() - t0) * 60
    dest = folder / f"sweep_{os.getpid()}"
    t0 = time.perf_counter()
    res = run_sweep(sweep, dest, executor="serial")
    out["sweep_runs_per_min"] = res.done / (time.perf_counter() - t0) * 60
    out["runs"] = res.done
    print(json.dumps(out))


#: small-run efficiency: patient-months/s of the small run ÷ of the large one (issue 27)
EFFICIENCY_TARGET = 0.8


def efficiency(small: int, large: int, months: int, rounds: int) -> int:
    """Small and large runs of the shipped main job's first arm in this process, alternating;
    prints the table (see the module docstring)."""
    from sim.experiments.run import run
    from sim.scenario.loading import load_scenario

    path = ROOT / "scenarios" / "compare_payment_models.toml"
    sizes = {"small": small, "large": large}
    scenarios = {
        k: load_scenario(path, [f"population.patients={n}", f"months={months}", "replications=1"])
        for k, n in sizes.items()
    }
    arm = scenarios["small"].arms[0].name
    for sc in scenarios.values():  # warm-up (imports, kernels loaded), not timed
        run(sc.model_copy(update={"months": 2}), arms=[arm])
    wall: dict[str, list[float]] = {k: [] for k in sizes}
    cpu: dict[str, list[float]] = {k: [] for k in sizes}
    for r in range(rounds):
        for k in list(sizes) if r % 2 == 0 else list(reversed(sizes)):
            t0, c0 = time.perf_counter(), time.process_time()
            run(scenarios[k], arms=[arm])
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
            print(f"  round {r + 1}, {sizes[k]:,} × {months}: {wall[k][-1]:.2f} s wall, "
                  f"{cpu[k][-1]:.2f} s CPU", flush=True)  # fmt: skip
    print(f"\n{arm} arm of compare_payment_models, {months} months, whole run(); best of {rounds}")
    print("| patients | wall s | M patient-months/s (wall) | CPU s | M patient-months/s (CPU) |")
    print("|---|---|---|---|---|")
    rate = {}
    for k, n in sizes.items():
        rate[k] = (n * months / min(wall[k]), n * months / min(cpu[k]))
        print(f"| {n:,} | {min(wall[k]):.2f} | {rate[k][0] / 1e6:.2f} | {min(cpu[k]):.2f} "
              f"| {rate[k][1] / 1e6:.2f} |")  # fmt: skip
    for i, how in enumerate(("wall", "CPU")):
        ratio = rate["small"][i] / rate["large"][i]
        verdict = "PASS" if ratio >= EFFICIENCY_TARGET else "MISS"
        print(f"small ÷ large ({how}): {ratio:.2f} {verdict} (target ≥ {EFFICIENCY_TARGET})")
    return 0


def export(rev: str, into: Path) -> Path:
    dest = into / rev.replace("/", "_").replace("~", "_")
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "sim"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def measure(tree: Path, folder: Path, runs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    p = subprocess.run(
        [sys.executable, __file__, "--child", str(folder), "--runs", str(runs)],
        env=env, capture_output=True, text=True, check=False, cwd=folder,
    )  # fmt: skip
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    walls = []
    for i in range(3):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sim", "run", "small.toml", "--quiet", "--out", f"cli{i}"],
            env=env, capture_output=True, check=True, cwd=folder,
        )  # fmt: skip
        walls.append(time.perf_counter() - t0)
    out["cli_s"] = statistics.median(walls)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=BEFORE, help=f"base revision (default {BEFORE})")
    ap.add_argument("--patients", type=int, default=1_000)
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--runs", type=int, default=100, help="runs of the loop and of the sweep")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--efficiency", action="store_true", help="small ÷ large runs (issue 27)")
    ap.add_argument("--small", type=int, default=20_000, help="--efficiency: small run's patients")
    ap.add_argument("--large", type=int, default=1_000_000, help="--efficiency: large run's")
    ap.add_argument("--run-months", type=int, default=60, help="--efficiency: months of both")
    a = ap.parse_args(argv)
    if a.child:
        child(a.child, a.runs)
        return 0
    if a.efficiency:
        print("command: PYTHONPATH=. python benchmarks/bench_small_runs.py", *sys.argv[1:])
        return efficiency(a.small, a.large, a.run_months, a.rounds)
    print("command: PYTHONPATH=. python benchmarks/bench_small_runs.py " + " ".join(sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="bench_small_") as tmp:
        folder = Path(tmp)
        (folder / "small.toml").write_text(scenario_toml(a.patients, a.months))
        (folder / "sweep.toml").write_text(sweep_toml(a.runs))
        trees = {a.base: export(a.base, folder), "working tree": ROOT}
        results: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
        for r in range(a.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for k in order:
                results[k].append(measure(trees[k], folder, a.runs))
                print(f"  round {r + 1}, {k}: {json.dumps(results[k][-1])}", flush=True)
    print(
        f"\nsmall run: {a.patients:,} patients × {a.months} months × 4 arms; "
        f"loop and sweep of {a.runs} runs; best of {a.rounds} rounds"
    )
    keys = [
        ("import sim.experiments.run (s)", "import_s", min, "{:.2f}"),
        ("validate_scenario (ms)", "validate_ms", min, "{:.1f}"),
        ("model build, 1 arm (ms)", "build_ms", min, "{:.1f}"),
        ("build + all months, 1 arm (ms)", "months_ms", min, "{:.1f}"),
        ("summarize, 4 arms (ms)", "summarize_ms", min, "{:.1f}"),
        ("run(), 4 arms (ms)", "run_ms", min, "{:.1f}"),
        ("plain loop of run() (runs/min)", "plain_runs_per_min", max, "{:.0f}"),
        ("run_sweep serial (runs/min)", "sweep_runs_per_min", max, "{:.0f}"),
        ("python -m sim run, whole process (s)", "cli_s", min, "{:.2f}"),
    ]
    names = list(results)
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, key, best, fmt in keys:
        cells = [fmt.format(best(x[key] for x in results[k])) for k in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
