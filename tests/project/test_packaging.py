"""The package as researchers get it: a wheel installed outside the repository, its metadata,
the shipped scenarios and the fast command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from paths import ROOT

import sim
from sim.errors import ScenarioError, SimError
from sim.scenario import catalog, load_scenario


def _no_repo_env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(site)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources, installed into a folder of a git repository
    that is not payment-sim's."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "sim", src / "sim", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "scenarios", src / "scenarios")
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--disable-pip-version-check", "-w", str(dist), str(src)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = dist.glob("payment_sim-*.whl")
    other_repo = tmp / "elsewhere"
    other_repo.mkdir()
    subprocess.run(["git", "init", "-q", str(other_repo)], check=True)
    site = other_repo / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--disable-pip-version-check",
         "--target", str(site), str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return wheel


def _site(wheel: Path) -> Path:
    return wheel.parent.parent / "elsewhere" / "site"


def test_wheel_carries_scenarios_license_and_typing_marker(installed):
    """The wheel holds every shipped scenario and world file, the py.typed marker and the
    licence."""
    names = zipfile.ZipFile(installed).namelist()
    folder = ROOT / "scenarios"
    shipped = sorted(
        p.relative_to(folder).as_posix()
        for p in [*folder.glob("*.toml"), *folder.glob("worlds/*.toml")]
    )
    prefix = "sim/scenarios_data/"
    assert sorted(n[len(prefix) :] for n in names if n.startswith(prefix)) == shipped
    assert "sim/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_installed_wheel_lists_copies_and_runs_a_scenario(installed, tmp_path):
    """From the wheel alone: `sim scenarios` lists, `copy` copies, a run records the version and
    no git commit."""
    site = _site(installed)
    env = _no_repo_env(site)
    where = subprocess.run(
        [sys.executable, "-c", "import sim; print(sim.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site)

    def sim_(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sim", *args], cwd=tmp_path, env=env, capture_output=True,
            text=True,
        )  # fmt: skip

    listed = sim_("scenarios")
    assert listed.returncode == 0, listed.stderr
    for s in catalog.list_scenarios():
        assert s.name in listed.stdout
    copied = sim_("scenarios", "copy", "compare_payment_models")
    assert copied.returncode == 0, copied.stderr
    local = tmp_path / "compare_payment_models.toml"
    assert local.read_bytes() == (ROOT / "scenarios" / local.name).read_bytes()
    ran = sim_("run", local.name, "--out", "res", "--quiet", "--set", "population.patients=1500",
               "--set", "months=2")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    meta = json.loads((tmp_path / "res" / "metadata.json").read_text())
    assert meta["version"] == sim.__version__
    assert meta["git_commit"] is None


def test_version_is_one_number_everywhere():
    """pyproject reads the version from sim.__version__; CITATION.cff and CHANGELOG carry it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sim.__version__"}
    assert f"version: {sim.__version__}\n" in (ROOT / "CITATION.cff").read_text()
    assert f"## [{sim.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    assert project["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_run_from_a_checkout_records_version_and_commit(tmp_path):
    """From this repository, metadata has the package version and a git commit (or no git)."""
    from sim.results.folder import provenance

    p = provenance()
    assert p["version"] == sim.__version__
    if shutil.which("git") and (ROOT / ".git").exists():
        assert p["git_commit"] and len(p["git_commit"].removesuffix("-dirty")) == 40


def test_copy_of_a_sweep_brings_its_base_and_refuses_to_overwrite(tmp_path):
    """Copying a sweep copies its base scenario too, and the base world with its parameter
    file that the scenario names, so the copy runs from there; an existing file is not
    overwritten."""
    sweep = next(s for s in catalog.list_scenarios() if s.kind == "sweep")
    written = catalog.copy_scenario(sweep.name, tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        sweep.path.name,
        sweep.base,
        "worlds/medicare.toml",
        "worlds/medicare_parameters.toml",
    }
    assert load_scenario(tmp_path / str(sweep.base)).world == "us_medicare_2025"
    with pytest.raises(SimError, match="exists"):
        catalog.copy_scenario(sweep.name, tmp_path)
    with pytest.raises(ScenarioError, match="no shipped scenario 'nope'"):
        catalog.find_scenario("nope")


def test_help_imports_no_heavy_library():
    """`sim --help` and the subcommands' parsers import neither Mesa, pandas, numpy nor Solara."""
    code = (
        "import sys, contextlib, io\n"
        "from sim.cli import main\n"
        "for a in (['--help'], ['run', '--help'], ['explore', '--help'],\n"
        "          ['scenarios', '--help']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(a)\n"
        "heavy = [m for m in ('mesa', 'pandas', 'numpy', 'solara', 'matplotlib', 'pydantic')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_extra_names_the_extra_to_install(monkeypatch, capsys):
    """A feature whose optional package is missing exits 2 naming the extra, not a traceback."""
    from sim.cli import main
    from sim.guards.extras import MissingExtraError, require

    with pytest.raises(MissingExtraError, match=r"pip install 'payment-sim\[explore\]'"):
        require("no_such_module_for_payment_sim", "explore", "sim explore")
    import sim.guards.extras as optional

    real_import = optional.import_module

    def no_solara(name: str):
        if name.split(".")[0] == "solara":
            raise ImportError(f"No module named {name!r}")
        return real_import(name)

    monkeypatch.setattr(optional, "import_module", no_solara)
    assert main(["explore", "compare_payment_models"]) == 2
    assert "payment-sim[explore]" in capsys.readouterr().err
