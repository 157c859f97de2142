"""`sim report`: figures, tables and report.html from a run and from a sweep, their numbers
recomputed from the Parquet data, one replication, and clear errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import default_world
from numpy.testing import assert_allclose
from paths import ROOT
from scipy import stats

from sim.errors import ResultsError
from sim.experiments.run import run
from sim.experiments.sweep import load_sweep, run_sweep
from sim.publish.report import NA_ONE, build_report, latex_table
from sim.results.folder import write_results

RUN_DESCRIPTION = "Report test: three payment models on the same patients."
ARMS = [
    {"name": "ffs", "description": "Fee-for-service arm.", "contracts": [{"model": "ffs"}]},
    {
        "name": "capitation",
        "description": "Capitation arm.",
        "contracts": [{"model": "capitation", "pmpm": 12.0}],
    },
    {
        "name": "bundled",
        "description": "Bundled arm.",
        "contracts": [{"model": "bundled", "base_rate": 500.0}],
    },
]
TABLES = ("summary_by_arm", "differences")
RUN_FIGURES = ("trends", "differences", "providers", "value", "quality_quantity")
SWEEP_FIGURES = (
    "trends_point0", "trends_point1", "differences_point0", "differences_point1",
    "quality_quantity", "parameter_marginal_cost", "parameter_marginal_cost_differences",
    "parameter_initial_offset", "parameter_initial_offset_differences",
)  # fmt: skip

BASE_DESCRIPTION = "Base scenario of the report test sweep."
BASE = f"""
name = "base"
description = "{BASE_DESCRIPTION}"
months = 3
seed = 9
[population]
patients = 1500
[outputs]
figure = false
[[arms]]
name = "ffs"
contracts = [{{ model = "ffs" }}]
[[arms]]
name = "capitation"
contracts = [{{ model = "capitation", pmpm = 12.0 }}]
"""
SWEEP = """
name = "sw"
scenario = "base.toml"
replications = 2
seed = 3
outputs = "monthly"
[[parameters]]
field = "settings.outpatient_therapy.marginal_cost"
levels = [12.0, 24.0]
[[parameters]]
field = "behaviour.initial_offset"
levels = [0.5]
"""


def write_run(out: Path, **over) -> Path:
    """Run a small scenario and write its results folder the way `sim run` does."""
    result = run(default_world(**over))
    write_results(
        out,
        monthly=result.monthly,
        summary=result.summary,
        providers=result.providers,
        meta=result.metadata(),
    )
    return out


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "res"
    return write_run(
        out,
        months=4,
        replications=3,
        description=RUN_DESCRIPTION,
        population={"patients": 3000},
        arms=ARMS,
    )


@pytest.fixture(scope="module")
def run_report(run_folder):
    return build_report(run_folder)


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "base.toml").write_text(BASE)
    (tmp / "sw.toml").write_text(SWEEP)
    outcome = run_sweep(load_sweep(tmp / "sw.toml"), tmp / "out", executor="serial")
    assert outcome.done == outcome.total == 4 and not outcome.failed
    return tmp / "out"


@pytest.fixture(scope="module")
def sweep_report(sweep_folder):
    return build_report(sweep_folder)


@pytest.fixture(scope="module")
def one_rep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "res"
    return write_run(
        out,
        months=2,
        population={"patients": 2000},
        arms=ARMS[:2],
        outputs={"provider_panel": False},
    )


def sim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of the mean, computed here independently of sim.publish.report."""
    n = len(values)
    mean = float(np.mean(values))
    half = stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def per_replicate(monthly: pd.DataFrame) -> pd.DataFrame:
    """The table measures per (arm, replicate), recomputed from monthly.parquet with pandas."""
    first = monthly["setting"].iloc[0]
    rows = []
    for (arm, rep), d in monthly.groupby(["arm", "replicate"]):
        base = d[d["setting"] == first]
        mm = base["members"].sum()
        end = base[base["month"] == d["month"].max()]
        row = {
            "arm": arm,
            "replicate": rep,
            "spending_pmpm": d["spending"].sum() / mm,
            "oop_pmpm": d["oop"].sum() / mm,
            "function_change": (end["function_change"] * end["members"]).sum()
            / end["members"].sum(),
            "adverse_events_per_1000": 1000 * d["adverse_events"].sum() / mm,
            "provider_margin_pct": 100 * d["provider_margin"].sum() / d["provider_revenue"].sum(),
            "low_value_share": d["low_value_units"].sum() / d["service_units"].sum(),
            "spending_per_function_point": (d["spending"].sum() + d["oop"].sum())
            / d["function_gain"].sum(),
        }
        for s, ds in d.groupby("setting"):
            row[f"units_per_treated:{s}"] = ds["service_units"].sum() / ds["patients_treated"].sum()
        rows.append(row)
    return pd.DataFrame(rows)


def check_files(report, figures: tuple[str, ...]) -> None:
    folder = report.folder
    for stem in TABLES:
        for ext in ("csv", "md", "tex"):
            path = folder / "tables" / f"{stem}.{ext}"
            assert path.stat().st_size > 100, path
    for stem in figures:
        assert (folder / "figures" / f"{stem}.png").stat().st_size > 10_000, stem
        pdf = folder / "figures" / f"{stem}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000, stem
    on_disk = {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == {p.relative_to(folder) for p in report.files}
    index = (folder / "index.md").read_text()
    assert all(str(p) in index for p in on_disk if p.name != "index.md")


def test_run_report_writes_every_figure_and_table(run_folder, run_report):
    """A run's report has every figure (PNG, PDF), table (CSV, MD, TEX), index and HTML."""
    assert run_report.folder == run_folder / "report"
    check_files(run_report, RUN_FIGURES)
    assert not [p for p in run_folder.iterdir() if p.name.startswith(".report")]


def test_run_report_html_is_self_contained(run_report):
    """report.html shows the description, arms, seed and commit and embeds every figure."""
    page = (run_report.folder / "report.html").read_text()
    assert RUN_DESCRIPTION in page and "Capitation arm." in page and "Bundled arm." in page
    assert page.count('src="data:image/png;base64,') == len(RUN_FIGURES)
    assert "<script" not in page and 'src="http' not in page and 'figures/trends.png"' not in page
    assert "git commit" in page and ">11<" in page  # the scenario's seed
    assert "mean ± t(0.975, n−1)·s/√n" in page


def test_run_summary_numbers_match_parquet(run_folder, run_report):
    """Per-arm means and 95% t-intervals equal those recomputed from monthly.parquet."""
    reps = per_replicate(pd.read_parquet(run_folder / "monthly.parquet"))
    table = pd.read_csv(run_report.folder / "tables" / "summary_by_arm.csv")
    measures = [c for c in reps.columns if c not in ("arm", "replicate")]
    assert len(measures) == 9
    assert set(table["measure"]) == set(measures)
    assert (table["n"] == 3).all()
    for arm in ("ffs", "capitation", "bundled"):
        for m in measures:
            expected = t_interval(reps.loc[reps["arm"] == arm, m].to_numpy())
            row = table[(table["arm"] == arm) & (table["measure"] == m)].iloc[0]
            got = (row["mean"], row["ci_low"], row["ci_high"])
            assert_allclose(got, expected, rtol=1e-8, atol=1e-10, err_msg=f"{arm} {m}")


def test_run_differences_are_paired_by_replicate(run_folder, run_report):
    """Differences from the first arm equal the t-interval of per-replicate differences."""
    reps = per_replicate(pd.read_parquet(run_folder / "monthly.parquet"))
    table = pd.read_csv(run_report.folder / "tables" / "differences.csv")
    assert set(table["baseline"]) == {"ffs"} and set(table["arm"]) == {"capitation", "bundled"}
    base = reps[reps["arm"] == "ffs"].set_index("replicate")
    for arm in ("capitation", "bundled"):
        other = reps[reps["arm"] == arm].set_index("replicate")
        for m in ("spending_pmpm", "function_change", "units_per_treated:outpatient_therapy"):
            expected = t_interval((other[m] - base[m]).to_numpy())
            row = table[(table["arm"] == arm) & (table["measure"] == m)].iloc[0]
            got = (row["mean"], row["ci_low"], row["ci_high"])
            assert_allclose(got, expected, rtol=1e-8, atol=1e-10, err_msg=f"{arm} {m}")
    md = (run_report.folder / "tables" / "differences.md").read_text()
    assert "| capitation |" in md and "fee-for-service (ffs)" in md and "Payer spending" in md


def test_monthly_trend_data_match_parquet(run_folder, run_report):
    """The monthly spending trend (mean and band) equals the one recomputed from the data."""
    m = pd.read_parquet(run_folder / "monthly.parquet")
    d = m[(m["arm"] == "capitation") & (m["month"] == 2)]
    members = d[d["setting"] == d["setting"].iloc[0]].groupby("replicate")["members"].sum()
    per_rep = d.groupby("replicate")["spending"].sum() / members
    trends = pd.read_csv(run_report.folder / "data" / "monthly_trends.csv")
    row = trends[
        (trends["arm"] == "capitation")
        & (trends["month"] == 2)
        & (trends["measure"] == "spending_pmpm")
    ].iloc[0]
    assert_allclose(
        (row["mean"], row["ci_low"], row["ci_high"]), t_interval(per_rep.to_numpy()), rtol=1e-8
    )


def test_sweep_report_writes_every_figure_and_table(sweep_folder, sweep_report):
    """A sweep's report has trends per point, outcome-vs-parameter figures, tables and HTML."""
    check_files(sweep_report, SWEEP_FIGURES)
    page = (sweep_report.folder / "report.html").read_text()
    assert BASE_DESCRIPTION in page and "settings.outpatient_therapy.marginal_cost" in page
    assert page.count('src="data:image/png;base64,') == len(SWEEP_FIGURES)
    assert "does not keep the provider panel" in page


def test_sweep_numbers_match_summary_parquet(sweep_folder, sweep_report):
    """Per design point: means, t-intervals and paired differences equal summary.parquet's."""
    summary = pd.read_parquet(sweep_folder / "summary.parquet")
    table = pd.read_csv(sweep_report.folder / "tables" / "summary_by_arm.csv")
    diffs = pd.read_csv(sweep_report.folder / "tables" / "differences.csv")
    assert {"point", "marginal_cost", "initial_offset"} <= set(table.columns)
    for point in (0, 1):
        for measure, setting, column in (
            ("spending_pmpm", "all", "spending_pmpm"),
            ("low_value_share", "all", "low_value_share"),
            ("units_per_treated:primary_care", "primary_care", "units_per_treated"),
        ):
            rows = summary[(summary["point"] == point) & (summary["setting"] == setting)]
            by_arm = rows.pivot(index="replicate", columns="arm", values=column)
            for arm in ("ffs", "capitation"):
                got = table[
                    (table["point"] == point)
                    & (table["arm"] == arm)
                    & (table["measure"] == measure)
                ].iloc[0]
                assert_allclose(
                    (got["mean"], got["ci_low"], got["ci_high"]),
                    t_interval(by_arm[arm].to_numpy()),
                    rtol=1e-8,
                    atol=1e-10,
                )
            got = diffs[(diffs["point"] == point) & (diffs["measure"] == measure)].iloc[0]
            assert got["arm"] == "capitation" and got["baseline"] == "ffs"
            assert_allclose(
                (got["mean"], got["ci_low"], got["ci_high"]),
                t_interval((by_arm["capitation"] - by_arm["ffs"]).to_numpy()),
                rtol=1e-8,
                atol=1e-10,
            )


def test_one_replication_has_no_interval(one_rep, tmp_path):
    """With one replication the tables give the estimate and 'n/a (1 replication)'."""
    report = build_report(one_rep, out=tmp_path / "rep")
    table = pd.read_csv(report.folder / "tables" / "summary_by_arm.csv")
    assert table["ci_low"].isna().all() and table["ci_high"].isna().all()
    assert table["mean"].notna().all() and (table["ci_method"] == NA_ONE).all()
    md = (report.folder / "tables" / "differences.md").read_text()
    assert md.count(NA_ONE) >= 9 and "[" not in md
    assert NA_ONE in (report.folder / "tables" / "summary_by_arm.tex").read_text()
    page = (report.folder / "report.html").read_text()
    assert "provider_panel = true" in page  # says how to get the provider figure
    assert not (report.folder / "figures" / "providers.png").exists()


def test_cli_report_prints_paths_and_replaces_an_old_report(one_rep, tmp_path, capsys):
    """`sim report --baseline --out` prints the files; running it again replaces the report."""
    from sim.cli import main

    out = tmp_path / "rep"
    assert main(["report", str(one_rep), "--out", str(out)]) == 0
    assert main(["report", str(one_rep), "--out", str(out), "--baseline", "capitation"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert (
        str(out / "report.html") in printed and str(out / "tables" / "differences.tex") in printed
    )
    diffs = pd.read_csv(out / "tables" / "differences.csv")
    assert set(diffs["baseline"]) == {"capitation"} and set(diffs["arm"]) == {"ffs"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no temporary folders left


def test_cli_unknown_baseline(run_folder, tmp_path):
    """An unknown --baseline arm: exit 2, the allowed arms named, no traceback, nothing written."""
    out = tmp_path / "rep"
    p = sim("report", str(run_folder), "--baseline", "salary", "--out", str(out), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "--baseline" in p.stderr and "'salary'" in p.stderr
    assert "allowed: ffs, capitation, bundled" in p.stderr and "Traceback" not in p.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_not_a_results_folder(tmp_path):
    """A folder without results, a missing path and a file: exit 2 with the path named."""
    plain = tmp_path / "notes"
    plain.mkdir()
    (plain / "thesis.tex").write_text("keep me")
    p = sim("report", str(plain), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{plain}: not a results folder" in p.stderr and "sweep.json" in p.stderr
    assert [x.name for x in plain.iterdir()] == ["thesis.tex"]
    p = sim("report", str(tmp_path / "nope"), cwd=tmp_path)
    assert p.returncode == 2 and "nope: no such folder" in p.stderr
    p = sim("report", str(plain / "thesis.tex"), cwd=tmp_path)
    assert p.returncode == 2 and "thesis.tex: not a folder" in p.stderr


def test_cli_corrupt_or_missing_parquet(run_folder, sweep_folder, tmp_path):
    """A damaged monthly.parquet or an unfinished sweep: exit 2 naming the file."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metadata.json").write_bytes((run_folder / "metadata.json").read_bytes())
    (bad / "monthly.parquet").write_bytes(b"not parquet at all")
    p = sim("report", str(bad), cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "monthly.parquet: corrupt" in p.stderr
    assert sorted(x.name for x in bad.iterdir()) == ["metadata.json", "monthly.parquet"]
    (bad / "monthly.parquet").unlink()
    with pytest.raises(ResultsError, match=r"monthly\.parquet missing"):
        build_report(bad)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "sweep.json").write_bytes((sweep_folder / "sweep.json").read_bytes())
    p = sim("report", str(unfinished), cwd=tmp_path)
    assert p.returncode == 2 and "summary.parquet: missing" in p.stderr
    assert "sweep" in p.stderr and "Traceback" not in p.stderr


def test_refuses_to_replace_a_folder_that_is_not_a_report(run_folder, tmp_path):
    """--out pointing at another folder, or at the results themselves, is refused untouched."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "paper.tex").write_text("keep me")
    with pytest.raises(ResultsError, match=r"paper\.tex, which sim report does not write"):
        build_report(run_folder, out=precious)
    assert [x.name for x in precious.iterdir()] == ["paper.tex"]
    with pytest.raises(ResultsError, match="which sim report does not write"):
        build_report(run_folder, out=run_folder)
    assert (run_folder / "monthly.parquet").exists()


def test_latex_escapes_special_characters_and_symbols():
    """Special characters are escaped, symbols and Greek letters (Δ, λ, θ, ±) become math, an
    accent a LaTeX accent; the table is ASCII, and a character with no LaTeX form is an error
    naming it rather than a table that fails to compile."""
    from sim.publish.report.tables import latex_escape

    df = pd.DataFrame(
        {"Measure": ["a_b & c", "50% θ"], "ΔCost at λ 95% CI": ["[1.0, 2.0]", NA_ONE]}
    )
    tex = latex_table(df, "Mean ± t·s/√n, café", "tab:x", "lr")
    assert r"a\_b \& c" in tex and r"50\% $\theta$" in tex and r"\pm" in tex
    assert r"$\Delta$Cost at $\lambda$" in tex and r"caf\'{e}" in tex
    assert r"\begin{tabular}{lr}" in tex and r"\bottomrule" in tex
    assert tex.isascii()
    with pytest.raises(ValueError, match="U\\+2603"):
        latex_escape("snow ☃")
