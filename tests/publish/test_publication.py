"""Figures and tables fit for a journal: every figure the report, `sim run`, `sim sensitivity`
and `sim calibrate` draw has no label drawn over another (matplotlib's own text bounding boxes),
no text under 6 pt and no more width than a page, and is written as PNG, PDF and SVG; the
report's LaTeX tables compile with pdflatex (booktabs, graphicx) without a table running off the
page."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.publish import figures as rf

PDFLATEX = shutil.which("pdflatex")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every figure of the reports of the main comparison (seven arms, subgroups, health
    economics), of the SNF reform (monthly key measures, a switch) and of a small sweep, with
    what :func:`sim.publish.figures.text_overlaps` finds in each: {stem: problems}."""
    found: dict[str, list[str]] = {}
    original = rf.save
    mp = pytest.MonkeyPatch()

    def save(fig, folder, stem):
        found[stem] = found.get(stem, []) + rf.text_overlaps(fig)
        return original(fig, folder, stem)

    mp.setattr(rf, "save", save)
    tmp = tmp_path_factory.mktemp("publication")
    small = ["--set", "population.patients=1500", "--set", "replications=2", "--quiet"]
    try:
        out = tmp / "compare"
        args = [
            "run",
            "scenarios/compare_payment_models.toml",
            "--out",
            str(out),
            *small,
            "--set",
            "months=12",
            "--set",
            "outputs.provider_panel=true",
            "--workers",
            "1",
        ]
        assert main(args) == 0  # fmt: skip
        assert main(["report", str(out), "--quiet"]) == 0
        snf = tmp / "snf"
        args = [
            "run",
            "scenarios/snf_payment_reform.toml",
            "--out",
            str(snf),
            *small,
            "--set",
            "months=8",
            "--set",
            "arms.0.switches.0.date=2018-02-01",
            "--arms",
            "reform,legacy",
            "--workers",
            "1",
        ]
        assert main(args) == 0  # fmt: skip
        assert main(["report", str(snf), "--quiet"]) == 0
        (tmp / "base.toml").write_text(
            'name = "base"\nmonths = 3\nseed = 9\n[population]\npatients = 1500\n[outputs]\n'
            'figure = false\n[[arms]]\nname = "ffs"\ncontracts = [{ model = "ffs" }]\n'
            '[[arms]]\nname = "capitation"\ncontracts = [{ model = "capitation", pmpm = 12.0 }]\n'
        )
        (tmp / "sw.toml").write_text(
            'name = "sw"\nscenario = "base.toml"\nreplications = 2\nseed = 3\n'
            'outputs = "monthly"\n[[parameters]]\n'
            'field = "settings.outpatient_therapy.marginal_cost"\nlevels = [12.0, 24.0]\n'
        )
        sweep = tmp / "sweep"
        args = ["sweep", str(tmp / "sw.toml"), "--out", str(sweep), "--executor", "serial",
                "--quiet"]  # fmt: skip
        assert main(args) == 0
        assert main(["report", str(sweep), "--quiet"]) == 0
    finally:
        mp.undo()
    return tmp, found


def test_every_figure_is_readable_at_journal_width(drawn):
    """No tick label, title, legend entry or note drawn over another or off the figure, no text
    under 6 pt, no figure wider than a page (7.2 in); the main comparison's seven arms, its
    subgroups by payer and risk quartile and its health economics included."""
    _, found = drawn
    assert {"trends", "key_measures", "subgroups_payer_risk_quantile", "ceac", "ce_plane",
            "quality_quantity", "providers", "key_measures_monthly",
            "parameter_marginal_cost"} <= set(found)  # fmt: skip
    problems = {k: v for k, v in found.items() if v}
    assert not problems, problems


def test_every_report_figure_is_png_pdf_and_svg(drawn):
    """Each figure of each report, and each run's trends figure, in three formats."""
    tmp, _ = drawn
    for folder in (tmp / "compare", tmp / "snf", tmp / "sweep"):
        pngs = sorted((folder / "report" / "figures").glob("*.png"))
        assert len(pngs) >= 5
        if (folder / "trends.png").exists():
            pngs.append(folder / "trends.png")
        for png in pngs:
            assert png.with_suffix(".pdf").stat().st_size > 1000, png
            assert png.with_suffix(".svg").stat().st_size > 1000, png


def test_sensitivity_and_calibration_figures_are_readable():
    """The Sobol figure of four arms and long field names, and the calibration's figures, pass
    the same check; Sobol indices stay on a 0-1 axis whatever their intervals."""
    params = ["settings.outpatient_therapy.conversion_factor",
              "settings.outpatient_therapy.providers.altruism.high",
              "settings.primary_care.providers.altruism.high"]  # fmt: skip
    rows = [
        {"arm": arm, "parameter": p, "S1": s1, "S1_conf": 9.0, "ST": 0.4, "ST_conf": 0.1,
         "seed_share": 0.3}
        for arm in ("ffs", "capitation", "bundled_common_cost_sharing", "blended")
        for p, s1 in zip(params, (0.2, -0.4, 1.3), strict=True)
    ]  # fmt: skip
    from sim.publish.labels import field_label

    labels = {p: field_label(p, params) for p in params}
    fig = rf.sensitivity(pd.DataFrame(rows), "sobol", "spending_pmpm", labels)
    assert rf.text_overlaps(fig) == []
    assert fig.axes[0].get_xlim() == (-0.05, 1.05)
    assert labels[params[1]] == "altruism high (outpatient therapy)"
    trials = pd.DataFrame({"trial": range(30), "objective": np.linspace(9, 1, 30)})
    assert rf.text_overlaps(rf.objective_by_trial(trials, "shipped")) == []
    fit = pd.DataFrame(
        {
            "target": ["snf_therapy_minutes_per_day", "lejr_institutional_share_ffs",
                       "home_health_episode_payment", "physician_fee_elasticity"],
            "value": [122.0, 0.337, 3154.0, 1.5], "uncertainty": [6.0, 0.02, 150.0, 0.3],
            "model": [120.0, 0.33, 3180.0, 0.9], "model_low": [115.0, 0.31, 3100.0, 0.8],
            "model_high": [125.0, 0.35, 3260.0, 1.0],
        }
    )  # fmt: skip
    assert rf.text_overlaps(rf.targets_fit(fit)) == []


def test_the_check_finds_overlapping_labels():
    """Long tick labels crowded on a narrow axis, a figure wider than a page and text too small
    are found (the check can fail)."""
    with rf.styled():
        fig = rf.new_figure(3.0, 2.0)
        ax = fig.subplots()
        ax.bar(range(8), range(8))
        ax.set_xticks(range(8), [f"a long group label {i}" for i in range(8)])
    assert any("overlap" in p for p in rf.text_overlaps(fig))
    with rf.styled():
        wide = rf.new_figure(10.0, 2.0)
        wide.subplots().set_title("tiny", fontsize=4)
    found = rf.text_overlaps(wide)
    assert any("wide" in p for p in found) and any("4.0 pt" in p for p in found)


def test_arms_look_distinct():
    """The seven arms of the main comparison differ pairwise in colour and in line style."""
    arms = ["ffs", "capitation", "bundled", "blended", "capitation_common_cost_sharing",
            "bundled_common_cost_sharing", "blended_common_cost_sharing"]  # fmt: skip
    styles = rf.arm_styles(arms)
    assert len({s["color"] for s in styles.values()}) == 7
    assert len({str(s["linestyle"]) for s in styles.values()}) == 7
    assert len({s["marker"] for s in styles.values()}) == 7


@pytest.mark.skipif(
    PDFLATEX is None and not os.environ.get("CI"),
    reason="pdflatex is not installed (Debian texlive-latex-base, texlive-latex-recommended)",
)
def test_the_report_tables_compile_with_pdflatex(drawn, tmp_path):
    """Every LaTeX table of the three reports compiles in one article (booktabs, graphicx),
    with no table running more than 1 pt beyond the text width."""
    assert PDFLATEX, "pdflatex is missing in CI: `make setup` installs it"
    tmp, _ = drawn
    tables = sorted(
        p
        for f in ("compare", "snf", "sweep")
        for p in (tmp / f / "report" / "tables").glob("*.tex")
    )
    assert len(tables) >= 10
    body = "\n".join(f"\\input{{{p.as_posix()}}}\n\\clearpage" for p in tables)
    doc = tmp_path / "tables.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage[margin=1in]{geometry}\n"
        "\\usepackage{booktabs,graphicx}\n\\begin{document}\n" + body + "\n\\end{document}\n"
    )
    proc = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = (tmp_path / "tables.log").read_text(encoding="latin-1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 10_000
    overfull = [
        line for line in log.splitlines()
        if line.startswith("Overfull \\hbox") and float(line.split("(")[1].split("pt")[0]) > 1.0
    ]  # fmt: skip
    assert not overfull, "\n".join(overfull)
