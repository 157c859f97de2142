"""Output columns, each declared once.

A :class:`Column` is everything the project knows about one column of an output table: its
data-dictionary entry (dtype, unit, meaning) and how its value is made. The records stage
(:mod:`sim.engine.month.records`) declares the core columns of the monthly table and each
feature its own (``Feature.COLUMNS``); the data dictionary (:mod:`sim.results.tables`,
docs/outputs.md) is their entries, and the rows are made from them.

A row of the monthly table is one (setting, payer) of a month. The records stage first takes
the month's *sums* by payer over the model's patients and providers; a sharded run adds them
up over its shards (:func:`add_up`, through ``Exchange.sums``); then every column of every row
is read off the run's sums, in every shard alike, by its declaration:

* a **sum** (the default): the sum of the column's name, or of ``sum=``, in the column's
  dtype. The records stage computes the core's sums (``per_patient=``: a per-patient array of
  the month's care — one entry per patient of ``SettingMonth`` — which it sums by payer,
  counting a boolean one); a feature returns its own from ``Feature.record``.
* a **ratio** of two sums (``ratio=(numerator, denominator)``), 0 where the denominator is not
  positive: divided after the shards' sums are added.
* a **derived** column (``derive=``): a function of the :class:`Row` — its sums, its other
  columns, the world (month, setting, payer, contract) — the same in every shard.
* a **run** column (``run=True``): the same in every row of a run's (replicate, arm), set by
  the run itself (arm, replicate, seed).

A feature's column reads the feature's sums (``Feature.record``'s keys) and is zero where the
feature's sums are absent (the feature is off, or not in that setting). Other tables (the
summary, the provider panel) declare their columns the same way, derived (or the run's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.engine.world import World


@dataclass(frozen=True)
class Column:
    """One output column: its data-dictionary entry and how its value is made (see the
    module docstring)."""

    dtype: str
    unit: str
    meaning: str
    #: the sum it reports (default: the column's own name)
    sum: str | None = None
    #: core columns: the per-patient array of a setting's month, ``f(world, s, care)``, whose
    #: sum by payer the column reports
    per_patient: Callable[[Any, int, Any], np.ndarray] | None = None
    #: (numerator, denominator): a ratio of two sums
    ratio: tuple[str, str] | None = None
    #: a function of the row (:class:`Row`, or the table's own context)
    derive: Callable[[Any], Any] | None = None
    #: set by the run: the same in every row of a (replicate, arm)
    run: bool = False
    #: zero where its sums are absent (a feature's column; set by :meth:`Table.add`)
    optional: bool = False

    def __post_init__(self) -> None:
        ways = (self.sum is not None or self.per_patient is not None, self.ratio, self.derive)
        if sum(x is not None and x is not False for x in ways) + self.run > 1:
            raise ValueError("a column is one of: a sum, a ratio, derived, or set by the run")

    @property
    def entry(self) -> tuple[str, str, str]:
        """The data-dictionary entry: (dtype, unit, meaning)."""
        return (self.dtype, self.unit, self.meaning)

    @property
    def kind(self) -> str:
        """``"run"``, ``"derived"``, ``"ratio"`` or ``"sum"``."""
        if self.run:
            return "run"
        if self.derive is not None:
            return "derived"
        return "ratio" if self.ratio is not None else "sum"

    @property
    def zero(self) -> int | float:
        """The column's zero (0 or 0.0 by its dtype)."""
        return 0 if self.dtype.startswith("int") else 0.0

    def value(self, row: Row) -> Any:
        """The column's value in ``row``."""
        return self.getter()(row)

    def getter(self) -> Callable[[Row], Any]:
        """A function of the row giving the column's value (made once per table, since a
        run reads every column of every row: its kind and dtype are not looked up again)."""
        if self.derive is not None:
            return self.derive
        zero, optional = self.zero, self.optional
        if self.ratio is not None:
            num, den = self.ratio

            def ratio(row: Row) -> float:
                sums = row.sums
                if optional and num not in sums:
                    return zero
                d = sums[den][row.g]
                return float(sums[num][row.g] / d) if d > 0 else 0.0

            return ratio
        key = self.sum
        cast = int if self.dtype.startswith("int") else float

        def total(row: Row) -> Any:
            # a table's sum column is named (Table._add); a run's column is never read here
            assert key is not None
            sums = row.sums
            if optional and key not in sums:
                return zero
            return cast(sums[key][row.g])

        return total


class Row:
    """What a monthly row's columns are made from: the run's sums of the month for setting
    ``s`` (each a list by payer), the payer ``g``, the world, and the row's other columns
    (``row["name"]``, computed on first use)."""

    __slots__ = ("_getters", "g", "s", "sums", "values", "world")

    def __init__(
        self,
        columns: Mapping[str, Column],
        world: World,
        s: int,
        g: int,
        sums: Mapping[str, list],
        getters: Mapping[str, Callable[[Row], Any]] | None = None,
    ) -> None:
        self.world, self.s, self.g, self.sums = world, s, g, sums
        if getters is None:
            getters = {k: c.getter() for k, c in columns.items()}
        self._getters = getters
        self.values: dict[str, Any] = {}

    def sum(self, key: str) -> Any:
        """The payer's value of the month's sum ``key``."""
        return self.sums[key][self.g]

    def __getitem__(self, name: str) -> Any:
        values = self.values
        if name not in values:
            values[name] = self._getters[name](self)
        return values[name]


class Table:
    """A table's columns, in order: the core's (their sums by the names they give), then each
    feature's (:meth:`add`)."""

    def __init__(self, columns: Mapping[str, Column]) -> None:
        self.columns: dict[str, Column] = {}
        self._getters: dict[str, Callable[[Row], Any]] | None = None
        self._made: list[str] = []  # the columns a row has (all but the run's)
        #: the sum columns, read straight off the sums (name, sum, cast, zero where absent or
        #: None: always there); every other column through its getter
        self._sums: list[tuple[str, str, Callable[[Any], Any], int | float | None]] = []
        self._rest: list[str] = []  # the other columns a row has, in order
        self._add("", columns)

    def add(self, owner: str, columns: Mapping[str, Column]) -> None:
        """Add the columns of a feature (``owner``: its class's name): their sums are the
        feature's, ``<owner>.<key>``, and they are zero where those are absent."""
        self._add(owner, columns)

    def _add(self, owner: str, columns: Mapping[str, Column]) -> None:
        prefix = f"{owner}." if owner else ""
        for name, c in columns.items():
            if name in self.columns:
                raise ValueError(f"output column {name!r} is declared twice")
            if owner and c.per_patient is not None:
                raise ValueError(f"{owner}.{name}: a feature's sums come from its record hook")
            if c.kind == "sum":
                c = replace(c, sum=prefix + (c.sum or name))
            elif c.ratio is not None:
                c = replace(c, ratio=(prefix + c.ratio[0], prefix + c.ratio[1]))
            self.columns[name] = replace(c, optional=True) if owner else c
        self._getters = None

    def dictionary(self) -> dict[str, tuple[str, str, str]]:
        """The data dictionary: column → (dtype, unit, meaning)."""
        return {k: c.entry for k, c in self.columns.items()}

    def per_patient(self) -> dict[str, Callable]:
        """The sums the records stage takes of per-patient arrays: sum → ``f(world, s, care)``."""
        out: dict[str, Callable] = {}
        for c in self.columns.values():
            if c.per_patient is not None:
                assert c.sum is not None  # named by _add
                out[c.sum] = c.per_patient
        return out

    def row(self, world: World, s: int, g: int, sums: Mapping[str, list]) -> dict[str, Any]:
        """One row: every column but the run's, in order."""
        if self._getters is None:
            self._getters = {k: c.getter() for k, c in self.columns.items()}
            self._made = [k for k, c in self.columns.items() if not c.run]
            self._sums = [
                (k, c.sum, int if c.dtype.startswith("int") else float,
                 c.zero if c.optional else None)
                for k, c in self.columns.items()
                if c.kind == "sum" and c.sum is not None
            ]  # fmt: skip
            summed = {k for k, *_ in self._sums}
            self._rest = [k for k in self._made if k not in summed]
        getters = self._getters
        r = Row(self.columns, world, s, g, sums, getters)
        values = r.values
        # the sums first, as their getters give them (a feature's absent sums: its zero)
        for k, key, cast, zero in self._sums:
            if zero is not None and key not in sums:
                values[k] = zero
            else:
                values[k] = cast(sums[key][g])
        for k in self._rest:  # (a derived column may have made others already)
            if k not in values:
                values[k] = getters[k](r)
        return {k: values[k] for k in self._made}


def add_up(parts: list[list[dict[str, np.ndarray]]]) -> list[dict[str, np.ndarray]]:
    """The run's sums of the month from each shard's (a list per shard, a dict per setting):
    added key by key in shard order 0, 1, … (the same shard count gives the same bits). Every
    value the records exchange is a sum; ratios and derived columns come after."""
    out = []
    for i, d in enumerate(parts[0]):
        total = {}
        for k in d:
            x = np.array(parts[0][i][k], copy=True)
            for part in parts[1:]:
                x += part[i][k]
            total[k] = x
        out.append(total)
    return out
