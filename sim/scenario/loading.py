"""Reading a scenario: TOML files with their ``include`` of parameter files, ``--set``
overrides (into built-in named tables too) and validation with errors naming file and field."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError
from sim.guards.limits import MAX_TOML_DEPTH, parse_toml, read_input, toml_depth
from sim.scenario.payers import default_payers
from sim.scenario.population import default_conditions, default_regions
from sim.scenario.scenario import Scenario
from sim.scenario.settings import default_settings


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``dotted.key=value``; the value is read as TOML (``3``, ``"x"``, ``[1, 2]``, ``true``)
    and falls back to a bare string."""
    if "=" not in text:
        raise ScenarioError("--set", text, "expected dotted.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ScenarioError("--set", text, "expected dotted.key=value")
    depth = len(key.split(".")) + toml_depth(raw)
    if depth > MAX_TOML_DEPTH:
        raise ScenarioError(
            "--set", text[:60], f"nested too deeply: {depth} levels; at most {MAX_TOML_DEPTH}"
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ScenarioError("--set", text[:60], "value nested too deeply") from None
    return key.split("."), value


def _builtin_tables() -> dict[tuple[str, ...], Mapping[str, BaseModel]]:
    """The built-in named tables, by their path in a scenario."""
    return {
        ("settings",): default_settings(),
        ("payers",): default_payers(),
        ("population", "conditions"): default_conditions(),
        ("population", "regions"): default_regions(),
    }


def apply_override(data: dict[str, Any], path: list[str], value: Any, source: str) -> None:
    """Set ``data[path] = value``. Overriding inside a built-in named table the data does not
    define (``settings``, ``payers``, ``population.conditions``, ``population.regions``) first
    copies the built-in table in, so its other entries and fields keep their defaults.

    A numpy scalar (from a design or an optimiser) is set as the Python number it holds, so the
    strict schema sees an ``int`` or ``float``."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    for prefix, table in _builtin_tables().items():
        if len(path) > len(prefix) and tuple(path[: len(prefix)]) == prefix:
            node: Any = data
            for part in prefix[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else node
            if isinstance(node, dict) and prefix[-1] not in node:
                node[prefix[-1]] = {k: v.model_dump(mode="json") for k, v in table.items()}
    node = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    source, ".".join(path[: i + 1]), f"index must be 0..{len(node) - 1}"
                )
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ScenarioError(
                source, ".".join(path[:i]), "is a value, not a table; cannot set a key inside it"
            )


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file. Errors raise :class:`ScenarioError`.

    A top-level ``include = ["params.toml"]`` applies parameter files first
    (:mod:`sim.scenario.parameters`, docs/calibration.md); ``overrides`` come after them."""
    path = Path(path)
    source = str(path)
    data = read_scenario_data(path, source)
    for item in overrides or []:
        keys, value = parse_override(item)
        apply_override(data, keys, value, f"{source} (--set {item})")
    return validate_scenario(data, source)


def read_scenario_data(path: Path, source: str, field: str | None = None) -> dict[str, Any]:
    """A scenario file's data, named after the file by default, with the parameter files it
    includes applied (``include``, :func:`sim.scenario.parameters.with_includes`)."""
    from sim.scenario.parameters import with_includes
    from sim.scenario.world import apply_world

    data = parse_toml(read_input(path, source if field else None, field), str(path))
    data.setdefault("name", path.stem)
    data = apply_world(data, path, str(path))
    return with_includes(data, path, str(path), validate_scenario)


def validate_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (from TOML, JSON or code); errors raise
    :class:`~sim.errors.ScenarioError` naming ``source`` and the field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError.from_validation(source, exc) from None
    except RecursionError:
        raise ScenarioError(source, None, "values nested too deeply") from None
