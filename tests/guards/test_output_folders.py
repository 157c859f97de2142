"""Nothing lost, nothing escapes (#29): output folders are written only if empty, absent or a
results folder of the command's own kind (by content), never through a link; results folders
are read without following links or opening a FIFO. Each test is one defect of the audit,
reproduced (a planted link, a FIFO, a folder of other files) and refused with one message,
exit 2, nothing written outside and nothing deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from sim.cli import main
from sim.errors import ResultsError

SMALL = """
name = "small"
months = 2
seed = 5
[population]
patients = 300
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{ model = "ffs" }]
[[arms]]
name = "capitation"
contracts = [{ model = "capitation", pmpm = 12.0 }]
"""

SWEEP = """
name = "sw"
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

CALIBRATION = """
name = "cal"
trials = 2
seeds = 1
batch = 1
[[parameters]]
name = "offset"
fields = ["behaviour.initial_offset"]
low = -0.5
high = 0.5
[[targets]]
id = "units"
scenario = "small.toml"
arm = "ffs"
column = "units"
value = 10.0
uncertainty = 5.0
source = "a made-up test target"
"""

CASE = """
[case]
scenario = "small.toml"
arm = "capitation"
baseline = "ffs"
column = "spending"
statistic = "relative_change"
title = "a test case"
finding = "made up"
citation = "none"
published = -0.1
range = [-0.2, 0.0]
replications = 1
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def refused(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    assert err.startswith("sim: error:") and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def sim(*argv: object, timeout: float = 120) -> subprocess.CompletedProcess:
    """``sim ARGV`` in a fresh process (a hang fails at ``timeout``, it does not stall)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sim", *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# sim run replaces only its own results folders


def test_run_never_deletes_a_folder_of_other_files(small, tmp_path, capsys):
    """A folder with a metadata.json and a thesis beside it is refused before the run; before,
    `sim run --out` replaced it, deleting the thesis."""
    thesis = tmp_path / "thesis"
    (thesis / "src").mkdir(parents=True)
    (thesis / "thesis.tex").write_text("years of work")
    (thesis / "metadata.json").write_text("{}")
    rc = main(["run", str(small), "--out", str(thesis), "--quiet"])
    refused(rc, capsys.readouterr().err, "thesis.tex", "does not write")
    assert (thesis / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in thesis.iterdir()) == ["metadata.json", "src", "thesis.tex"]


def test_run_replaces_its_own_folder_and_refuses_a_forged_one(small, tmp_path, capsys):
    """A run's folder (its report too) is replaced; a lone metadata.json that no run wrote is
    not taken for one."""
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out), "--quiet"]) == 0
    assert main(["run", str(small), "--out", str(out), "--quiet"]) == 0
    assert not (out / "report").exists()
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "metadata.json").write_text("{}")
    rc = main(["run", str(small), "--out", str(forged), "--quiet"])
    refused(rc, capsys.readouterr().err, "not a results folder of sim run")
    assert [p.name for p in forged.iterdir()] == ["metadata.json"]


@pytest.mark.parametrize("out", [".", ".."])
def test_run_out_of_the_current_folder_is_refused_up_front(small, tmp_path, out, monkeypatch,
                                                          capsys):  # fmt: skip
    """`--out .` crashed after the whole run (EBUSY) and left a `..old-*` folder; it is now
    refused before the run, and nothing is left."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    rc = main(["run", str(small), "--out", out, "--quiet"])
    refused(rc, capsys.readouterr().err, "current folder")
    assert list(here.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "here", "small.toml",
    ]  # fmt: skip


def test_run_out_that_is_a_link_is_refused(small, tmp_path, capsys):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    (tmp_path / "link").symlink_to(target)
    rc = main(["run", str(small), "--out", str(tmp_path / "link"), "--quiet"])
    refused(rc, capsys.readouterr().err, "symbolic link")
    assert (target / "keep.txt").exists() and (tmp_path / "link").is_symlink()


# ---------------------------------------------------------------------------------------------
# sweep, calibrate and validate never write through a planted link


def _sweep_args(tmp_path: Path, out: Path) -> list[str]:
    (tmp_path / "sw.toml").write_text(SWEEP)
    return ["sweep", str(tmp_path / "sw.toml"), "--out", str(out), "--executor", "serial",
            "--quiet"]  # fmt: skip


def test_sweep_does_not_write_through_a_linked_parts_folder(small, tmp_path, capsys):
    """`OUT/parts -> elsewhere`: 12 part files were written elsewhere; now refused, empty."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "parts").symlink_to(elsewhere)
    rc = main(_sweep_args(tmp_path, out))
    refused(rc, capsys.readouterr().err, "parts", "symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_sweep_does_not_append_through_a_linked_index(small, tmp_path, capsys):
    """`OUT/runs.jsonl -> a file`: lines were appended to that file; now refused, untouched,
    also when the link is planted in a sweep's own folder before it is resumed."""
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    args = _sweep_args(tmp_path, out)
    assert main(args) == 0
    capsys.readouterr()
    (out / "runs.jsonl").unlink()
    (out / "runs.jsonl").symlink_to(victim)
    rc = main(args)
    refused(rc, capsys.readouterr().err, "runs.jsonl", "symbolic link")
    assert victim.read_text() == "mine\n"


def test_sweep_resume_with_a_fifo_index_does_not_hang(small, tmp_path):
    """`runs.jsonl` as a FIFO: the resume blocked for ever reading it; now refused at once."""
    out = tmp_path / "out"
    args = _sweep_args(tmp_path, out)
    assert sim(*args).returncode == 0
    (out / "runs.jsonl").unlink()
    os.mkfifo(out / "runs.jsonl")
    p = sim(*args, timeout=60)
    assert p.returncode == 2 and "runs.jsonl" in p.stderr and "Traceback" not in p.stderr


def test_sweep_with_parts_a_file_or_index_lines_of_other_shapes(small, tmp_path, capsys):
    """`parts` a file gave a traceback; now refused. A runs.jsonl line that is a list gave a
    traceback; it is skipped like a line cut short, and the sweep completes."""
    out = tmp_path / "out"
    args = _sweep_args(tmp_path, out)
    out.mkdir()
    (out / "parts").write_text("not a folder")
    refused(main(args), capsys.readouterr().err, "parts")
    shutil.rmtree(out)
    assert main(args) == 0
    with (out / "runs.jsonl").open("a") as fh:
        fh.write("[1, 2]\n3\n{}\n")
    (out / "metadata.json").unlink()  # the dataset is gathered again on the resume
    assert main(args) == 0, capsys.readouterr().err
    assert (out / "metadata.json").exists()


def test_sweep_refuses_a_folder_of_other_files(small, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    refused(main(_sweep_args(tmp_path, out)), capsys.readouterr().err, "notes.txt")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "sweep.json"]


def test_calibrate_does_not_write_through_a_linked_parts_folder(small, tmp_path, capsys):
    pytest.importorskip("optuna")
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cal.toml").write_text(CALIBRATION)
    args = ["calibrate", str(tmp_path / "cal.toml"), "--out", str(out), "--executor", "serial",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    shutil.rmtree(out / "parts")
    (out / "parts").symlink_to(elsewhere)
    refused(main(args), capsys.readouterr().err, "parts", "symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_validate_does_not_write_through_a_linked_parts_folder(small, tmp_path, capsys):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a_case.toml").write_text(CASE.replace('"small.toml"', '"../small.toml"'))
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "parts").symlink_to(elsewhere)
    rc = main(["validate", str(suite), "--out", str(out), "--executor", "serial", "--quiet"])
    refused(rc, capsys.readouterr().err, "parts", "symbolic link")
    assert list(elsewhere.iterdir()) == []
    (out / "parts").unlink()
    (out / "thesis.tex").write_text("mine")
    rc = main(["validate", str(suite), "--out", str(out), "--executor", "serial", "--quiet"])
    refused(rc, capsys.readouterr().err, "thesis.tex")
    (out / "thesis.tex").unlink()
    assert main(["validate", str(suite), "--out", str(out), "--executor", "serial", "--quiet"]) == 0


# ---------------------------------------------------------------------------------------------
# sim scenarios copy


def test_scenarios_copy_never_writes_through_a_link(tmp_path, capsys):
    """A dangling link was followed (the file made where it pointed); with --force a linked
    file was overwritten. Both refused now; `--to /proc/self` is refused, not a traceback."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "compare_payment_models.toml").symlink_to(tmp_path / "nowhere.toml")
    rc = main(["scenarios", "copy", "compare_payment_models", "--to", str(dest)])
    refused(rc, capsys.readouterr().err, "symbolic link")
    assert not (tmp_path / "nowhere.toml").exists()
    victim = tmp_path / "victim.toml"
    victim.write_text("mine")
    (dest / "compare_payment_models.toml").unlink()
    (dest / "compare_payment_models.toml").symlink_to(victim)
    rc = main(["scenarios", "copy", "compare_payment_models", "--to", str(dest), "--force"])
    refused(rc, capsys.readouterr().err, "symbolic link")
    assert victim.read_text() == "mine"
    refused(main(["scenarios", "copy", "compare_payment_models", "--to", "/proc/self"]),
            capsys.readouterr().err, "/proc")  # fmt: skip
    (dest / "compare_payment_models.toml").unlink()
    assert main(["scenarios", "copy", "compare_payment_models", "--to", str(dest)]) == 0
    assert (dest / "compare_payment_models.toml").read_bytes() == (
        ROOT / "scenarios" / "compare_payment_models.toml"
    ).read_bytes()


# ---------------------------------------------------------------------------------------------
# reading a results folder: sensitivity/ is not trusted


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> Path:
    """A morris sweep with its sensitivity analysis."""
    pytest.importorskip("SALib")
    tmp = tmp_path_factory.mktemp("analysed")
    (tmp / "small.toml").write_text(SMALL)
    out = tmp / "out"
    assert main(_sweep_args(tmp, out)) == 0
    assert main(["sensitivity", str(out), "--quiet", "--outcome", "spending_pmpm"]) == 0
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_a_linked_sensitivity_folder_is_not_read_or_copied(analysed, tmp_path, capsys):
    """`sensitivity -> elsewhere`: its files were copied into the results and the report; now
    sim report and sim sensitivity refuse the link and copy nothing."""
    folder = _copy(analysed, tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "secret.csv").write_text("arm,parameter,mu_star\nffs,x,1\n")
    shutil.rmtree(folder / "sensitivity")
    (folder / "sensitivity").symlink_to(foreign)
    refused(main(["report", str(folder), "--quiet"]), capsys.readouterr().err, "symbolic link")
    rc = main(["sensitivity", str(folder), "--quiet", "--outcome", "spending_pmpm"])
    refused(rc, capsys.readouterr().err, "symbolic link")
    assert (folder / "sensitivity").is_symlink() and not (folder / "report").exists()
    assert [p.name for p in foreign.iterdir()] == ["secret.csv"]


def test_a_fifo_in_sensitivity_does_not_hang_the_report(analysed, tmp_path):
    """A FIFO among the sensitivity files made `sim report` hang; now it is refused at once."""
    folder = _copy(analysed, tmp_path)
    png = next((folder / "sensitivity").glob("*.png"))
    png.unlink()
    os.mkfifo(png)
    p = sim("report", folder, "--quiet", timeout=120)
    assert p.returncode == 2 and png.name in p.stderr and "Traceback" not in p.stderr


def test_a_sensitivity_path_that_is_a_file(analysed, tmp_path, capsys):
    """`sensitivity` a file gave a traceback in sim sensitivity; now both commands refuse."""
    folder = _copy(analysed, tmp_path)
    shutil.rmtree(folder / "sensitivity")
    (folder / "sensitivity").write_text("not a folder")
    refused(main(["report", str(folder), "--quiet"]), capsys.readouterr().err, "sensitivity")
    rc = main(["sensitivity", str(folder), "--quiet", "--outcome", "spending_pmpm"])
    refused(rc, capsys.readouterr().err, "sensitivity")


# ---------------------------------------------------------------------------------------------
# sim.guards.files


def test_writer_replaces_a_link_at_its_name_and_never_follows_one_above(tmp_path):
    from sim.guards import files

    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    victim = elsewhere / "victim"
    victim.write_text("mine")
    (root / "x.json").symlink_to(victim)
    files.write_text(root, "x.json", "new")
    assert victim.read_text() == "mine" and not (root / "x.json").is_symlink()
    assert (root / "x.json").read_text() == "new"
    (root / "sub").symlink_to(elsewhere)
    with pytest.raises(ResultsError, match="symbolic link"):
        files.write_text(root, "sub/y.json", "new")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim"]


def test_a_folder_swapped_for_a_link_while_open_is_not_followed(tmp_path):
    """The handle on a folder stays on the folder first opened: swapping it for a link (the
    race of a check before a write) cannot redirect what is written through the handle."""
    from sim.guards import files

    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "parts").mkdir(parents=True)
    elsewhere.mkdir()
    with files.folder(root, "parts") as fd:
        (root / "parts").rename(root / "moved")
        (root / "parts").symlink_to(elsewhere)
        with os.fdopen(os.open("p.json", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as fh:
            fh.write("{}")
    assert list(elsewhere.iterdir()) == [] and (root / "moved" / "p.json").exists()
    with pytest.raises(ResultsError, match="symbolic link"):
        files.write_text(root, "parts/q.json", "{}")


def test_reads_refuse_fifos_links_and_folders_without_blocking(tmp_path):
    from sim.guards import files

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("ok")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    assert files.read_text(tmp_path, "file") == "ok"
    for name, why in (("fifo", "not a regular file"), ("link", "symbolic link"),
                      ("dir", "folder"), ("missing", "missing")):  # fmt: skip
        with pytest.raises(ResultsError, match=why):
            files.read_bytes(tmp_path, name)
    with pytest.raises(ResultsError, match="not a regular file"):
        files.open_append(tmp_path, "fifo")
    assert files.entries(tmp_path) == {"dir": "folder", "fifo": "other", "file": "file",
                                       "link": "link"}  # fmt: skip
    assert files.kind(tmp_path, "link/x") == "link"


def test_scenarios_copy_refuses_a_link_as_its_folder(tmp_path):
    """`sim scenarios copy --to LINK` (a link to a folder elsewhere) writes nothing there."""
    from sim.cli import main

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "copy"
    link.symlink_to(elsewhere)
    assert main(["scenarios", "copy", "compare_payment_models", "--to", str(link)]) == 2
    assert list(elsewhere.iterdir()) == []
