"""How fast the command line starts: `sim --help` and each subcommand's `--help`.

Each command runs in a fresh interpreter (the way a user types it), several times; the script
prints the median and the fastest wall time of each, with the time of a bare `python -c pass`
for scale, and which heavy libraries the help path imported (none is the aim). Nothing is
asserted: compare against the target (well under a second) by eye.

    python benchmarks/bench_startup.py            # 7 runs each
    python benchmarks/bench_startup.py --runs 15
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBCOMMANDS = ["run", "sweep", "sensitivity", "report", "scenarios", "explore"]
HEAVY = ("mesa", "numpy", "pandas", "pyarrow", "pydantic", "matplotlib", "scipy", "solara",
         "rich", "dask", "SALib", "frictionless")  # fmt: skip


def _time(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)  # fmt: skip
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def _imported(args: list[str], env: dict[str, str]) -> list[str]:
    code = (
        "import contextlib, io, sys\n"
        "from sim.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({args!r})\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return [m for m in out.stdout.strip().split(",") if m]


def main() -> None:
    """Time `sim --help` and every `sim SUBCOMMAND --help`; print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per command (default 7)")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    entry = shutil.which("sim", path=str(Path(sys.executable).parent))
    rows = [("python -c pass", [sys.executable, "-c", "pass"], None)]
    rows.append(("python -m sim --help", [sys.executable, "-m", "sim", "--help"], ["--help"]))
    if entry:
        rows.append(("sim --help (entry point)", [entry, "--help"], ["--help"]))
    for sub in SUBCOMMANDS:
        rows.append((f"sim {sub} --help", [sys.executable, "-m", "sim", sub, "--help"],
                     [sub, "--help"]))  # fmt: skip
    import platform

    print(
        f"startup of the command line: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {args.runs} runs each (wall time, fresh interpreter)"
    )
    print(f"{'command':<28} {'median':>9} {'fastest':>9}  heavy libraries imported")
    for label, cmd, parse in rows:
        med, best = _time(cmd, args.runs, env)
        heavy = "-" if parse is None else (", ".join(_imported(parse, env)) or "none")
        print(f"{label:<28} {med * 1000:>7.0f}ms {best * 1000:>7.0f}ms  {heavy}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sim.experiments.run"], env=env, check=True)
    print(f"\nfor comparison, `import sim.experiments.run` (the model and its libraries): "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
