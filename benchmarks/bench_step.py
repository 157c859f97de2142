#!/usr/bin/env python
"""Benchmark of the full monthly step of ``HealthSystemModel`` (all monthly rows collected).

Prints, for each payment model and population size, patient-months per second on one core
and peak memory per patient, then the same step written the idiomatic per-agent Mesa way
(``benchmarks/per_agent.py``) side by side with the vectorized step at the same sizes.

Targets (from the issue): ≥ 10 million patient-months/s at 1M patients on one core; ≥ 50× the
per-agent formulation at 100k; ≤ 200 bytes of memory per patient. Figures are printed with
PASS/MISS, never asserted.

    PYTHONPATH=. python benchmarks/bench_step.py            # full run (a few minutes)
    PYTHONPATH=. python benchmarks/bench_step.py --quick    # CI smoke: 10k and 100k only
    PYTHONPATH=. python benchmarks/bench_step.py --profile 1000000   # where a month goes

Method (see benchmarks/README.md): every timing builds a fresh model (not timed), runs one
warm-up month (not timed) and times ``run_for(months)``; runs are repeated with fresh models
until at least ``--min-seconds`` have been timed, so every size simulates the same calendar
window (the population's function declines over time, which raises the need for care, so
longer windows mean more work per patient-month). Peak memory is measured in a child process
per (model, size): ``(peak RSS of build + warm-up + months − RSS after imports) / N``.
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
import cProfile  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import mesa  # noqa: E402
import numpy as np  # noqa: E402
from per_agent import PerAgentModel  # noqa: E402

from sim.engine.model import HealthSystemModel  # noqa: E402
from sim.scenario import Scenario, validate_scenario  # noqa: E402

#: one contract per arm; "*" setting and payer wildcards (both settings, both payers)
CONTRACTS: dict[str, dict[str, Any]] = {
    "ffs": {"model": "ffs"},
    "capitation": {"model": "capitation", "pmpm": 15.0},
    "bundled": {"model": "bundled", "base_rate": 900.0},
    "blended": {"model": "blended", "pmpm": 8.0, "fee_fraction": 0.5},
}
TARGET_RATE = 10e6  # patient-months/s at 1M patients
TARGET_RATE_N = 1_000_000
TARGET_RATIO = 50.0  # vectorized / per-agent at 100k
TARGET_RATIO_N = 100_000
TARGET_BYTES = 200.0  # bytes per patient
SANITY_TOLERANCE = 0.10


def scenario(n: int, model: str, mode: str = "learning") -> Scenario:
    return validate_scenario(
        {
            "name": "bench",
            "population": {"patients": n},
            "months": 12,
            "behaviour": {"mode": mode},
            "arms": [{"name": model, "contracts": [CONTRACTS[model]]}],
        }
    )


def build(kind: str, n: int, model: str, mode: str, agent_rng: str = "python") -> mesa.Model:
    sc = scenario(n, model, mode)
    if kind == "vectorized":
        return HealthSystemModel(sc, model)
    return PerAgentModel(sc, model, rng=agent_rng)


# -------------------------------------------------------------------------------------------
# measurement


def timed_run(make: Callable[[], mesa.Model], months: int) -> tuple[float, list[dict]]:
    """Build a fresh model (not timed), run one warm-up month (not timed), time
    ``run_for(months)``. Returns the seconds and the model's rows."""
    m = make()
    gc.collect()
    m.run_for(1)  # warm-up month
    t0 = time.perf_counter()
    m.run_for(months)
    seconds = time.perf_counter() - t0
    rows = m.rows
    del m
    gc.collect()
    return seconds, rows


def measure(
    make: Callable[[], mesa.Model], months: int, min_seconds: float, min_runs: int
) -> tuple[list[float], list[dict]]:
    """Timed runs on fresh models until at least ``min_runs`` runs and ``min_seconds`` of
    timed work. Returns the run times and the rows of the first run."""
    runs: list[float] = []
    rows: list[dict] = []
    while len(runs) < min_runs or sum(runs) < min_seconds:
        seconds, r = timed_run(make, months)
        runs.append(seconds)
        rows = rows or r
    return runs, rows


def measure_interleaved(
    makers: dict[str, Callable[[], mesa.Model]],
    months: int,
    min_seconds: float,
    min_runs: int,
    round_seconds: float = 0.5,
) -> tuple[dict[str, list[float]], dict[str, list[dict]]]:
    """Like :func:`measure` for several formulations at once, interleaved in rounds (each
    round times every formulation for at least ``round_seconds``), so that all of them see the
    same machine conditions; runs until the *first* formulation has ``min_runs`` runs and
    ``min_seconds`` of timed work."""
    runs: dict[str, list[float]] = {k: [] for k in makers}
    rows: dict[str, list[dict]] = {}
    first = next(iter(makers))
    while len(runs[first]) < min_runs or sum(runs[first]) < min_seconds:
        for key, make in makers.items():
            spent = 0.0
            while spent < round_seconds:
                seconds, r = timed_run(make, months)
                runs[key].append(seconds)
                rows.setdefault(key, r)
                spent += seconds
                if key == first:
                    break
    return runs, rows


def rates(n: int, months: int, runs: list[float]) -> dict[str, Any]:
    return {
        "months": months,
        "runs": len(runs),
        "seconds": sum(runs),
        "run_seconds": runs,
        "rate": n * months * len(runs) / sum(runs),
        "rate_best": n * months / min(runs),
    }


def memory(kind: str, model: str, n: int, months: int, mode: str) -> dict[str, Any]:
    """Peak memory of build + warm-up + ``months`` in a fresh child process."""
    spec = {"kind": kind, "model": model, "n": n, "months": months, "mode": mode}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--_child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory child {spec} failed:\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["bytes_per_patient"] = (res["peak_kib"] - res["baseline_kib"]) * 1024 / n
    if res.get("nbytes") is not None:
        res["arrays_bytes_per_patient"] = res["nbytes"] / n
    return res


def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field (VmRSS, VmHWM) in KiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def child(spec: dict[str, Any]) -> None:
    """Runs in the child process: everything is imported, nothing built yet.

    ``ru_maxrss`` of a child started with fork/vfork + exec starts at the *parent's* resident
    size (Linux carries the old address space's high-water mark into ``signal->maxrss`` at exec),
    so after a few large runs in the parent it hides the child's own peak. Where possible the
    peak is therefore reset after the imports (``/proc/self/clear_refs`` ← 5) and read as
    ``VmHWM``, the high-water mark of this process's own address space, against ``VmRSS`` after
    the imports; ``ru_maxrss`` is the fallback and is recorded alongside.

    The compiled kernels' runtime (numba and llvmlite, ~150 MiB), which a model of this size
    loads once per process, is a per-process cost like the imports: a small model forced onto
    the kernels runs two months before the baseline, and its resident size is recorded as
    ``kernels_kib``.
    """
    kernels_kib = 0
    if spec["kind"] == "vectorized":
        from sim.engine import kernels

        if kernels.select(spec["n"]).name == "numba":
            before = _status_kib("VmRSS")
            old = os.environ.get("SIM_KERNELS")
            os.environ["SIM_KERNELS"] = "numba"
            build("vectorized", 2_000, spec["model"], spec["mode"]).run_for(2)
            if old is None:
                del os.environ["SIM_KERNELS"]
            else:
                os.environ["SIM_KERNELS"] = old
            gc.collect()
            after = _status_kib("VmRSS")
            kernels_kib = (after - before) if before is not None and after is not None else 0
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    base_rss = _status_kib("VmRSS")
    base_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    m = build(spec["kind"], spec["n"], spec["model"], spec["mode"])
    m.run_for(1 + spec["months"])
    peak_hwm = _status_kib("VmHWM")
    peak_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    use_hwm = reset and base_rss is not None and peak_hwm is not None
    nbytes = m.population.nbytes if isinstance(m, HealthSystemModel) else None
    print(
        json.dumps(
            {
                "method": "VmHWM after clear_refs - VmRSS" if use_hwm else "ru_maxrss",
                "baseline_kib": base_rss if use_hwm else base_maxrss,
                "peak_kib": peak_hwm if use_hwm else peak_maxrss,
                "kernels_kib": kernels_kib,
                "ru_maxrss_baseline_kib": base_maxrss,
                "ru_maxrss_peak_kib": peak_maxrss,
                "nbytes": nbytes,
            }
        )
    )


def sanity(vec_rows: list[dict], pa_rows: list[dict]) -> list[dict[str, Any]]:
    """Mean service units per treated patient and spending PMPM, per setting and overall."""

    def summary(rows: list[dict], setting: str | None) -> tuple[float, float]:
        sel = [r for r in rows if setting is None or r["setting"] == setting]
        units = sum(r["service_units"] for r in sel)
        treated = sum(r["patients_treated"] for r in sel)
        spending = sum(r["spending"] for r in sel)
        members = sum(r["members"] for r in sel)
        if setting is None:  # per member-month of the population, both settings
            members /= len({r["setting"] for r in sel})
        return units / treated, spending / members

    out = []
    settings = sorted({r["setting"] for r in vec_rows})
    for setting in [*settings, None]:
        v = summary(vec_rows, setting)
        a = summary(pa_rows, setting)
        for what, x, y in (("units per treated", v[0], a[0]), ("spending PMPM", v[1], a[1])):
            diff = y / x - 1.0
            out.append(
                {
                    "setting": setting or "all settings",
                    "measure": what,
                    "vectorized": x,
                    "per_agent": y,
                    "difference": diff,
                    "ok": abs(diff) <= SANITY_TOLERANCE,
                }
            )
    return out


# -------------------------------------------------------------------------------------------
# reporting


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:7.2f} M" if x >= 1e5 else f"{x / 1e3:7.1f} k"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


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
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "sim"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        git = {"commit": head, "sim_changes": [d[3:] for d in dirty if d.strip()]}
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mesa": mesa.__version__,
        "git": git,
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


# -------------------------------------------------------------------------------------------
# profile: where one month goes


def profile(n: int, model: str, months: int) -> None:
    """Stage timings (ms/month) of the vectorized step, then cProfile of one month."""
    from sim.engine import model as model_module
    from sim.engine.month import adaptation, calendar, delivery, needs, payment, records

    m = build("vectorized", n, model, "learning")
    m.run_for(1)
    phases: dict[str, float] = {}

    def timed(name: str, fn: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

        return wrapper

    # the model calls each stage through its module: wrap them there for this run
    stages = [
        (calendar, "start_month", "1 calendar"),
        (needs, "new_episodes", "2 needs (all settings)"),
        (delivery, "deliver", "3 delivery (all settings)"),
        (payment, "settle", "4 payment"),
        (adaptation, "estimate", "5 adaptation: estimates"),
        (records, "record", "6 records"),
    ]
    originals = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in stages]
    for mod, attr, label in stages:
        setattr(mod, attr, timed(label, getattr(mod, attr)))
    assert model_module.needs is needs
    try:
        t0 = time.perf_counter()
        m.run_for(months)
        total = time.perf_counter() - t0
    finally:
        for mod, attr, fn in originals:
            setattr(mod, attr, fn)
    print(f"\nPhases of the monthly step, {model}, N = {n:,}, mean over {months} months:")
    rows = [[k, f"{v / months * 1e3:9.2f}", f"{v / total:6.1%}"] for k, v in phases.items()]
    rest = total - sum(phases.values())
    rows.append(
        [
            "other (provider moves, features' after_care/after_records, Mesa)",
            f"{rest / months * 1e3:9.2f}",
            f"{rest / total:6.1%}",
        ]
    )
    rows.append(["total", f"{total / months * 1e3:9.2f}", "100.0%"])
    print(table(["phase", "ms/month", "share"], rows, "lrr"))
    print(f"→ {n * months / total / 1e6:.2f} M patient-months/s")

    prof = cProfile.Profile()
    prof.enable()
    m.run_for(1)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(20)
    print(f"\ncProfile of one month (N = {n:,}), top 20 by own time:")
    print("\n".join(buf.getvalue().splitlines()[4:]))


# -------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="CI smoke run: 10k and 100k only, short windows, little repetition",
    )
    ap.add_argument("--sizes", help="comma-separated population sizes (default 10k,100k,1M)")
    ap.add_argument("--models", help="comma-separated payment models (default: all four)")
    ap.add_argument(
        "--months",
        type=int,
        help="months timed per run after the warm-up month (default 60; quick 12)",
    )
    ap.add_argument(
        "--min-seconds",
        type=float,
        help="repeat runs until this much was timed (default 3; quick 0.5)",
    )
    ap.add_argument("--min-runs", type=int, help="at least this many runs (default 2; quick 1)")
    ap.add_argument("--agent-sizes", help="sizes for the per-agent comparison (default 10k,100k)")
    ap.add_argument(
        "--agent-months", help="months per per-agent run, per agent size (default 36,3; quick 12,2)"
    )
    ap.add_argument("--no-memory", action="store_true", help="skip the memory child processes")
    ap.add_argument("--no-agents", action="store_true", help="skip the per-agent comparison")
    ap.add_argument(
        "--agent-rng",
        choices=("python", "numpy"),
        default="python",
        help="per-agent draws: Mesa's stdlib self.random (default, faster) or self.model.rng",
    )
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    ap.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="only profile the vectorized step at N patients (first --models entry)",
    )
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    def ints(text: str) -> list[int]:
        return [int(float(x)) for x in text.replace("_", "").split(",") if x]

    a.sizes = (
        ints(a.sizes)
        if a.sizes
        else ([10_000, 100_000] if a.quick else [10_000, 100_000, 1_000_000])
    )
    a.models = a.models.split(",") if a.models else list(CONTRACTS)
    unknown = set(a.models) - set(CONTRACTS)
    if unknown:
        ap.error(f"unknown model(s) {sorted(unknown)}; choose from {list(CONTRACTS)}")
    a.profile_months = a.months or 12
    a.months = a.months or (12 if a.quick else 60)
    a.min_seconds = a.min_seconds if a.min_seconds is not None else (0.5 if a.quick else 3.0)
    a.min_runs = a.min_runs or (1 if a.quick else 2)
    a.agent_sizes = ints(a.agent_sizes) if a.agent_sizes else [10_000, 100_000]
    default_am = [12, 2] if a.quick else [36, 3]
    am = ints(a.agent_months) if a.agent_months else default_am
    a.agent_months = {n: (am[i] if i < len(am) else am[-1]) for i, n in enumerate(a.agent_sizes)}
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a._child:
        child(json.loads(a._child))
        return 0
    if a.profile:
        profile(a.profile, a.models[0], a.profile_months)
        return 0

    info = machine()
    now = datetime.datetime.now(datetime.UTC)
    print(f"payment-sim monthly-step benchmark — {now:%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine: {info['platform']} ({info['machine']}), {info['cpu']}, "
        f"{info['cpu_count']} CPUs ({info['cpus_available']} available); timing on one "
        f"thread (BLAS/OpenMP threads = {os.environ['OPENBLAS_NUM_THREADS']})"
    )
    print(f"python {info['python']}, numpy {info['numpy']}, mesa {info['mesa']}")
    if info["git"]:
        changes = info["git"]["sim_changes"]
        print(
            f"code: git {info['git']['commit']}"
            + (f" + uncommitted changes in {', '.join(changes)}" if changes else "")
        )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"targets: ≥ {TARGET_RATE / 1e6:g} M patient-months/s at {TARGET_RATE_N:,} patients; "
        f"≥ {TARGET_RATIO:g}× per-agent at {TARGET_RATIO_N:,}; ≤ {TARGET_BYTES:g} B/patient"
    )
    print(
        "one patient-month = one patient through the monthly step of every care setting "
        "(2 by default), all monthly rows collected"
    )
    results: dict[str, Any] = {
        "date": now.isoformat(timespec="seconds"),
        "machine": info,
        "argv": sys.argv,
        "targets": {
            "patient_months_per_second": TARGET_RATE,
            "at_patients": TARGET_RATE_N,
            "ratio_vs_per_agent": TARGET_RATIO,
            "ratio_at_patients": TARGET_RATIO_N,
            "bytes_per_patient": TARGET_BYTES,
        },
        "vectorized": [],
        "per_agent": [],
        "sanity": [],
    }

    # -- 1. vectorized model, default behaviour (learning), every payment model and size
    print(
        f"\n[1] Vectorized HealthSystemModel, behaviour.mode = learning: fresh model, 1 warm-up "
        f"month, then {a.months} months timed; repeated to ≥ {a.min_seconds:g} s and "
        f"≥ {a.min_runs} runs. Memory: child process, build + 1 + {a.months} months."
    )
    rows = []
    for model in a.models:
        for n in a.sizes:
            runs, _ = measure(
                lambda n=n, model=model: build("vectorized", n, model, "learning"),
                a.months,
                a.min_seconds,
                a.min_runs,
            )
            r = {"model": model, "patients": n, "mode": "learning", **rates(n, a.months, runs)}
            if not a.no_memory:
                mem = memory("vectorized", model, n, a.months, "learning")
                r["memory"] = mem
            results["vectorized"].append(r)
            rate_ok = verdict(r["rate"] >= TARGET_RATE) if n == TARGET_RATE_N else ""
            mem_cells = ["", "", ""]
            if "memory" in r:
                b = r["memory"]["bytes_per_patient"]
                mem_cells = [
                    f"{b:8.1f}",
                    verdict(b <= TARGET_BYTES),
                    f"{r['memory']['arrays_bytes_per_patient']:6.1f}",
                ]
            rows.append(
                [
                    model,
                    f"{n:,}",
                    f"{a.months}×{len(runs)}",
                    f"{sum(runs):6.2f}",
                    fmt_rate(r["rate"]),
                    fmt_rate(r["rate_best"]),
                    rate_ok,
                    *mem_cells,
                ]
            )
            print(f"    {model:<10} {n:>9,}: {fmt_rate(r['rate'])} patient-months/s", flush=True)
    print()
    print(
        table(
            [
                "payment",
                "patients",
                "months×runs",
                "seconds",
                "pm/s (mean)",
                "pm/s (best)",
                "≥10M@1M",
                "peak B/patient",
                "≤200",
                "arrays B/patient",
            ],
            rows,
            "lrrrrrlrlr",
        )
    )
    print(
        "pm/s = patient-months per second; peak B/patient = (peak RSS − RSS after imports) / N, "
        "fixed overheads (providers, rows, temporaries) included; arrays = "
        "population.nbytes / N"
    )
    loaded = [r["memory"].get("kernels_kib", 0) for r in results["vectorized"] if "memory" in r]
    if any(loaded):
        print(
            f"the compiled kernels' runtime (numba, llvmlite), loaded once per process from "
            f"50,000 patients, counts with the imports: {max(loaded) / 1024:.0f} MiB"
        )

    # -- 2. per-agent formulation side by side (ffs)
    if not a.no_agents:
        pa_model = "ffs"
        print(
            f"\n[2] Per-agent Mesa formulation (benchmarks/per_agent.py: one Patient agent "
            f"each, shuffle_do) vs vectorized, {pa_model}, same window (1 warm-up month + the "
            f"months shown), providers with fixed styles → vectorized in behaviour.mode = fixed"
            f" (learning shown for reference); per-agent draws from "
            f"{'self.random (stdlib)' if a.agent_rng == 'python' else 'self.model.rng (numpy)'}; "
            f"runs interleaved"
        )
        rows = []
        sanity_rows = None
        for n in a.agent_sizes:
            months = a.agent_months[n]
            runs, all_rows = measure_interleaved(
                {
                    "per_agent": lambda n=n: build("per_agent", n, pa_model, "fixed", a.agent_rng),
                    "fixed": lambda n=n: build("vectorized", n, pa_model, "fixed"),
                    "learning": lambda n=n: build("vectorized", n, pa_model, "learning"),
                },
                months,
                a.min_seconds,
                a.min_runs,
            )
            pa_runs, fx_runs, ln_runs = runs["per_agent"], runs["fixed"], runs["learning"]
            pa_rows, fx_rows = all_rows["per_agent"], all_rows["fixed"]
            r = {
                "patients": n,
                "model": pa_model,
                "per_agent": rates(n, months, pa_runs),
                "vectorized_fixed": rates(n, months, fx_runs),
                "vectorized_learning": rates(n, months, ln_runs),
            }
            r["ratio_fixed"] = r["vectorized_fixed"]["rate"] / r["per_agent"]["rate"]
            r["ratio_learning"] = r["vectorized_learning"]["rate"] / r["per_agent"]["rate"]
            if not a.no_memory:
                r["per_agent_memory"] = memory("per_agent", pa_model, n, months, "fixed")
            results["per_agent"].append(r)
            if sanity_rows is None:
                sanity_rows = (n, months, fx_rows, pa_rows)
            pa_b = r.get("per_agent_memory", {}).get("bytes_per_patient")
            rows.append(
                [
                    f"{n:,}",
                    f"{months}",
                    f"{len(pa_runs)}/{len(fx_runs)}/{len(ln_runs)}",
                    fmt_rate(r["per_agent"]["rate"]),
                    fmt_rate(r["vectorized_fixed"]["rate"]),
                    f"{r['ratio_fixed']:6.1f}×",
                    verdict(r["ratio_fixed"] >= TARGET_RATIO) if n == TARGET_RATIO_N else "",
                    fmt_rate(r["vectorized_learning"]["rate"]),
                    f"{r['ratio_learning']:6.1f}×",
                    f"{pa_b:8.0f}" if pa_b is not None else "",
                ]
            )
            print(
                f"    {n:>9,}: per-agent {fmt_rate(r['per_agent']['rate'])}, vectorized "
                f"{fmt_rate(r['vectorized_fixed']['rate'])} → {r['ratio_fixed']:.1f}×",
                flush=True,
            )
        print()
        print(
            table(
                [
                    "patients",
                    "months",
                    "runs pa/fixed/learn",
                    "per-agent pm/s",
                    "vectorized fixed pm/s",
                    "ratio",
                    "≥50×@100k",
                    "vectorized learning pm/s",
                    "ratio",
                    "per-agent peak B/patient",
                ],
                rows,
                "rrrrrrlrrr",
            )
        )

        # sanity: the two formulations agree (different random streams)
        if sanity_rows is not None:
            n, months, fx_rows, pa_rows = sanity_rows
            checks = sanity(fx_rows, pa_rows)
            results["sanity"] = {"patients": n, "months": 1 + months, "checks": checks}
            print(
                f"\nSanity check, {n:,} patients, {pa_model}, fixed mode, months 0-{months} "
                f"(per-agent vs vectorized, tolerance ±{SANITY_TOLERANCE:.0%}):"
            )
            print(
                table(
                    ["setting", "measure", "vectorized", "per-agent", "difference", ""],
                    [
                        [
                            c["setting"],
                            c["measure"],
                            f"{c['vectorized']:.3f}",
                            f"{c['per_agent']:.3f}",
                            f"{c['difference']:+.1%}",
                            "ok" if c["ok"] else "OFF",
                        ]
                        for c in checks
                    ],
                    "llrrrl",
                )
            )

    # -- summary against the targets
    print("\nTargets:")
    at = [r for r in results["vectorized"] if r["patients"] == TARGET_RATE_N]
    if at:
        for r in at:
            print(
                f"  {verdict(r['rate'] >= TARGET_RATE)}  ≥ 10 M patient-months/s at 1M, "
                f"{r['model']}: {r['rate'] / 1e6:.2f} M (best run {r['rate_best'] / 1e6:.2f} M)"
            )
    else:
        print(f"  (throughput target is at {TARGET_RATE_N:,} patients: not run)")
    at = [r for r in results["per_agent"] if r["patients"] == TARGET_RATIO_N]
    for r in at:
        print(
            f"  {verdict(r['ratio_fixed'] >= TARGET_RATIO)}  ≥ 50× per-agent at 100k: "
            f"{r['ratio_fixed']:.1f}× (fixed styles; learning: {r['ratio_learning']:.1f}×)"
        )
    mem = [r for r in results["vectorized"] if "memory" in r]
    if mem:
        big = max(r["patients"] for r in mem)
        worst = max(
            (r for r in mem if r["patients"] == big), key=lambda r: r["memory"]["bytes_per_patient"]
        )
        b = worst["memory"]["bytes_per_patient"]
        print(
            f"  {verdict(b <= TARGET_BYTES)}  ≤ 200 B/patient at {big:,} (worst model, "
            f"{worst['model']}): {b:.1f} B peak, "
            f"{worst['memory']['arrays_bytes_per_patient']:.1f} B in patient arrays"
        )
        # marginal cost of a patient: slope of peak memory between the two largest sizes
        sizes = sorted({r["patients"] for r in mem})
        if len(sizes) >= 2:
            n0, n1 = sizes[-2], sizes[-1]
            peak = {
                (r["model"], r["patients"]): r["memory"]["peak_kib"] - r["memory"]["baseline_kib"]
                for r in mem
            }
            slopes = {
                model: (peak[model, n1] - peak[model, n0]) * 1024 / (n1 - n0)
                for model in a.models
                if (model, n0) in peak and (model, n1) in peak
            }
            results["marginal_bytes_per_patient"] = {"between": [n0, n1], **slopes}
            print(
                f"        marginal memory per added patient ({n0:,} → {n1:,}, fixed overheads "
                "cancel): " + ", ".join(f"{k} {v:.0f} B" for k, v in slopes.items())
            )

    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
        print(f"\nwrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
