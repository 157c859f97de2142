"""Command line: ``sim run SCENARIO`` (also ``python -m sim run SCENARIO``), ``sim sweep``,
``sim calibrate``, ``sim validate``, ``sim sensitivity``, ``sim report``, ``sim scenarios``,
``sim explore``.

Input errors (a bad scenario, an unknown field, a missing file) print one clear message naming
the file, the field and what is allowed, and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sim import __version__
from sim.errors import ScenarioError, SimError
from sim.guards.limits import RUNS_WITHOUT_YES

EXIT_INPUT = 2
#: the exit status of a command whose reader went away (``sim scenarios | head``): 128 + SIGPIPE
EXIT_PIPE = 141


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim",
        description="Agent-based simulation of how payment models shape what providers do.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s (payment-sim) {__version__}")
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
    r.add_argument("--arms", help="comma-separated arms to run, each once (default: all)")
    r.add_argument(
        "--workers",
        type=int,
        help="worker processes for the arms and replicates (default: all cores; a run too "
        "small to gain runs in this process); the tables are the same whatever the number",
    )
    r.add_argument(
        "--shards",
        type=int,
        help="split each (replicate, arm)'s patients by region over this many worker processes "
        "(a population too large for one; see docs/architecture.md): 1 gives the same tables "
        "as none, more agree to floating-point rounding",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --shards: run the shards as tasks of this Dask cluster (tcp://HOST:PORT), or "
        "'local' for a local cluster of one worker per shard (needs the cluster extra)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    r.add_argument(
        "--posterior",
        metavar="FOLDER",
        help="draw the world's parameters from this ABC-SMC calibration's posterior (its "
        "results folder): replicate d runs draw d, so every interval is a prediction interval "
        "combining parameter and stochastic uncertainty (needs --draws)",
    )
    r.add_argument(
        "--draws", type=int, help="with --posterior: posterior draws (the replications), 1-10,000"
    )
    r.add_argument(
        "--datapackage",
        action="store_true",
        help="also write a Frictionless data package (datapackage.json) describing the tables "
        "(needs the datapackage extra: pip install 'payment-sim[datapackage]')",
    )
    r.add_argument(
        "--license",
        dest="data_license",
        default="CC-BY-4.0",
        metavar="SPDX",
        help="licence of the data package, an SPDX identifier (default: CC-BY-4.0)",
    )
    r.add_argument(
        "--data-version",
        default="1.0.0",
        metavar="VERSION",
        help="version of the data package (default: 1.0.0)",
    )

    w = sub.add_parser(
        "sweep",
        help="run a sweep: a design over scenario fields, with replications",
        description="Run (or resume) a sweep; kill it at any time and rerun to finish it.",
    )
    w.add_argument("sweep", type=Path, help="sweep file (TOML)")
    w.add_argument("--out", type=Path, help="results folder (default: results/<sweep name>/)")
    w.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    w.add_argument(
        "--executor",
        choices=["process", "dask", "dask-local", "serial"],
        default="process",
        help="process: a local process pool (default); dask: an existing Dask cluster "
        "(--scheduler); dask-local: a Dask LocalCluster started here; serial: in this process",
    )
    w.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    w.add_argument("--quiet", action="store_true", help="no progress")
    w.add_argument(
        "--license",
        dest="data_license",
        default="CC-BY-4.0",
        metavar="SPDX",
        help="licence of the dataset's data package, an SPDX identifier (default: CC-BY-4.0)",
    )
    w.add_argument(
        "--data-version",
        default="1.0.0",
        metavar="VERSION",
        help="version of the dataset's data package (default: 1.0.0)",
    )
    w.add_argument(
        "--yes",
        action="store_true",
        help=f"run a sweep of more than {RUNS_WITHOUT_YES:,} runs (it is refused otherwise, "
        "with the count and an estimate of its time)",
    )

    c = sub.add_parser(
        "calibrate",
        help="calibrate free parameters to stated targets (Optuna or ABC)",
        description="Run (or resume) a calibration: free parameters, targets and objective "
        "from a calibration file; kill it at any time and rerun to finish it. Needs: pip "
        "install 'payment-sim[calibration]'.",
    )
    c.add_argument("calibration", type=Path, help="calibration file (TOML)")
    c.add_argument("--out", type=Path, help="output folder (default: results/<name>/)")
    c.add_argument("--trials", type=int, help="trials (or ABC draws): overrides the file's")
    _executor_options(c)

    v = sub.add_parser(
        "validate",
        help="replay published findings (a validation suite) and compare the model's figures",
        description="Run (or resume) every case of a validation suite and write "
        "validation.csv, validation.md and validation.html: the published figure and range, "
        "the model's figure with its replication interval, inside or outside.",
    )
    v.add_argument(
        "suite", type=Path, nargs="?", default=Path("validation"),
        help="folder of case files (default: validation/)",
    )  # fmt: skip
    v.add_argument("--out", type=Path, help="output folder (default: results/validation/)")
    v.add_argument(
        "--small",
        action="store_true",
        help="reduced suite: at most 2,000 patients and 2 replications per case (CI)",
    )
    v.add_argument(
        "--parameters",
        type=Path,
        help="a parameter file (from sim calibrate) applied to every case's scenario; refused "
        "if it was calibrated on a case of the suite",
    )
    v.add_argument("--replications", type=int, help="replications per case (overrides cases)")
    v.add_argument("--cases", help="comma-separated case ids to run (default: all)")
    v.add_argument(
        "--posterior",
        metavar="FOLDER",
        help="draw the world's parameters from this ABC-SMC calibration's posterior: every "
        "case's replicate d runs draw d, and each interval is a prediction interval",
    )
    v.add_argument("--draws", type=int, help="with --posterior: posterior draws, 1-10,000")
    _executor_options(v)

    fc = sub.add_parser(
        "forecast",
        help="register a forecast of a reform not yet evaluated (posterior draws, dated)",
        description="Run a forecast spec's outcomes with posterior draws of the world's "
        "parameters and write the registered forecast file (never overwritten; commit it).",
    )
    fc.add_argument("spec", type=Path, help="forecast spec (TOML, a [forecast] table)")
    fc.add_argument("--posterior", required=True, metavar="FOLDER",
                    help="an ABC-SMC calibration's results folder")  # fmt: skip
    fc.add_argument("--draws", type=int, default=200, help="posterior draws (default: 200)")
    fc.add_argument("--out", type=Path, required=True, help="the forecast file to write")
    fc.add_argument("--workers", type=int, help="worker processes (default: 1)")

    a = sub.add_parser(
        "sensitivity",
        help="Sobol or Morris indices from a finished sweep",
        description="Sensitivity indices (SALib) of outcomes of a sobol or morris sweep.",
    )
    a.add_argument("results", type=Path, help="sweep results folder")
    a.add_argument(
        "--outcome",
        action="append",
        dest="outcomes",
        help="summary column to analyse (repeatable; default: spending, OOP, function, events)",
    )
    a.add_argument("--setting", default="all", help="setting of the summary (default: all)")
    a.add_argument("--quiet", action="store_true", help="no progress")

    rep = sub.add_parser(
        "report",
        help="figures and tables for a paper from a run or sweep results folder",
        description="Write figures (PNG, PDF), tables (CSV, Markdown, LaTeX) and a "
        "self-contained report.html from a results folder of `sim run` or `sim sweep`.",
    )
    rep.add_argument("results", type=Path, help="results folder (sim run or sim sweep)")
    rep.add_argument("--baseline", help="arm the others are compared with (default: the first)")
    rep.add_argument("--out", type=Path, help="report folder (default: RESULTS/report/)")
    rep.add_argument("--quiet", action="store_true", help="no progress")

    sc = sub.add_parser(
        "scenarios",
        help="list the scenarios shipped with the package, or copy one here",
        description="List the shipped scenario and sweep files (`sim scenarios`), or copy one "
        "into a folder to edit and run (`sim scenarios copy NAME`).",
    )
    sc_sub = sc.add_subparsers(dest="scenarios_command", metavar="ACTION")
    sc_sub.add_parser("list", help="list the shipped scenarios (the default)")
    cp = sc_sub.add_parser("copy", help="copy a shipped scenario into a folder")
    cp.add_argument("name", help="name of a shipped scenario (see `sim scenarios`)")
    cp.add_argument("--to", type=Path, default=Path("."), help="folder (default: here)")
    cp.add_argument("--force", action="store_true", help="overwrite existing files")
    js = sc_sub.add_parser(
        "schema",
        help="the JSON Schema of scenario files (for editors): its path, or --json its text",
    )
    js.add_argument("--json", action="store_true", help="print the schema itself")

    ex = sub.add_parser(
        "explore",
        help="an interactive explorer in the browser (needs the explore extra)",
        description="Serve the interactive explorer (Solara): choose a scenario, move payment "
        "and behaviour parameters, compare the arms with bands over replications, save the "
        "settings as a scenario and export the results. Needs: pip install "
        "'payment-sim[explore]'.",
    )
    ex.add_argument(
        "scenario",
        nargs="?",
        help="shipped scenario name or scenario file (default: compare_payment_models)",
    )
    ex.add_argument("--host", default="127.0.0.1", help="address to listen on (default: local)")
    ex.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    ex.add_argument(
        "--patients",
        type=int,
        help="starting population (default: 10,000, small enough to rerun in seconds)",
    )
    ex.add_argument("--months", type=int, help="starting months (default: the scenario's)")
    ex.add_argument("--replications", type=int, help="starting replications (default: 3)")
    ex.add_argument("--seed", type=int, help="starting seed (default: the scenario's)")
    return p


def _executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    p.add_argument(
        "--executor",
        choices=["process", "dask", "dask-local", "serial"],
        default="process",
        help="as for sim sweep: process pool (default), dask (--scheduler), dask-local, serial",
    )
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--quiet", action="store_true", help="no progress")


def _check_executor(args: argparse.Namespace) -> None:
    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ScenarioError("--workers", None, f"must be 1 to 4096 (got {args.workers})")
    if args.executor == "dask" and not args.scheduler:
        raise ScenarioError(
            "--scheduler", None, "--executor dask needs --scheduler tcp://HOST:PORT"
        )
    if args.scheduler and args.executor != "dask":
        raise ScenarioError("--scheduler", None, "is used with --executor dask only")
    _check_dask(args.executor)


def _check_dask(executor: str) -> None:
    """A Dask executor needs the cluster extra: say so before any folder is made."""
    if executor in ("dask", "dask-local"):
        from sim.guards.extras import check

        check("distributed", "cluster", f"--executor {executor}")


class _Terminated(KeyboardInterrupt):
    """SIGTERM: stop as on Ctrl-C (:func:`_dispatch`), once the worker processes this process
    started are stopped too. Ctrl-C reaches them through the terminal's process group; a
    SIGTERM sent to this process alone (``kill PID``, a scheduler's time limit) left them
    running, idle, for ever."""


def _on_sigterm(signum: int, frame: object) -> None:
    import multiprocessing

    for child in multiprocessing.active_children():  # pool workers, shards, a Dask cluster
        child.terminate()
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 a shard failed, 2 bad input, 130
    interrupted, 141 the reader of the output went away, as in ``sim scenarios | head``, 143
    terminated by SIGTERM)."""
    import signal
    import threading

    args = _parser().parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _dispatch(args)
    except BrokenPipeError:
        # the reader of stdout closed it: stop quietly, and let nothing write to it again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; input errors and interruptions become exit statuses."""
    try:
        from sim.engine import kernels

        kernels.mode()  # a bad SIM_KERNELS is named before any work
        if args.command == "run":
            return _run(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "calibrate":
            return _calibrate(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "forecast":
            return _forecast(args)
        if args.command == "sensitivity":
            return _sensitivity(args)
        if args.command == "report":
            return _report(args)
        if args.command == "scenarios":
            return _scenarios(args)
        if args.command == "explore":
            return _explore(args)
    except SimError as exc:
        print(f"sim: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except _Terminated:
        print("sim: terminated (SIGTERM), with the worker processes it started; nothing was "
              "written", file=sys.stderr)  # fmt: skip
        return 143
    except KeyboardInterrupt:
        print("sim: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0


def _arms(text: str | None, known: list[str], source: str) -> list[str] | None:
    """The arms named by ``--arms``: each a known arm, each once; None: all."""
    if text is None:
        return None
    arms = [a.strip() for a in text.split(",")]
    allowed = f"allowed: {', '.join(known)} (comma-separated, each once)"
    if not any(arms) or not all(arms):
        raise ScenarioError(source, "--arms", f"empty arm name in {text!r}; {allowed}")
    for a in arms:
        if a not in known:
            raise ScenarioError(source, "--arms", f"unknown arm {a!r}; {allowed}")
    dup = sorted({a for a in arms if arms.count(a) > 1})
    if dup:
        raise ScenarioError(source, "--arms", f"arm(s) named twice: {', '.join(dup)}; {allowed}")
    return arms


def _run(args: argparse.Namespace) -> int:
    from sim.guards.limits import check_out, check_run_memory, check_seed
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    arms = _arms(args.arms, [a.name for a in scenario.arms], str(args.scenario))
    if arms is not None and scenario.analysis is not None and scenario.baseline not in arms:
        base = scenario.baseline
        raise ScenarioError(
            str(args.scenario),
            "--arms",
            f"the scenario's [analysis] compares every arm with its baseline arm {base!r} (the "
            "health-economic tables, the report), so the arms run must include it: "
            f"--arms {','.join([base, *arms])}",
        )
    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ScenarioError("--workers", None, f"must be 1 to 4096 (got {args.workers})")
    if args.shards is not None:
        if args.workers is not None:
            raise ScenarioError("--shards", None, "use --shards or --workers, not both")
        if not 1 <= args.shards <= 1024:
            raise ScenarioError("--shards", None, f"must be 1 to 1024 (got {args.shards})")
        from sim.experiments.shards import ShardError, check

        try:
            check(scenario, args.shards)
        except ShardError as exc:
            raise ScenarioError(str(args.scenario), "--shards", str(exc)) from None
        if args.scheduler not in (None, "local"):
            from sim.guards.limits import check_scheduler

            check_scheduler(args.scheduler)
        if args.scheduler is not None:
            from sim.guards.extras import require

            require("distributed", "cluster", "--scheduler")
    elif args.scheduler is not None:
        raise ScenarioError("--scheduler", None, "--scheduler runs the shards of --shards K")
    posterior, draws, draws_table = None, None, None
    if (args.posterior is None) != (args.draws is None):
        raise ScenarioError("--posterior", None, "--posterior and --draws go together")
    if args.posterior is not None:
        from sim.experiments.posterior import draw_scenarios, load_posterior

        if not 1 <= args.draws <= 10_000:
            raise ScenarioError("--draws", None, f"must be 1 to 10,000 (got {args.draws})")
        if args.shards is not None:
            raise ScenarioError("--posterior", None, "posterior draws do not run in --shards")
        posterior = load_posterior(args.posterior)
        scenario = scenario.model_copy(update={"replications": args.draws})
        seed = scenario.seed if args.seed is None else args.seed
        draws, draws_table = draw_scenarios(
            scenario.model_dump(mode="json"), posterior, args.draws, seed
        )
    out = args.out or Path("results") / scenario.name
    check_out(out, replaced=True)
    from sim.results.folder import check_run_folder

    check_run_folder(out)  # a folder of other files is refused before the run, not after
    check_run_memory(scenario, str(args.scenario), len(arms) if arms else None)

    if args.datapackage:  # check the extra and the flags before a long run, not after
        from sim.guards.extras import require
        from sim.results.datapackage import check_version, license_descriptor

        require("frictionless", "datapackage", "--datapackage")
        license_descriptor(args.data_license)
        check_version(args.data_version)
    pool = None if args.shards is not None else _start_workers(scenario, arms, args.workers)
    try:
        # the model's imports here overlap with the workers' own
        from sim.experiments.run import run
        from sim.publish.plots import trends_png
        from sim.results.folder import command_line, write_results

        progress, close = (None, lambda: None) if args.quiet else _progress_bar(scenario, arms)
        started = time.perf_counter()
        try:
            result = run(
                scenario,
                seed=args.seed,
                arms=arms,
                progress=progress,
                pool=pool,
                shards=args.shards,
                shard_scheduler=args.scheduler,
                draws=draws,
            )
            if posterior is not None:
                result.draws, result.posterior = draws_table, posterior.source
        except Exception as exc:
            if not _is_lost(exc):
                raise
            # a shard or worker process that failed or vanished mid-run (named in the message)
            failed: Exception | None = exc
        else:
            failed = None
        finally:
            close()
        if failed is not None:
            print(f"sim: error: {failed}\nsim: nothing was written", file=sys.stderr)
            return 1
    finally:
        if pool is not None:
            pool.close()
    elapsed = time.perf_counter() - started
    meta = result.metadata()
    meta["command"] = command_line()
    written = write_results(
        out,
        monthly=result.monthly,
        summary=result.summary,
        providers=result.providers,
        meta=meta,
        figures=trends_png(result.monthly, scenario) if scenario.outputs.figure else None,
        subgroups=result.subgroups,
        scenario=scenario,
        life=result.life,
        extras={"draws.csv": draws_table} if draws_table is not None else None,
    )
    if args.datapackage:
        from sim.results.datapackage import write_run_datapackage

        written.files.append(
            write_run_datapackage(
                written.path, license=args.data_license, version=args.data_version
            ).name
        )
    if not args.quiet:
        _print_summary(result, elapsed)
    print(f"results: {written.path}/ ({', '.join(written.files)})")
    return 0


def _is_lost(exc: BaseException) -> bool:
    """A shard that failed or died, or a worker process that died."""
    from sim.experiments.parallel import LostWorker
    from sim.experiments.shards import ShardError

    return isinstance(exc, ShardError | LostWorker)


def _start_workers(scenario, arms, workers: int | None):
    """Worker processes for the run's (replicate, arm) pairs, started before the model is
    imported here (None: the run stays in this process)."""
    from sim.experiments import parallel

    tasks = (len(arms) if arms else len(scenario.arms)) * scenario.replications
    if workers is None:
        workers = parallel.default_workers(scenario.population.patients * scenario.months, tasks)
    workers = min(workers, tasks)
    if workers <= 1:
        return None
    return parallel.Workers(workers - 1, warm=("sim.experiments.run",))


def _sweep(args: argparse.Namespace) -> int:
    from sim.experiments.sweep import check_sweep_memory, load_sweep, run_sweep
    from sim.guards.limits import check_out
    from sim.results.folder import command_line

    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ScenarioError("--workers", None, f"must be 1 to 4096 (got {args.workers})")
    if args.executor == "dask" and not args.scheduler:
        raise ScenarioError(
            "--scheduler", None, "--executor dask needs --scheduler tcp://HOST:PORT"
        )
    from sim.results.datapackage import check_version, license_descriptor

    license_descriptor(args.data_license)  # a licence or version refused before the runs
    check_version(args.data_version)
    if args.scheduler and args.executor != "dask":
        raise ScenarioError("--scheduler", None, "is used with --executor dask only")
    _check_dask(args.executor)
    sweep = load_sweep(args.sweep, yes=args.yes, workers=args.workers)
    out = args.out or Path("results") / sweep.config.name
    check_out(out)
    check_sweep_memory(sweep, args.executor, args.workers)
    progress, close = (None, lambda: None) if args.quiet else _sweep_progress(sweep)
    try:
        outcome = run_sweep(
            sweep,
            out,
            executor=args.executor,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=progress,
            command=command_line(),
            data_license=args.data_license,
            data_version=args.data_version,
            notice=_notice("sweep"),
        )
    finally:
        close()
    print(
        f"sweep {sweep.config.name}: {outcome.done}/{outcome.total} runs done "
        f"({outcome.skipped} already done), {len(outcome.failed)} failed, "
        f"{outcome.seconds:.1f} s; results: {outcome.folder}/"
    )
    if outcome.failed:
        for f in outcome.failed[:10]:
            first = (f.error or "").splitlines()[0]
            print(f"  failed: point {f.point} replicate {f.replicate}: {first}", file=sys.stderr)
        print(
            "sim: some runs failed (see runs.jsonl); run the same command again to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from sim.guards.extras import require
    from sim.guards.limits import check_out

    _check_executor(args)
    if args.trials is not None and not 1 <= args.trials <= 100_000:
        raise ScenarioError("--trials", None, f"must be 1 to 100,000 (got {args.trials})")
    require("optuna", "calibration", "sim calibrate")
    from sim.experiments.calibrate import load_calibration, run_calibration
    from sim.results.folder import command_line

    cal = load_calibration(args.calibration, trials=args.trials)
    out = args.out or Path("results") / cal.config.name
    check_out(out)
    progress, close = (None, lambda: None) if args.quiet else _count_progress(
        f"calibrate {cal.config.name}", "trials"
    )  # fmt: skip
    try:
        outcome = run_calibration(
            cal, out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
            progress=progress, command=command_line(), notice=_notice("calibrate"),
        )  # fmt: skip
    finally:
        close()
    if not args.quiet:
        import pandas as pd

        fit = pd.read_csv(outcome.folder / "fit.csv")
        print(fit[["target", "value", "uncertainty", "model", "model_low", "model_high", "z"]]
              .to_string(index=False, float_format=lambda x: f"{x:.4g}"))  # fmt: skip
    print(
        f"calibration {cal.config.name}: {outcome.finished}/{outcome.trials} trials "
        f"({outcome.failed} failed, {outcome.resumed} resumed), best objective "
        f"{outcome.best:.4g}, {outcome.seconds:.1f} s; results: {outcome.folder}/ "
        f"({', '.join(outcome.files)})"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from sim.guards.limits import check_out

    _check_executor(args)
    if args.replications is not None and not 1 <= args.replications <= 1_000:
        raise ScenarioError("--replications", None, f"must be 1 to 1,000 (got {args.replications})")
    from sim.experiments.validate import load_suite, run_suite
    from sim.results.folder import command_line

    cases = None if args.cases is None else [c.strip() for c in args.cases.split(",")]
    posterior = None
    if (args.posterior is None) != (args.draws is None):
        raise ScenarioError("--posterior", None, "--posterior and --draws go together")
    if args.posterior is not None:
        from sim.experiments.posterior import load_posterior

        if not 1 <= args.draws <= 10_000:
            raise ScenarioError("--draws", None, f"must be 1 to 10,000 (got {args.draws})")
        posterior = load_posterior(args.posterior)
    suite = load_suite(
        args.suite, small=args.small, replications=args.replications,
        parameters=args.parameters, cases=cases, posterior=posterior, draws=args.draws,
    )  # fmt: skip
    out = args.out or Path("results") / "validation"
    check_out(out)
    progress, close = (None, lambda: None) if args.quiet else _count_progress(
        f"validate {args.suite}", "runs"
    )  # fmt: skip
    try:
        outcome = run_suite(
            suite, out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
            progress=progress, command=command_line(), notice=_notice("validate"),
        )  # fmt: skip
    finally:
        close()
    if not args.quiet:
        print(outcome.table_text)
    print(
        f"validation {args.suite}: {outcome.ok}/{outcome.cases} cases measured "
        f"({outcome.inside} inside the published range, {outcome.covered} covered by the "
        f"model's interval), {len(outcome.failed)} failed, "
        f"{outcome.seconds:.1f} s; results: {outcome.folder}/ ({', '.join(outcome.files)})"
    )
    if outcome.failed:
        for case, err in outcome.failed[:10]:
            print(f"  failed: {case}: {err}", file=sys.stderr)
        print("sim: some cases failed; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def _notice(command: str):
    """A line on stderr at once (a worker process lost mid-run)."""

    def say(text: str) -> None:
        print(f"sim {command}: {text}", file=sys.stderr, flush=True)

    return say


def _forecast(args: argparse.Namespace) -> int:
    from sim.experiments.forecast import register
    from sim.experiments.posterior import load_posterior

    if not 1 <= args.draws <= 10_000:
        raise ScenarioError("--draws", None, f"must be 1 to 10,000 (got {args.draws})")
    posterior = load_posterior(args.posterior)
    doc = register(args.spec, posterior, args.draws, args.out, workers=args.workers)
    for p in doc["predictions"]:
        print(f"  {p['outcome']}: {p['mean']:.4g} [{p['interval_low']:.4g}, "
              f"{p['interval_high']:.4g}]")  # fmt: skip
    print(f"forecast registered: {args.out} (commit it; it is never edited)")
    return 0


def _count_progress(label: str, what: str):
    """Progress of (done, total, extra): a live bar on a terminal, plain lines elsewhere. A
    total of 0 is not known in advance (an ABC-SMC's simulations): the count alone is shown."""
    start = time.perf_counter()

    def stats(done: int, total: int, extra: float) -> str:
        rate = done / max(time.perf_counter() - start, 1e-9) * 60
        tail = f", best {extra:.4g}" if what == "trials" and extra == extra else ""
        count = f"{done}/{total}" if total > 0 else f"{done}"
        return f"{count} {what}, {rate:.1f}/min{tail}"

    if not sys.stderr.isatty():
        last = [-1.0]

        def log(done: int, total: int, extra: float = float("nan")) -> None:
            now = time.perf_counter()
            if (total <= 0 or done < total) and now - last[0] < 5.0:
                return
            last[0] = now
            print(f"sim {label}: {stats(done, total, extra)}", file=sys.stderr, flush=True)

        return log, lambda: None

    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.fields[stats]}"),
                   transient=True)  # fmt: skip
    task = bar.add_task(what, total=None, stats="")
    bar.start()

    def update(done: int, total: int, extra: float = float("nan")) -> None:
        bar.update(task, total=total if total > 0 else None, completed=done,
                   stats=stats(done, total, extra))  # fmt: skip

    return update, bar.stop


def _sweep_progress(sweep):
    """Runs done and failed, rate and ETA: a live bar on a terminal, plain lines elsewhere.
    The rate counts the runs finished in this session only: a resumed sweep's runs done
    before are in the count, not in the rate."""
    start = time.perf_counter()
    before: list[int] = []  # runs already finished at the first call (a resumed sweep)

    def stats(done: int, failed: int, total: int) -> str:
        finished = done + failed
        if not before:
            before.append(finished)
        rate = (finished - before[0]) / max(time.perf_counter() - start, 1e-9) * 60
        left = total - finished
        eta = f", ETA {left / rate:.1f} min" if rate > 0 and left else ""
        return f"{done}/{total} runs done, {failed} failed, {rate:.1f} runs/min{eta}"

    if not sys.stderr.isatty():
        last = [-1.0]

        def log(done: int, failed: int, total: int) -> None:
            now = time.perf_counter()
            if done + failed < total and now - last[0] < 5.0:
                return
            last[0] = now
            print(f"sim sweep: {stats(done, failed, total)}", file=sys.stderr, flush=True)

        return log, lambda: None

    from rich.progress import BarColumn, Progress, TextColumn

    bar = Progress(
        TextColumn(sweep.config.name), BarColumn(), TextColumn("{task.fields[stats]}"),
        transient=True,
    )  # fmt: skip
    task = bar.add_task("runs", total=len(sweep.runs), stats="")
    bar.start()

    def update(done: int, failed: int, total: int) -> None:
        bar.update(task, completed=done + failed, stats=stats(done, failed, total))

    return update, bar.stop


def _sensitivity(args: argparse.Namespace) -> int:
    from sim.experiments.sensitivity import analyse, warnings_of, write
    from sim.results.read import load_sweep_spec, sensitivity_folder

    sensitivity_folder(args.results)  # where the tables go is checked before the analysis
    progress = None if args.quiet else _step_progress("sensitivity", "outcomes × arms")
    results = analyse(args.results, args.outcomes, setting=args.setting, progress=progress)
    method = load_sweep_spec(args.results).config.design.method
    for path in write(args.results, results, method):
        print(path)
    for line in warnings_of(results):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def _step_progress(what: str, unit: str):
    """Progress of a command made of steps: a line per step on stderr (never on stdout,
    which lists the files written)."""

    def step(done: int, total: int, label: str = "") -> None:
        tail = f": {label}" if label else ""
        print(f"sim {what}: {done}/{total} {unit}{tail}", file=sys.stderr, flush=True)

    return step


def _report(args: argparse.Namespace) -> int:
    from sim.guards.limits import check_out
    from sim.publish.report import build_report

    if args.out is not None:
        check_out(args.out, replaced=True)
    progress = None if args.quiet else _step_progress("report", "steps")
    report = build_report(args.results, baseline=args.baseline, out=args.out, progress=progress)
    for path in report.files:
        print(path)
    print(f"report: {report.folder / 'report.html'} (index: {report.folder / 'index.md'})")
    return 0


def _scenarios(args: argparse.Namespace) -> int:
    from sim.scenario.catalog import copy_scenario, list_scenarios

    if args.scenarios_command == "copy":
        for path in copy_scenario(args.name, args.to, overwrite=args.force):
            print(path)
        return 0
    if args.scenarios_command == "schema":
        from sim.scenario import jsonschema

        print(jsonschema.path().read_text(encoding="utf-8") if args.json else jsonschema.path(),
              end="" if args.json else "\n")  # fmt: skip
        return 0
    shipped = list_scenarios()
    width = max(len(s.name) for s in shipped)
    for s in shipped:
        kind = " (sweep)" if s.kind == "sweep" else ""
        print(f"{s.name:<{width}}  {s.description}{kind}")
    print("\ncopy one here with: sim scenarios copy NAME")
    return 0


def _explore(args: argparse.Namespace) -> int:
    from sim.explore import serve

    for name in ("patients", "months", "replications", "port"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "port" else 1):
            raise ScenarioError(f"--{name}", None, f"must be at least 1 (got {value})")
    if args.seed is not None:
        from sim.guards.limits import check_seed

        check_seed(args.seed, "--seed")
    return serve(
        args.scenario,
        host=args.host,
        port=args.port,
        patients=args.patients,
        months=args.months,
        replications=args.replications,
        seed=args.seed,
    )


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
    """The run's outcomes by arm on the terminal: arms named in words and in full, each cell the
    mean over replications with the half-width of its 95% t-interval (per-replication values,
    as the report computes them; summary.csv pools the replications)."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table
    from scipy import stats as sps

    from sim.publish.labels import label_of
    from sim.results.tables import summarize

    sc = result.scenario
    m = result.monthly
    reps = list(dict.fromkeys(m["replicate"]))
    per = pd_concat(
        summarize(m[m["replicate"] == r], None, sc.outputs.summary_months).assign(replicate=r)
        for r in reps
    )
    pm = sc.population.patients * sc.months * len(result.arms) * sc.replications
    # wide enough for every arm's name and every cell in full (a log file has no terminal)
    console = Console(width=max(Console().width, 160))
    n = len(reps)
    how = f"mean ± 95% CI half-width over {n} replications" if n > 1 else "one replication: no CI"
    title = (
        f"{label_of(sc.name)}: {sc.population.patients:,} patients × {sc.months} months × "
        f"{len(result.arms)} arms × {n} replication(s), seed {result.seed}; {how}"
    )
    table = Table(title=title, title_justify="left")
    settings = [x for x in dict.fromkeys(per["setting"]) if x != "all"]
    columns = [
        ("spending_pmpm", "all", "spending\nUSD pmpm", 2, False),
        ("oop_pmpm", "all", "out-of-pocket\nUSD pmpm", 2, False),
        *[("units_per_treated", st, f"{label_of(st)}\nunits per treated", 2, False)
          for st in settings],
        ("function_change", "all", "Δ function\npoints", 2, True),
        ("adverse_events_per_1000", "all", "adverse events\nper 1,000 mm", 2, False),
        ("provider_margin_pct", "all", "margin\n% revenue", 1, False),
    ]  # fmt: skip
    table.add_column("arm", no_wrap=True)
    for _, _, head, _, _ in columns:
        table.add_column(head, justify="right", no_wrap=True, min_width=12)
    for arm in result.arms:
        cells = []
        for col, setting, _, dec, signed in columns:
            v = per.loc[(per["arm"] == arm) & (per["setting"] == setting), col].to_numpy(float)
            v = v[np.isfinite(v)]
            if not v.size:
                cells.append("n/a")
                continue
            mean = v.mean()
            text = f"{mean:+,.{dec}f}" if signed else f"{mean:,.{dec}f}"
            if v.size > 1:
                half = sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
                text += f" ± {half:,.{dec}f}"
            cells.append(text)
        table.add_row(label_of(arm), *cells)
    console.print(table)
    units = ", ".join(f"{label_of(st)}: {sc.settings[st].unit}" for st in settings)
    console.print(f"units — {units}; mm = member-months; full tables in summary.csv")
    console.print(
        f"{pm / 1e6:,.1f}M patient-months in {elapsed:.1f} s "
        f"({pm / max(elapsed, 1e-9) / 1e6:.1f}M/s)"
    )


def pd_concat(frames):
    """The frames stacked (pandas imported here, not at the command line's start)."""
    import pandas as pd

    return pd.concat(list(frames), ignore_index=True)


if __name__ == "__main__":
    sys.exit(main())
