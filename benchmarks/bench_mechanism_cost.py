#!/usr/bin/env python
"""What a mechanism costs per month: the shipped main comparison's first arm with a field at two
values (the mechanism on, and off), fresh models alternating in one process, CPU clock.

    PYTHONPATH=. python benchmarks/bench_mechanism_cost.py --on behaviour.income_effect=0.528 \\
        --off behaviour.income_effect=0 --sizes 100000,1000000 --rounds 3

Each round builds a model of each kind, runs two warm-up months (not timed) and times
``--months`` calls of ``step()``; the table shows the best and the mean over rounds, and the
share of the month the difference is. Switching a mechanism off also changes what providers
do, so the difference includes behaviour as well as arithmetic.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

SCENARIO = "scenarios/compare_payment_models.toml"


def build(scenario: str, n: int, setting: str):
    from sim.engine.model import HealthSystemModel
    from sim.scenario.loading import load_scenario

    sc = load_scenario(scenario, [f"population.patients={n}", setting])
    model = HealthSystemModel(sc, sc.arms[0].name)
    for _ in range(2):
        model.step()
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--on", required=True, help="FIELD=VALUE with the mechanism on")
    ap.add_argument("--off", required=True, help="FIELD=VALUE with it off")
    ap.add_argument("--scenario", default=SCENARIO)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--months", type=int, default=6)
    a = ap.parse_args(argv)
    print("| patients | on ms/month best (mean) | off ms/month best (mean) | share of the month |")
    print("|---|---|---|---|")
    for n in (int(s) for s in a.sizes.split(",")):
        res: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(a.rounds):
            for kind, setting in (("on", a.on), ("off", a.off)):
                model = build(a.scenario, n, setting)
                t0 = time.process_time()
                for _ in range(a.months):
                    model.step()
                res[kind].append((time.process_time() - t0) / a.months)
        on, off = min(res["on"]), min(res["off"])
        mean = {k: sum(v) / len(v) for k, v in res.items()}
        print(
            f"| {n:,} | {on * 1e3:.1f} ({mean['on'] * 1e3:.1f}) | {off * 1e3:.1f} "
            f"({mean['off'] * 1e3:.1f}) | {100 * (on - off) / on:.1f}% |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
