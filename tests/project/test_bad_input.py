"""Every bad input refused up front (#17): one message naming the file and field, exit 2, no
traceback, nothing written. Runs the CLI in this process (``main(argv)``) for speed."""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import (
    SIZE_FIELDS,
    Leaf,
    leaves,
    mutation_values,
    override,
    scenario_leaves,
    small_overrides,
    toml_value,
)
from paths import ROOT

import sim.guards.limits
from sim.cli import main
from sim.errors import ResultsError, ScenarioError
from sim.scenario import load_scenario
from sim.scenario.sweep import SweepConfig

SCENARIOS = ROOT / "scenarios"

SMALL = """
name = "small"
months = 2
seed = 5
[population]
patients = 300
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

SWEEP = {
    "name": "sw",
    "scenario": "small.toml",
    "replications": 1,
    "seed": 3,
    "design": {"method": "grid"},
    "parameters": [{"field": "behaviour.initial_offset", "levels": [0.0]}],
}

MORRIS = """
name = "mo"
scenario = "small.toml"
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


_unique = itertools.count()  # hypothesis seeds `random` per example: names from a counter


def cli(*argv: str, capsys) -> tuple[int, str]:
    """Exit status and stderr of ``sim ARGV`` run in this process."""
    rc = main(list(argv))
    return rc, capsys.readouterr().err


def toml_doc(data: dict) -> str:
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in data.items())


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def refused(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    assert err.startswith("sim: error:") and "Traceback" not in err
    for w in words:
        assert w in err, err


def nothing_left(folder: Path) -> bool:
    parent = folder.parent
    return not folder.exists() and not list(parent.glob(f".{folder.name}.tmp-*"))


# ---------------------------------------------------------------------------------------------
# strict values

STRICT = {
    "boolean for a number": ("arms.0.contracts.0.coinsurance=true", "coinsurance", "number"),
    "boolean for months": ("months=true", "months", "integer"),
    "boolean for a multiplier": ("arms.0.contracts.0.fee_multiplier=false", "fee_multiplier", ""),
    "boolean for patients": ("population.patients=true", "population.patients", "integer"),
    "infinite fee multiplier": (
        "arms.0.contracts.0.fee_multiplier=inf", "fee_multiplier", "finite"
    ),
    "infinite copay": ("arms.0.contracts.0.copay_per_visit=inf", "copay_per_visit", "finite"),
    "infinite plan PMPM": ("arms.1.contracts.0.plan_pmpm=inf", "plan_pmpm", "finite"),
    "infinite deductible": ("payers.medicare_ffs.deductible=inf", "deductible", "finite"),
    "minus infinite offset": ("behaviour.initial_offset=-inf", "initial_offset", "finite"),
    "NaN": ("settings.primary_care.marginal_cost=nan", "marginal_cost", "finite"),
    "string for a boolean": ('behaviour.bunching.enabled="yes"', "enabled", "boolean"),
    "string for a contract flag": (
        'arms.0.contracts.0.deductible_applies="no"', "deductible_applies", "boolean",
    ),
    "string for a number": ('months="3"', "months", "integer"),
    "GPCI infinite": ("population.regions.national.gpci_work=inf", "gpci_work", "finite"),
    "minutes per unit huge": (
        "settings.outpatient_therapy.minutes_per_unit=1e308", "minutes_per_unit", "less than",
    ),
    "optimal units huge": (
        "settings.outpatient_therapy.optimal_units=1e308", "optimal_units", "less than",
    ),
    "too many patients": ("population.patients=1000000000", "population.patients", "GB"),
    "seed of 2**64": ("seed=18446744073709551616", "seed", "less than or equal"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(STRICT))
def test_strict_values_are_refused(case, small, tmp_path, capsys):
    """Booleans, strings and non-finite or huge numbers where they do not belong: exit 2."""
    override, field, allowed = STRICT[case]
    out = tmp_path / "out"
    rc, err = cli("run", str(small), "--out", str(out), "--quiet", "--set", override, capsys=capsys)
    refused(rc, err, "small.toml", field, allowed)
    assert nothing_left(out)


def test_nan_in_pathway_values_is_refused(tmp_path, capsys):
    """NaN as a pathway destination's value names the field."""
    path = SCENARIOS / "joint_replacement_bundle.toml"
    sc = load_scenario(path)
    dest = next(iter(sc.pathway.destinations))
    rc, err = cli(
        "run", str(path), "--out", str(tmp_path / "o"), "--quiet",
        "--set", f"pathway.destinations.{dest}.value=nan", capsys=capsys,
    )  # fmt: skip
    refused(rc, err, f"pathway.destinations.{dest}.value", "finite")


def test_therapy_max_minutes_infinite_is_refused():
    """therapy.max_minutes = inf is refused at load time (it broke the model)."""
    path = SCENARIOS / "snf_payment_reform.toml"
    sc = load_scenario(path)
    name = next(n for n, s in sc.settings.items() if s.therapy is not None)
    with pytest.raises(ScenarioError, match=r"therapy\.max_minutes.*finite"):
        load_scenario(path, [f"settings.{name}.therapy.max_minutes=inf"])


def test_numpy_scalars_are_set_as_python_numbers():
    """Values from numpy (designs, optimisers) pass the strict schema as the numbers they hold."""
    import numpy as np

    from sim.experiments.run import evaluate

    sc = load_scenario(SCENARIOS / "compare_payment_models.toml", small_overrides(
        SCENARIOS / "compare_payment_models.toml"))  # fmt: skip
    out = evaluate(
        sc, {"months": np.int64(2), "settings.primary_care.marginal_cost": np.float32(50)}
    )
    assert out["spending_pmpm"] > 0


def test_whole_numbers_are_accepted_for_decimals():
    """Strictness keeps ints for floats (months = 48, base_rate = 2300) as before."""
    sc = load_scenario(
        SCENARIOS / "compare_payment_models.toml",
        ["settings.primary_care.marginal_cost=60", "arms.2.contracts.0.base_rate=2300"],
    )
    assert sc.settings["primary_care"].marginal_cost == 60.0
    assert isinstance(sc.settings["primary_care"].marginal_cost, float)


# ---------------------------------------------------------------------------------------------
# seeds, arms, names


@pytest.mark.parametrize("seed", ["18446744073709551616", "-1"])
def test_seed_out_of_range_is_refused_before_running(seed, small, tmp_path, capsys):
    """--seed beyond int64 (or negative) is refused at once, not after the whole run."""
    started = time.perf_counter()
    rc, err = cli("run", str(small), "--out", str(tmp_path / "o"), "--seed", seed, capsys=capsys)
    refused(rc, err, "--seed", "2**63 - 1")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("arms", "message"),
    [(",", "empty arm name"), ("ffs,ffs", "named twice: ffs"), ("ffs,", "empty arm name"),
     (" ", "empty arm name"), ("salary", "unknown arm 'salary'")],
)  # fmt: skip
def test_bad_arms_option_is_refused(arms, message, small, tmp_path, capsys):
    """--arms lists known arms, each once; an empty list or a repeat is refused."""
    rc, err = cli("run", str(small), "--out", str(tmp_path / "o"), "--arms", arms, capsys=capsys)
    refused(rc, err, "--arms", message, "allowed: ffs, capitation")


@pytest.mark.parametrize("name", ["", "a,b", "a\nb", "../x", ".."])
def test_bad_arm_and_scenario_names_are_refused(name, small, tmp_path, capsys):
    """Arm and scenario names become labels and folder names: one safe word each."""
    for field in ("arms.0.name", "name"):
        override = f"{field}={toml_value(name)}"
        out = tmp_path / "o"
        rc, err = cli("run", str(small), "--out", str(out), "--set", override, capsys=capsys)
        refused(rc, err, f"{field}:", "letters, digits")
        assert nothing_left(out)


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "", "..", "a b"])
def test_sweep_names_cannot_leave_the_results_folder(name, small, tmp_path, capsys, monkeypatch):
    """A sweep's name becomes results/<name>/: names with paths are refused, nothing written."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sw.toml"
    path.write_text(toml_doc({**SWEEP, "name": name}))
    rc, err = cli("sweep", str(path), "--executor", "serial", "--quiet", capsys=capsys)
    refused(rc, err, "sw.toml", "name", "letters, digits")
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "escaped").exists()


# ---------------------------------------------------------------------------------------------
# paths


def test_scenario_paths_that_are_not_regular_files(tmp_path, capsys):
    """A FIFO, /dev/zero, a folder, a too-large or non-UTF-8 file: refused before reading."""
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    big.write_text("#" * (sim.guards.limits.MAX_INPUT_BYTES + 1))
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    cases = {
        fifo: "not a regular file",
        Path("/dev/zero"): "not a regular file",
        tmp_path: "is a folder",
        big: "at most 2,097,152 bytes",
        latin: "not UTF-8",
        deep: "nested too deeply",
        tmp_path / "small.toml" / "x.toml": "not found",
    }
    (tmp_path / "small.toml").write_text(SMALL)
    for path, message in cases.items():
        out = tmp_path / "o"
        rc, err = cli("run", str(path), "--out", str(out), capsys=capsys)
        refused(rc, err, str(path), message)
        assert nothing_left(out)


def test_output_paths_where_no_folder_can_be_made(small, tmp_path, capsys):
    """--out under a file, in /dev, /proc or /sys, or with a name too long: refused up front."""
    regular = tmp_path / "file"
    regular.write_text("x")
    cases = {
        regular / "out": "is a file",
        regular: "exists and is not a folder",
        Path("/dev/null"): "under /dev",
        Path("/proc/self/out"): "under /proc",
        Path("/sys/out"): "under /sys",
        tmp_path / ("x" * 300): "too long",
    }
    for out, message in cases.items():
        rc, err = cli("run", str(small), "--out", str(out), "--quiet", capsys=capsys)
        refused(rc, err, "--out", message)
    assert regular.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "small.toml"]


def test_sweep_base_scenario_that_cannot_be_read(tmp_path, capsys):
    """A sweep whose base scenario is empty (a folder), binary or not UTF-8: refused by name."""
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)))
    for base, message in (("", "file name is empty"), (".", "is a folder"),
                          ("binary.toml", "not UTF-8")):  # fmt: skip
        path = tmp_path / "sw.toml"
        path.write_text(toml_doc({**SWEEP, "scenario": base}))
        out = tmp_path / "out"
        rc, err = cli("sweep", str(path), "--out", str(out), "--executor", "serial", capsys=capsys)
        refused(rc, err, "sw.toml", "scenario", message)
        assert not out.exists()


# ---------------------------------------------------------------------------------------------
# unbounded work and memory


def test_a_run_too_large_for_memory_is_refused(small, tmp_path, capsys, monkeypatch):
    """The memory of a run is estimated up front: refused naming the size and what is free."""
    monkeypatch.setattr(sim.guards.limits, "available_memory", lambda: 2**30)
    rc, err = cli(
        "run", str(small), "--out", str(tmp_path / "o"), "--set", "population.patients=20000000",
        capsys=capsys,
    )  # fmt: skip
    refused(rc, err, "population.patients", "20,000,000 patients", "1.0 GB is available")
    assert not (tmp_path / "o").exists()


def test_run_memory_estimate_is_of_the_measured_order():
    """About 100-300 bytes per patient and setting mix, plus fixed costs."""
    sc = load_scenario(SCENARIOS / "compare_payment_models.toml", ["population.patients=10000000"])
    per_patient = (sim.guards.limits.run_bytes(sc) - sim.guards.limits.FIXED_BYTES) / 1e7
    assert 110 <= per_patient <= 400


@pytest.mark.parametrize(
    ("change", "message"),
    [({"design": {"method": "lhs", "samples": 1_000_000},
       "parameters": [{"field": "behaviour.initial_offset", "low": 0.0, "high": 1.0}]},
      "1,000,000 design points"),
     ({"replications": 100_000}, "100,000 runs"),
     ({"parameters": [{"field": "behaviour.initial_offset", "levels": [0.0] * 3000},
                      {"field": "behaviour.memory", "levels": [0.1] * 3000}]},
      "at most 1,000,000 runs")],
)  # fmt: skip
def test_huge_sweeps_are_counted_and_refused_before_any_work(change, message, small, tmp_path,
                                                              capsys):  # fmt: skip
    """Design size × replications is counted first; above the limit: refused with count and time."""
    path = tmp_path / "sw.toml"
    path.write_text(toml_doc({**SWEEP, **change}))
    started = time.perf_counter()
    rc, err = cli("sweep", str(path), "--out", str(tmp_path / "o"), capsys=capsys)
    refused(rc, err, "sw.toml", "design", message, "about")
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "o").exists()


def test_more_runs_than_the_limit_need_yes(small, tmp_path, capsys, monkeypatch):
    """Above RUNS_WITHOUT_YES a sweep asks for --yes; with it, it runs."""
    monkeypatch.setattr(sim.guards.limits, "RUNS_WITHOUT_YES", 1)
    monkeypatch.setattr(sim.experiments.sweep, "RUNS_WITHOUT_YES", 1)
    path = tmp_path / "sw.toml"
    path.write_text(toml_doc({**SWEEP, "replications": 2}))
    out = tmp_path / "o"
    rc, err = cli("sweep", str(path), "--out", str(out), "--executor", "serial", capsys=capsys)
    refused(rc, err, "2 runs", "--yes")
    rc, err = cli("sweep", str(path), "--out", str(out), "--executor", "serial", "--quiet",
                  "--yes", capsys=capsys)  # fmt: skip
    assert rc == 0, err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["nonsense", "tcp://", "tcp://host:port", "tls://1.2.3.4:1",
                                     "tcp://[::1:8786", "CLOSED"])  # fmt: skip
def test_scheduler_address_checked_before_any_folder(address, small, tmp_path, capsys):
    """A malformed or unreachable Dask scheduler: refused within seconds, no folder made."""
    if address == "CLOSED":
        address = f"tcp://127.0.0.1:{_closed_port()}"
    path = tmp_path / "sw.toml"
    path.write_text(toml_doc(SWEEP))
    out = tmp_path / "o"
    started = time.perf_counter()
    rc, err = cli("sweep", str(path), "--out", str(out), "--executor", "dask",
                  "--scheduler", address, capsys=capsys)  # fmt: skip
    refused(rc, err, "--scheduler")
    assert time.perf_counter() - started < 8
    assert not out.exists()


def test_scheduler_port_that_is_not_dask(small, tmp_path, capsys):
    """A port that accepts connections but speaks something else (a proxy, another service):
    refused within seconds, naming the address, no folder made."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"\xff" * 64)  # not a Dask handshake
                time.sleep(0.5)

    threading.Thread(target=serve, daemon=True).start()
    path = tmp_path / "sw.toml"
    path.write_text(toml_doc(SWEEP))
    out = tmp_path / "o"
    started = time.perf_counter()
    try:
        rc, err = cli("sweep", str(path), "--out", str(out), "--executor", "dask",
                      "--scheduler", f"tcp://127.0.0.1:{port}", capsys=capsys)  # fmt: skip
    finally:
        server.close()
    refused(rc, err, "--scheduler", f"127.0.0.1:{port}", "no Dask scheduler")
    assert time.perf_counter() - started < 10
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# damaged folders, nothing half-written


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One finished run folder and one finished morris sweep folder (small)."""
    tmp = tmp_path_factory.mktemp("good")
    (tmp / "small.toml").write_text(SMALL)
    (tmp / "mo.toml").write_text(MORRIS)
    assert main(["run", str(tmp / "small.toml"), "--out", str(tmp / "run"), "--quiet"]) == 0
    assert main(["sweep", str(tmp / "mo.toml"), "--out", str(tmp / "sweep"), "--executor",
                 "serial", "--quiet"]) == 0  # fmt: skip
    return {"run": tmp / "run", "sweep": tmp / "sweep", "sweep_file": tmp / "mo.toml"}


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _parquet(path: Path, change) -> None:
    change(pd.read_parquet(path)).to_parquet(path, index=False)


RUN_DAMAGE = {
    "replicate as text": (
        lambda d: _parquet(d / "monthly.parquet", lambda df: df.astype({"replicate": str})),
        "column replicate should hold whole numbers",
    ),
    "spending missing": (
        lambda d: _parquet(d / "monthly.parquet", lambda df: df.drop(columns="spending")),
        "missing column(s) spending",
    ),
    "arms not a list": (
        lambda d: (d / "metadata.json").write_text(
            json.dumps({**json.loads((d / "metadata.json").read_text()), "arms": 3})
        ),
        "'arms' should be a list of names",
    ),
    "duplicated rows": (
        lambda d: _parquet(d / "monthly.parquet", lambda df: pd.concat([df, df])),
        "duplicated rows",
    ),
}


@pytest.mark.parametrize("case", list(RUN_DAMAGE))
def test_report_on_a_damaged_run_folder(case, folders, tmp_path, capsys):
    """`sim report` on a run folder with wrong or missing columns: exit 2 naming file and column."""
    damage, message = RUN_DAMAGE[case]
    folder = _copy(folders["run"], tmp_path / "res")
    damage(folder)
    rc, err = cli("report", str(folder), capsys=capsys)
    refused(rc, err, str(folder), message)
    assert not (folder / "report").exists()


SWEEP_DAMAGE = {
    "spec a list": (lambda d: (d / "sweep.json").write_text("[]"), "expected a JSON object"),
    "spec's sweep a list": (
        lambda d: (d / "sweep.json").write_text(
            json.dumps({**json.loads((d / "sweep.json").read_text()), "sweep": []})
        ),
        "'sweep' should be an object",
    ),
    "parameter column dropped": (
        lambda d: _parquet(
            d / "design.parquet", lambda df: df.drop(columns="behaviour.initial_offset")
        ),
        "missing column(s) behaviour.initial_offset",
    ),
    "point column dropped": (
        lambda d: _parquet(d / "summary.parquet", lambda df: df.drop(columns="point")),
        "missing column(s) point",
    ),
    "duplicated design rows": (
        lambda d: _parquet(d / "design.parquet", lambda df: pd.concat([df, df])),
        "duplicated rows (point)",
    ),
    "gathering killed": (lambda d: (d / "metadata.json").unlink(), "metadata.json: missing"),
}


@pytest.mark.parametrize("command", ["report", "sensitivity"])
@pytest.mark.parametrize("case", list(SWEEP_DAMAGE))
def test_readers_of_a_damaged_sweep_folder(case, command, folders, tmp_path, capsys):
    """`sim report` and `sim sensitivity` read sweep folders through one validated loader."""
    damage, message = SWEEP_DAMAGE[case]
    folder = _copy(folders["sweep"], tmp_path / "sw")
    damage(folder)
    rc, err = cli(command, str(folder), capsys=capsys)
    refused(rc, err, str(folder), message)


def test_resuming_a_sweep_whose_spec_is_a_list(folders, tmp_path, capsys):
    """`sim sweep` on a folder whose sweep.json is a list: refused, the folder untouched."""
    folder = _copy(folders["sweep"], tmp_path / "sw")
    (folder / "sweep.json").write_text("[]")
    before = sorted(p.name for p in folder.iterdir())
    rc, err = cli("sweep", str(folders["sweep_file"]), "--out", str(folder), "--executor",
                  "serial", capsys=capsys)  # fmt: skip
    refused(rc, err, "sweep.json", "expected a JSON object")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_sensitivity_of_an_outcome_constant_in_every_arm(folders, capsys):
    """An outcome that never varies (member_months) gives undefined (NaN) indices, no KeyError."""
    rc, err = cli("sensitivity", str(folders["sweep"]), "--outcome", "member_months", capsys=capsys)
    assert rc == 0, err
    df = pd.read_csv(folders["sweep"] / "sensitivity" / "morris_member_months.csv")
    assert df["mu_star"].isna().all()


def test_gathering_is_all_or_nothing(folders, tmp_path, monkeypatch, capsys):
    """A gathering stopped half-way leaves no metadata.json, so readers call the folder
    incomplete; running the sweep again completes it."""
    import sim.results.dataset

    folder = _copy(folders["sweep"], tmp_path / "sw")
    real = sim.results.dataset._atomic_write

    def stop_at_readme(path, text):
        if path.name == "README.md":
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(sim.results.dataset, "_atomic_write", stop_at_readme)
    rc, _ = cli("sweep", str(folders["sweep_file"]), "--out", str(folder), "--executor",
                "serial", "--quiet", capsys=capsys)  # fmt: skip
    assert rc == 130 and not (folder / "metadata.json").exists()
    with pytest.raises(ResultsError, match="incomplete"):
        from sim.publish.report import load_results

        load_results(folder)
    monkeypatch.setattr(sim.results.dataset, "_atomic_write", real)
    rc, err = cli("sweep", str(folders["sweep_file"]), "--out", str(folder), "--executor",
                  "serial", "--quiet", capsys=capsys)  # fmt: skip
    assert rc == 0, err
    assert (folder / "metadata.json").exists()


def test_run_removes_stale_temporary_folders(small, tmp_path, capsys):
    """`.<out>.tmp-*` folders left by a killed run are removed by the next run to that --out."""
    stale = tmp_path / ".res.tmp-abc123"
    stale.mkdir()
    (stale / "monthly.parquet").write_bytes(b"half")
    other = tmp_path / ".other.tmp-abc123"
    other.mkdir()
    rc, err = cli("run", str(small), "--out", str(tmp_path / "res"), "--quiet", capsys=capsys)
    assert rc == 0, err
    assert not stale.exists() and other.exists()


# ---------------------------------------------------------------------------------------------
# properties: any mutation of a valid file is accepted and runs, or refused naming the field

PROPERTY_SCENARIOS = [
    SCENARIOS / "compare_payment_models.toml",
    SCENARIOS / "snf_payment_reform.toml",
]
LEAVES = {p: scenario_leaves(p) for p in PROPERTY_SCENARIOS}


def _named(leaf: Leaf) -> str:
    """The word a refusal must contain: the field's name (its stem: "thresholds" may be
    named as "one entry per threshold")."""
    return [p for p in leaf.path.split(".") if not p.isdigit()][-1].rstrip("s")


@st.composite
def scenario_mutation(draw):
    path = draw(st.sampled_from(PROPERTY_SCENARIOS))
    leaf = draw(st.sampled_from(LEAVES[path]))
    seed = draw(st.integers(0, 2**16))
    value = draw(st.sampled_from(mutation_values(leaf, random.Random(seed))))
    return path, leaf, value


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples every run; benchmarks/fuzz_inputs.py explores more
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario_mutation())
def test_any_scenario_mutation_runs_or_is_refused_naming_the_field(tmp_path, capsys, mutation):
    """Any field of a shipped scenario set to any value: exit 0, or exit 2 naming the field."""
    path, leaf, value = mutation
    out = tmp_path / f"o{next(_unique)}"
    small = [a for s in small_overrides(path) for a in ("--set", s)]
    try:
        rc = main(["run", str(path), "--out", str(out), "--quiet", *small,
                   "--set", override(leaf, value)])  # fmt: skip
    finally:
        err = capsys.readouterr().err
    if rc == 0:
        assert (out / "monthly.parquet").exists()
    else:
        refused(rc, err, _named(leaf))
        assert nothing_left(out)


SWEEP_LEAVES = [
    lf for lf in leaves(SweepConfig.model_validate(SWEEP)) if lf.path not in ("description",)
]


@st.composite
def sweep_mutation(draw):
    leaf = draw(st.sampled_from(SWEEP_LEAVES))
    seed = draw(st.integers(0, 2**16))
    return leaf, draw(st.sampled_from(mutation_values(leaf, random.Random(seed))))


def _set(data: dict, path: str, value) -> None:
    parts = path.split(".")
    node = data
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples every run; benchmarks/fuzz_inputs.py explores more
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sweep_mutation())
def test_any_sweep_mutation_runs_or_is_refused_naming_the_field(tmp_path, capsys, mutation):
    """Any field of a small sweep file set to any value: exit 0, or exit 2 naming the field."""
    import copy
    import tomllib

    leaf, value = mutation
    sized = SIZE_FIELDS.match(leaf.path) or leaf.path == "design.samples"
    if sized and value not in ("true", "false", '"yes"', '""', '"1"', "inf", "nan", "[]", "0.5"):
        return  # valid sizes only make the test slow
    (tmp_path / "small.toml").write_text(SMALL)
    data = copy.deepcopy(SWEEP)
    _set(data, leaf.path, tomllib.loads(f"v = {value}")["v"])
    path = tmp_path / f"sw{next(_unique)}.toml"
    path.write_text(toml_doc(data))
    out = tmp_path / f"o{next(_unique)}"
    try:
        rc = main(["sweep", str(path), "--out", str(out), "--executor", "serial", "--quiet"])
    finally:
        err = capsys.readouterr().err
    if rc == 0:
        assert (out / "metadata.json").exists()
    else:
        refused(rc, err, "parameters" if leaf.path.startswith("parameters.") else _named(leaf))
        assert not out.exists()
