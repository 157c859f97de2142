"""One base world under every scenario: ``world = "world.toml"`` at the top of a scenario file.

A *world file* holds what a scenario's population, care settings, providers and behaviour are
when the scenario does not say — the calibrated base world (MODEL.md, "Calibration and
validation"): a shipped scenario or a validation case then sets only policy (its arms,
contracts and switches, the era's policy parameters, the composition of the population it
studies). Its tables:

- ``[world]``: ``name``, ``description``; ``calibrated``: the dotted fields (``*`` for every
  entry of a table) that are the world's behavioural and calibrated parameters — a validation
  case may not set any of them (``sim validate`` refuses it); ``default_settings``: the care
  settings a scenario without a ``[settings]`` table runs; ``parameters``: a parameter file
  (the calibration's posterior medians, :mod:`sim.scenario.parameters`) applied over the world,
  before the scenario's own ``include`` and ``--set``;
- ``[population]``, ``[payers]``, ``[behaviour]``, ``[supply]`` and the other tables a scenario
  has: the scenario's own values are merged over them (table by table, key by key);
- ``[settings]``: a library — a scenario runs the settings it names in its ``[settings]`` table
  (each starting from the world's entry of that name) or, naming none, ``default_settings``;
- ``[pathway]``: applies only to a scenario that has a ``[pathway]`` table;
- ``[life]``: as the other tables, but its ``settings`` entries only for the settings the
  scenario runs.

The merged scenario records the world's name in its ``world`` field; ``world`` in a file is the
path of the world file, relative to the scenario file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.guards.limits import parse_toml, read_input

WORLD = "world"
#: tables merged under a scenario's own whether or not it has them
ALWAYS = ("population", "payers", "behaviour", "supply", "life", "trends", "outputs")
#: tables merged only into a scenario that has them
IF_PRESENT = ("pathway", "analysis")
#: every table a world file may have
TABLES = (WORLD, "settings", *ALWAYS, *IF_PRESENT)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    return over


def read_world(path: Path, source: str) -> dict[str, Any]:
    """A world file's data, checked: known tables, a ``[world]`` table with a name."""
    raw = parse_toml(read_input(path, source, WORLD), str(path))
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        raise ScenarioError(
            str(path), unknown[0], f"unknown table in a world file; allowed: {', '.join(TABLES)}"
        )
    head = raw.get(WORLD)
    if not isinstance(head, dict) or not isinstance(head.get("name"), str):
        raise ScenarioError(str(path), WORLD, 'needs a [world] table with name = "..."')
    extra = sorted(
        set(head) - {"name", "description", "calibrated", "default_settings", "parameters"}
    )
    if extra:
        raise ScenarioError(
            str(path), f"world.{extra[0]}",
            "unknown field; allowed: name, description, calibrated, default_settings, parameters",
        )  # fmt: skip
    for key in ("calibrated", "default_settings"):
        v = head.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise ScenarioError(str(path), f"world.{key}", "must be a list of names")
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise ScenarioError(str(path), "settings", "must be a table of settings")
    missing = [s for s in head.get("default_settings", []) if s not in settings]
    if missing:
        raise ScenarioError(
            str(path), "world.default_settings",
            f"names {missing[0]!r}, which is not a setting of the world; "
            f"allowed: {', '.join(settings) or 'none'}",
        )  # fmt: skip
    return raw


def world_path(data: dict[str, Any], path: Path, source: str) -> Path | None:
    """The world file a scenario names, resolved against its folder (None: no world)."""
    value = data.get(WORLD)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(source, WORLD, 'must be the path of a world file, e.g. "world.toml"')
    return (path.parent / value).resolve()


def _conditions(data: dict[str, Any]) -> set[str] | None:
    """The condition groups a scenario's population names (None: the default groups)."""
    pop = data.get("population")
    conditions = pop.get("conditions") if isinstance(pop, dict) else None
    return set(conditions) if isinstance(conditions, dict) else None


def _for_conditions(life_setting: Any, conditions: set[str] | None) -> Any:
    """A world's life entry for one setting with its condition-group fatalities kept only for
    the groups the scenario's population has (a study of one condition group on the world)."""
    by_condition = (
        life_setting.get("condition_admission_fatality") if isinstance(life_setting, dict) else None
    )
    if conditions is None or not isinstance(by_condition, dict):
        return life_setting
    kept = {c: p for c, p in by_condition.items() if c in conditions}
    return {**life_setting, "condition_admission_fatality": kept}


def apply_world(data: dict[str, Any], path: Path, source: str) -> dict[str, Any]:
    """The scenario's data over its world's (module docstring); unchanged without a world.
    The world's parameter file joins the front of the scenario's ``include``."""
    where = world_path(data, path, source)
    if where is None:
        return data
    world = read_world(where, source)
    head = world[WORLD]
    out = {k: v for k, v in data.items() if k != WORLD}
    for table in ALWAYS:
        if table in world:
            out[table] = _merge(world[table], out.get(table, {}))
    for table in IF_PRESENT:
        if table in world and table in out:
            out[table] = _merge(world[table], out[table])
    library = world.get("settings", {})
    own = out.get("settings")
    if own is None:
        names = list(head.get("default_settings", []))
        if names:
            out["settings"] = {n: library[n] for n in names}
    elif isinstance(own, dict):
        out["settings"] = {n: _merge(library[n], v) if n in library else v for n, v in own.items()}
    if "life" in world and isinstance(out.get("settings"), dict):
        # the world's excess mortality after care, for the settings this scenario runs only
        mine = data.get("life", {}) if isinstance(data.get("life"), dict) else {}
        base = dict(world["life"])
        if isinstance(base.get("settings"), dict):
            base["settings"] = {
                k: _for_conditions(v, _conditions(out))
                for k, v in base["settings"].items()
                if k in out["settings"]
            }
        out["life"] = _merge(base, mine)
    if head.get("parameters"):
        params = str((where.parent / head["parameters"]).resolve())
        inc = out.get("include", [])
        out["include"] = [params, *(inc if isinstance(inc, list) else [inc])]
    out[WORLD] = head["name"]
    return out


def calibrated_fields(data: dict[str, Any], path: Path, source: str) -> list[str]:
    """The world's calibrated fields (patterns) of a scenario's world, or [] without one."""
    where = world_path(data, path, source)
    if where is None:
        return []
    return list(read_world(where, source)[WORLD].get("calibrated", []))


def sets_calibrated(data: dict[str, Any], patterns: list[str]) -> list[str]:
    """The fields of a scenario file's own data (before its world is applied) that match a
    world's calibrated patterns: what a validation case may not set."""
    from sim.scenario.parameters import matches

    found = []
    for pattern in patterns:
        for m in matches(data, pattern.split(".")):
            node: Any = data
            ok = True
            for part in m:
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    ok = False
                    break
            if ok:
                found.append(".".join(m))
    return sorted(set(found))
