"""What every table of the scenario schema shares: the strict base model, fields with a unit
and a description, label, name and share checks, the limits on numbers and patients, and the
inheritance of built-in named entries.

Every field carries a description and a unit (``json_schema_extra={"unit": ...}``) so that the
field reference in ``docs/scenario-reference.md`` is generated from the schema and cannot drift.
Defaults cite their source by its key in ``docs/references.bib`` (``[@key]``) or say
"assumption".
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: a contract's setting or payer that matches all
WILDCARD = "*"
#: names of the entries of named tables (payers, settings, conditions, regions)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: names that become folder names or output labels (scenario, sweep and arm names)
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
#: most patients a scenario may simulate
MAX_PATIENTS = 100_000_000


def check_label(v: str, what: str = "name") -> str:
    """A scenario, sweep or arm name: it becomes a folder name or an output label, so it is
    one word of letters, digits, '_', '-', '+' or '.', starting with a letter or digit."""
    if not _LABEL.fullmatch(v):
        raise ValueError(
            f"{what}: use 1-100 letters, digits, '_', '-', '+' or '.', starting with a letter "
            "or digit (no spaces, commas, slashes or line breaks)"
        )
    return v


def F(default: Any, unit: str, description: str, **kw: Any) -> Any:
    """A field with a default, a unit and a description (all three are required here)."""
    return Field(default, description=description, json_schema_extra={"unit": unit}, **kw)


def iso_date(v: Any) -> Any:
    """A date written as TOML's date, or as an ISO 8601 string (``"2017-10-01"``, as JSON
    writes dates); anything else is left for strict validation to refuse."""
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a date (use YYYY-MM-DD, e.g. 2017-10-01)") from None
    return v


class Strict(BaseModel):
    """Base: unknown keys are errors, values are immutable once loaded, and values are taken
    as they are written: no coercion between booleans, numbers and strings (``true`` is not 1,
    ``"yes"`` is not true; a whole number is accepted where a decimal belongs), and numbers
    are finite (no ``inf`` or ``nan``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _magnitudes(self) -> Strict:
        for name, info in type(self).model_fields.items():
            if any(isinstance(m, at.Le | at.Lt) for m in info.metadata):
                continue  # the field states its own maximum
            for where, v in numbers_in(getattr(self, name), name):
                if abs(v) > MAX_MAGNITUDE:
                    raise ValueError(too_large(where, v))
        return self


#: largest magnitude of a number without a stated maximum: no price, rate, count or slope of a
#: scenario needs more, and larger ones overflow the model's arithmetic
MAX_MAGNITUDE = 1e9


def too_large(where: str, v: float) -> str:
    """The message for a number beyond ``MAX_MAGNITUDE``."""
    return f"{where}: must be between -1e9 and 1e9 (got {v:.6g})"


def numbers_in(value: Any, where: str) -> Iterator[tuple[str, float]]:
    """(path, number) of the numbers in a plain value (not in nested models)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from numbers_in(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from numbers_in(v, f"{where}.{i}")


def check_names(table: dict[str, Any], what: str) -> None:
    """A named table has at least one entry, each named in lower case (a-z, 0-9, _)."""
    for name in table:
        if not _NAME.match(name):
            raise ValueError(
                f"{what}: name {name!r} must start with a lower-case letter and use a-z, 0-9, _"
            )
    if not table:
        raise ValueError(f"{what}: at least one entry is needed")


def check_shares(shares: dict[str, float], what: str) -> None:
    """The shares of a named table's entries sum to 1."""
    total = sum(shares.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"{what}: shares must sum to 1 (they sum to {total:.6g})")


def inherit(data: Any, table: str, builtin: Mapping[str, BaseModel]) -> Any:
    """Entries of a named table that share a built-in entry's name start from its values."""
    if isinstance(data, dict) and isinstance(data.get(table), dict):
        merged = dict(data[table])
        for name, given in merged.items():
            if name in builtin and isinstance(given, dict):
                merged[name] = _deep_merge(builtin[name].model_dump(mode="json"), given)
        data = {**data, table: merged}
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out
