"""A single run as a Frictionless data package: `sim run --datapackage`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from sim.errors import ResultsError

frictionless = pytest.importorskip("frictionless")

SMALL = """
name = "tiny_run"
description = "A tiny run for the data package test."
months = 3
seed = 4
[population]
patients = 1500
[outputs]
provider_panel = true
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""


def _sim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dp")
    (tmp / "tiny.toml").write_text(SMALL)
    p = _sim("run", "tiny.toml", "--out", "res", "--quiet", "--datapackage", "--license",
             "CC0-1.0", "--data-version", "2.3.0", cwd=tmp)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "datapackage.json" in p.stdout
    return tmp / "res"


def test_run_writes_a_valid_package_of_every_table(folder):
    """The package lists every table with typed, documented columns and validates."""
    report = frictionless.validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["type", "message"])
    pkg = json.loads((folder / "datapackage.json").read_text())
    assert [r["path"] for r in pkg["resources"]] == [
        "monthly.parquet", "summary.csv", "providers.parquet", "decomposition.csv",
        "decomposition_replicates.csv",
    ]  # fmt: skip
    fields = {f["name"]: f for f in pkg["resources"][0]["schema"]["fields"]}
    assert fields["spending"]["type"] == "number" and fields["spending"]["unit"] == "USD"
    assert fields["month"]["type"] == "integer" and fields["arm"]["description"]


def test_licence_and_version_are_the_users(folder):
    """--license and --data-version end up in the package; the code version is recorded."""
    import sim

    pkg = json.loads((folder / "datapackage.json").read_text())
    assert pkg["licenses"][0]["name"] == "CC0-1.0" and pkg["version"] == "2.3.0"
    assert pkg["created_with"] == f"payment-sim {sim.__version__}"
    assert pkg["description"] == "A tiny run for the data package test."


def test_defaults_are_cc_by_and_1_0_0(folder, tmp_path):
    """Without flags the package is CC-BY-4.0, version 1.0.0."""
    import shutil

    from sim.results.datapackage import write_run_datapackage

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    pkg = json.loads(write_run_datapackage(copy).read_text())
    assert pkg["licenses"][0]["name"] == "CC-BY-4.0" and pkg["version"] == "1.0.0"


def test_data_that_break_the_schema_are_refused(folder, tmp_path):
    """A table whose values do not fit its schema fails validation; nothing is written."""
    import shutil

    from sim.results.datapackage import write_run_datapackage

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "datapackage.json").unlink()
    lines = (bad / "summary.csv").read_text().splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("spending_pmpm")] = "lots"
    (bad / "summary.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    with pytest.raises(ResultsError, match="does not validate"):
        write_run_datapackage(bad)
    assert not (bad / "datapackage.json").exists()


def test_without_flag_there_is_no_package(tmp_path):
    """A plain `sim run` writes no datapackage.json."""
    (tmp_path / "tiny.toml").write_text(SMALL)
    p = _sim("run", "tiny.toml", "--out", "res", "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "res" / "datapackage.json").exists()


def test_an_empty_licence_is_refused_before_running(tmp_path):
    """`--license ''` exits 2 with a message and writes no results folder."""
    (tmp_path / "tiny.toml").write_text(SMALL)
    p = _sim("run", "tiny.toml", "--out", "res", "--quiet", "--datapackage", "--license", "",
             cwd=tmp_path)  # fmt: skip
    assert p.returncode == 2 and "SPDX" in p.stderr
    assert not (tmp_path / "res").exists()


def test_rows_read_once_gives_frictionless_own_cells(folder):
    """The data-frame parser :func:`sim.results.datapackage.rows_read_once` registers yields
    exactly the cells of frictionless's own (each table of the run, index, missing values and
    dates included), and is the one validation uses."""
    import numpy as np
    import pandas as pd
    from frictionless.formats.pandas.parser import PandasParser

    from sim.results.datapackage import rows_read_once

    rows_read_once(frictionless)
    dates = pd.to_datetime(["2018-01-01", None, "2018-03-01"])
    mixed = pd.DataFrame({"i": [1, 2, 3], "x": [0.5, np.nan, 2.0], "s": ["a", None, "c"],
                          "b": [True, False, True], "t": dates}).set_index("i")  # fmt: skip
    frames = [mixed] + [pd.read_parquet(folder / f) for f in ("monthly.parquet",
                                                              "providers.parquet")]  # fmt: skip
    for df in frames:
        ours = frictionless.system.create_parser(frictionless.Resource(data=df))
        assert type(ours) is not PandasParser and isinstance(ours, PandasParser)
        theirs = PandasParser(frictionless.Resource(data=df))
        got = list(ours.read_cell_stream_create())
        want = list(theirs.read_cell_stream_create())
        assert len(got) == len(df) + 1
        assert pd.DataFrame(got).equals(pd.DataFrame(want))  # NaN and NaT equal themselves
        assert [list(map(type, r)) for r in got] == [list(map(type, r)) for r in want]


def test_a_parquet_table_that_breaks_the_schema_is_refused(folder, tmp_path):
    """A parquet table (read by the parser above) whose values do not fit its schema fails
    validation too."""
    import shutil

    import pandas as pd

    from sim.results.datapackage import write_run_datapackage

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "datapackage.json").unlink()
    monthly = pd.read_parquet(bad / "monthly.parquet")
    monthly["month"] = monthly["month"].astype(str)
    monthly.loc[1, "month"] = "lots"
    monthly.to_parquet(bad / "monthly.parquet")
    with pytest.raises(ResultsError, match="does not validate"):
        write_run_datapackage(bad)
    assert not (bad / "datapackage.json").exists()
