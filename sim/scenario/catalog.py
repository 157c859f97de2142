"""The scenarios shipped with the package: list them, find one by name, copy one to a folder.

The files travel in the wheel as package data (``sim/scenarios_data/``; in the repository that
is a symlink to ``scenarios/``), so ``sim scenarios`` works from an installed package with no
checkout. This module reads only TOML and the file system: listing is fast.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sim.errors import ScenarioError
from sim.guards.paths import SCENARIOS, data_file

__all__ = ["ShippedScenario", "copy_scenario", "find_scenario", "list_scenarios", "scenarios_dir"]


@dataclass(frozen=True)
class ShippedScenario:
    """One shipped file: its name (the file name without ``.toml``), kind, description, path.

    ``kind`` is ``"sweep"`` for a sweep file (it names a base ``scenario``) and ``"scenario"``
    otherwise; ``base`` is the sweep's base scenario file name (``None`` for scenarios).
    """

    name: str
    kind: str
    description: str
    path: Path
    base: str | None = None


def scenarios_dir() -> Path:
    """The folder that holds the shipped scenario files (inside the installed package)."""
    return data_file(SCENARIOS)


def _describe(path: Path) -> ShippedScenario:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    base = data.get("scenario") if isinstance(data.get("scenario"), str) else None
    return ShippedScenario(
        name=path.stem,
        kind="sweep" if base else "scenario",
        description=str(data.get("description", "")),
        path=path,
        base=base,
    )


def list_scenarios() -> list[ShippedScenario]:
    """Every shipped scenario and sweep file, sorted by name."""
    folder = scenarios_dir()
    return [_describe(p) for p in sorted(folder.glob("*.toml"))]


def find_scenario(name: str) -> ShippedScenario:
    """The shipped file called ``name`` (with or without ``.toml``); a ScenarioError naming the
    shipped ones if there is none."""
    stem = name.removesuffix(".toml")
    shipped = list_scenarios()
    for s in shipped:
        if s.name == stem:
            return s
    raise ScenarioError(
        "sim scenarios",
        None,
        f"no shipped scenario {name!r}; shipped: {', '.join(s.name for s in shipped)}",
    )


def copy_scenario(name: str, dest: str | Path = ".", *, overwrite: bool = False) -> list[Path]:
    """Copy the shipped file ``name`` into folder ``dest`` (a sweep brings its base scenario
    along, so it runs from there); return the files written.

    An existing file is left alone and reported as a ScenarioError unless ``overwrite``; a
    symbolic link, or anything but a regular file, at a target's name is never written
    through, ``overwrite`` or not. Each file is written whole (under a temporary name, then
    renamed) or not at all."""
    from sim.errors import ResultsError
    from sim.guards import files
    from sim.guards.limits import check_out

    item = find_scenario(name)
    dest = Path(dest)
    if dest.is_symlink():
        raise ResultsError(
            f"{dest}: is a symbolic link; files are not written through links: give --to the "
            "folder itself"
        )
    check_out(dest, "--to")
    sources = [item.path]
    if item.base:
        base = scenarios_dir() / item.base
        if base.exists():
            sources.append(base)
    names = [src.name for src in sources]
    for src in list(sources):
        for extra in _world_files(src):
            if extra not in sources:
                sources.append(extra)
                names.append(extra.relative_to(scenarios_dir()).as_posix())
    targets = [dest / n for n in names]
    for t, n in zip(targets, names, strict=True):
        what = files.kind(dest, n)
        if what == "link":
            raise ResultsError(
                f"{t}: is a symbolic link; files are not written through links, --force or "
                "not: remove it or copy to another folder (--to)"
            )
        if what not in ("missing", "file"):
            raise ResultsError(f"{t}: exists and is {files.KIND_WORDS[what]}, not a file")
        if what == "file" and not overwrite:
            raise ResultsError(f"{t}: exists; pass --force to overwrite it")
    for src, n in zip(sources, names, strict=True):
        files.write_bytes(dest, n, src.read_bytes())
    return targets


def _world_files(path: Path) -> list[Path]:
    """The shipped world file a shipped scenario names and the world's parameter file (what
    the scenario needs beside it to run from a copy): files inside the shipped folder only."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    world = data.get("world")
    if not isinstance(world, str):
        return []
    root = scenarios_dir().resolve()
    out = []
    where = (path.parent / world).resolve()
    if where.is_relative_to(root) and where.is_file():
        out.append(path.parent / world)
        head = tomllib.loads(where.read_text(encoding="utf-8")).get("world", {})
        params = head.get("parameters") if isinstance(head, dict) else None
        if isinstance(params, str):
            p = (where.parent / params).resolve()
            if p.is_relative_to(root) and p.is_file():
                out.append((path.parent / world).parent / params)
    return out
