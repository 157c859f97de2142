#!/usr/bin/env python
"""Calibration and uncertainty in minutes (issue 27): simulations per minute of an ABC-SMC
calibration and of a posterior-draw run, on the machine's cores, for two revisions in one run.

* **ABC-SMC** (``--abc``): ``calibration/world.toml`` as shipped (its targets, priors, 6,000
  patients × 48 months, common random numbers), with a smaller population and fewer generations
  (``--particles``, ``--generations``), run by :func:`sim.experiments.calibrate.run_calibration`
  on a process pool of ``--workers`` into a fresh folder: the whole call is timed (pool start,
  every simulation, the posterior's outputs and figures). A *simulation* is one run of a target
  group's arms for one particle (the file's two groups: the fee-for-service arm alone, and the
  fee-elasticity and out-of-pocket arms together), as ``calibration.json`` counts them.
* **Posterior draws** (``--draws``): ``sim run scenarios/compare_payment_models.toml --posterior
  calibration/world_posterior --draws N --set population.patients=P --workers W`` in a fresh
  interpreter (whole process: imports, pool, every draw's seven arms, tables, figure).

Each is also given as patient-months per second and as the issue's unit, simulations of 20,000
patients × 60 months (one arm) per minute, so that the target (40,000 such simulations in
30 minutes, ≈ 1,333 a minute; 1,000 draws × 7 arms at 20,000 in 10 minutes) can be read off.
Revisions (``--base DIR``: a checkout or an export whose ``sim`` is benchmarked, against this
checkout) alternate round by round (``--rounds``) so the machine's load falls on both; best of
rounds. Nothing is asserted.

    PYTHONPATH=. python benchmarks/bench_uncertainty.py --base /tmp/snap_before
    PYTHONPATH=. python benchmarks/bench_uncertainty.py --abc --particles 40 --generations 2
    PYTHONPATH=. python benchmarks/bench_uncertainty.py --draws 10 --patients 20000
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
#: the issue's unit of simulation: 20,000 patients × 60 months, one arm
UNIT = 20_000 * 60


def abc_child(particles: int, generations: int, workers: int, out: Path) -> dict:
    """One small ABC-SMC calibration of the shipped world; its figures."""
    import dataclasses

    from sim.experiments.calibrate import load_calibration, run_calibration

    cal = load_calibration(ROOT / "calibration" / "world.toml")
    smc = cal.config.smc.model_copy(
        update={"population": particles, "generations": generations}
    )
    cal = dataclasses.replace(cal, config=cal.config.model_copy(update={"smc": smc}))
    started = time.perf_counter()
    outcome = run_calibration(cal, out, executor="process", workers=workers)
    wall = time.perf_counter() - started
    meta = json.loads((out / "calibration.json").read_text())
    runs = int(meta.get("simulations") or outcome.trials)
    groups = cal.groups
    patients = int(groups[0].scenario["population"]["patients"])
    months = int(groups[0].scenario["months"])
    # patient-months of one particle: every group's arms
    seeds = cal.config.seeds
    per_particle = sum(len(g.arms) for g in groups) * patients * months * seeds
    return {
        "wall": wall,
        "particles_simulated": runs,
        "runs": runs * len(groups) * seeds,
        "patient_months": runs * per_particle,
    }


def draws_child(draws: int, patients: int, workers: int, out: Path) -> dict:
    """One posterior-draw run of the main comparison in a fresh interpreter; its figures."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable, "-m", "sim", "run", str(ROOT / "scenarios" / "compare_payment_models.toml"),
        "--posterior", str(ROOT / "calibration" / "world_posterior"), "--draws", str(draws),
        "--set", f"population.patients={patients}", "--workers", str(workers), "--quiet",
        "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    meta = json.loads((out / "metadata.json").read_text())
    arms = len(meta["arms"])
    months = int(meta["scenario"]["months"])
    return {"wall": wall, "runs": draws * arms, "patient_months": draws * arms * patients * months}


def child(args: argparse.Namespace) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench_unc_"))
    if args.child == "abc":
        got = abc_child(args.particles, args.generations, args.workers, out / "cal")
    else:
        got = draws_child(args.draws, args.patients, args.workers, out / "run")
    import sim

    got["sim"] = str(Path(sim.__file__).parent)
    print(json.dumps(got))


def launch(kind: str, tree: Path | None, args: argparse.Namespace) -> dict:
    path = [str(tree)] if tree else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
    cmd = [
        sys.executable, __file__, "--child", kind, "--particles", str(args.particles),
        "--generations", str(args.generations), "--workers", str(args.workers),
        "--draws", str(args.draws), "--patients", str(args.patients),
    ]  # fmt: skip
    res = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--abc", action="store_true", help="the ABC-SMC calibration only")
    ap.add_argument("--posterior-draws", action="store_true", help="the posterior-draw run only")
    ap.add_argument("--base", type=Path, help="another tree whose sim to benchmark against")
    ap.add_argument("--particles", type=int, default=48)
    ap.add_argument("--generations", type=int, default=1)
    ap.add_argument("--draws", type=int, default=6)
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    kinds = [k for k, on in (("abc", args.abc), ("draws", args.posterior_draws)) if on]
    kinds = kinds or ["abc", "draws"]
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.base:
        trees.insert(0, ("base", args.base.resolve()))
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores, {args.workers} workers")  # fmt: skip
    best: dict[tuple[str, str], dict] = {}
    for r in range(args.rounds):
        order = trees if r % 2 == 0 else trees[::-1]
        for kind in kinds:
            for name, tree in order:
                got = launch(kind, tree, args)
                load = os.getloadavg()[0]
                print(f"round {r + 1} {kind:5s} {name:9s}: {got['wall']:7.1f} s, "
                      f"{got['runs']} runs (load {load:.1f})", flush=True)  # fmt: skip
                key = (kind, name)
                if key not in best or got["wall"] < best[key]["wall"]:
                    best[key] = got
    print()
    print("| figure | revision | wall s (best) | runs/min | M patient-months/s | "
          "20k × 60 simulations/min | to the target |")
    print("|---|---|---|---|---|---|---|")
    for (kind, name), got in best.items():
        rate = got["patient_months"] / got["wall"]
        units = rate * 60 / UNIT
        if kind == "abc":
            label = (f"ABC-SMC, {args.particles} particles × {args.generations} generations")
            target = f"40,000 in {40_000 / units:.0f} min (≤ 30)"
        else:
            label = f"posterior draws, {args.draws} × 7 arms at {args.patients:,}"
            per_draw = got["wall"] / args.draws
            target = f"1,000 draws in {1_000 * per_draw / 60:.1f} min (≤ 10)"
        print(f"| {label} | {name} | {got['wall']:.1f} | {got['runs'] * 60 / got['wall']:.0f} | "
              f"{rate / 1e6:.2f} | {units:.0f} | {target} |")  # fmt: skip


if __name__ == "__main__":
    main()
