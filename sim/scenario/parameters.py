"""Parameter files: scenario field values a scenario can include (``include = ["file"]``).

A parameter file (TOML; ``sim calibrate`` writes one) holds a ``[parameters]`` table of dotted
scenario fields and their values and, optionally, a ``[calibration]`` table saying where the
values come from (the calibration file, its method and the target ids it was fitted to: the
ids ``sim validate`` refuses to validate on). A scenario file takes them with a top-level

    include = ["../calibration/shipped_parameters.toml"]   # relative to the scenario file

Rules (docs/calibration.md):

- the included values replace the scenario file's own values of those fields (so adopting a
  calibration is one line), and ``--set`` overrides come after them;
- a ``*`` in a field matches every entry of that table (``settings.*.providers.altruism.high``:
  every care setting of the scenario);
- a field whose table the scenario does not have (a setting it does not define, or a
  ``therapy`` table it leaves out) does not apply to it and is skipped; a field the table does
  not know is an error, as in the scenario itself;
- files are applied in order; a later file's value of a field wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.guards.limits import parse_toml, read_input

INCLUDE = "include"
#: most parameter files a scenario may include (each is read and applied in turn)
MAX_INCLUDES = 64
#: top-level tables of a parameter file
SECTIONS = ("parameters", "calibration")


def read_parameter_file(path: str | Path, source: str | None = None) -> dict[str, Any]:
    """A parameter file as ``{"parameters": {field: value}, "calibration": {...}}``, checked."""
    path = Path(path)
    where = source or str(path)
    raw = parse_toml(read_input(path, where, INCLUDE if source else None), str(path))
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ScenarioError(
            str(path), unknown[0], f"unknown table; a parameter file has {' and '.join(SECTIONS)}"
        )
    params = raw.get("parameters")
    if not isinstance(params, dict) or not params:
        raise ScenarioError(
            str(path), "parameters", 'needs a [parameters] table of "dotted.field" = value'
        )
    for key, value in params.items():
        if isinstance(value, dict):
            raise ScenarioError(
                str(path),
                f"parameters.{key}",
                'write each field as one quoted dotted key ("settings.snf.marginal_cost" = 250)',
            )
        if not key or any(not p for p in key.split(".")):
            raise ScenarioError(str(path), f"parameters.{key}", "empty part in a dotted field")
    calibration = raw.get("calibration", {})
    if not isinstance(calibration, dict):
        raise ScenarioError(str(path), "calibration", "must be a table")
    targets = calibration.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise ScenarioError(str(path), "calibration.targets", "must be a list of target ids")
    return {"parameters": dict(params), "calibration": dict(calibration)}


def include_paths(data: dict[str, Any], path: Path, source: str) -> list[Path]:
    """The parameter files a scenario's ``include`` names, resolved against its folder."""
    inc = data.get(INCLUDE)
    if inc is None:
        return []
    if not isinstance(inc, list) or not all(isinstance(p, str) and p.strip() for p in inc):
        raise ScenarioError(
            source, INCLUDE, 'must be a list of parameter file paths, e.g. ["params.toml"]'
        )
    if len(inc) > MAX_INCLUDES:
        raise ScenarioError(
            source, INCLUDE, f"names {len(inc):,} files; a scenario may include at most "
            f"{MAX_INCLUDES} parameter files",
        )  # fmt: skip
    return [(path.parent / p).resolve() for p in inc]


def matches(data: Any, parts: list[str]) -> list[list[str]]:
    """Concrete paths of ``parts`` in ``data`` (``*``: every key or index at that level).

    A path whose table is absent (missing or ``None``) has no match; one whose last key is
    not in an existing table matches as it is (validation then names the unknown field)."""
    if not parts:
        return [[]]
    head, rest = parts[0], parts[1:]
    if isinstance(data, dict):
        keys = list(data) if head == "*" else [head]
        if not rest:
            return [[k] for k in keys]
        return [[k, *m] for k in keys if k in data for m in matches(data[k], rest)]
    if isinstance(data, list):
        idx = [str(i) for i in range(len(data))] if head == "*" else [head]
        out = []
        for i in idx:
            if i.isdigit() and int(i) < len(data):
                out += [[i, *m] for m in matches(data[int(i)], rest)] if rest else [[i]]
        return out
    return []


def _set(data: Any, path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(path[-1])] = value
    else:
        node[path[-1]] = value


def apply_parameters(data: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A copy of the scenario ``data`` (a full scenario: validated and dumped) with ``params``
    applied; also how many concrete fields were set. A numpy number is set as the Python
    number it holds."""
    out = json.loads(json.dumps(data))
    n = 0
    for key, value in params.items():
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()
        for path in matches(out, key.split(".")):
            _set(out, path, value)
            n += 1
    return out, n


def with_includes(
    data: dict[str, Any], path: Path, source: str, validate: Callable[[dict, str], Any]
) -> dict[str, Any]:
    """A scenario file's data with its included parameter files applied (``include`` removed);
    unchanged when it includes none. ``validate(data, source)`` gives the scenario (its dump is
    what the values are applied to, so that built-in settings and defaults can be matched)."""
    if INCLUDE not in data:
        return data
    files = include_paths(data, path, source)
    data = {k: v for k, v in data.items() if k != INCLUDE}
    if not files:
        return data
    full = _without_derived(validate(data, source).model_dump(mode="json"))
    for f in files:
        full, _ = apply_parameters(full, read_parameter_file(f, source)["parameters"])
    return full


def _without_derived(full: dict[str, Any]) -> dict[str, Any]:
    """A validated scenario's dump without what validation derived from other fields: a
    switch given by its date loses the month computed from it, so that a later ``--set`` of
    the date (or of the start) moves the switch as it would in the file itself."""
    for arm in full.get("arms") or []:
        for sw in arm.get("switches") or []:
            if sw.get("date") is not None:
                sw.pop("month", None)
    return full


def calibrated_on(data: dict[str, Any], path: Path, source: str) -> dict[Path, list[str]]:
    """For each parameter file a scenario includes, the target ids it was calibrated on."""
    return {
        f: read_parameter_file(f, source)["calibration"].get("targets", [])
        for f in include_paths(data, path, source)
    }
