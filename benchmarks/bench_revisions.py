#!/usr/bin/env python
"""The monthly step of two revisions of the code, measured in the same run.

Each revision's own ``benchmarks/bench_step.py`` times the vectorized step (learning
providers, all monthly rows) in a fresh process, the revisions alternating round by round so
that the shared machine's load falls on both alike. Prints patient-months per second per
revision, payment model and size (the best of at least three runs in each round, then the
median over rounds) and the ratio head / base.

    PYTHONPATH=. python benchmarks/bench_revisions.py                 # base: before the redesign
    PYTHONPATH=. python benchmarks/bench_revisions.py --base HEAD~3 --sizes 100000 --rounds 5

``--base`` and ``--head`` take any git revision; ``--head`` defaults to the working tree.
Revisions other than the working tree are exported with ``git archive`` into a temporary
folder (nothing is checked out here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the last commit before the month-pipeline redesign (its reference-output test)
BEFORE_REDESIGN = "ab3a551"


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev`` in a folder of its own."""
    dest = into / rev.replace("/", "_").replace("~", "_")
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "sim", "benchmarks"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def measure(tree: Path, sizes: str, models: str, months: int, seconds: float) -> dict:
    """One bench_step run of the code in ``tree``: rate per (model, patients)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        cmd = [
            sys.executable,
            str(tree / "benchmarks" / "bench_step.py"),
            "--sizes",
            sizes,
            "--models",
            models,
            "--months",
            str(months),
            "--min-seconds",
            str(seconds),
            "--min-runs",
            "3",
            "--no-memory",
            "--no-agents",
            "--json",
            out.name,
        ]
        subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
        data = json.loads(Path(out.name).read_text())
    # the best of the runs: the one the shared machine disturbed least
    return {(r["model"], r["patients"]): r["rate_best"] for r in data["vectorized"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=BEFORE_REDESIGN, help="base revision (default: %(default)s)")
    ap.add_argument("--head", default=None, help="head revision (default: the working tree)")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--models", default="ffs,capitation,bundled,blended")
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        base = export(a.base, Path(tmp))
        head = ROOT if a.head is None else export(a.head, Path(tmp))
        trees = {"base": base, "head": head}
        rates: dict[str, list[dict]] = {"base": [], "head": []}
        for k in range(a.rounds):
            order = ("base", "head") if k % 2 == 0 else ("head", "base")
            for name in order:
                rates[name].append(measure(trees[name], a.sizes, a.models, a.months, a.seconds))
            print(f"round {k + 1}/{a.rounds} done", file=sys.stderr)

    head_name = a.head or "working tree"
    print(f"monthly step, base {a.base} vs head {head_name}: patient-months/s (median of")
    print(f"{a.rounds} alternating rounds, {a.months} months timed after a warm-up month)")
    print(f"{'model':<12}{'patients':>10}{'base M/s':>11}{'head M/s':>11}{'head/base':>11}")
    ratios = []
    for key in rates["base"][0]:
        b = statistics.median(r[key] for r in rates["base"])
        h = statistics.median(r[key] for r in rates["head"])
        # the ratio of each round's pair, then the median: the pairs share the machine's load
        ratio = statistics.median(
            rh[key] / rb[key] for rb, rh in zip(rates["base"], rates["head"], strict=True)
        )
        ratios.append(ratio)
        model, n = key
        print(f"{model:<12}{n:>10,}{b / 1e6:>11.2f}{h / 1e6:>11.2f}{ratio:>11.3f}")
    print(f"median ratio head/base over all cells: {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
