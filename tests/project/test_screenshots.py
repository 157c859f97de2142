"""The documentation's screenshots (docs/img/explorer.png, docs/img/report.png) are there, are
shown where the explorer and the report are documented, and are current: scripts/screenshots.py
records the SHA-256 of every file they depend on (the explorer's page and computations, the
report's templates, the figures' style, the script itself) in docs/img/screenshots.json, and
this test compares the record with the files as they are now."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest
from paths import ROOT

IMG = ROOT / "docs" / "img"


def _script():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "scripts/screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("name", ["explorer.png", "report.png"])
def test_the_screenshots_are_pictures_of_a_page(name):
    width, height = _png_size(IMG / name)
    assert width >= 1000 and height >= 800, (name, width, height)


@pytest.mark.parametrize(
    "doc, image",
    [
        ("docs/explorer.md", "img/explorer.png"),
        ("docs/tutorial.md", "img/explorer.png"),
        ("docs/tutorial.md", "img/report.png"),
        ("README.md", "docs/img/explorer.png"),
    ],
)
def test_the_docs_show_the_screenshots(doc, image):
    """Each is shown as an image (``![...](path)``) where its page is documented."""
    assert f"]({image})" in (ROOT / doc).read_text(encoding="utf-8"), f"{doc} does not show {image}"


def test_the_tutorial_shows_the_report_in_its_report_section():
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    section = text[text.index("## 10. Reports") :]
    assert "](img/report.png)" in section.split("\n## ")[0]


def test_the_screenshots_are_current():
    """The record names every input the script hashes, with its current hash: a changed page,
    template or style needs `python scripts/screenshots.py` again."""
    script = _script()
    record = json.loads((IMG / "screenshots.json").read_text(encoding="utf-8"))
    assert record["images"] == ["explorer.png", "report.png"]
    assert sorted(record["inputs"]) == sorted(script.INPUTS)
    now = script.digests()
    stale = [p for p in script.INPUTS if record["inputs"][p] != now[p]]
    assert not stale, (
        f"the screenshots predate changes to {stale}: run `.venv/bin/python "
        "scripts/screenshots.py` and commit docs/img/"
    )


def test_the_currency_check_sees_a_change(tmp_path, monkeypatch):
    """A changed input gives another hash (the check above can fail)."""
    script = _script()
    for p in script.INPUTS:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes((ROOT / p).read_bytes())
    monkeypatch.setattr(script, "ROOT", tmp_path)
    before = script.digests()
    (tmp_path / "sim/explore/app.py").write_text("# changed\n", encoding="utf-8")
    after = script.digests()
    assert [p for p in script.INPUTS if before[p] != after[p]] == ["sim/explore/app.py"]
