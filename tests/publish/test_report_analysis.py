"""sim report for a scenario's questions: key measures against the declared baseline, switches
on calendar dates, subgroups, health economics, one style at publication resolution, an HTML
page from a template with rendered Markdown, LaTeX tables that fit."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import struct

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.publish.report import build_report, latex_fit, latex_table, render_markdown
from sim.publish.trends import switch_events

SNF = "scenarios/snf_payment_reform.toml"


@pytest.fixture(scope="module")
def snf_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("snf") / "r"
    args = [
        "run",
        SNF,
        "--quiet",
        "--arms",
        "reform,legacy",
        "--set",
        "population.patients=4000",
        "--set",
        "months=8",
        "--set",
        "replications=2",
        "--set",
        "arms.0.switches.0.date=2018-02-01",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # `sim report` without --quiet: progress on stderr
        assert main(["report", str(out)]) == 0
    return out, out / "report", err.getvalue()


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def _png_dpi(path):
    data = path.read_bytes()
    i = data.index(b"pHYs")
    ppm = struct.unpack(">I", data[i + 4 : i + 8])[0]
    return ppm * 0.0254


def test_the_report_leads_with_the_key_measures_against_the_declared_baseline(snf_report):
    """The scenario says baseline = legacy: differences are reform − legacy, and the first
    section of report.html is the key measures."""
    _, folder, _ = snf_report
    key = pd.read_csv(folder / "tables" / "key_measures.csv")
    diffs = key[key["kind"] != "level"]
    assert set(diffs["kind"]) == {"difference from legacy"}
    assert set(diffs["arm"]) == {"reform"}
    assert "therapy_minutes_per_day:snf" in set(key["measure"])
    html = (folder / "report.html").read_text()
    assert html.index('id="key"') < html.index('id="trends"') < html.index('id="tables"')
    # figures come before the tables in every section
    assert html.index('id="key_measures"') < html.index('id="key_measures"', html.index("<img"))


def test_key_measure_values_are_ratios_of_the_monthly_table(snf_report):
    """Therapy minutes per day = the three therapy-minute columns over days of stay, per arm,
    replicate and month (mean over replications in the data file)."""
    out, folder, _ = snf_report
    m = pd.read_parquet(out / "monthly.parquet")
    snf = (
        m[m["setting"] == "snf"]
        .groupby(["arm", "replicate", "month"])[
            [
                "therapy_minutes_individual",
                "therapy_minutes_concurrent",
                "therapy_minutes_group",
                "service_units",
            ]
        ]
        .sum()
    )
    per = snf.iloc[:, :3].sum(axis=1) / snf["service_units"]
    expected = per.groupby(["arm", "month"]).mean()
    got = pd.read_csv(folder / "data" / "key_measures_monthly.csv")
    got = got[got["measure"] == "therapy_minutes_per_day:snf"].set_index(["arm", "month"])
    np.testing.assert_allclose(got["mean"], expected.loc[got.index], rtol=1e-9)


def test_switches_are_dated_events():
    """The PDPM switch of the shipped scenario is an event on 1 October 2019, for the arm that
    switches; none for an arm that does not."""
    from sim.scenario import load_scenario

    sc = load_scenario(SNF).model_dump(mode="json")
    events = switch_events(sc, ["reform", "legacy"])
    assert [(e[0], e[1]) for e in events] == [
        (np.datetime64(dt.date(2019, 10, 1), "D"), "switch Oct 2019 (reform)")
    ]
    assert switch_events(sc, ["legacy"]) == []


def test_figures_at_publication_resolution_in_three_formats(snf_report):
    """Every report figure is a PNG at 300 dpi, a PDF and an SVG; trends.png of the run too."""
    out, folder, _ = snf_report
    pngs = sorted((folder / "figures").glob("*.png"))
    assert pngs
    for png in pngs:
        assert png.with_suffix(".pdf").exists() and png.with_suffix(".svg").exists()
        assert round(_png_dpi(png)) == 300
    assert round(_png_dpi(out / "trends.png")) == 300
    w, _ = _png_size(out / "trends.png")
    assert w > 2000  # inches × 300


def test_one_replication_is_said_on_the_figure():
    """A time-series figure of one replication carries the words '1 replication'."""
    from sim.publish import figures as rf

    stats = pd.DataFrame(
        {
            "arm": "a",
            "measure": "m",
            "month": [0, 1],
            "n": 1,
            "mean": [1.0, 2.0],
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
    )
    fig = rf.band_lines(stats, ["a"], [("m", "M", "u")], replications=1)
    fig.canvas.draw()
    texts = [t.get_text() for t in rf._texts(fig)]
    assert any("1 replication" in t for t in texts)
    fig2 = rf.band_lines(stats, ["a"], [("m", "M", "u")], replications=3)
    fig2.canvas.draw()
    texts = [t.get_text() for t in rf._texts(fig2)]
    assert not any("1 replication" in t for t in texts)
    assert any("95% CI over 3 replications" in t for t in texts)


def test_an_arm_looks_the_same_in_every_figure():
    """Styles are keyed by arm name: dropping the baseline does not shift the others' looks."""
    from sim.publish import figures as rf

    full = rf.arm_styles(["ffs", "capitation", "bundled"])
    stats = pd.DataFrame(
        {
            "arm": ["capitation", "bundled"],
            "measure": "m",
            "month": 0,
            "n": 1,
            "mean": 1.0,
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
    )
    fig = rf.band_lines(stats, ["capitation", "bundled"], [("m", "M", "u")], styles=full)
    colours = [line.get_color() for line in fig.axes[0].get_lines()]
    assert colours[:2] == [full["capitation"]["color"], full["bundled"]["color"]]


def test_levels_are_drawn_from_zero():
    """Positive levels get a y axis from zero, so small differences are not magnified."""
    from sim.publish import figures as rf

    stats = pd.DataFrame(
        {
            "arm": "a",
            "measure": "m",
            "month": [0, 1, 2],
            "n": 1,
            "mean": [100.0, 101.0, 102.0],
            "ci_low": np.nan,
            "ci_high": np.nan,
        }
    )
    fig = rf.band_lines(stats, ["a"], [("m", "M", "u")])
    assert fig.axes[0].get_ylim()[0] == 0


def test_notes_are_rendered_from_markdown_and_raw_html_is_escaped(snf_report):
    """Backticks become <code>, bold becomes <strong>; HTML in a note is shown, not run."""
    assert "<code>x</code>" in render_markdown("a `x` b", inline=True)
    assert "<strong>b</strong>" in render_markdown("a **b**")
    assert "<script>" not in render_markdown("<script>alert(1)</script>")
    html = (snf_report[1] / "report.html").read_text()
    assert (
        "`[analysis] key_measures`" not in html and "<code>[analysis] key_measures</code>" in html
    )


def test_wide_latex_tables_fit_the_page():
    """CI columns join their means; every table is boxed and scaled to the text width when it
    is wider (LaTeX measures it: tests/publish/test_publication.py compiles the report's tables),
    and more than six columns are set small."""
    df = pd.DataFrame(
        {
            "Measure": ["x"],
            **{f"arm{i}": ["1.0"] for i in range(4)},
            **{f"arm{i} 95% CI": ["[0.5, 1.5]"] for i in range(4)},
        }
    )
    fitted = latex_fit(df)
    assert list(fitted.columns) == ["Measure", "arm0", "arm1", "arm2", "arm3"]
    assert fitted.loc[0, "arm0"] == "1.0 [0.5, 1.5]"
    narrow = latex_table(fitted, "c", "tab:x", "lrrrr")
    assert "\\toprule" in narrow and "\\small" not in narrow
    assert "\\ifdim\\wd0>\\linewidth\\resizebox{\\linewidth}{!}{\\usebox0}" in narrow
    wide = latex_table(df, "c", "tab:y", "l" + "r" * 8)
    assert wide.index("\\small") < wide.index("\\sbox0{") < wide.index("\\begin{tabular}")


def test_subgroup_and_economics_sections(tmp_path):
    """A run of the main comparison: the report has a subgroup table per dimension, the
    economics table, the cost-effectiveness plane and the acceptability curve."""
    out = tmp_path / "r"
    assert (
        main(
            [
                "run",
                "scenarios/compare_payment_models.toml",
                "--quiet",
                "--arms",
                "ffs,capitation",
                "--set",
                "population.patients=1500",
                "--set",
                "months=4",
                "--set",
                "replications=2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = build_report(out)
    names = {p.name for p in report.files}
    for n in (
        "subgroups_risk_quantile.md",
        "subgroups_payer_risk_quantile.tex",
        "economics.md",
        "ce_plane.png",
        "ceac.svg",
        "subgroups_risk_quantile.png",
    ):
        assert n in names, n
    table = (report.folder / "tables" / "subgroups_risk_quantile.md").read_text()
    assert "Q4" in table and "Out-of-pocket cost" in table


def test_report_progress_and_quiet(tmp_path, snf_report, capsys):
    """sim report prints progress lines on stderr (the module's report was made so), none with
    --quiet; stdout lists files."""
    out, _, err = snf_report
    assert "sim report: 1/" in err and "steps" in err
    assert main(["report", str(out), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert str(tmp_path / "b" / "report.html") in captured.out
