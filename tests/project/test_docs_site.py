"""The documentation site (mkdocs.yml) builds with warnings as errors (`mkdocs build --strict`:
every page in the navigation, no broken internal link or anchor in the Markdown, every
citation in the bibliography), and every link of the built pages leads to a page and an anchor
that exist (checked offline, on the HTML: the generated API pages included)."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from paths import ROOT

if os.environ.get("CI"):
    import mkdocs  # noqa: F401  (CI installs the docs extra: fail, do not skip)
else:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("pybtex")


class _Page(HTMLParser):
    """The ids and the links (href, src) of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and key == "href" and "stylesheet" not in str(a)):
                self.links.append(a[key])


def broken_links(site: Path) -> list[str]:
    """Every link of the site's HTML pages that leads to no file, or to no anchor of its page
    (external links aside, and 404.html, whose links are from the server's root)."""
    pages: dict[Path, _Page] = {}
    for html in site.rglob("*.html"):
        p = _Page()
        p.feed(html.read_text(encoding="utf-8"))
        pages[html.resolve()] = p
    bad = []
    for html, page in pages.items():
        if html.name == "404.html":
            continue
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue
            target = (html.parent / unquote(parts.path)).resolve() if parts.path else html
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                bad.append(f"{html.relative_to(site)}: {link} (no file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    bad.append(f"{html.relative_to(site)}: {link} (no anchor)")
    return bad


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)
    return out


def test_the_site_builds_strict_with_every_page(site):
    """The site has the tutorial, the how-tos, the ODD, the field and output references, the
    bibliography, the README and an API page per package of sim."""
    for page in ("index", "tutorial", "ODD", "scenario-reference", "outputs", "references",
                 "readme", "scenario-schema", "howto/add-a-payment-model", "api/index",
                 "api/sim.engine", "api/sim.publish.report"):  # fmt: skip
        assert (site / f"{page}.html").exists(), page
    api = (site / "api" / "sim.engine.html").read_text(encoding="utf-8")
    assert 'id="sim.engine.model.HealthSystemModel"' in api  # from the docstrings
    odd = (site / "ODD.html").read_text(encoding="utf-8")
    assert 'href="references.html#ellis1986"' in odd  # citations link to the bibliography
    refs = (site / "references.html").read_text(encoding="utf-8")
    assert 'id="ellis1986"' in refs and "10.1016/0167-6296(86)90002-0" in refs


def test_no_link_of_the_built_site_is_broken(site):
    """Every internal link and anchor of the built pages exists."""
    bad = broken_links(site)
    assert not bad, "\n".join(bad[:40])


def test_the_link_check_finds_a_broken_link(tmp_path):
    """The checker reports a missing page and a missing anchor (it can fail)."""
    (tmp_path / "a.html").write_text(
        '<h1 id="top">A</h1><a href="b.html">b</a><a href="#nowhere">x</a><a href="#top">t</a>'
    )
    assert sorted(broken_links(tmp_path)) == [
        "a.html: #nowhere (no anchor)",
        "a.html: b.html (no file)",
    ]
