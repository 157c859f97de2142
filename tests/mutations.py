"""Mutations of valid scenario files, generated from the schema (shared by the property tests
and ``benchmarks/fuzz_inputs.py``).

Every field of a loaded scenario, including each contract's payment-model parameters, is a
*leaf* with its dotted path (as ``--set`` takes it), its annotation and its bounds. A mutation
sets one leaf to a value written as TOML (``--set path=value``): values of the wrong kind
(booleans, strings, tables), non-finite and extreme numbers, values just outside and inside its
bounds. A new field of the schema is covered without a new test.
"""

from __future__ import annotations

import math
import random
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel

from sim.scenario import ContractConfig, Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if "sweep" not in p.name)

#: fields that set the size of a run: only bad *kinds* of value are tried on them (a valid
#: large value would make a test slow, not wrong)
SIZE_FIELDS = re.compile(r"^(months|replications|population\.patients|.*providers\.count)$")

#: values of the wrong kind or out of every sensible range, written as TOML
BAD_VALUES = (
    "true", "false", '"yes"', '""', '"1"', "inf", "-inf", "nan", "-1", "0", "1e308", "-1e308",
    "18446744073709551616", "[]", "[1, 2]", "{ x = 1 }", "0.5", "2.0", "1e-300",
)  # fmt: skip


@dataclass(frozen=True)
class Leaf:
    path: str
    kind: str  # "float", "int", "bool", "str", "other"
    lo: float | None
    hi: float | None
    lo_open: bool
    hi_open: bool
    value: Any
    #: an entry of a list or table: the whole list or table (a ``--set`` sets all of it)
    container: Any = None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _bounds(info: Any) -> tuple[float | None, float | None, bool, bool]:
    return _bounds_of(info.metadata)


def _element_bounds(annotation: Any) -> tuple[float | None, float | None, bool, bool]:
    """The bounds of a list's or a table's entries (``list[NonNegative]``,
    ``dict[str, Points]``): the constraints of its ``Annotated`` element type."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (list, dict) and args:
        element = args[-1]
        if typing.get_origin(element) is typing.Annotated:
            return _bounds_of(typing.get_args(element)[1:])
    return None, None, False, False


def _bounds_of(metadata: Any) -> tuple[float | None, float | None, bool, bool]:
    lo = hi = None
    lo_open = hi_open = False
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = m.ge
        elif isinstance(m, at.Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, at.Le):
            hi = m.le
        elif isinstance(m, at.Lt):
            hi, hi_open = m.lt, True
    return lo, hi, lo_open, hi_open


def leaves(model: BaseModel, prefix: str = "") -> list[Leaf]:
    """Every field of a validated model tree, with its path and bounds."""
    out: list[Leaf] = []
    fields = type(model).model_fields
    items: list[tuple[str, Any, Any]] = [(n, getattr(model, n), f) for n, f in fields.items()]
    if isinstance(model, ContractConfig):
        p = model.params
        items += [(n, getattr(p, n), f) for n, f in type(p).model_fields.items()]
    for name, value, info in items:
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            out += leaves(value, path + ".")
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, BaseModel) for v in value.values())
        ):
            for k, v in value.items():
                out += leaves(v, f"{path}.{k}.")
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for i, v in enumerate(value):
                out += leaves(v, f"{path}.{i}.")
        else:
            lo, hi, lo_open, hi_open = _bounds(info)
            kind = _kind(value)
            if value is None:  # an optional field not given: its type decides
                ann = str(info.annotation)
                kind = "float" if "float" in ann else "int" if "int" in ann else "other"
            out.append(Leaf(path, kind, lo, hi, lo_open, hi_open, value))
            if isinstance(value, list | dict) and value:
                keys = range(len(value)) if isinstance(value, list) else value.keys()
                bounds = _element_bounds(info.annotation)
                for k in keys:
                    v = value[k]
                    out.append(Leaf(f"{path}.{k}", _kind(v), *bounds, v, value))
    return out


def toml_value(v: Any) -> str:
    """A plain value as a TOML value (for ``--set``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(type(v))


def override(leaf: Leaf, value: str) -> str:
    """The ``--set`` option that gives ``leaf`` the TOML ``value``: an entry of a list or
    table is set by setting the whole of it with that entry changed (a scenario file need not
    hold the list for ``--set path.0`` to reach it)."""
    if leaf.container is None:
        return f"{leaf.path}={value}"
    path, key = leaf.path.rsplit(".", 1)
    c = leaf.container
    if isinstance(c, list):
        items = [value if str(i) == key else toml_value(x) for i, x in enumerate(c)]
        return f"{path}=[{', '.join(items)}]"
    items = [f'"{k}" = {value if str(k) == key else toml_value(x)}' for k, x in c.items()]
    return f"{path}={{ {', '.join(items)} }}"


def in_bounds(leaf: Leaf, rnd: random.Random) -> str | None:
    """A random value of the leaf's kind within its bounds (edges included), as TOML."""
    if leaf.kind not in ("float", "int") or SIZE_FIELDS.match(leaf.path):
        return None
    lo = leaf.lo if leaf.lo is not None else -1e6
    hi = leaf.hi if leaf.hi is not None else 1e6
    lo, hi = max(lo, -1e12), min(hi, 1e12)
    if leaf.kind == "int":
        lo_i = math.floor(lo) + (1 if leaf.lo_open and lo == math.floor(lo) else 0)
        hi_i = math.ceil(hi) - (1 if leaf.hi_open and hi == math.ceil(hi) else 0)
        choices = [lo_i, hi_i, rnd.randint(lo_i, hi_i)] if lo_i <= hi_i else []
        return str(rnd.choice(choices)) if choices else None
    edges = [x for x, o in ((lo, leaf.lo_open), (hi, leaf.hi_open)) if not o]
    value = rnd.choice([*edges, rnd.uniform(lo, hi), rnd.uniform(lo, hi)])
    if value in (lo, hi) and value in edges:
        return repr(float(value))
    return repr(float(value)) if lo < value < hi else None


def mutation_values(leaf: Leaf, rnd: random.Random) -> list[str]:
    """The TOML values tried on a leaf: every bad kind, and a few values within its bounds."""
    values = list(BAD_VALUES)
    for x, open_, step in ((leaf.lo, leaf.lo_open, -1), (leaf.hi, leaf.hi_open, 1)):
        if x is not None and math.isfinite(x):  # just outside the bound
            values.append(toml_value(x if open_ else x + step))
    for _ in range(2):
        v = in_bounds(leaf, rnd)
        if v is not None:
            values.append(v)
    return values


def small_overrides(path: Path) -> list[str]:
    """``--set`` options that make a shipped scenario tiny but keep every switch in range."""
    full = load_scenario(path)  # switches given as dates have their month once loaded
    last = max((w.month for a in full.arms for w in a.switches), default=0)
    return [
        "population.patients=300",
        f"months={max(3, last + 1)}",
        "replications=1",
        "outputs.figure=false",
    ]


def scenario_leaves(path: Path) -> list[Leaf]:
    """The leaves of a shipped scenario as loaded small."""
    sc: Scenario = load_scenario(path, small_overrides(path))
    return [leaf for leaf in leaves(sc) if leaf.path not in ("name", "description")]
