"""MkDocs hooks of the documentation site (mkdocs.yml): pages made from the repository and links
that leave docs/.

- The README becomes the page ``readme.md`` (its links into docs/ made relative to the site).
- The API reference: ``api/index.md`` and one page per package of ``sim/``, each rendering its
  modules' docstrings with mkdocstrings (``::: sim.engine.model``); added to the navigation.
- A link from a page to a file of the repository outside docs/ becomes a link to the API
  reference of that module (``sim/engine/billing.py`` → ``api/sim.engine.md#sim.engine.billing``),
  a link to the README page, or the path in code when the site has no page for it; a link to a
  file that does not exist is a warning, so ``mkdocs build --strict`` fails on it.
- Citations: ``[@key]`` (several: ``[@a; @b]``) outside code becomes "(Author Year)" linked to
  the entry on ``references.md``, whose list is formatted from ``docs/references.bib`` by
  pybtex; an unknown key is a warning (an error with ``--strict``).
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.payment_sim")

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sim"
LINK = re.compile(r"(!?\[[^\]\n]*\])\(([^)\s]+)\)")
README = "readme.md"
BIB = ROOT / "docs" / "references.bib"
REFERENCES = "references.md"
#: the line of references.md that the formatted bibliography replaces
BIBLIOGRAPHY = "<!-- bibliography -->"
CITATION = re.compile(r"\[@([A-Za-z][\w-]*)((?:;\s*@[A-Za-z][\w-]*)*)(?:,\s*([^\]\n]*))?\]")
#: fenced code blocks (links and citations there are only shown), and inline code
FENCED = re.compile(r"(^```.*?^```[ \t]*$|^~~~.*?^~~~[ \t]*$)", re.M | re.S)
CODE = re.compile(r"(^```.*?^```[ \t]*$|^~~~.*?^~~~[ \t]*$|`+[^`\n]*`+)", re.M | re.S)
#: files of docs/ the site shows as pages or images; a link to any other (a script, a folder)
#: shows its path
SHOWN = {".md", ".png", ".jpg", ".jpeg", ".svg", ".gif"}


def _bibliography():
    from pybtex.database import parse_file

    return parse_file(str(BIB))


def _plain(text: str) -> str:
    """A BibTeX name or field as plain text (braces and escapes dropped)."""
    return re.sub(r"\\(.)", r"\1", text.replace("{", "").replace("}", ""))


def labels() -> dict[str, str]:
    """key → "Author Year" (two authors: "A & B"; more: "A et al."; an institution its short
    name), with a, b, … after the year where two entries would read the same."""
    bib = _bibliography()
    raw = {}
    for key, e in bib.entries.items():
        year = e.fields.get("year", "n.d.")
        if "shortauthor" in e.fields:
            who = _plain(e.fields["shortauthor"])
        else:
            people = e.persons.get("author", [])
            last = [_plain(" ".join(p.last_names)) for p in people]
            others = any(str(p) == "others" for p in people)
            if len(last) == 1:
                who = last[0]
            elif len(last) == 2 and not others:
                who = f"{last[0]} & {last[1]}"
            else:
                who = f"{last[0]} et al."
        raw[key] = (who, year)
    out = {}
    for key, (who, year) in raw.items():
        same = sorted(k for k, v in raw.items() if v == (who, year))
        suffix = "abcdefghij"[same.index(key)] if len(same) > 1 else ""
        out[key] = f"{who} {year}{suffix}"
    return out


def formatted_bibliography() -> str:
    """The bibliography as Markdown, one entry per paragraph, each with its key as anchor."""
    from pybtex.backends.markdown import Backend
    from pybtex.style.formatting.plain import Style

    bib = _bibliography()
    backend = Backend()
    label = labels()
    lines = []
    for entry in Style().format_bibliography(bib):
        text = " ".join(entry.text.render(backend).split("\n"))
        lines.append(
            f'<span id="{entry.key}"></span>**{label[entry.key]}** (`{entry.key}`). {text}'
        )
        lines.append("")
    return "\n".join(lines)


def cite(markdown: str, page_dir: str, where: str) -> str:
    """Replace the citations outside code by linked "(Author Year)" texts."""
    label = labels()
    target = posixpath.relpath(REFERENCES, page_dir or ".")

    def one(m: re.Match) -> str:
        keys = [m.group(1), *re.findall(r"@([A-Za-z][\w-]*)", m.group(2) or "")]
        parts = []
        for k in keys:
            if k not in label:
                log.warning("%s: citation of %s, which is not in docs/references.bib", where, k)
                parts.append(k)
            else:
                parts.append(f"[{label[k]}]({target}#{k})")
        locator = f", {m.group(3)}" if m.group(3) else ""
        return "(" + "; ".join(parts) + locator + ")"

    pieces = CODE.split(markdown)
    return "".join(p if i % 2 else CITATION.sub(one, p) for i, p in enumerate(pieces))


def packages() -> list[str]:
    """Every package of ``sim`` (dotted), in a reader's order: the top, then alphabetically."""
    found = sorted(
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in p.parts
    )
    return found


def modules(package: str) -> list[str]:
    """The modules directly in ``package`` (dotted), the package's own docstring first."""
    folder = ROOT.joinpath(*package.split("."))
    names = sorted(p.stem for p in folder.glob("*.py") if p.stem not in {"__init__", "__main__"})
    return [f"{package}.{n}" for n in names]


def _api_page(package: str) -> str:
    lines = [f"# `{package}`", "", f"::: {package}", "    options:", "      members: false", ""]
    for mod in modules(package):
        lines += [f"::: {mod}", ""]
    subs = [p for p in packages() if p.rpartition(".")[0] == package]
    if subs:
        lines += ["## Subpackages", ""] + [f"- [`{s}`]({s}.md)" for s in subs] + [""]
    return "\n".join(lines)


def _api_index() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings of the code (mkdocstrings), one page per package. The "
        "public API is `sim`'s: `load_scenario`, `run`, `HealthSystemModel`; the rest documents "
        "the code for those who change it ([architecture](../architecture.md) says where things "
        "are).",
        "",
    ]
    lines += [f"- [`{p}`]({p}.md)" for p in packages()]
    return "\n".join(lines) + "\n"


def on_config(config):
    """Add the API pages to the navigation."""
    nav = config["nav"]
    for section in nav:
        if isinstance(section, dict) and "Reference" in section:
            for item in section["Reference"]:
                if isinstance(item, dict) and "API" in item:
                    item["API"] = ["api/index.md", *[f"api/{p}.md" for p in packages()]]
    return config


def on_files(files, config):
    """The README page and the API pages, made from the repository."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, README, content=readme))
    files.append(File.generated(config, "api/index.md", content=_api_index()))
    for p in packages():
        files.append(File.generated(config, f"api/{p}.md", content=_api_page(p)))
    return files


def _module_anchor(path: Path) -> str | None:
    """``api/<package>.md#<module>`` for a Python file of ``sim``, else None."""
    try:
        rel = path.relative_to(ROOT)
    except ValueError:
        return None
    if rel.parts[0] != "sim" or path.suffix != ".py":
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        package = ".".join(parts[:-1])
        return f"api/{package}.md#{package}"
    return f"api/{'.'.join(parts[:-1])}.md#{'.'.join(parts)}"


def on_page_markdown(markdown, page, config, files):
    """Rewrite the links of a page that leave docs/ (see the module's docstring)."""
    docs = Path(config["docs_dir"]).resolve()
    src = page.file.src_uri
    # where the page's text lives in the repository: the README at the root, pages in docs/
    here = ROOT if src == README else (docs / src).parent
    page_dir = posixpath.dirname(src)

    def site_link(target_in_docs: str, anchor: str) -> str:
        rel = posixpath.relpath(target_in_docs, page_dir or ".")
        return rel + anchor

    def rewrite(m: re.Match) -> str:
        text, target = m.group(1), m.group(2)
        if "://" in target or target.startswith(("#", "mailto:")):
            return m.group(0)
        path_part, _, anchor = target.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        if src != README:  # a page of the site, generated ones included, is a link as it is
            uri = posixpath.normpath(posixpath.join(page_dir, path_part))
            if files.get_file_from_path(uri) is not None and uri.endswith(".md"):
                return m.group(0)
        resolved = (here / path_part).resolve()
        if not resolved.exists():
            log.warning("%s: link to %s, which does not exist", src, target)
            return m.group(0)
        inside = docs in resolved.parents or resolved == docs
        if inside and resolved.is_file() and resolved.suffix in SHOWN:
            if src == README:  # the README's links into docs/ become the site's own
                return f"{text}({site_link(str(resolved.relative_to(docs).as_posix()), anchor)})"
            return m.group(0)
        if resolved == ROOT / "README.md":
            return f"{text}({site_link(README, anchor)})"
        api = _module_anchor(resolved)
        if api is not None:
            return f"{text}({site_link(api.split('#')[0], '#' + api.split('#')[1])})"
        shown = resolved.relative_to(ROOT).as_posix() if ROOT in resolved.parents else target
        label = text[1:-1] if not text.startswith("!") else shown
        return f"{label} (`{shown}` in the repository)" if label != shown else f"`{shown}`"

    pieces = FENCED.split(markdown)
    markdown = "".join(p if i % 2 else LINK.sub(rewrite, p) for i, p in enumerate(pieces))
    if src == REFERENCES:
        markdown = markdown.replace(BIBLIOGRAPHY, formatted_bibliography())
    return cite(markdown, page_dir, src)
