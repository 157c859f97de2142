"""Documentation that is generated from the code matches the code."""

from __future__ import annotations

import re

import pytest
from paths import ROOT

from sim.engine.model import HealthSystemModel
from sim.publish.reference import DOCS, GENERATED
from sim.results.tables import MONTHLY_COLUMNS


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_docs_are_current(name):
    """The generated docs equal what `python -m sim.publish.reference` writes now."""
    assert (DOCS / name).read_text(encoding="utf-8") == GENERATED[name](), (
        f"docs/{name} is stale: run `python -m sim.publish.reference`"
    )


def test_every_output_column_is_documented():
    """Every column of the monthly table appears in the data dictionary."""
    text = (DOCS / "outputs.md").read_text(encoding="utf-8")
    for col in MONTHLY_COLUMNS:
        assert f"| `{col}` |" in text


def test_architecture_states_the_models_step_order():
    """docs/architecture.md lists the monthly step in the order of the Model's docstring."""
    doc_steps = re.findall(r"^\s*\d\. \*\*(.+?)\*\*", HealthSystemModel.__doc__, re.M)
    arch = (DOCS / "architecture.md").read_text(encoding="utf-8")
    arch_steps = re.findall(r"^\d\. \*\*(.+?)\*\*", arch, re.M)
    assert doc_steps and arch_steps == doc_steps


def test_readme_opens_with_two_commands():
    """The README's first commands set up and run the main job, and set up and run the tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_commands = [c.strip() for c in ci.splitlines() if c.strip().startswith("make ")]
    # CI runs the README's test command, then the slow end-to-end tests that command leaves out
    assert ci_commands == ["make test", "make test-slow"], ci_commands
