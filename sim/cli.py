"""Command line: ``sim run SCENARIO`` (also ``python -m sim run SCENARIO``).

Input errors (a bad scenario, an unknown field, a missing file) print one clear message naming
the file, the field and what is allowed, and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.errors import ScenarioError, SimError

EXIT_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim",
        description="Agent-based simulation of how payment models shape what providers do.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser(
        "run",
        help="run a scenario: every arm under common random numbers",
        description="Run every arm of a scenario and write a results folder.",
    )
    r.add_argument("scenario", type=Path, help="scenario file (TOML)")
    r.add_argument("--out", type=Path, help="results folder (default: results/<scenario name>/)")
    r.add_argument("--seed", type=int, help="root seed (overrides the scenario's seed)")
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field, e.g. --set population.patients=1000000 (repeatable)",
    )
    r.add_argument("--arms", help="comma-separated arms to run (default: all)")
    r.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
    except SimError as exc:
        print(f"sim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("sim: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0


def _run(args: argparse.Namespace) -> int:
    from sim.outputs import command_line, write_results
    from sim.run import run
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if args.seed is not None and args.seed < 0:
        raise ScenarioError("--seed", "seed", f"must be >= 0 (got {args.seed})")
    arms = None
    if args.arms:
        arms = [a.strip() for a in args.arms.split(",") if a.strip()]
        known = [a.name for a in scenario.arms]
        for a in arms:
            if a not in known:
                raise ScenarioError(
                    str(args.scenario), "--arms", f"unknown arm {a!r}; allowed: {', '.join(known)}"
                )
    out = args.out or Path("results") / scenario.name
    if out.exists() and not out.is_dir():
        raise ScenarioError("--out", None, f"{out} exists and is not a folder")

    progress, close = (None, lambda: None) if args.quiet else _progress_bar(scenario, arms)
    started = time.perf_counter()
    try:
        result = run(scenario, seed=args.seed, arms=arms, progress=progress)
    finally:
        close()
    elapsed = time.perf_counter() - started
    meta = result.metadata()
    meta["command"] = command_line()
    written = write_results(
        out,
        monthly=result.monthly,
        summary=result.summary,
        providers=result.providers,
        meta=meta,
        figure=scenario.outputs.figure,
    )
    if not args.quiet:
        _print_summary(result, elapsed)
    print(f"results: {written.path}/ ({', '.join(written.files)})")
    return 0


def _progress_bar(scenario, arms):
    """A live bar on a terminal; plain lines every 10% elsewhere (logs, batch jobs)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    start = time.perf_counter()

    def rate(patient_months: int) -> str:
        dt = max(time.perf_counter() - start, 1e-9)
        return f"{patient_months / dt / 1e6:.1f}M patient-months/s"

    if not sys.stderr.isatty():
        last = [-1]

        def log(done: int, total: int, patient_months: int) -> None:
            tenth = 10 * done // total
            if tenth != last[0]:
                last[0] = tenth
                print(
                    f"sim: {done}/{total} months ({100 * done // total}%), {rate(patient_months)}",
                    file=sys.stderr,
                    flush=True,
                )

        return log, lambda: None

    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} months"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        transient=True,
    )
    n_arms = len(arms) if arms else len(scenario.arms)
    task = bar.add_task(scenario.name, total=scenario.months * n_arms * scenario.replications)
    bar.update(task, rate="")
    bar.start()

    def update(done: int, total: int, patient_months: int) -> None:
        bar.update(task, completed=done, rate=rate(patient_months))

    return update, bar.stop


def _print_summary(result, elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

    s = result.summary
    sc = result.scenario
    pm = sc.population.patients * sc.months * len(result.arms) * sc.replications
    console = Console(width=max(Console().width, 110))
    title = (
        f"{sc.name}: {sc.population.patients:,} patients × {sc.months} months × "
        f"{len(result.arms)} arms × {sc.replications} replicate(s), seed {result.seed}"
    )
    table = Table(title=title, title_justify="left")
    settings = [x for x in dict.fromkeys(s["setting"]) if x != "all"]
    table.add_column("arm")
    table.add_column("spending\n$ pmpm", justify="right")
    table.add_column("OOP\n$ pmpm", justify="right")
    for st in settings:
        table.add_column(f"{st}\nunits/treated", justify="right")
    table.add_column("Δ function\npoints", justify="right")
    table.add_column("adverse ev.\n/1,000 mm", justify="right")
    table.add_column("margin\n% revenue", justify="right")
    for arm in result.arms:
        a = s[s["arm"] == arm].set_index("setting")
        allr = a.loc["all"]
        table.add_row(
            arm,
            f"{allr.spending_pmpm:,.2f}",
            f"{allr.oop_pmpm:,.2f}",
            *[f"{a.loc[st, 'units_per_treated']:.2f}" for st in settings],
            f"{allr.function_change:+.2f}",
            f"{allr.adverse_events_per_1000:.2f}",
            f"{allr.provider_margin_pct:.1f}",
        )
    console.print(table)
    units = ", ".join(f"{st}: {sc.settings[st].unit}" for st in settings)
    console.print(f"units — {units}; mm = member-months; full tables in summary.csv")
    console.print(
        f"{pm / 1e6:,.1f}M patient-months in {elapsed:.1f} s "
        f"({pm / max(elapsed, 1e-9) / 1e6:.1f}M/s)"
    )


if __name__ == "__main__":
    sys.exit(main())
