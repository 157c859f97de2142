"""The hand-written docs are executed, so they cannot rot.

Conventions the docs follow (see docs/index.md, "Docs that run"):

- ``docs/tutorial.md`` and ``docs/howto/*.md``: every ```python block runs, in document order,
  in one namespace per file, with a scratch project folder (a copy of ``scenarios/`` and
  ``scripts/``) as the working directory, so ``scenarios/...`` paths resolve and ``results/...``
  lands in the scratch folder. A ```text block that directly follows a ```python block is what
  that block prints, compared exactly. A ```toml block whose first line is ``# file: PATH`` is
  written to PATH (in the scratch folder) when the reader reaches it. ```py blocks (code that
  needs a real cluster, or the project as a how-to's steps leave it) are shown, not run here.
- ``docs/tutorial.md``: every ```sh line starting with ``sim `` or ``.venv/bin/sim `` runs, at its
  place in the document, as ``python -m sim ...`` with the same arguments and must exit 0.
- ``docs/ODD.md``: the process overview names the Model's monthly steps, in order.
- ``docs/scenario-reference.md`` names every field of the scenario and sweep schemas.
- Relative links in README.md and docs/ point to files that exist.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from paths import ROOT
from pydantic import BaseModel

from sim.engine.model import HealthSystemModel
from sim.engine.payment import REGISTRY
from sim.scenario import Scenario
from sim.scenario.sweep import SweepConfig

DOCS = ROOT / "docs"
EXECUTED = [DOCS / "tutorial.md", *sorted((DOCS / "howto").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[ \t]*$")
STEP = re.compile(r"^\s*\d+\. \*\*(.+?)\*\*", re.M)


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the first line of code
    gap: str  # document text between the previous block and this one


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i, gap_start = 0, 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        assert end < len(lines), f"{path}:{i + 1}: unclosed code fence"
        gap = "\n".join(lines[gap_start:i])
        out.append(Block(m.group(1), "\n".join(lines[start:end]) + "\n", start + 1, gap))
        i = gap_start = end + 1
    return out


def sim_commands(code: str) -> list[list[str]]:
    """The ``sim`` command lines of a shell block, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        for prefix in ("sim ", ".venv/bin/sim "):
            if line.startswith(prefix):
                commands.append(shlex.split(line[len(prefix) :], comments=True))
    return commands


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project folder as the working directory; REGISTRY restored afterwards."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("scenarios", "scripts"):
        shutil.copytree(ROOT / name, folder / name)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    saved = dict(REGISTRY)
    yield folder
    REGISTRY.clear()
    REGISTRY.update(saved)


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}


def run_document(path: Path, folder: Path, *, shell: bool) -> dict[str, int]:
    """Execute a document's blocks in order; return how many of each kind ran."""
    doc = path.relative_to(ROOT)
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem.replace('-', '_')}"}
    counts = {"python": 0, "text": 0, "toml": 0, "sh": 0}
    found = blocks(path)
    last_output: str | None = None
    for k, b in enumerate(found):
        follows_python = k > 0 and found[k - 1].lang == "python" and not b.gap.strip()
        if b.lang == "python":
            # pad so that tracebacks give the line number in the Markdown file
            code = compile("\n" * (b.line - 1) + b.code, str(doc), "exec")
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(code, namespace)
            last_output = out.getvalue()
            counts["python"] += 1
        elif b.lang == "text" and follows_python:
            assert last_output is not None
            assert last_output.strip() == b.code.strip(), (
                f"{doc}:{b.line}: the output shown differs from what the block above prints:\n"
                f"{last_output}"
            )
            counts["text"] += 1
        elif b.lang == "toml" and b.code.startswith("# file: "):
            target = folder / b.code.splitlines()[0].removeprefix("# file: ").strip()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(b.code, encoding="utf-8")
            counts["toml"] += 1
        elif b.lang in ("sh", "bash") and shell:
            for args in sim_commands(b.code):
                p = subprocess.run(
                    [sys.executable, "-W", "error", "-m", "sim", *args],
                    cwd=folder,
                    env=_env(),
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                assert p.returncode == 0, (
                    f"{doc}:{b.line}: `sim {shlex.join(args)}` exited {p.returncode}\n"
                    f"{p.stdout}\n{p.stderr}"
                )
                counts["sh"] += 1
    return counts


def test_tutorial_runs(project):
    """Every sim command and Python block of the tutorial runs, in order, and checks out."""
    counts = run_document(DOCS / "tutorial.md", project, shell=True)
    assert counts["sh"] >= 5 and counts["python"] >= 5, counts
    assert counts["text"] >= 1, counts


@pytest.mark.parametrize("path", EXECUTED[1:], ids=lambda p: p.name)
def test_howto_runs(path, project):
    """Every Python block of a how-to runs, in order, its shown output is what it prints, and
    it leaves the payment-model registry as it found it."""
    before = dict(REGISTRY)
    counts = run_document(path, project, shell=False)
    assert counts["python"] >= 1, f"{path.name} has no executed example"
    assert dict(REGISTRY) == before, f"{path.name} left the payment-model registry changed"


def test_every_howto_is_executed():
    """The how-tos the docs promise exist, and each one is in the executed set."""
    names = {p.name for p in EXECUTED[1:]}
    assert {
        "add-a-payment-model.md",
        "add-a-care-setting.md",
        "add-an-output-column.md",
        "add-a-report-figure.md",
        "calibrate-a-parameter.md",
        "run-on-a-cluster.md",
    } <= names


def test_odd_process_overview_matches_the_model():
    """docs/ODD.md's process overview lists the Model docstring's monthly steps, in order."""
    model_steps = STEP.findall(HealthSystemModel.__doc__ or "")
    odd = (DOCS / "ODD.md").read_text(encoding="utf-8")
    section = re.search(
        r"^##[^\n]*Process overview and scheduling[^\n]*\n(.*?)(?=^## )", odd, re.M | re.S
    )
    assert section, "ODD.md has no 'Process overview and scheduling' section"
    odd_steps = re.findall(r"^\d+\. \*\*(.+?)\*\* — ", section.group(1), re.M)
    assert model_steps, "the Model's docstring lists no steps"
    assert odd_steps == model_steps


def _models_in(annotation: object) -> list[type[BaseModel]]:
    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def schema_models() -> list[type[BaseModel]]:
    """Every pydantic model reachable from the scenario, the sweep file and the payment models."""
    todo: list[type[BaseModel]] = [
        Scenario,
        SweepConfig,
        *(cls.Params for cls in REGISTRY.values()),
    ]
    seen: list[type[BaseModel]] = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for f in model.model_fields.values():
            todo += _models_in(f.annotation)
    return seen


def test_scenario_reference_names_every_field():
    """Every field of every schema model appears as `name` in docs/scenario-reference.md."""
    text = (DOCS / "scenario-reference.md").read_text(encoding="utf-8")
    models = schema_models()
    assert len(models) >= 10
    missing = [
        f"{m.__name__}.{name}" for m in models for name in m.model_fields if f"`{name}`" not in text
    ]
    assert not missing, f"undocumented fields (run `python -m sim.publish.reference`): {missing}"


def test_schema_walk_reaches_nested_models():
    """The schema walk finds models inside dict, list and Optional annotations."""
    assert _models_in(dict[str, list[SweepConfig] | None]) == [SweepConfig]
    assert _models_in(types.NoneType) == []
    names = {m.__name__ for m in schema_models()}
    assert {"PopulationConfig", "ProvidersConfig", "DistributionConfig", "DesignConfig"} <= names


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file, as GitHub makes them."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = 0
        while (slug if n == 0 else f"{slug}-{n}") in found:
            n += 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


@pytest.mark.parametrize(
    "path",
    [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted((DOCS / "howto").glob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_links_resolve(path):
    """Every relative link in README.md and docs/ points to a file or folder that exists, and a
    link to a heading of a Markdown file names a heading that exists."""
    broken = []
    for target in LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # a URL
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file) if file else path
        names_heading = bool(anchor) and resolved.suffix == ".md"
        if not resolved.exists() or (names_heading and anchor not in anchors(resolved)):
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"


def test_anchor_slugs_follow_github():
    """Heading anchors are made the way GitHub makes them."""
    assert "sweep-files-sim-sweep-sweeptoml" in anchors(DOCS / "scenario-reference.md")
    assert "6-a-sweep" in anchors(DOCS / "tutorial.md")


def test_block_parser_and_command_extraction():
    """The helpers find fences and sim commands as the conventions above describe."""
    cmds = sim_commands(
        "make run\nsim run a.toml \\\n    --set x=1  # comment\n.venv/bin/sim sweep b.toml\n"
    )
    assert cmds == [["run", "a.toml", "--set", "x=1"], ["sweep", "b.toml"]]
