"""The sweep file's schema (``sim sweep SWEEP.toml``): the factors to vary, the design, the
replications and what to keep, validated up front like a scenario; and the arithmetic of
``[derived]`` fields, evaluated on the syntax tree (no ``eval``). Running a sweep is
:mod:`sim.experiments.sweep`'s."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import field_validator, model_validator

from sim.guards.limits import MAX_SEED
from sim.scenario.common import F, Strict, check_label

# ---------------------------------------------------------------------------------------------
# the sweep file


class ParameterConfig(Strict):
    """One factor to vary: ``levels`` for a grid, ``low``/``high`` for sampled designs. A factor
    sets one scenario field (``field``), or several together (``name`` and ``fields``: the
    altruism of every setting moves as one factor)."""

    field: str | None = F(
        None,
        "dotted path",
        "Scenario field to vary, e.g. settings.primary_care.marginal_cost (or give name and "
        "fields).",
    )
    name: str | None = F(
        None,
        "identifier",
        "The factor's name (a column of the design and of the sweep's tables; the name "
        "expressions in [derived] use). Default: the field.",
    )
    fields: list[str] = F(
        [],
        "dotted paths",
        "Linked factor: every field this factor sets to its value; '*' in a path stands for "
        "every entry of that table (settings.*.providers.altruism.high: the altruism of every "
        "setting). Needs name.",
    )
    levels: list[Any] | None = F(None, "as field", "Values of the field (grid design).")
    low: float | None = F(None, "as field", "Lower bound (lhs, sobol, morris).")
    high: float | None = F(None, "as field", "Upper bound (lhs, sobol, morris).")
    integer: bool = F(False, "flag", "Round sampled values to whole numbers.")

    @model_validator(mode="before")
    @classmethod
    def _key(cls, data: Any) -> Any:
        """A linked factor is known by its name: ``field`` holds it (the design's column)."""
        if (
            isinstance(data, dict)
            and data.get("fields")
            and data.get("field") is None
            and isinstance(data.get("name"), str)
        ):
            data = {**data, "field": data["name"]}
        return data

    @model_validator(mode="after")
    def _range(self) -> ParameterConfig:
        if self.fields and self.name is None:
            raise ValueError("a linked factor (fields) needs a name")
        if self.field is None:
            raise ValueError("give field (one scenario field) or name and fields (a linked factor)")
        if self.name is not None and not IDENTIFIER.fullmatch(self.name):
            raise ValueError(
                f"name {self.name!r}: use letters, digits and _ , starting with a letter"
            )
        if self.fields and self.name is None:
            raise ValueError("a linked factor (fields) needs a name")
        if self.fields and self.field != self.name:
            raise ValueError("give either field, or name and fields, not both")
        if self.name is not None and not self.fields and self.field != self.name:
            raise ValueError(
                "name without fields: a one-field factor is named by its field; use fields = "
                f"[{self.field!r}] to name it {self.name!r}"
            )
        if self.levels is not None and not self.levels:
            raise ValueError("levels must not be empty")
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high")
        if self.low is not None and self.high is not None and not self.high > self.low:
            raise ValueError(f"high ({self.high}) must be greater than low ({self.low})")
        if (
            self.integer
            and self.low is not None
            and self.high is not None
            and math.ceil(self.low) > math.floor(self.high)
        ):
            raise ValueError(
                f"integer = true, but no whole number lies between low ({self.low}) and high "
                f"({self.high})"
            )
        return self

    @property
    def column(self) -> str:
        """The factor's column in the design and the sweep's tables: its ``field`` (a linked
        factor's name), which every validated factor has."""
        assert self.field is not None
        return self.field


class DesignConfig(Strict):
    """How design points are chosen: a grid of levels, or a Latin-hypercube, Sobol or Morris
    sample."""

    method: Literal["grid", "lhs", "sobol", "morris"] = F(
        "grid",
        "choice",
        "grid: every combination of levels; lhs: Latin hypercube (scipy.stats.qmc); sobol: "
        "Saltelli/Sobol' sample for Sobol indices (SALib); morris: Morris trajectories (SALib).",
    )
    samples: int = F(
        16,
        "count",
        "lhs: points; sobol: base sample N (N·(2D+2) points, a power of 2 is best); "
        "morris: trajectories (N·(D+1) points).",
        ge=1,
        le=1_000_000,
    )
    second_order: bool = F(True, "flag", "sobol: also allow second-order indices.")
    morris_levels: int = F(4, "levels", "morris: grid levels of each parameter.", ge=2, le=100)


class SweepConfig(Strict):
    """A sweep file: base scenario, fixed overrides, varied parameters, design, replications
    and seed."""

    name: str = F("sweep", "name", "Sweep name; default results folder results/<name>/.")
    description: str = F("", "text", "What the sweep asks.")
    scenario: str = F(..., "path", "Base scenario file, relative to the sweep file.")
    set: dict[str, Any] = F({}, "table", "Fixed overrides of the base scenario (dotted keys).")
    parameters: list[ParameterConfig] = F(..., "table", "Parameters to vary.")
    design: DesignConfig = F(DesignConfig(), "table", "How design points are chosen.")
    replications: int = F(1, "runs", "Replications per design point.", ge=1, le=100_000)
    seed: int = F(1, "integer", "Root seed of the sweep (SeedSequence).", ge=0, le=MAX_SEED)
    arms: list[str] | None = F(None, "names", "Arms to run (default: all the scenario's arms).")
    outputs: Literal["summary", "monthly"] = F(
        "summary",
        "choice",
        "summary: per-run summaries only (large sweeps); monthly: also the full monthly tables.",
    )
    derived: dict[str, str] = F(
        {},
        "table",
        "Fields computed from the factors at every design point: dotted path ('*' allowed, "
        "as in fields) = an arithmetic expression of factor names (+ - * / ** %, parentheses, "
        'numbers, min, max, abs, sqrt, exp, log), e.g. "settings.*.providers.altruism.low" = '
        '"altruism - 0.2". Evaluated safely (no Python code runs).',
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_label(v, "sweep name")

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the base scenario's file name is empty")
        return v

    @model_validator(mode="after")
    def _design(self) -> SweepConfig:
        if not self.parameters:
            raise ValueError("parameters: at least one is needed")
        fields = [p.column for p in self.parameters]
        if len(set(fields)) != len(fields):
            raise ValueError("parameters: each field may be varied once")
        names = {f for f in fields if IDENTIFIER.fullmatch(f)}
        for target, text in self.derived.items():
            try:
                expression_names(text, names)
            except ValueError as exc:
                raise ValueError(f"derived.{target}: {exc}") from None
        for i, p in enumerate(self.parameters):
            if self.design.method == "grid" and p.levels is None:
                raise ValueError(f"parameters.{i} ({p.field}): a grid design needs levels")
            if self.design.method != "grid" and p.low is None:
                raise ValueError(
                    f"parameters.{i} ({p.field}): a {self.design.method} design needs low and high"
                )
        return self


# ---------------------------------------------------------------------------------------------
# expressions of factors (derived fields): arithmetic only, evaluated on the syntax tree

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.Mod: operator.mod,
}  # fmt: skip
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}  # fmt: skip
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min, "max": max, "abs": abs, "sqrt": math.sqrt, "exp": math.exp, "log": math.log,
}  # fmt: skip
MAX_EXPRESSION = 500


def _parse(text: str) -> ast.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValueError('an expression is needed (e.g. "altruism - 0.2")')
    if len(text) > MAX_EXPRESSION:
        raise ValueError(f"at most {MAX_EXPRESSION} characters")
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{text!r} is not an arithmetic expression ({exc.msg})") from None


def _check(node: ast.AST, names: set[str], used: set[str]) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body, names, used)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        if node.id not in names:
            allowed = ", ".join(sorted(names)) or "none (name the factors)"
            raise ValueError(f"unknown factor {node.id!r}; factors: {allowed}")
        used.add(node.id)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, names, used)
        _check(node.right, names, used)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, names, used)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and node.args
    ):
        for a in node.args:
            _check(a, names, used)
    else:
        raise ValueError(
            f"{ast.unparse(node)!r} is not allowed: use numbers, factor names, + - * / ** %, "
            f"parentheses and {', '.join(_FUNCTIONS)}"
        )


def expression_names(text: str, names: set[str]) -> set[str]:
    """The factor names an expression uses; ValueError if it is not plain arithmetic of
    ``names``."""
    used: set[str] = set()
    _check(_parse(text), names, used)
    return used


def evaluate_expression(text: str, values: dict[str, float]) -> float:
    """The value of an arithmetic expression of factor values (no Python code is run: the
    syntax tree is walked, and only numbers, names, arithmetic and a few functions exist)."""
    tree = _parse(text)
    _check(tree, set(values), set())

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)  # numbers only (_check)
            return float(node.value)  # floats overflow with an error; ints would grow
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError(f"{ast.unparse(node)!r}: exponent above 100")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*[ev(a) for a in node.args])

    try:
        out = float(ev(tree))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} at {values}: {exc}") from None
    if not math.isfinite(out):
        raise ValueError(f"{text!r} at {values}: not a finite number")
    return out


def expand_path(path: str, data: dict[str, Any]) -> list[str]:
    """Dotted paths with every '*' replaced by each key of the table at that point of
    ``data`` (a scenario's data, defaults included)."""
    parts = path.split(".")
    out: list[str] = []

    def walk(i: int, node: Any, prefix: list[str]) -> None:
        if i == len(parts):
            out.append(".".join(prefix))
            return
        key = parts[i]
        if key == "*":
            if not isinstance(node, dict) or not node:
                where = ".".join(prefix) or "the scenario"
                raise ValueError(f"{path}: '*' needs a table at {where}")
            for k in node:
                walk(i + 1, node[k], [*prefix, k])
        else:
            child = node.get(key) if isinstance(node, dict) else None
            walk(i + 1, child, [*prefix, key])

    walk(0, data, [])
    return out
