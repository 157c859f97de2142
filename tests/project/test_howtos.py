"""The how-tos do what they say: followed step by step in a copy of the project, the suite
stays green.

``docs/howto/add-a-payment-model.md`` says a payment model is one module plus one line in the
registry, then ``python -m sim.publish.reference``; ``docs/howto/add-a-care-setting.md`` says a care
setting (a day-of-stay one included) is a scenario table; ``docs/howto/add-an-output-column.md``
says an output column is one declaration, the regenerated docs and its reference hashes;
``docs/howto/add-a-report-figure.md`` says a report figure is one section module plus one line
in ``SECTIONS``. These tests do exactly that in a copy of the project and run the relevant tests
(or ``sim run`` and ``sim report``) there, in a fresh interpreter that imports the copy.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

HOWTO = ROOT / "docs" / "howto"


def _block_after(text: str, marker: str, lang: str) -> str:
    """The first ```lang block after ``marker`` in a Markdown text."""
    start = text.index(marker)
    m = re.compile(rf"^```{lang}\n(.*?)^```", re.M | re.S).search(text, start)
    assert m, f"no ```{lang} block after {marker!r}"
    return m.group(1)


def _copy_project(tmp_path_factory) -> Path:
    """A copy of the project's sources, docs, scenarios, validation cases and tests."""
    dest = tmp_path_factory.mktemp("howto") / "project"
    dest.mkdir()
    for name in ("sim", "tests", "docs", "scenarios", "scripts", "validation"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / ".ci", dest / ".ci")
    return dest


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """A copy of the project for the payment-model and care-setting how-tos."""
    return _copy_project(tmp_path_factory)


def _python(copy: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_following_the_how_tos_keeps_the_suite_green(copy):
    """Add the how-to's global-budget model (one module, one registry line, regenerated docs)
    and its day-of-stay setting (a scenario table); the relevant tests then pass."""
    doc = (HOWTO / "add-a-payment-model.md").read_text(encoding="utf-8")
    # step 1: the module, as the how-to gives it
    module = _block_after(doc, "Save this as `sim/engine/payment/global_budget.py`", "python")
    (copy / "sim" / "engine" / "payment" / "global_budget.py").write_text(module, encoding="utf-8")
    # step 2: one line in the registry (and its import), as the how-to's diff shows
    diff = _block_after(doc, "Register it in `sim/engine/payment/__init__.py`", "diff")
    assert "+from sim.engine.payment.global_budget import GlobalBudget" in diff
    init = copy / "sim" / "engine" / "payment" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    text = text.replace(
        "from sim.engine.payment.ffs import FeeForService\n",
        "from sim.engine.payment.ffs import FeeForService\n"
        "from sim.engine.payment.global_budget import GlobalBudget\n",
    )
    text = text.replace("        PDPM,\n    )", "        PDPM,\n        GlobalBudget,\n    )")
    assert "GlobalBudget,\n    )" in text, "the registry's shape changed: update this test"
    init.write_text(text, encoding="utf-8")
    # step 3: regenerate the docs
    done = _python(copy, "-m", "sim.publish.reference")
    assert done.returncode == 0, done.stderr
    reference = (copy / "docs" / "scenario-reference.md").read_text(encoding="utf-8")
    assert "global_budget" in reference and "fee_fraction" in reference
    # the care-setting how-to: a day-of-stay setting is a scenario table
    care = (HOWTO / "add-a-care-setting.md").read_text(encoding="utf-8")
    irf = _block_after(care, "## Example: a day-of-stay setting", "toml")
    first, _, body = irf.partition("\n")
    # the how-to's reader works in a folder of their own (not the package's shipped scenarios)
    path = copy / "work" / first.removeprefix("# file: ").strip()
    path.parent.mkdir(parents=True)
    path.write_text(body, encoding="utf-8")
    check = (
        "from sim import load_scenario\n"
        "from sim.engine.payment import REGISTRY\n"
        "import sim\n"
        f"assert sim.__file__.startswith({str(copy)!r}), sim.__file__\n"
        "assert 'global_budget' in REGISTRY\n"
        f"sc = load_scenario({str(path)!r}, ['population.patients=3000', 'months=3'])\n"
        "assert sc.settings['irf'].unit == 'day of stay'\n"
    )
    done = _python(copy, "-c", check)
    assert done.returncode == 0, done.stderr
    # the relevant tests, green in the changed copy
    tests = [
        "tests/engine/payment/test_payment.py",
        "tests/scenario/test_scenario.py",
        "tests/project/test_docs.py",
        "tests/project/test_architecture.py",
        "tests/project/test_reference_outputs.py",
    ]
    done = _python(copy, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", *tests)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def _column_call(code: str) -> str:
    """The ``Column(...)`` call in a piece of Python, as a syntax tree (layout aside)."""
    calls = [
        n
        for n in ast.walk(ast.parse(code))
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Column"
    ]
    assert len(calls) == 1, code
    return ast.dump(calls[0])


def test_following_the_output_column_how_to(tmp_path_factory):
    """Add the how-to's column (one declaration, regenerated docs, its reference hashes): it is
    in a run's monthly table and the data dictionary, the reference outputs report it as new
    and keep every other column's hash, and the relevant tests pass."""
    copy = _copy_project(tmp_path_factory)
    doc = (HOWTO / "add-an-output-column.md").read_text(encoding="utf-8")
    tried = _block_after(doc, "## The example: patients in care", "python")
    diff = _block_after(doc, "## 1. Declare it", "diff")
    # step 1: the declaration, after its context line in the core columns
    context = [line[1:] for line in diff.splitlines() if line.startswith(" ")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+")]
    assert len(context) == 1 and len(added) == 1, diff
    # the declaration added is the one the how-to tried on a model
    assert _column_call(added[0].split(":", 1)[1].strip().rstrip(",")) == _column_call(tried)
    records = copy / "sim" / "engine" / "month" / "records.py"
    text = records.read_text(encoding="utf-8")
    assert text.count(context[0] + "\n") == 1, "the core columns changed: update the how-to"
    records.write_text(text.replace(context[0] + "\n", context[0] + "\n" + added[0] + "\n"))
    # step 2: the docs
    done = _python(copy, "-m", "sim.publish.reference")
    assert done.returncode == 0, done.stderr
    assert "`patients_in_care`" in (copy / "docs" / "outputs.md").read_text(encoding="utf-8")
    # step 3: the reference outputs see the new column, and only it, in every case
    stored = json.loads((copy / "tests" / "reference" / "outputs.json").read_text())
    done = _python(copy, "tests/reference_outputs.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"NEW, not yet recorded: {case}: monthly.patients_in_care" for case in sorted(stored)
    ]
    done = _python(copy, "tests/reference_outputs.py", "--add")
    assert done.returncode == 0, done.stdout + done.stderr
    now = json.loads((copy / "tests" / "reference" / "outputs.json").read_text())
    for case, tables in stored.items():
        assert set(now[case]["monthly"]) - set(tables["monthly"]) == {"patients_in_care"}
        assert {**now[case], "monthly": tables["monthly"]} == tables  # every other table as it was
        assert {k: now[case]["monthly"][k] for k in tables["monthly"]} == tables["monthly"]
    # step 4: the column in a run
    check = _block_after(doc, "## 4. Check it in a run", "py")
    done = _python(
        copy, "-c", f"import sim\nassert sim.__file__.startswith({str(copy)!r})\n" + check
    )
    assert done.returncode == 0, done.stderr
    assert "patients_in_care" in done.stdout
    tests = [
        "tests/project/test_reference_outputs.py",
        "tests/project/test_docs.py",
        "tests/project/test_architecture.py",
    ]
    done = _python(copy, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", *tests)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def _apply_additions(text: str, diff: str) -> str:
    """``text`` with a how-to diff's added lines, each inserted below the context line above it
    (context lines are found in order; ``...`` stands for lines left out)."""
    lines = text.splitlines(keepends=True)
    at = 0
    for d in diff.splitlines():
        assert not d.startswith("-"), f"the diff removes a line: update this test ({d!r})"
        if d.startswith("+"):
            lines.insert(at, d[1:] + "\n")
            at += 1
        elif d.strip() != "...":
            found = [i for i in range(at, len(lines)) if lines[i].rstrip("\n") == d[1:]]
            assert found, f"context line {d[1:]!r} not found (in order): update the how-to"
            at = found[0] + 1
    return "".join(lines)


def test_following_the_report_figure_how_to(tmp_path_factory):
    """Add the how-to's section (its module, its lines in SECTIONS); `sim run` and `sim report`
    of its scenario in the copy then write the figure and its data, list them in index.md, show
    the section in report.html where the registry puts it and name its step in the progress
    lines; the architecture and docstring tests pass with the new module."""
    copy = _copy_project(tmp_path_factory)
    doc = (HOWTO / "add-a-report-figure.md").read_text(encoding="utf-8")
    sections = copy / "sim" / "publish" / "report" / "sections"
    module = _block_after(doc, "Save this as `sim/publish/report/sections/margins.py`", "python")
    (sections / "margins.py").write_text(module, encoding="utf-8")
    diff = _block_after(doc, "Register it in `sim/publish/report/sections/__init__.py`", "diff")
    init = sections / "__init__.py"
    text = _apply_additions(init.read_text(encoding="utf-8"), diff)
    assert "    margins,\n" in text and "    margins.SECTION,\n" in text
    init.write_text(text, encoding="utf-8")
    toml = _block_after(doc, "## Trying it", "toml")
    first, _, body = toml.partition("\n")
    scenario = copy / "work" / first.removeprefix("# file: ").strip()
    scenario.parent.mkdir(parents=True)
    scenario.write_text(body, encoding="utf-8")
    results = copy / "work" / "results" / "margins_demo"
    done = _python(
        copy, "-W", "error", "-m", "sim", "run", str(scenario), "--quiet", "--set", "months=6",
        "--out", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = _python(copy, "-W", "error", "-m", "sim", "report", str(results))
    assert done.returncode == 0, done.stderr
    report = results / "report"
    printed = set(done.stdout.splitlines())
    for name in ("png", "pdf", "svg"):
        path = report / "figures" / f"provider_margins.{name}"
        assert path.stat().st_size > 1000 and str(path) in printed, path
    data = (report / "data" / "provider_margins.csv").read_text(encoding="utf-8")
    assert data.startswith("point,arm,month,measure,n,mean,sd,ci_low,ci_high,date\n")
    index = (report / "index.md").read_text(encoding="utf-8")
    assert "- Provider margin by arm and month: `figures/provider_margins.png`" in index
    assert "- `data/provider_margins.csv`: provider margin, % of revenue" in index
    page = (report / "report.html").read_text(encoding="utf-8")
    assert '<a href="#margins">Provider margins</a>' in page
    assert page.index('id="trends"') < page.index('id="margins"') < page.index('id="value"')
    assert page.index('id="margins"') < page.index('<figure id="provider_margins">')
    assert ": Provider margins" in done.stderr  # the progress line of its step
    done = _python(
        copy, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider",
        "tests/project/test_architecture.py", "tests/project/test_docstrings.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
