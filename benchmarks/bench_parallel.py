#!/usr/bin/env python
"""`sim run --workers`: whole-process speed-up of the main job, and peak memory vs arms.

1. **Speed.** ``sim run scenarios/compare_payment_models.toml`` (4 arms × 60 months) at
   ``--patients`` (default 1M) with ``--workers 1`` and ``--workers N`` (default 2), each a
   fresh ``python -m sim run`` process timed from start to exit (imports, validation, worker
   start-up, the runs, writing the results folder), alternating, best of ``--rounds``. The
   tables of the two must be byte-identical (checked; exit 1 if not).
2. **Memory.** Peak resident memory of ``sim run --workers 1`` at ``--memory-patients``
   (default 5M) × 2 months with one arm (``--arms ffs``) and with the four arms: the child's
   own ``ru_maxrss`` from ``os.wait4`` (this benchmark process imports nothing heavy, so the
   child's figure is its own). A run that holds one model at a time peaks at about the same
   memory whatever the number of arms (ratio ≈ 1). Then the four arms with ``--workers 2``:
   the peak (``VmHWM``, polled) of the parent and of each process it starts (the worker, and
   multiprocessing's resource tracker).

    PYTHONPATH=. python benchmarks/bench_parallel.py
    PYTHONPATH=. python benchmarks/bench_parallel.py --patients 200000 --rounds 1 --no-memory
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "scenarios" / "compare_payment_models.toml"
TABLES = ("monthly.parquet", "summary.csv", "providers.parquet")


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sim_run(args: list[str]) -> tuple[float, float]:
    """Run ``python -m sim run ARGS`` in a fresh process: its wall seconds and the CPU seconds
    of it and its workers."""
    env = _env()
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "sim", "run", *args], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = p.communicate()
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"sim run {' '.join(args)} failed:\n{err.decode()}")
    return seconds, _children_cpu() - cpu0


def peak_rss(args: list[str]) -> tuple[float, int]:
    """Like :func:`sim_run`, reaping the child with ``os.wait4`` for its own peak RSS:
    (wall seconds, peak RSS in bytes)."""
    env = _env()
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "sim", "run", *args], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"sim run {' '.join(args)} failed with status {p.returncode}")
    return seconds, usage.ru_maxrss * 1024  # KiB on Linux


def _hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(x) for x in (task / "children").read_text().split()]
    return out


def process_peaks(args: list[str], every: float = 0.1) -> tuple[float, dict[str, int]]:
    """Run ``python -m sim run ARGS`` and poll the peak resident memory (``VmHWM``, bytes) of
    it and of each worker process it starts until they exit (Linux only)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "sim", "run", *args], env=_env(), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    peaks: dict[int, int] = {}
    while p.poll() is None:
        for pid in [p.pid, *_children(p.pid)]:
            kib = _hwm_kib(pid)
            if kib is not None:
                peaks[pid] = max(peaks.get(pid, 0), kib)
        time.sleep(every)
    if p.returncode != 0:
        raise SystemExit(f"sim run {' '.join(args)} failed with status {p.returncode}")
    named = {"parent": peaks.pop(p.pid, 0) * 1024}
    # the resource tracker is a child too: tiny; report the largest other child as the worker
    for k, (_, v) in enumerate(sorted(peaks.items(), key=lambda kv: -kv[1])):
        named[f"child {k + 1}"] = v * 1024
    return time.perf_counter() - t0, named


_BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}:\n    pass\n"


def free_cores(seconds: float = 1.0) -> float:
    """Cores two CPU-bound processes get right now: 2 × ``seconds`` of CPU over the wall
    time they take (2.0 on an idle 2-core machine; less when other jobs share it)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY.format(s=seconds)]) for _ in range(2)]
    for p in procs:
        p.wait()
    return 2 * seconds / (time.perf_counter() - t0)


def _arms() -> int:
    import tomllib

    return len(tomllib.loads(MAIN.read_text(encoding="utf-8"))["arms"])


def digest(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
        for name in TABLES
        if (folder / name).exists()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, help="months (default: the scenario's 60)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (best of)")
    ap.add_argument("--memory-patients", type=int, default=5_000_000)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument(
        "--replications",
        type=int,
        default=1,
        help="replications of the main job (default 1, as first measured; the scenario asks for 5)",
    )
    a = ap.parse_args(argv)
    print("command: PYTHONPATH=. python benchmarks/bench_parallel.py " + " ".join(sys.argv[1:]))
    tmp = Path(tempfile.mkdtemp(prefix="bench_parallel_"))
    status = 0
    try:
        if not a.no_speed:
            # one replication by default, as measured before the scenario asked for five
            sets = [
                "--set",
                f"population.patients={a.patients}",
                "--set",
                f"replications={a.replications}",
            ]
            if a.months:
                sets += ["--set", f"months={a.months}"]
            times: dict[int, list[float]] = {1: [], a.workers: []}
            digests: dict[int, dict[str, str]] = {}
            for r in range(a.rounds):
                order = [1, a.workers] if r % 2 == 0 else [a.workers, 1]
                for w in order:
                    out = tmp / f"w{w}"
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = [str(MAIN), *sets, "--quiet", "--workers", str(w), "--out", str(out)]
                    load = os.getloadavg()[0]
                    cores = free_cores()
                    s, cpu = sim_run(cmd)
                    times[w].append(s)
                    digests[w] = digest(out)
                    print(
                        f"  round {r + 1}: --workers {w}: {s:.1f} s wall, {cpu:.1f} s CPU "
                        f"(before: load average {load:.2f}, two busy processes got {cores:.2f} "
                        "cores)",
                        flush=True,
                    )
            same = digests[1] == digests[a.workers]
            best1, bestn = min(times[1]), min(times[a.workers])
            print(
                f"\nmain job ({_arms()} arms × {a.replications} replication(s) × "
                f"{a.months or 60} months) at {a.patients:,} patients, "
                f"whole process, best of {a.rounds}:"
            )
            print(f"  --workers 1: {best1:.1f} s   --workers {a.workers}: {bestn:.1f} s")
            speedup = best1 / bestn
            print(
                f"  speed-up: {speedup:.2f}× ({'PASS' if speedup >= 1.7 else 'MISS'}, "
                f"target ≥ 1.7× on 2 workers); tables byte-identical: {'yes' if same else 'NO'}"
            )
            if not same:
                print(f"  digests: {digests}")
                status = 1
        if not a.no_memory:
            sets = ["--set", f"population.patients={a.memory_patients}", "--set", "months=2"]
            base = [str(MAIN), *sets, "--quiet", "--workers", "1"]
            peaks = {}
            for label, extra in (("1 arm", ["--arms", "ffs"]), ("4 arms", [])):
                out = tmp / f"mem{len(extra)}"
                s, rss = peak_rss([*base, *extra, "--out", str(out)])
                peaks[label] = rss
                print(f"  {label}: peak RSS {rss / 2**30:.2f} GiB ({s:.1f} s)", flush=True)
            if Path("/proc/self/status").exists():
                s, named = process_peaks([*base[:-1], "2", "--out", str(tmp / "mem_w2")])
                cells = ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in named.items())
                print(f"  4 arms, --workers 2: peak per process (VmHWM): {cells} ({s:.1f} s)")
            ratio = peaks["4 arms"] / peaks["1 arm"]
            print(
                f"\npeak memory at {a.memory_patients:,} patients × 2 months, --workers 1: "
                f"1 arm {peaks['1 arm'] / 2**30:.2f} GiB, 4 arms {peaks['4 arms'] / 2**30:.2f} "
                f"GiB: ratio {ratio:.2f} (one model at a time: ≈ 1)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
