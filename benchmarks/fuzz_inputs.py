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
sensitivity``.

Every case runs ``sim.cli.main(argv)`` in this process, with a time limit. Outcomes:

- ``ran``: exit 0 (the input is valid and the command finished);
- ``refused``: exit 2 with one ``sim: error:`` message, no traceback, and no output folder left;
- ``refused-unnamed``: refused, but the message does not name the mutated field;
- ``half-written``: refused or failed, but an output folder or a temporary folder is left;
- ``traceback``: an exception escaped ``main`` (or another exit status);
- ``hang``: the case did not finish within the time limit.

The exit status is 1 if any case ends in ``traceback``, ``hang`` or ``half-written``.
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
    signal.alarm(timeout)
    try:
        if case.setup:
            case.setup()
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


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000, help="scenario-field cases (sampled)")
    ap.add_argument("--seed", type=int, default=1, help="sampling seed")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per case before 'hang'")
    ap.add_argument("--show", type=int, default=3, help="examples printed per bad outcome")
    ap.add_argument("--memory-gb", type=float, default=8.0, help="address-space limit")
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
    order = ["ran", "refused", "refused-unnamed", "half-written", "traceback", "hang"]
    print(f"{sum(tally.counts.values())} cases")
    for group, c in tally.by_group.items():
        print(f"  {group:38s} " + ", ".join(f"{k} {c[k]}" for k in order if c[k]))
    print("total: " + ", ".join(f"{k} {tally.counts[k]}" for k in order))
    for k in order[2:]:
        for ex in tally.examples[k][: args.show]:
            print(f"{k}: {ex[:400]}")
    bad = tally.counts["traceback"] + tally.counts["hang"] + tally.counts["half-written"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_())
