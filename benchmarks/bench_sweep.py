#!/usr/bin/env python
"""Benchmark of the sweep machinery (``sim.experiments.sweep``): throughput, parallel efficiency,
overhead.

Prints, for a sweep of real runs (base: 20,000 patients × 24 months, four arms) and for a tiny
one (1,000 patients × 6 months, where the machinery's per-run cost dominates): sweep throughput
in runs per minute for ``run_sweep`` with every executor, the same runs called through
``sim.experiments.run.run`` in a plain Python loop, the per-run overhead of the sweep machinery
against that loop, and the parallel efficiency on the machine's cores. Checks that the dataset
tables of every mode are byte-identical.

    PYTHONPATH=. python benchmarks/bench_sweep.py             # full run (~10 minutes)
    PYTHONPATH=. python benchmarks/bench_sweep.py --quick     # CI smoke: tiny sweep, 1 repeat
    PYTHONPATH=. python benchmarks/bench_sweep.py --json out.json

Method (see benchmarks/README.md): the sweep and its base scenario are written as TOML to a
temporary directory and loaded with ``load_sweep`` (not timed). Every mode runs the same runs
into a fresh results folder; one *round* times every mode once, in an order rotated each round,
and rounds repeat (``--repeats``), so ratios compare figures taken under the same machine
conditions. A timed sweep is the whole ``run_sweep`` call: folder preparation, tasks, starting
and stopping the pool or cluster, the runs, the index and gathering the dataset.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # after PYTHONPATH: PYTHONPATH=/other/tree benchmarks a copy
    sys.path.append(str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.experiments.sweep import (  # noqa: E402
    PARTS,
    Sweep,
    Task,
    _write_part,
    code_hash,
    execute,
    gather,
    load_sweep,
    part_name,
    run_sweep,
)
from sim.scenario import Scenario  # noqa: E402

#: the four arms, one contract each ("*" setting and payer wildcards)
ARMS: list[tuple[str, str]] = [
    ("ffs", '{ model = "ffs" }'),
    ("capitation", '{ model = "capitation", pmpm = 12.0 }'),
    ("bundled", '{ model = "bundled", base_rate = 900.0 }'),
    ("blended", '{ model = "blended", pmpm = 6.0, fee_fraction = 0.5 }'),
]
REPLICATIONS = 2
ALTRUISM_HIGH = [0.6, 0.9]
CF_RANGE = (27.5, 37.2)  # outpatient therapy conversion factor, ±15% around the 2025 value
SEED = 2026

#: (label, executor, workers) of every mode; "plain" is the loop, "pool" is execute() in a spawn
#: pool without the coordinator (no index, no dataset), to separate the pool from the rest
MODES = ("plain", "serial", "process", "dask-local", "pool")


# -------------------------------------------------------------------------------------------
# the sweep files


def write_sweep(
    folder: Path, name: str, patients: int, months: int, runs: int
) -> tuple[Path, dict[str, Any]]:
    """Write ``base.toml`` and ``sweep.toml`` under ``folder``: a grid over the therapy
    conversion factor (as many levels as ``runs`` needs) × 2 altruism levels × 2 replications,
    all four arms, summary outputs. Returns the sweep file and what it holds."""
    folder.mkdir(parents=True, exist_ok=True)
    k = max(1, math.ceil(runs / (len(ALTRUISM_HIGH) * REPLICATIONS)))
    cf = [round(float(x), 4) for x in np.linspace(*CF_RANGE, k)] if k > 1 else [32.3465]
    arms = "\n".join(
        f'[[arms]]\nname = "{arm}"\ncontracts = [{contract}]\n' for arm, contract in ARMS
    )
    (folder / "base.toml").write_text(
        f'name = "bench_{name}_base"\nmonths = {months}\nseed = 1\nreplications = 1\n\n'
        f"[population]\npatients = {patients}\n\n{arms}",
        encoding="utf-8",
    )
    (folder / "sweep.toml").write_text(
        f'name = "bench_{name}"\nscenario = "base.toml"\nreplications = {REPLICATIONS}\n'
        f'seed = {SEED}\noutputs = "summary"\n\n[design]\nmethod = "grid"\n\n'
        f'[[parameters]]\nfield = "settings.outpatient_therapy.conversion_factor"\n'
        f"levels = {cf}\n\n"
        f'[[parameters]]\nfield = "settings.outpatient_therapy.providers.altruism.high"\n'
        f"levels = {ALTRUISM_HIGH}\n",
        encoding="utf-8",
    )
    spec = {
        "patients": patients,
        "months": months,
        "arms": [a for a, _ in ARMS],
        "design": "grid",
        "conversion_factor_levels": cf,
        "altruism_high_levels": ALTRUISM_HIGH,
        "replications": REPLICATIONS,
        "runs": k * len(ALTRUISM_HIGH) * REPLICATIONS,
    }
    return folder / "sweep.toml", spec


# -------------------------------------------------------------------------------------------
# the modes


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cpu() -> float:
    """CPU seconds of this process and of its children that have been waited for (pool and
    cluster workers are, when the pool or cluster shuts down): less sensitive than wall time to
    other load on a shared machine."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def sim_fingerprint() -> str:
    """Hash of the source of the ``sim`` package that pool and cluster workers will import."""
    import sim

    h = hashlib.sha256()
    for f in sorted(Path(sim.__file__).parent.rglob("*.py")):
        h.update(f.as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def plain_loop(sweep: Sweep) -> dict[str, Any]:
    """Every run of the sweep through ``sim.experiments.run.run`` in a plain loop in this process.
    Scenarios are validated beforehand (not timed)."""
    from sim.experiments.run import run

    jobs = [(p, r, Scenario.model_validate(sweep.scenario_data(p))) for p, r in sweep.runs]
    seed, arms = sweep.config.seed, list(sweep.arms)
    gc.collect()
    c0, t0 = cpu(), time.perf_counter()
    summaries = [run(sc, seed=seed, arms=arms, replicate=r).summary for _, r, sc in jobs]
    seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
    # the summary table the sweep should hold, built as execute() + gather() build it
    frames = [
        s.assign(replicate=r, seed=seed, point=p, **sweep.point_overrides(p))
        for (p, r, _), s in zip(jobs, summaries, strict=True)
    ]
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i][0], jobs[i][1]))
    summary = pd.concat([frames[i] for i in order], ignore_index=True)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "summary": summary}


def sweep_mode(sweep: Sweep, folder: Path, executor: str, workers: int) -> dict[str, Any]:
    """One timed ``run_sweep`` into a fresh folder."""
    first: list[float] = []

    def progress(done: int, failed: int, total: int) -> None:
        if (done or failed) and not first:
            first.append(time.perf_counter())

    gc.collect()
    c0, t0 = cpu(), time.perf_counter()
    out = run_sweep(sweep, folder, executor=executor, workers=workers, progress=progress)
    seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
    if out.failed or out.done != out.total:
        err = out.failed[0].error if out.failed else "not all runs done"
        raise RuntimeError(f"{executor}/{workers}: {len(out.failed)} runs failed: {err}")
    index = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "first_result": first[0] - t0 if first else None,
        "execute_seconds": sum(e["seconds"] for e in index),
        "index_entries": len(index),
        "workers_seen": len({e["worker"] for e in index}),
        "summary_sha256": sha(folder / "summary.parquet"),
        "design_sha256": sha(folder / "design.parquet"),
    }


def pieces(sweep: Sweep, folder: Path, min_seconds: float = 0.3) -> dict[str, dict[str, float]]:
    """The sweep machinery's per-run work, timed piece by piece (median ms per call, repeated
    until ``min_seconds``): robust to the noise that swamps a few ms in a 0.1-0.5 s run."""
    import pickle

    from sim.experiments.run import run

    folder.mkdir(parents=True)
    p, r = sweep.runs[-1]
    data = sweep.scenario_data(p)
    params = sweep.point_overrides(p)
    summary = run(
        Scenario.model_validate(data), seed=sweep.config.seed, arms=list(sweep.arms), replicate=r
    ).summary
    task = Task(p, r, sweep.config.seed, code_hash(), data, params, tuple(sweep.arms), "summary",
                str(folder))  # fmt: skip
    index = (folder / "runs.jsonl").open("a", encoding="utf-8")
    entry = {"point": p, "replicate": r, "seed": sweep.config.seed, "status": "done",
             "seconds": 0.1234, "error": None, "worker": "host:12345"}  # fmt: skip

    def record() -> None:  # as run_sweep's record()
        index.write(json.dumps(entry) + "\n")
        index.flush()
        os.fsync(index.fileno())

    def write() -> None:  # as execute(): tag the summary, write the part
        tagged = summary.assign(replicate=r, seed=sweep.config.seed, point=p, **params)
        _write_part(tagged, folder, part_name(p, r, "summary"))

    work = {
        "task data: scenario_data() (JSON copy + overrides)": lambda: sweep.scenario_data(p),
        "execute: Scenario.model_validate()": lambda: Scenario.model_validate(data),
        "execute: tag + write summary part (zstd Parquet, rename)": write,
        "index: one line + flush + fsync": record,
        "pools: pickle the Task": lambda: pickle.dumps(task),
    }
    out = {}
    try:
        for name, fn in work.items():
            times: list[float] = []
            while len(times) < 20 or sum(times) < min_seconds:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            out[name] = {"ms": statistics.median(times) * 1e3, "calls": len(times)}
    finally:
        index.close()
    out["pools: pickle the Task"]["bytes"] = len(pickle.dumps(task))
    return out


def pool_mode(sweep: Sweep, folder: Path, workers: int) -> dict[str, Any]:
    """``execute`` of every run in a spawn ``ProcessPoolExecutor`` of ``workers`` processes,
    without the coordinator: no folder check, index or dataset (tasks built beforehand)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    (folder / PARTS).mkdir(parents=True)
    tasks = [
        Task(p, r, sweep.config.seed, code_hash(), sweep.scenario_data(p),
             sweep.point_overrides(p), tuple(sweep.arms), sweep.config.outputs, str(folder))
        for p, r in sweep.runs
    ]  # fmt: skip
    first: list[float] = []
    gc.collect()
    c0, t0 = cpu(), time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = []
        for f in as_completed([pool.submit(execute, t) for t in tasks]):
            results.append(f.result())
            if not first:
                first.append(time.perf_counter())
    seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
    bad = [r for r in results if r.status != "done"]
    if bad:
        raise RuntimeError(f"pool/{workers}: {len(bad)} runs failed: {bad[0].error}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "first_result": first[0] - t0,
        "execute_seconds": sum(r.seconds for r in results),
        "workers_seen": len({r.worker for r in results}),
    }


# -------------------------------------------------------------------------------------------
# reporting


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    git = {}
    src = Path(sys.modules["sim"].__file__).parent.parent  # the tree sim is imported from
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "sim"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        git = {"commit": head, "sim_changes": [d[3:] for d in dirty if d.strip()]}
    except (OSError, subprocess.CalledProcessError):
        pass
    from sim.results.folder import versions

    try:
        import distributed

        dist_version = distributed.__version__
    except ImportError:
        dist_version = "not installed"
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "load_average": load,
        "versions": {**versions(), "distributed": dist_version},
        "git": git,
        "sim_path": str(Path(sys.modules["sim"].__file__).parent),
        "sim_source": sim_fingerprint(),
    }


def table(header: list[str], rows: list[list[str]], align: str) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        )

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def mode_label(mode: str, workers: int) -> str:
    return {
        "plain": "plain loop (run())",
        "serial": "run_sweep serial",
        "process": "run_sweep process",
        "dask-local": "run_sweep dask-local",
        "pool": "spawn pool, execute() only",
    }[mode]


def pair(best: float | None, mean: float | None, fmt: str) -> str:
    if best is None:
        return ""
    return f"{best:{fmt}} / {mean:{fmt}}"


def overhead_table(checks: list[tuple[str, dict[str, Any], int]]) -> str:
    """Rows: the machinery's pieces (direct) and the timed differences; columns: sizes."""
    rows: dict[str, list[str]] = {}

    def add(name: str, cell: str) -> None:
        rows.setdefault(name, []).append(cell)

    for _, R, n in checks:
        pcs, fig = R["pieces"], R["figures"]
        for name, v in pcs.items():
            add(name, f"{v['ms']:.2f}")
        gather_ms = statistics.fmean(R["gather_seconds"]) / n * 1e3 if R["gather_seconds"] else 0
        add("gather (timed alone on a finished folder) / runs", f"{gather_ms:.2f}")
        direct = gather_ms + sum(v["ms"] for k, v in pcs.items() if not k.startswith("pools"))
        R["machinery_ms_per_run_direct"] = direct
        add("sum (serial sweep; pickling is for pools only)", f"{direct:.2f}")
        add("pickled Task size, bytes", f"{pcs['pools: pickle the Task']['bytes']:,}")
        plain, serial = fig["plain/1"], fig.get("serial/1")
        if serial:
            coord = (serial["mean"] - serial["execute_mean"]) / n * 1e3
            exe = (serial["execute_mean"] - plain["mean"]) / n * 1e3
            add("timed: serial wall − Σ execute() (from the index) / runs", f"{coord:.2f}")
            add("timed: Σ execute() / runs − plain loop / runs", f"{exe:+.2f}")
            add(
                "timed: (serial sweep − plain loop) / runs, best / mean",
                pair(serial["overhead_ms_best"], serial["overhead_ms_mean"], "+.1f"),
            )
        add(
            "run() in the plain loop, best / mean",
            pair(plain["best"] / n * 1e3, plain["mean"] / n * 1e3, ".1f"),
        )
    k = len(checks)
    body = [[name, *cells] + [""] * (k - len(cells)) for name, cells in rows.items()]
    return table(["ms per run", *(size for size, _, _ in checks)], body, "l" + "r" * k)


# -------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI smoke run: tiny sweep only, 1 round")
    ap.add_argument("--patients", type=int, default=20_000, help="base sweep: patients")
    ap.add_argument("--months", type=int, default=24, help="base sweep: months")
    ap.add_argument("--runs", type=int, help="base sweep: runs, rounded up to a multiple of 4 "
                    "(default 48)")  # fmt: skip
    ap.add_argument("--tiny-patients", type=int, default=1_000, help="tiny sweep: patients")
    ap.add_argument("--tiny-months", type=int, default=6, help="tiny sweep: months")
    ap.add_argument("--tiny-runs", type=int, help="tiny sweep: runs (default 96; quick 16)")
    ap.add_argument("--sizes", help="comma-separated size variants: base,tiny (quick: tiny)")
    ap.add_argument(
        "--modes",
        help=f"comma-separated modes (default all: {','.join(MODES)}); plain is always run",
    )
    ap.add_argument("--workers", type=int, default=2, help="workers of the parallel modes (2)")
    ap.add_argument("--repeats", type=int, help="rounds of every mode (default 3; quick 1)")
    ap.add_argument("--tmp", help="parent directory of the temporary sweeps (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    a = ap.parse_args(argv)
    a.runs = a.runs or 48
    a.tiny_runs = a.tiny_runs or (16 if a.quick else 96)
    a.repeats = a.repeats or (1 if a.quick else 3)
    a.sizes = a.sizes.split(",") if a.sizes else (["tiny"] if a.quick else ["base", "tiny"])
    if set(a.sizes) - {"base", "tiny"}:
        ap.error(f"unknown size variant(s) {sorted(set(a.sizes) - {'base', 'tiny'})}")
    a.modes = a.modes.split(",") if a.modes else list(MODES)
    if set(a.modes) - set(MODES):
        ap.error(f"unknown mode(s) {sorted(set(a.modes) - set(MODES))}; choose from {MODES}")
    if "plain" not in a.modes:
        a.modes.insert(0, "plain")
    if a.workers < 2:
        ap.error("--workers must be at least 2 (the parallel modes are compared with 1 worker)")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    info = machine()
    now = datetime.datetime.now(datetime.UTC)
    v = info["versions"]
    print(f"payment-sim sweep benchmark — {now:%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine: {info['platform']} ({info['machine']}), {info['cpu']}, "
        f"{info['cpu_count']} CPUs ({info['cpus_available']} available), load average "
        + (" ".join(f"{x:.2f}" for x in info["load_average"]) if info["load_average"] else "?")
        + f"; BLAS/OpenMP threads per process = {os.environ['OPENBLAS_NUM_THREADS']}"
    )
    print(
        f"python {v['python']}, numpy {v['numpy']}, pandas {v['pandas']}, pyarrow "
        f"{v['pyarrow']}, mesa {v['mesa']}, distributed {v['distributed']}"
    )
    changes = info["git"].get("sim_changes")
    print(
        (f"code: git {info['git']['commit']}" if info["git"] else "code: not a git checkout")
        + (f" + uncommitted changes in {', '.join(changes)}" if changes else "")
        + f"; sim package {info['sim_path']}, source hash {info['sim_source']}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    tmp_parent = Path(a.tmp) if a.tmp else None
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_", dir=tmp_parent))
    sizes = {
        "base": (a.patients, a.months, a.runs),
        "tiny": (a.tiny_patients, a.tiny_months, a.tiny_runs),
    }
    w = a.workers
    # the modes of one round: (mode, workers)
    plan: list[tuple[str, int]] = [("plain", 1)]
    for m in a.modes:
        if m == "serial":
            plan.append(("serial", 1))
        elif m in ("process", "dask-local", "pool"):
            plan += [(m, 1), (m, w)]
    results: dict[str, Any] = {
        "date": now.isoformat(timespec="seconds"),
        "machine": info,
        "argv": sys.argv,
        "repeats": a.repeats,
        "sizes": {},
    }
    try:
        sweeps: dict[str, Sweep] = {}
        for size in a.sizes:
            n, months, runs = sizes[size]
            path, spec = write_sweep(tmp / size / "files", size, n, months, runs)
            sweeps[size] = load_sweep(path)
            assert len(sweeps[size].runs) == spec["runs"]
            results["sizes"][size] = {
                "spec": spec,
                "times": {f"{m}/{k}": [] for m, k in plan},
                "gather_seconds": [],
            }
        print(
            f"\nSweeps (grid: therapy conversion factor × altruism.high {ALTRUISM_HIGH} × "
            f"{REPLICATIONS} replications; arms {', '.join(x for x, _ in ARMS)}; "
            'outputs = "summary"), written to ' + str(tmp) + ":"
        )
        for size, sw in sweeps.items():
            spec = results["sizes"][size]["spec"]
            print(
                f"  {size}: {spec['patients']:,} patients × {spec['months']} months, "
                f"{len(sw.design)} design points × {REPLICATIONS} = {len(sw.runs)} runs "
                f"({len(sw.arms)} arms each)"
            )
        print(
            f"Modes: {', '.join(f'{m}/{k}' for m, k in plan)}; {a.repeats} round(s), order "
            "rotated each round; every sweep into a fresh folder."
        )

        # warm-up (not timed): imports and first-call costs in this process
        for sw in sweeps.values():
            from sim.experiments.run import run

            p, r = sw.runs[0]
            run(Scenario.model_validate(sw.scenario_data(p)), seed=sw.config.seed,
                arms=list(sw.arms), replicate=r)  # fmt: skip
        if "dask-local" in a.modes:
            import distributed  # noqa: F401  (the import is not part of a sweep's time)

        for size, sw in sweeps.items():
            results["sizes"][size]["pieces"] = pieces(sw, tmp / size / "pieces")

        plain_summary: dict[str, pd.DataFrame] = {}
        for rep in range(a.repeats):
            for size, sw in sweeps.items():
                times = results["sizes"][size]["times"]
                order = plan[rep % len(plan) :] + plan[: rep % len(plan)]
                for mode, k in order:
                    folder = tmp / size / f"{mode}-{k}-r{rep}"
                    if mode == "plain":
                        res = plain_loop(sw)
                        plain_summary.setdefault(size, res.pop("summary"))
                    elif mode == "pool":
                        res = pool_mode(sw, folder, k)
                    else:
                        res = sweep_mode(sw, folder, mode, k)
                    times[f"{mode}/{k}"].append(res)
                    print(
                        f"    round {rep + 1}/{a.repeats} {size:<4} {mode + '/' + str(k):<13}"
                        f" {res['seconds']:7.2f} s  {len(sw.runs) / res['seconds'] * 60:8.1f} "
                        "runs/min",
                        flush=True,
                    )
                    if mode == "serial":  # gather alone, on the finished folder
                        t0 = time.perf_counter()
                        gather(sw, folder)
                        results["sizes"][size]["gather_seconds"].append(time.perf_counter() - t0)
                    if mode == "pool":
                        shutil.rmtree(folder)

        # -- figures
        rows = []
        checks = []
        for size, sw in sweeps.items():
            R = results["sizes"][size]
            n_runs = len(sw.runs)
            spec = R["spec"]
            fig: dict[str, dict[str, Any]] = {}
            for key, lst in R["times"].items():
                secs = [x["seconds"] for x in lst]
                cpus = [x["cpu_seconds"] for x in lst]
                fig[key] = {
                    "best": min(secs),
                    "mean": statistics.fmean(secs),
                    "cpu_best": min(cpus),
                    "cpu_mean": statistics.fmean(cpus),
                    "rate_best": n_runs / min(secs) * 60,
                    "rate_mean": n_runs / statistics.fmean(secs) * 60,
                    "first_mean": (
                        statistics.fmean(x["first_result"] for x in lst)
                        if lst and lst[0].get("first_result") is not None
                        else None
                    ),
                    "execute_mean": (
                        statistics.fmean(x["execute_seconds"] for x in lst)
                        if lst and "execute_seconds" in lst[0]
                        else None
                    ),
                }
            plain = fig["plain/1"]
            for key, f in fig.items():
                mode, k = key.split("/")
                k = int(k)
                if key != "plain/1" and k == 1:
                    f["overhead_ms_best"] = (f["best"] - plain["best"]) / n_runs * 1e3
                    f["overhead_ms_mean"] = (f["mean"] - plain["mean"]) / n_runs * 1e3
                if key != "plain/1":
                    f["cpu_overhead_ms_best"] = (f["cpu_best"] - plain["cpu_best"]) / n_runs * 1e3
                    f["cpu_overhead_ms_mean"] = (f["cpu_mean"] - plain["cpu_mean"]) / n_runs * 1e3
                if k > 1 and f"{mode}/1" in fig:
                    one = fig[f"{mode}/1"]
                    f["efficiency_best"] = f["rate_best"] / (k * one["rate_best"])
                    f["efficiency_mean"] = f["rate_mean"] / (k * one["rate_mean"])
                f["speedup_vs_plain_best"] = f["rate_best"] / plain["rate_best"]
                f["speedup_vs_plain_mean"] = f["rate_mean"] / plain["rate_mean"]
            R["figures"] = fig
            label = f"{size} {spec['patients']:,}×{spec['months']}"
            for key, f in fig.items():
                mode, k = key.split("/")
                rows.append(
                    [
                        label,
                        mode_label(mode, int(k)),
                        k,
                        f"{n_runs}",
                        pair(f["best"], f["mean"], ".2f"),
                        pair(f["rate_best"], f["rate_mean"], ".1f"),
                        pair(f.get("overhead_ms_best"), f.get("overhead_ms_mean"), "+.1f"),
                        pair(f.get("efficiency_best"), f.get("efficiency_mean"), ".0%"),
                        pair(f["speedup_vs_plain_best"], f["speedup_vs_plain_mean"], ".2f"),
                        f"{f['first_mean']:.2f}" if f["first_mean"] is not None else "",
                    ]
                )
                label = ""
            # byte-identity of the dataset tables over every run_sweep mode and round
            groups: dict[str, dict[str, list[str]]] = {"summary": {}, "design": {}}
            for key, lst in R["times"].items():
                for i, x in enumerate(lst):
                    for tab, g in groups.items():
                        if f"{tab}_sha256" in x:
                            g.setdefault(x[f"{tab}_sha256"], []).append(f"{key} round {i + 1}")
            n_sweeps = sum(len(v) for v in groups["summary"].values())
            same_plain = None
            ref_folder = next(
                (
                    tmp / size / f"{m}-{k}-r0"
                    for m, k in plan
                    if m in ("serial", "process", "dask-local")
                ),
                None,
            )
            if ref_folder is not None:
                got = pd.read_parquet(ref_folder / "summary.parquet")
                want = plain_summary[size]
                same_plain = list(got.columns) == list(want.columns) and got.equals(want)
            R["identical"] = {
                "sweeps": n_sweeps,
                "summary_sha256": groups["summary"],
                "design_sha256": groups["design"],
                "summary_identical": len(groups["summary"]) <= 1,
                "design_identical": len(groups["design"]) <= 1,
                "plain_loop_equal": same_plain,
            }
            checks.append((size, R, n_runs))

        print()
        print(
            table(
                [
                    "size variant",
                    "mode",
                    "workers",
                    "runs",
                    "seconds best/mean",
                    "runs/min best/mean",
                    "overhead ms/run vs plain",
                    "parallel eff.",
                    "× plain loop",
                    "1st result s",
                ],
                rows,
                "llrrrrrrrr",
            )
        )
        print(
            "overhead ms/run = (sweep seconds − plain-loop seconds) / runs, best vs best and "
            "mean vs mean (1-worker modes); parallel eff. = runs/min with "
            f"{w} workers / ({w} × runs/min with 1 worker of the same mode); × plain loop = "
            "runs/min / plain-loop runs/min; 1st result s = mean seconds from the call to the "
            "first finished run (pool or cluster start-up + one run)."
        )
        print(
            "run_sweep(executor='process', workers=1) does not start a pool: it runs the tasks "
            "in this process, like 'serial'; so process efficiency compares a "
            f"{w}-process spawn pool with in-process execution. 'spawn pool, execute() only' "
            "times execute() in a spawn ProcessPoolExecutor of 1 and of "
            f"{w} processes, without the coordinator (no index, no dataset), for a "
            "pool-vs-pool efficiency."
        )

        # -- where the serial overhead goes
        print(
            "\nWhere the per-run overhead of a serial sweep goes (ms per run; pieces timed "
            "directly, median of repeated calls; the rest from the timed sweeps, means over "
            "rounds):"
        )
        print(overhead_table(checks))
        print(
            "The timed differences carry the machine's noise (±10-30% here, i.e. tens of ms per "
            "run); the direct sum is the better estimate of the serial machinery's own cost."
        )

        # -- CPU time
        print(
            "\nCPU seconds (this process + pool/cluster workers, summed over processes; not "
            "affected by waiting, but on a shared VM also slowed by other load):"
        )
        crows = []
        for size, R, n_runs in checks:
            label = size
            for key, f in R["figures"].items():
                mode, k = key.split("/")
                crows.append(
                    [
                        label,
                        mode_label(mode, int(k)),
                        k,
                        pair(f["cpu_best"], f["cpu_mean"], ".2f"),
                        pair(f["cpu_best"] / n_runs * 1e3, f["cpu_mean"] / n_runs * 1e3, ".1f"),
                        pair(f.get("cpu_overhead_ms_best"), f.get("cpu_overhead_ms_mean"), "+.1f"),
                    ]
                )
                label = ""
        print(
            table(
                [
                    "size",
                    "mode",
                    "workers",
                    "CPU s best/mean",
                    "CPU ms/run best/mean",
                    "CPU overhead ms/run vs plain",
                ],
                crows,
                "llrrrr",
            )
        )
        print(
            "CPU overhead includes starting the worker interpreters and their imports, and, "
            "for dask, the scheduler and nannies (threads of this process)."
        )

        print("\nDataset check (summary.parquet and design.parquet of every run_sweep, all "
              "modes and rounds):")  # fmt: skip
        all_ok = True
        for size, R, _ in checks:
            ident = R["identical"]
            ok = ident["summary_identical"] and ident["design_identical"]
            all_ok &= ok
            eq = {None: "n/a", True: "yes", False: "NO"}[ident["plain_loop_equal"]]
            print(
                f"  {size}: {ident['sweeps']} sweeps, summary.parquet identical: "
                f"{'yes' if ident['summary_identical'] else 'no'}, design.parquet identical: "
                f"{'yes' if ident['design_identical'] else 'no'}; summary equals the plain "
                f"loop's run() summaries (round 1): {eq}"
            )
            for tab in ("summary", "design"):
                if len(ident[f"{tab}_sha256"]) > 1:
                    for h, who in ident[f"{tab}_sha256"].items():
                        print(f"    {tab} sha256 {h[:12]}: {', '.join(who)}")
        fp = sim_fingerprint()
        results["sim_source_after"] = fp
        if fp != info["sim_source"]:
            print(
                "WARNING: the sim package source changed during the benchmark "
                f"({info['sim_source']} → {fp}); pool and cluster workers started after the "
                "change ran the new code, this process the old: timings and tables of "
                "different code were compared."
            )
        else:
            print(f"sim package source unchanged during the benchmark ({fp}).")
        results["identical"] = all_ok
        print(f"identical: {'yes' if all_ok else 'no'}")
    finally:
        if a.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
        print(f"\nwrote {a.json}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
