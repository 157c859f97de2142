"""The project's references live in the repository: docs/references.bib holds every source with
its full citation (and DOI where one exists); files cite a source by key as ``[@key]`` (several:
``[@a; @b]``). Every cited key is in the bibliography, every entry is cited, validation cases and
calibration targets name their sources by key, and no file cites a file outside the
repository."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from paths import ROOT

BIB = ROOT / "docs" / "references.bib"
#: a citation: [@key], [@a; @b], [@key, p. 3]
CITATION = re.compile(r"\[@([A-Za-z][\w-]*)((?:;\s*@[A-Za-z][\w-]*)*)(?:,[^\]\n]*)?\]")
#: text that points at a file outside the repository
OUTSIDE = [
    re.compile(p)
    for p in (r"REFERENCE\.md", r"\.\./shared\b", r"/work/shared", r"shared/REFERENCE")
]
BINARY = {".png", ".pdf", ".svg", ".parquet", ".sqlite", ".db", ".zip", ".gz", ".ico", ".woff2"}


def _files() -> list[Path]:
    """The repository's files: those git tracks (plus new ones), else every file but the
    environment's."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        files = [ROOT / f for f in out.split()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "site", "__pycache__"}
        files = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    return [p for p in files if p.is_file() and p.suffix not in BINARY]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def bib_entries() -> dict[str, str]:
    """key → the entry's text, from docs/references.bib."""
    text = BIB.read_text(encoding="utf-8")
    starts = list(re.finditer(r"^@(\w+)\{([^,\s]+),", text, re.M))
    out = {}
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        assert m.group(2) not in out, f"key {m.group(2)} twice in {BIB.name}"
        out[m.group(2)] = text[m.start() : end]
    return out


def cited() -> dict[str, set[str]]:
    """key → the files citing it."""
    out: dict[str, set[str]] = {}
    for path in _files():
        if path == BIB or path == Path(__file__).resolve():
            continue
        text = _text(path)
        if text is None:
            continue
        # code spans (`[@key]`, ``[@key]``) show the syntax; they cite nothing
        text = re.sub(r"`+[^`\n]*`+", "", text)
        for m in CITATION.finditer(text):
            keys = [m.group(1), *re.findall(r"@([A-Za-z][\w-]*)", m.group(2))]
            for k in keys:
                out.setdefault(k, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_entry_is_a_full_citation():
    """Each entry has authors (or an institution), a title and a year; a DOI has the form
    10.NNNN/…; a journal article without a DOI says why in a note."""
    entries = bib_entries()
    assert len(entries) >= 30
    for key, entry in entries.items():
        for field in ("title", "year"):
            assert re.search(rf"^\s*{field}\s*=", entry, re.M), f"{key}: no {field}"
        assert re.search(r"^\s*(author|institution|organization)\s*=", entry, re.M), key
        doi = re.search(r"^\s*doi\s*=\s*\{([^}]*)\}", entry, re.M)
        if doi:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", doi.group(1)), f"{key}: DOI {doi.group(1)}"
        elif entry.startswith("@article"):
            assert re.search(r"^\s*note\s*=", entry, re.M) or "Health Care Financing" in entry, (
                f"{key}: a journal article without a DOI should say why in a note"
            )


def test_every_cited_key_is_in_the_bibliography():
    """A citation [@key] anywhere in the repository names an entry of docs/references.bib."""
    entries = bib_entries()
    missing = {k: sorted(f) for k, f in cited().items() if k not in entries}
    assert not missing, f"cited but not in {BIB.relative_to(ROOT)}: {missing}"


def test_every_entry_is_cited():
    """No entry of the bibliography is dead: each is cited somewhere."""
    unused = sorted(set(bib_entries()) - set(cited()))
    assert not unused, f"entries nobody cites: {unused}"


def test_the_odd_and_the_scenarios_cite_by_key():
    """The ODD cites its sources by key, and so does every shipped scenario with a source."""
    assert len(CITATION.findall((ROOT / "docs" / "ODD.md").read_text(encoding="utf-8"))) >= 25
    for name in ("compare_payment_models", "snf_payment_reform", "home_health_reform",
                 "joint_replacement_bundle", "capitated_plan_vs_ffs"):  # fmt: skip
        text = (ROOT / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")
        assert CITATION.search(text), f"scenarios/{name}.toml cites no source by key"


@pytest.mark.parametrize(
    "folder", ["validation", "tests/data/validation"], ids=["shipped", "test fixtures"]
)
def test_validation_cases_cite_their_source_by_key(folder):
    """Every validation case's citation names its source by key."""
    cases = sorted((ROOT / folder).glob("*.toml"))
    assert cases
    for path in cases:
        case = tomllib.loads(path.read_text(encoding="utf-8")).get("case", {})
        assert CITATION.search(case.get("citation", "")), f"{path.name}: citation without a key"


def test_calibration_targets_cite_their_source_by_key():
    """Every calibration target's source names it by key (or says it is an assumption)."""
    files = sorted((ROOT / "calibration").glob("*.toml"))
    targets = [
        (f.name, t)
        for f in files
        for t in tomllib.loads(f.read_text(encoding="utf-8")).get("targets", [])
    ]
    assert targets
    for name, t in targets:
        source = t.get("source", "")
        assert CITATION.search(source) or "assumption" in source.lower(), (
            f"{name}: target {t.get('id')} has no source key: {source!r}"
        )


def test_no_file_cites_a_file_outside_the_repository():
    """No text names a file beside the repository (the project's notes of published facts are
    cited through the bibliography), and no Markdown link leads out of it."""
    link = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
    bad = []
    for path in _files():
        if path == Path(__file__).resolve():
            continue
        text = _text(path)
        if text is None:
            continue
        rel = path.relative_to(ROOT)
        bad += [f"{rel}: {p.pattern}" for p in OUTSIDE if p.search(text)]
        if path.suffix == ".md":
            for target in link.findall(text):
                if "://" in target or target.startswith("mailto:"):
                    continue
                resolved = (path.parent / target).resolve()
                if ROOT not in resolved.parents and resolved != ROOT:
                    bad.append(f"{rel}: link to {target} leaves the repository")
    assert not bad, "\n".join(bad)


def test_the_check_finds_what_it_looks_for():
    """The patterns catch a citation with several keys and a locator, and an outside file."""
    keys = [m.group(1) for m in CITATION.finditer("see [@a1; @b-2, §3] and [@c]")]
    assert keys == ["a1", "c"]
    assert re.findall(r"@([A-Za-z][\w-]*)", CITATION.search("[@a1; @b-2]").group(2)) == ["b-2"]
    outside_note = "REFERENCE" + ".md"  # spelt in two parts: this file names no such file
    assert any(p.search(f"from ../shared/{outside_note} §3") for p in OUTSIDE)
    assert any(p.search(f"the closed forms of {outside_note} §1") for p in OUTSIDE)
    assert not any(p.search("the closed forms [@ellis1986]") for p in OUTSIDE)
    assert not CITATION.search("a list [1, 2] and an email a@b.org")
