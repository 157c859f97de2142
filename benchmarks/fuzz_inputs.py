"""Fuzz the command line with bad input and count what happens (run on demand, not in CI).

    .venv/bin/python benchmarks/fuzz_inputs.py                 # about 2,000 cases, a few minutes
    .venv/bin/python benchmarks/fuzz_inputs.py --cases 300     # a quick look
    .venv/bin/python benchmarks/fuzz_inputs.py --show 5        # print 5 examples per bad outcome

Covers: every field of every shipped scenario (including each contract's payment-model
parameters) set to values of the wrong kind, non-finite, extreme, at and beyond its bounds and
at random within them (generated from the schema by ``tests/mutations.py``); bad ``--set``
strings, seeds and ``--arms``; bad paths for the scenario and ``--out`` (FIFO, ``/dev/zero``,
``/proc``, through a file, too long); mutated sweep files (names, base scenarios, designs,
scheduler addresses); damaged run and sweep results folders read by ``sim report`` and ``sim
sensitivity``; planted symbolic links and FIFOs in output and results folders (``parts``,
``runs.jsonl``, ``study.db``, ``sensitivity/``, ``sim scenarios copy`` targets, folders of other
files); and, in processes of their own, ``kill -9`` of calibrations (Optuna and ABC), sweeps,
validations and runs at several points, each resumed and compared byte for byte with an
uninterrupted one, and of a run's, a sweep's and a shard's worker process.

Every case runs ``sim.cli.main(argv)`` in this process, with a time limit. Outcomes:

- ``ran``: exit 0 (the input is valid and the command finished);
- ``refused``: exit 2 with one ``sim: error:`` message, no traceback, and no output folder left;
- ``refused-unnamed``: refused, but the message does not name the mutated field;
- ``half-written``: refused or failed, but an output folder or a temporary folder is left;
- ``traceback``: an exception escaped ``main`` (or another exit status);
- ``hang``: the case did not finish within the time limit;
- ``escaped``: a file outside the chosen folder was written, or a file of the user's deleted
  or changed (through a planted link, or by replacing a folder of other files);
- ``resumed``: killed, and resumed (or run again) to the bytes of an uninterrupted run;
- ``resumed-differently``: killed and resumed, to other bytes;
- ``reported``: a worker or shard killed, and its death reported in one message within
  seconds (the rest of a sweep done on a fresh worker).

The exit status is 1 if any case ends in ``traceback``, ``hang``, ``half-written``,
``escaped`` or ``resumed-differently``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from mutations import (  # noqa: E402
    SCENARIOS,
    mutation_values,
    override,
    scenario_leaves,
    small_overrides,
)

from sim.cli import main  # noqa: E402

BASE = """
name = "base"
months = 3
seed = 9
[population]
patients = 400
[outputs]
figure = false
provider_panel = true
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""

SWEEP = """
name = "sw"
scenario = "base.toml"
replications = 1
seed = 3
[design]
method = "morris"
samples = 2
[[parameters]]
field = "settings.outpatient_therapy.marginal_cost"
low = 10.0
high = 26.0
[[parameters]]
field = "behaviour.initial_offset"
low = -1.0
high = 1.0
"""


class Hang(Exception):
    pass


@dataclass
class Case:
    group: str
    argv: list[str]
    name: str = ""  # a word the refusal should name ("" = not checked)
    out: Path | None = None  # a folder that must not exist after a refusal
    setup: Callable[[], None] | None = None
    #: after the command: what escaped the chosen folder (a description), or None
    escaped: Callable[[], str | None] | None = None
    #: instead of the command in this process: a check of its own, giving (outcome, detail)
    runner: Callable[[], tuple[str, str]] | None = None
    timeout: int | None = None  # seconds (default: --timeout)


@dataclass
class Tally:
    counts: Counter = field(default_factory=Counter)
    by_group: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def run_case(case: Case, timeout: int) -> tuple[str, str]:
    err = io.StringIO()

    def alarm(*_):
        raise Hang

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(case.timeout or timeout)
    try:
        if case.setup:
            case.setup()
        if case.runner is not None:
            return case.runner()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(case.argv)
    except Hang:
        return "hang", f"{case.argv}"
    except SystemExit as exc:  # argparse: exit 2 with a usage message
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return "traceback", f"{case.argv}: {tb}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    text = err.getvalue()
    escaped = case.escaped() if case.escaped is not None else None
    if escaped:
        return "escaped", f"{case.argv}: {escaped}"
    if rc == 0:
        return "ran", ""
    if rc != 2 or "Traceback" in text:
        return "traceback", f"{case.argv}: exit {rc}: {text.strip()[-300:]}"
    left = []
    if case.out is not None:
        if case.out.exists():
            left.append(str(case.out))
        parent = case.out.parent
        if parent.is_dir():
            left += [str(p) for p in parent.glob(f".{case.out.name}.tmp-*")]
    if left:
        return "half-written", f"{case.argv}: left {left}: {text.strip()[:200]}"
    if case.name and case.name.rstrip("s") not in text:  # "thresholds": "one per threshold"
        return "refused-unnamed", f"{case.argv}: {text.strip()[:300]}"
    return "refused", ""


def scenario_cases(tmp: Path, rnd: random.Random) -> list[Case]:
    cases = []
    for path in SCENARIOS:
        small = [a for s in small_overrides(path) for a in ("--set", s)]
        for leaf in scenario_leaves(path):
            for value in mutation_values(leaf, rnd):
                out = tmp / "out" / f"r{len(cases)}"
                argv = ["run", str(path), "--out", str(out), "--quiet", *small]
                argv += ["--set", override(leaf, value)]
                named = [p for p in leaf.path.split(".") if not p.isdigit()][-1]
                cases.append(Case("scenario fields", argv, named, out))
    return cases


def command_line_cases(tmp: Path) -> list[Case]:
    base = tmp / "base.toml"
    cases = []

    def fresh() -> Path:
        return tmp / "out" / f"c{len(cases)}"

    def run(*extra: str, name: str = "", group: str = "command lines") -> None:
        out = fresh()
        cases.append(
            Case(group, ["run", str(base), "--out", str(out), "--quiet", *extra], name, out)
        )

    for s in (
        "months",
        "=3",
        "a..b=1",
        ".x=1",
        'arms.9.name="x"',
        "months.x=1",
        "months=[" * 5000 + "]" * 5000,
        "population=3",
        "arms=3",
        "arms.0=3",
        "arms.0.contracts=[]",
        'arms.x.name="y"',
        "seed=-1",
        "seed=18446744073709551616",
        'name="../escape"',
        'name=".."',
        'name=""',
        'arms.0.name=""',
        'arms.0.name="a,b"',
        'arms.0.name="a\\nb"',
        "payers={}",
        "settings={}",
    ):
        run("--set", s)
    for seed in ("18446744073709551616", "-1", "9223372036854775808", "x"):
        run("--seed", seed, name="seed")
    for arms in (",", "ffs,ffs", "", " ", "salary", "ffs,,capitation"):
        run("--arms", arms, name="arms")
    fifo = tmp / "fifo.toml"
    big = tmp / "big.toml"
    binary = tmp / "binary.toml"
    latin = tmp / "latin1.toml"
    deep = tmp / "deep.toml"
    for path in (
        fifo,
        big,
        binary,
        latin,
        deep,
        Path("/dev/zero"),
        Path("/dev/null"),
        tmp,
        Path("/proc/self/status"),
        tmp / "missing.toml",
        base / "x.toml",
    ):
        out = fresh()
        cases.append(
            Case("scenario paths", ["run", str(path), "--out", str(out), "--quiet"], "", out)
        )
    regular = tmp / "regular_file"
    for target in (
        regular / "out",
        Path("/dev/null"),
        Path("/proc/self/out"),
        Path("/sys/out"),
        regular,
        tmp / ("x" * 300),
        Path("/"),
    ):
        cases.append(
            Case("output paths", ["run", str(base), "--out", str(target), "--quiet"], "", None)
        )

    def make_files() -> None:
        if not fifo.exists():
            os.mkfifo(fifo)
        big.write_text("# padding\n" * 2_000_000)
        binary.write_bytes(bytes(range(256)) * 10)
        latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
        deep.write_text("x = " + "[" * 10_000 + "]" * 10_000 + "\n")
        regular.write_text("not a folder")

    cases[0].setup = make_files
    return cases


def sweep_cases(tmp: Path) -> list[Case]:
    cases = []
    mutations = [
        ('name = "sw"', 'name = "../escaped"'),
        ('name = "sw"', 'name = "/tmp/abs"'),
        ('name = "sw"', 'name = ""'),
        ('name = "sw"', 'name = ".."'),
        ('scenario = "base.toml"', 'scenario = ""'),
        ('scenario = "base.toml"', 'scenario = "."'),
        ('scenario = "base.toml"', 'scenario = "binary.toml"'),
        ('scenario = "base.toml"', 'scenario = "latin1.toml"'),
        ('scenario = "base.toml"', 'scenario = "fifo.toml"'),
        ('scenario = "base.toml"', 'scenario = "/dev/zero"'),
        ("samples = 2", "samples = 1000000"),
        ("samples = 2", "samples = true"),
        ("samples = 2", "samples = 2.0"),
        ("replications = 1", "replications = 100000"),
        ("replications = 1", "replications = true"),
        ("seed = 3", "seed = 18446744073709551616"),
        ("low = 10.0", "low = -inf"),
        ("high = 26.0", "high = nan"),
        ("low = 10.0", "low = true"),
        ('method = "morris"', 'method = "grid"'),
        ('method = "morris"', 'method = "sobol"'),
        ("low = -1.0", "low = -1.0\nlevels = [" + ", ".join(["1.0"] * 200) + "]"),
        ('field = "behaviour.initial_offset"', 'field = "months"'),
        ('field = "behaviour.initial_offset"', 'field = "settings.outpatient_therapy.bogus"'),
        ('field = "behaviour.initial_offset"', 'field = "seed"'),
        ("replications = 1", 'replications = 1\narms = ["ffs", "ffs"]'),
        ("replications = 1", 'replications = 1\narms = [""]'),
        ("replications = 1", 'replications = 1\n[set]\n"months" = true'),
    ]
    for i, (old, new) in enumerate(mutations):
        path = tmp / f"sweep{i}.toml"
        out = tmp / "out" / f"s{i}"
        text = SWEEP.replace(old, new, 1)
        cases.append(
            Case(
                "sweep files",
                ["sweep", str(path), "--out", str(out), "--executor", "serial", "--quiet"],
                "",
                out,
                setup=lambda p=path, t=text: p.write_text(t),
            )
        )
    good = tmp / "sweep_good.toml"
    for addr in (
        "nonsense",
        "tcp://",
        "tcp://127.0.0.1:1",
        "tcp://256.1.1.1:8786",
        "tcp://host:port",
        "tls://10.255.255.1:8786",
        "tcp://[::1:8786",
    ):
        out = tmp / "out" / f"d{len(cases)}"
        cases.append(
            Case(
                "scheduler addresses",
                [
                    "sweep",
                    str(good),
                    "--out",
                    str(out),
                    "--executor",
                    "dask",
                    "--scheduler",
                    addr,
                    "--quiet",
                ],
                "scheduler",
                out,
                setup=lambda: good.write_text(SWEEP),
            )
        )
    return cases


def folder_cases(tmp: Path) -> list[Case]:
    """Damaged results folders: made from one good run and one good sweep."""
    import pandas as pd

    run_dir, sweep_dir = tmp / "good_run", tmp / "good_sweep"
    made: list[bool] = []

    def make() -> None:
        if made:
            return
        made.append(True)
        sink = io.StringIO()
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            assert main(["run", str(tmp / "base.toml"), "--out", str(run_dir), "--quiet"]) == 0
            (tmp / "sweep_good.toml").write_text(SWEEP)
            assert (
                main(
                    [
                        "sweep",
                        str(tmp / "sweep_good.toml"),
                        "--out",
                        str(sweep_dir),
                        "--executor",
                        "serial",
                        "--quiet",
                    ]
                )
                == 0
            )

    def damaged(src: Path, name: str, fn: Callable[[Path], None]) -> Callable[[], None]:
        def setup() -> None:
            make()
            dst = tmp / "damaged" / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
            fn(dst)

        return setup

    def parquet(file: str, change: Callable[[pd.DataFrame], pd.DataFrame]):
        def fn(d: Path) -> None:
            df = pd.read_parquet(d / file)
            change(df).to_parquet(d / file, index=False)

        return fn

    def write(file: str, text: str):
        return lambda d: (d / file).write_text(text)

    def json_edit(file: str, change: Callable[[dict], object]):
        def fn(d: Path) -> None:
            data = json.loads((d / file).read_text())
            (d / file).write_text(json.dumps(change(data)))

        return fn

    run_damages = {
        "replicate as text": parquet("monthly.parquet", lambda df: df.astype({"replicate": str})),
        "spending missing": parquet("monthly.parquet", lambda df: df.drop(columns="spending")),
        "month as float": parquet("monthly.parquet", lambda df: df.astype({"month": float})),
        "no rows": parquet("monthly.parquet", lambda df: df.iloc[:0]),
        "duplicated rows": parquet("monthly.parquet", lambda df: pd.concat([df, df])),
        "monthly truncated": lambda d: (d / "monthly.parquet").write_bytes(b"PAR1\0\0"),
        "monthly missing": lambda d: (d / "monthly.parquet").unlink(),
        "metadata missing": lambda d: (d / "metadata.json").unlink(),
        "metadata a list": write("metadata.json", "[1, 2]"),
        "metadata not JSON": write("metadata.json", "{"),
        "arms not a list": json_edit("metadata.json", lambda m: {**m, "arms": 3}),
        "scenario a list": json_edit("metadata.json", lambda m: {**m, "scenario": [1]}),
        "settings a list": json_edit(
            "metadata.json", lambda m: {**m, "scenario": {**m["scenario"], "settings": [1]}}
        ),
        "providers damaged": parquet("providers.parquet", lambda df: df.iloc[:, :2]),
        "monthly a folder": lambda d: (
            (d / "monthly.parquet").unlink(),
            (d / "monthly.parquet").mkdir(),
        ),
    }
    sweep_damages = {
        "spec a list": write("sweep.json", "[]"),
        "spec sweep a list": json_edit("sweep.json", lambda s: {**s, "sweep": []}),
        "spec parameters a table": json_edit(
            "sweep.json", lambda s: {**s, "sweep": {**s["sweep"], "parameters": {}}}
        ),
        "spec not JSON": write("sweep.json", "{{"),
        "design column dropped": parquet("design.parquet", lambda df: df.drop(columns="point")),
        "parameter column dropped": parquet(
            "design.parquet", lambda df: df.drop(columns="behaviour.initial_offset")
        ),
        "design duplicated": parquet("design.parquet", lambda df: pd.concat([df, df])),
        "summary duplicated": parquet("summary.parquet", lambda df: pd.concat([df, df])),
        "summary point dropped": parquet("summary.parquet", lambda df: df.drop(columns="point")),
        "summary spending as text": parquet(
            "summary.parquet", lambda df: df.astype({"spending_pmpm": str})
        ),
        "summary missing": lambda d: (d / "summary.parquet").unlink(),
        "metadata missing (gather killed)": lambda d: (d / "metadata.json").unlink(),
        "datapackage missing": lambda d: (d / "datapackage.json").unlink(),
        "design missing": lambda d: (d / "design.parquet").unlink(),
        "summary truncated": lambda d: (d / "summary.parquet").write_bytes(b"PAR1"),
    }
    cases = []
    for fn in run_damages.values():
        setup = damaged(run_dir, f"run-{len(cases)}", fn)
        folder = tmp / "damaged" / f"run-{len(cases)}"
        cases.append(Case("damaged run folders", ["report", str(folder)], "", None, setup))
    for fn in sweep_damages.values():
        for cmd in ("report", "sensitivity", "sweep"):
            setup = damaged(sweep_dir, f"sweep-{len(cases)}", fn)
            folder = tmp / "damaged" / f"sweep-{len(cases)}"
            argv = {
                "report": ["report", str(folder)],
                "sensitivity": ["sensitivity", str(folder)],
                "sweep": [
                    "sweep",
                    str(tmp / "sweep_good.toml"),
                    "--out",
                    str(folder),
                    "--executor",
                    "serial",
                    "--quiet",
                ],
            }[cmd]
            cases.append(Case(f"damaged sweep folders ({cmd})", argv, "", None, setup))
    for outcome in ("member_months", "members", "bogus"):
        cases.append(
            Case(
                "sensitivity outcomes",
                ["sensitivity", str(sweep_dir), "--outcome", outcome],
                "",
                None,
                make,
            )
        )
    return cases


CALIBRATION = """
name = "cal"
trials = {trials}
seeds = 1
batch = 2
method = "{method}"
{abc}
[[parameters]]
name = "offset"
fields = ["behaviour.initial_offset"]
low = -0.5
high = 0.5

[[parameters]]
name = "cost"
fields = ["settings.outpatient_therapy.marginal_cost"]
low = 10.0
high = 26.0

[[targets]]
id = "units"
scenario = "base.toml"
arm = "ffs"
column = "units"
value = 10.0
uncertainty = 5.0
source = "made up for the fuzz script"
"""

CASE = """
[case]
scenario = "../base.toml"
arm = "capitation"
baseline = "ffs"
column = "spending"
statistic = "relative_change"
title = "a fuzz case"
finding = "made up"
citation = "none"
published = -0.1
range = [-0.2, 0.0]
replications = {replications}
"""


def _quiet_main(argv: list[str]) -> int:
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        return main(argv)


def _fresh(path: Path) -> Path:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    return path


def link_cases(tmp: Path) -> list[Case]:
    """Planted links and FIFOs in output and results folders, and folders of other files: the
    command must refuse them (or read and write around them) without writing outside the
    chosen folder, deleting a user's file or blocking on a FIFO."""
    base = tmp / "base.toml"
    links = tmp / "links"
    elsewhere = links / "elsewhere"  # what a planted folder link points at
    victim = links / "victim.txt"  # what a planted file link points at
    good: dict[str, Path] = {}

    def good_folder(kind: str) -> Path:
        """A finished run, sweep (with its sensitivity analysis), calibration or validation."""
        if kind not in good:
            out = tmp / "good" / kind
            if kind == "run":
                argv = ["run", str(base), "--out", str(out), "--quiet"]
            elif kind == "sweep":
                (tmp / "sweep_good.toml").write_text(SWEEP)
                argv = ["sweep", str(tmp / "sweep_good.toml"), "--out", str(out),
                        "--executor", "serial", "--quiet"]  # fmt: skip
            elif kind == "calibration":
                (tmp / "cal.toml").write_text(CALIBRATION.format(trials=2, method="optuna",
                                                                 abc=""))  # fmt: skip
                argv = ["calibrate", str(tmp / "cal.toml"), "--out", str(out), "--executor",
                        "serial", "--quiet"]  # fmt: skip
            else:
                (tmp / "suite").mkdir(exist_ok=True)
                (tmp / "suite" / "a_case.toml").write_text(CASE.format(replications=1))
                argv = ["validate", str(tmp / "suite"), "--out", str(out), "--executor",
                        "serial", "--quiet"]  # fmt: skip
            assert _quiet_main(argv) == 0, argv
            if kind == "sweep":
                assert _quiet_main(["sensitivity", str(out), "--quiet", "--outcome",
                                    "spending_pmpm"]) == 0  # fmt: skip
            good[kind] = out
        return good[kind]

    def copy_of(kind: str, name: str) -> Path:
        dst = _fresh(links / name)
        shutil.copytree(good_folder(kind), dst, symlinks=True)
        return dst

    def reset() -> None:
        _fresh(elsewhere).mkdir(parents=True)
        victim.write_text("the user's own\n")

    #: what a case's plant itself put outside the folder (not an escape of the command's)
    planted: dict[str, bytes] = {}

    def untouched() -> str | None:
        written = sorted(
            p.name
            for p in elsewhere.iterdir()
            if p.name not in planted or (p.is_file() and p.read_bytes() != planted[p.name])
        )
        if written:
            return f"{len(written)} file(s) written outside the folder: {written[:3]}"
        if victim.read_text() != "the user's own\n":
            return f"{victim} was written through a link"
        return None

    cases: list[Case] = []

    def add(what: str, argv: list[str], plant: Callable[[], None],
            escaped: Callable[[], str | None] = untouched) -> None:  # fmt: skip
        def setup() -> None:
            reset()
            plant()
            planted.clear()
            planted.update({p.name: p.read_bytes() for p in elsewhere.iterdir() if p.is_file()})

        cases.append(Case(f"links and FIFOs ({what})", argv, "", None, setup, escaped))

    def link(path: Path, target: Path) -> None:
        _fresh(path)
        path.symlink_to(target)

    def fifo(path: Path) -> None:
        _fresh(path)
        os.mkfifo(path)

    run_out = links / "run"
    run = ["run", str(base), "--out", str(run_out), "--quiet"]
    thesis = links / "thesis"

    def plant_thesis() -> None:
        _fresh(thesis).mkdir()
        (thesis / "thesis.tex").write_text("years of work")
        (thesis / "metadata.json").write_text("{}")

    add("sim run", ["run", str(base), "--out", str(thesis), "--quiet"], plant_thesis,
        lambda: None if (thesis / "thesis.tex").exists() else "thesis.tex deleted")  # fmt: skip
    add("sim run", run, lambda: link(run_out, elsewhere))
    add("sim run", ["run", str(base), "--out", ".", "--quiet"], lambda: None)

    sweep_file = tmp / "sweep_good.toml"
    sweep = ["sweep", str(sweep_file), "--out", str(links / "sweep"), "--executor", "serial",
             "--quiet"]  # fmt: skip
    for name, plant in {
        "parts -> folder": lambda: (_fresh(links / "sweep").mkdir(),
                                    link(links / "sweep" / "parts", elsewhere)),
        "runs.jsonl -> file": lambda: link(copy_of("sweep", "sweep") / "runs.jsonl", victim),
        "runs.jsonl a FIFO": lambda: fifo(copy_of("sweep", "sweep") / "runs.jsonl"),
        "sweep.json a FIFO": lambda: fifo(copy_of("sweep", "sweep") / "sweep.json"),
        "a part -> file": lambda: link(
            next((copy_of("sweep", "sweep") / "parts").glob("summary-*")), victim),
        "parts a file": lambda: (_fresh(links / "sweep").mkdir(),
                                 (links / "sweep" / "parts").write_text("x")),
        "folder of other files": lambda: (_fresh(links / "sweep").mkdir(),
                                          (links / "sweep" / "notes.txt").write_text("x")),
    }.items():  # fmt: skip
        add(f"sim sweep, {name}", sweep, plant)

    def report_of(name: str) -> list[str]:
        return ["report", str(links / name), "--quiet"]

    for name, plant in {
        "sensitivity -> folder": lambda: (
            (elsewhere / "secret.csv").write_text("arm,parameter\nffs,x\n"),
            link(_fresh(copy_of("sweep", "rep") / "sensitivity"), elsewhere)),
        "sensitivity a file": lambda: (
            shutil.rmtree(copy_of("sweep", "rep") / "sensitivity"),
            (links / "rep" / "sensitivity").write_text("x")),
        "a sensitivity FIFO": lambda: fifo(
            next((copy_of("sweep", "rep") / "sensitivity").glob("*.png"))),
        "a sensitivity figure -> file": lambda: link(
            next((copy_of("sweep", "rep") / "sensitivity").glob("*.png")), victim),
        "summary -> file": lambda: link(copy_of("sweep", "rep") / "summary.parquet", victim),
    }.items():  # fmt: skip

        def figure_copied(name: str = name) -> str | None:
            found = [p for p in (links / "rep").rglob("*") if p.is_file()
                     and p.read_bytes().startswith(b"arm,parameter\nffs,x")]  # fmt: skip
            return f"foreign file copied in: {found[0]}" if found else untouched()

        add(f"sim report, {name}", report_of("rep"), plant, figure_copied)
        if "sensitivity" in name:
            add(f"sim sensitivity, {name}", ["sensitivity", str(links / "rep"), "--quiet",
                "--outcome", "spending_pmpm"], plant, figure_copied)  # fmt: skip
    for name, plant in {
        "metadata.json a FIFO": lambda: fifo(copy_of("run", "rrep") / "metadata.json"),
        "monthly.parquet -> file": lambda: link(copy_of("run", "rrep") / "monthly.parquet",
                                                good_folder("run") / "monthly.parquet"),
        "report -> folder": lambda: link(copy_of("run", "rrep") / "report", elsewhere),
    }.items():  # fmt: skip
        add(f"sim report, {name}", report_of("rrep"), plant)

    cal = ["calibrate", str(tmp / "cal.toml"), "--out", str(links / "cal"), "--executor",
           "serial", "--quiet"]  # fmt: skip
    for name, plant in {
        "parts -> folder": lambda: link(_fresh(copy_of("calibration", "cal") / "parts"),
                                        elsewhere),
        "study.db -> file": lambda: link(copy_of("calibration", "cal") / "study.db", victim),
        "errors.jsonl a FIFO": lambda: fifo(copy_of("calibration", "cal") / "errors.jsonl"),
        "calibration.json a FIFO": lambda: fifo(copy_of("calibration", "cal") /
                                                "calibration.json"),
    }.items():  # fmt: skip
        add(f"sim calibrate, {name}", cal, plant)

    val = ["validate", str(tmp / "suite"), "--out", str(links / "val"), "--executor", "serial",
           "--quiet"]  # fmt: skip
    for name, plant in {
        "parts -> folder": lambda: link(_fresh(copy_of("validation", "val") / "parts"),
                                        elsewhere),
        "validation.csv -> file": lambda: link(copy_of("validation", "val") / "validation.csv",
                                               victim),
        "a part a FIFO": lambda: fifo(next((copy_of("validation", "val") / "parts").glob("*"))),
    }.items():  # fmt: skip
        add(f"sim validate, {name}", val, plant)

    dest = links / "copy"
    target = dest / "compare_payment_models.toml"
    for name, extra, plant in (
        ("dangling link", [], lambda: (_fresh(dest).mkdir(),
                                       link(target, elsewhere / "made.toml"))),
        ("link to a file, --force", ["--force"], lambda: (_fresh(dest).mkdir(),
                                                           link(target, victim))),
        ("a FIFO, --force", ["--force"], lambda: (_fresh(dest).mkdir(), fifo(target))),
        ("--to a link", [], lambda: link(dest, elsewhere)),
    ):  # fmt: skip
        add(
            f"sim scenarios copy, {name}",
            ["scenarios", "copy", "compare_payment_models", "--to", str(dest), *extra],
            plant,
        )
    add(
        "sim scenarios copy, --to /proc/self",
        ["scenarios", "copy", "compare_payment_models", "--to", "/proc/self"],
        lambda: None,
    )
    return cases


def kill_cases(tmp: Path) -> list[Case]:
    """kill -9 of whole commands at several points, each resumed (or run again) and compared
    byte for byte with an uninterrupted run; and of one worker process of a run, a sweep and a
    sharded run, whose death must be reported in one message within seconds."""
    import subprocess

    kills = tmp / "kills"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    clean: dict[str, Path] = {}

    def sim(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sim", *argv], env=env,
                              capture_output=True, text=True)  # fmt: skip

    def start(argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "sim", *argv], env=env, text=True,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)  # fmt: skip

    def count(folder: Path, pattern: str) -> int:
        return len(list(folder.glob(pattern))) if folder.is_dir() else 0

    def same(a: Path, b: Path, names: tuple[str, ...]) -> str | None:
        for n in names:
            if (a / n).exists() != (b / n).exists():
                return f"{n} in one folder only"
            if (a / n).exists() and (a / n).read_bytes() != (b / n).read_bytes():
                return f"{n} differs from the uninterrupted run's"
        return None

    def resume(key: str, argv: list[str], parts: str, after: int, names: tuple[str, ...],
               workers: list[str]) -> tuple[str, str]:  # fmt: skip
        """The command, killed once ``after`` files match ``parts``, run again; compared."""
        i = argv.index("--out") + 1
        if key not in clean:
            ref = _fresh(kills / f"{key}-clean")
            p = sim([*argv[:i], str(ref), *argv[i + 1 :]])
            if p.returncode != 0:
                return "traceback", f"uninterrupted {argv[0]}: {p.stderr.strip()[-300:]}"
            clean[key] = ref
        out = _fresh(kills / f"{key}-{after}")
        run = [*argv[:i], str(out), *argv[i + 1 :]]
        proc = start([*run, *workers])
        while count(out, parts) < after and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is not None:
            proc.communicate()
            return "ran", ""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        p = sim(run)
        if p.returncode != 0:
            return "traceback", f"resumed {argv[0]}: exit {p.returncode}: {p.stderr[-300:]}"
        diff = same(clean[key], out, names)
        return ("resumed-differently", f"{argv[0]} killed after {after}: {diff}") if diff else (
            "resumed", "")  # fmt: skip

    cases: list[Case] = []

    def add(group: str, runner: Callable[[], tuple[str, str]], timeout: int = 600) -> None:
        cases.append(Case(group, [group], runner=runner, timeout=timeout))

    for method, abc in (("optuna", ""), ("abc", "abc = { accept = 0.3 }")):
        path = tmp / f"kill-{method}.toml"
        path.write_text(CALIBRATION.format(trials=12, method=method, abc=abc))
        argv = ["calibrate", str(path), "--out", "X", "--quiet", "--executor", "serial"]
        for after in (1, 3, 6, 9):
            add(f"kill -9 and resume (sim calibrate, {method})",
                lambda a=argv, k=after, m=method: resume(
                    f"cal-{m}", a, "parts/t*.json", k,
                    ("trials.parquet", "fit.csv", "posterior.parquet"),
                    ["--executor", "process", "--workers", "2"]))  # fmt: skip
    sweep_path = tmp / "kill-sweep.toml"
    sweep_path.write_text(SWEEP.replace("samples = 2", "samples = 4"))
    sweep_argv = ["sweep", str(sweep_path), "--out", "X", "--quiet", "--executor", "serial"]
    sweep_tables = ("summary.parquet", "design.parquet")
    pool = ["--executor", "process", "--workers", "2"]
    for after in (2, 7, 12):
        add("kill -9 and resume (sim sweep)", lambda k=after: resume(
            "sweep", sweep_argv, "parts/summary-*", k, sweep_tables, pool))  # fmt: skip
    kill_suite = tmp / "kill-suite"
    kill_suite.mkdir(exist_ok=True)
    (kill_suite / "a_case.toml").write_text(CASE.format(replications=8))
    val_argv = ["validate", str(kill_suite), "--out", "X", "--quiet", "--executor", "serial"]
    val_tables = ("validation.csv", "validation.md")
    for after in (2, 5):
        add("kill -9 and resume (sim validate)", lambda k=after: resume(
            "val", val_argv, "parts/*.json", k, val_tables, []))  # fmt: skip
    long_run = tmp / "kill-long.toml"
    long_run.write_text(BASE.replace("months = 3", "months = 200").replace(
        "patients = 400", "patients = 20000").replace(
        "[outputs]", '[population.regions]\nnorth = { share = 0.5 }\nsouth = { share = 0.5 }'
        "\n[outputs]"))  # fmt: skip

    def run_again() -> tuple[str, str]:
        """sim run killed mid-run, run again: the bytes of an uninterrupted run."""
        out, ref = _fresh(kills / "run"), _fresh(kills / "run-clean")
        proc = start(["run", str(long_run), "--out", str(out), "--workers", "1"])
        while "(30%)" not in proc.stderr.readline():
            if proc.poll() is not None:
                proc.communicate()
                return "ran", ""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        for folder in (out, ref):
            p = sim(["run", str(long_run), "--out", str(folder), "--quiet"])
            if p.returncode != 0:
                return "traceback", p.stderr[-300:]
        diff = same(ref, out, ("monthly.parquet", "summary.csv", "providers.parquet"))
        return ("resumed-differently", diff) if diff else ("resumed", "")

    add("kill -9 and run again (sim run)", run_again)

    def lost_worker(argv: list[str], progress: str | None, parts: Path | None) -> tuple[str, str]:
        """kill -9 of the first worker process once at work: reported in one message."""
        proc = start(argv)
        deadline = time.time() + 120
        victims: list[int] = []
        while time.time() < deadline and proc.poll() is None:
            victims = [c for c in _children(proc.pid)]
            ready = victims and (parts is None or count(parts, "summary-*") >= 2)
            if ready:
                break
            time.sleep(0.05)
        while progress is not None and proc.poll() is None:
            if progress in proc.stderr.readline():
                break
        if proc.poll() is not None or not victims:
            proc.communicate()
            return "ran", ""
        os.kill(victims[0], signal.SIGKILL)
        killed = time.time()
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return "hang", f"{argv[:2]}: still running 300 s after worker {victims[0]} died"
        named = str(victims[0]) in err and "Traceback" not in err
        if proc.returncode == 1 and named and (parts is not None or time.time() - killed < 30):
            return "reported", ""
        return "traceback", f"{argv[:2]}: exit {proc.returncode}: {err.strip()[-300:]}"

    add("kill -9 of a worker (sim run --workers 2)", lambda: lost_worker(
        ["run", str(long_run), "--out", str(_fresh(kills / "w")), "--workers", "2"],
        "(20%)", None))  # fmt: skip
    add("kill -9 of a worker (sim run --shards 2)", lambda: lost_worker(
        ["run", str(long_run), "--out", str(_fresh(kills / "s")), "--shards", "2"],
        "(10%)", None))  # fmt: skip
    add("kill -9 of a worker (sim sweep --workers 2)", lambda: lost_worker(
        ["sweep", str(sweep_path), "--out", str(_fresh(kills / "sw")), "--workers", "2",
         "--quiet"], None, kills / "sw" / "parts"))  # fmt: skip
    return cases


def _children(pid: int) -> list[int]:
    """The spawn worker processes of ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                out.append(int(entry.name))
    return sorted(out)


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000, help="scenario-field cases (sampled)")
    ap.add_argument("--seed", type=int, default=1, help="sampling seed")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per case before 'hang'")
    ap.add_argument("--show", type=int, default=3, help="examples printed per bad outcome")
    ap.add_argument("--memory-gb", type=float, default=8.0, help="address-space limit")
    ap.add_argument("--no-kills", dest="kills", action="store_false",
                    help="leave out the kill -9 cases (they take a few minutes)")  # fmt: skip
    args = ap.parse_args(argv)
    limit = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    rnd = random.Random(args.seed)
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="sim-fuzz-") as d:
        tmp = Path(d)
        (tmp / "base.toml").write_text(BASE)
        (tmp / "out").mkdir()
        fields = scenario_cases(tmp, rnd)
        rnd.shuffle(fields)
        cases = [*command_line_cases(tmp), *sweep_cases(tmp), *folder_cases(tmp)]
        cases += link_cases(tmp)
        if args.kills:
            cases += kill_cases(tmp)
        cases += fields[: max(0, args.cases)]
        cwd = os.getcwd()
        os.chdir(tmp)  # default output folders (results/<name>/) land in the temporary folder
        try:
            for i, case in enumerate(cases, 1):
                outcome, detail = run_case(case, args.timeout)
                tally.counts[outcome] += 1
                tally.by_group[case.group][outcome] += 1
                if detail:
                    tally.examples[outcome].append(f"[{case.group}] {detail}")
                if i % 200 == 0:
                    print(f"... {i}/{len(cases)} cases", file=sys.stderr, flush=True)
        finally:
            os.chdir(cwd)
    order = ["ran", "refused", "resumed", "reported", "refused-unnamed", "half-written",
             "traceback", "hang", "escaped", "resumed-differently"]  # fmt: skip
    print(f"{sum(tally.counts.values())} cases")
    for group, c in tally.by_group.items():
        print(f"  {group:38s} " + ", ".join(f"{k} {c[k]}" for k in order if c[k]))
    print("total: " + ", ".join(f"{k} {tally.counts[k]}" for k in order))
    for k in order[4:]:
        for ex in tally.examples[k][: args.show]:
            print(f"{k}: {ex[:400]}")
    bad = sum(tally.counts[k] for k in ("traceback", "hang", "half-written", "escaped",
                                        "resumed-differently"))  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_())
