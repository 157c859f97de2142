#!/usr/bin/env python
"""What a mechanism costs per month: the shipped main comparison's first arm with a field at two
values (the mechanism on, and off), fresh models alternating in one process, CPU clock.

    PYTHONPATH=. python benchmarks/bench_mechanism_cost.py --on behaviour.income_effect=0.528 \\
        --off behaviour.income_effect=0 --sizes 100000,1000000 --rounds 3

Each round builds a model of each kind, runs two warm-up months (not timed) and times
``--months`` calls of ``step()``; the table shows the best and the mean over rounds, and the
share of the month the difference is. Switching a mechanism off also changes what providers
do, so the difference includes behaviour as well as arithmetic.

``--base DIR`` (a checkout or an export of an older tree, e.g. ``git archive REV | tar -x -C
DIR``) times the same in two trees: each round runs one fresh process per tree (this script,
with the tree's ``sim`` and scenario), the trees alternating so that the shared machine's load
falls on both alike, and prints both trees' figures and the ratio of their months.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

SCENARIO = "scenarios/compare_payment_models.toml"
ROOT = Path(__file__).resolve().parents[1]


def build(scenario: str, n: int, setting: str):
    from sim.engine.model import HealthSystemModel
    from sim.scenario.loading import load_scenario

    sc = load_scenario(scenario, [f"population.patients={n}", setting])
    model = HealthSystemModel(sc, sc.arms[0].name)
    for _ in range(2):
        model.step()
    return model


def rounds(scenario: str, on: str, off: str, n: int, count: int, months: int) -> dict:
    """Seconds a month of each kind (``on``, ``off``), one entry per round."""
    res: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(count):
        for kind, setting in (("on", on), ("off", off)):
            model = build(scenario, n, setting)
            t0 = time.process_time()
            for _ in range(months):
                model.step()
            res[kind].append((time.process_time() - t0) / months)
    return res


def in_tree(tree: Path, a: argparse.Namespace, n: int) -> dict:
    """One round in a fresh process of ``tree`` (its ``sim`` and its scenario file)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--on", a.on, "--off", a.off,
        "--scenario", str(tree / a.scenario), "--sizes", str(n), "--rounds", "1",
        "--months", str(a.months), "--json",
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fig(v: list[float]) -> str:
    return f"{min(v) * 1e3:.1f} ({sum(v) / len(v) * 1e3:.1f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--on", required=True, help="FIELD=VALUE with the mechanism on")
    ap.add_argument("--off", required=True, help="FIELD=VALUE with it off")
    ap.add_argument("--scenario", default=SCENARIO)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--base", type=Path, help="another tree to time against this one")
    ap.add_argument("--json", action="store_true", help="print the rounds as JSON (one size)")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.json:
        print(json.dumps(rounds(a.scenario, a.on, a.off, sizes[0], a.rounds, a.months)))
        return 0
    if a.base is not None:
        trees = {"base": a.base.resolve(), "head": ROOT}
        print(
            "| patients | base: on ms/month best (mean) | off | share | "
            "head: on | off | share | head ÷ base, on (best) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for n in sizes:
            got: dict[str, dict[str, list[float]]] = {t: {"on": [], "off": []} for t in trees}
            for r in range(a.rounds):
                # alternate which tree goes first
                for t in list(trees)[:: 1 if r % 2 == 0 else -1]:
                    one = in_tree(trees[t], a, n)
                    for kind in ("on", "off"):
                        got[t][kind] += one[kind]
            cells = []
            for t in trees:
                on, off = min(got[t]["on"]), min(got[t]["off"])
                cells += [_fig(got[t]["on"]), _fig(got[t]["off"]), f"{100 * (on - off) / on:.1f}%"]
            ratio = min(got["head"]["on"]) / min(got["base"]["on"])
            print(f"| {n:,} | " + " | ".join(cells) + f" | {ratio:.2f} |", flush=True)
        return 0
    print("| patients | on ms/month best (mean) | off ms/month best (mean) | share of the month |")
    print("|---|---|---|---|")
    for n in sizes:
        res = rounds(a.scenario, a.on, a.off, n, a.rounds, a.months)
        on, off = min(res["on"]), min(res["off"])
        print(f"| {n:,} | {_fig(res['on'])} | {_fig(res['off'])} | {100 * (on - off) / on:.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
