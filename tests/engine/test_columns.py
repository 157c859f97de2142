"""Output columns declared once (sim/engine/columns.py): how a declaration makes a value, how a
feature's columns read its sums, and that every declared sum is one the records produce."""

from __future__ import annotations

import numpy as np
import pytest
from reference_outputs import cases

from sim.engine.columns import Column, Table, add_up
from sim.engine.features import FEATURES
from sim.engine.month import records
from sim.results.tables import MONTHLY_COLUMNS, PROVIDER_COLUMNS, SUMMARY, SUMMARY_COLUMNS


def test_a_column_is_one_kind():
    """A column is a sum, a ratio, derived or the run's: never two of them."""
    with pytest.raises(ValueError, match="one of"):
        Column("int64", "n", "x", sum="a", ratio=("a", "b"))
    with pytest.raises(ValueError, match="one of"):
        Column("int64", "n", "x", derive=lambda r: 0, run=True)
    assert Column("int64", "n", "x").kind == "sum"
    assert Column("int64", "n", "x", per_patient=lambda w, s, c: c, sum="k").kind == "sum"
    assert Column("float64", "n", "x", ratio=("a", "b")).kind == "ratio"


def test_a_row_reads_sums_ratios_and_formulas_by_payer():
    """Sums in the column's dtype, ratios 0 where the denominator is 0, formulas of other
    columns (in any order), run columns left to the run; a feature's columns read its own
    sums and are zero where they are absent."""
    table = Table(
        {
            "arm": Column("string", "name", "Arm.", run=True),
            "per_head": Column(
                "float64", "x", "y", derive=lambda r: r["total"] / max(r["people"], 1)
            ),
            "people": Column("int64", "persons", "People.", sum="n"),
            "total": Column("float64", "USD", "Money."),
            "mean": Column("float64", "USD", "Money per person.", ratio=("total", "n")),
        }
    )
    table.add(
        "Feat",
        {
            "done": Column("int64", "n", "Done."),
            "rate": Column("float64", "f", "Rate.", ratio=("done", "_asked")),
        },
    )
    sums = {
        "n": [4.0, 0.0],
        "total": [10.0, 3.0],
        "Feat.done": [1.0, 2.0],
        "Feat._asked": [4.0, 0.0],
    }
    rows = [table.row(None, 0, g, sums) for g in (0, 1)]
    assert rows[0] == {
        "per_head": 2.5,
        "people": 4,
        "total": 10.0,
        "mean": 2.5,
        "done": 1,
        "rate": 0.25,
    }
    assert type(rows[0]["people"]) is int and rows[1]["mean"] == 0.0 and rows[1]["rate"] == 0.0
    absent = table.row(None, 0, 0, {"n": [4.0], "total": [1.0]})
    assert absent["done"] == 0 and absent["rate"] == 0.0
    assert list(table.dictionary()) == [
        "arm",
        "per_head",
        "people",
        "total",
        "mean",
        "done",
        "rate",
    ]
    with pytest.raises(ValueError, match="declared twice"):
        table.add("Other", {"total": Column("float64", "USD", "Again.")})
    with pytest.raises(ValueError, match="record hook"):
        table.add("Other", {"x": Column("int64", "n", "X.", per_patient=lambda w, s, c: c)})


def test_the_shards_sums_are_added_in_shard_order():
    """add_up adds every key of every setting, shard 0 first, leaving the parts as they were."""
    a = [{"x": np.array([1.0, 2.0]), "k": np.array([1, 1])}]
    b = [{"x": np.array([0.5, 0.25]), "k": np.array([2, 0])}]
    (total,) = add_up([a, b])
    assert total["x"].tolist() == [1.5, 2.25] and total["k"].tolist() == [3, 1]
    assert a[0]["x"].tolist() == [1.0, 2.0]


def test_the_dictionaries_are_the_declarations():
    """The data dictionary of each table is its declarations' entries, core columns first."""
    assert records.MONTHLY.dictionary() == MONTHLY_COLUMNS
    core = list(records.COLUMNS)
    assert list(MONTHLY_COLUMNS)[: len(core)] == core
    features = [c for cls in FEATURES for c in cls.COLUMNS]
    assert list(MONTHLY_COLUMNS)[len(core) :] == features
    assert {k: c.entry for k, c in records.PROVIDER_COLUMNS.items()} == PROVIDER_COLUMNS
    assert {k: c.entry for k, c in SUMMARY.items()} == SUMMARY_COLUMNS


def test_every_declared_sum_is_produced(monkeypatch):
    """Every monthly column's sums are among the month's sums whenever their owner runs: each
    core column's in every setting, each feature's in some setting of a reference case (every
    shipped scenario, small, and its variants) that runs the feature (a misspelt key would
    read as a silent zero)."""
    from sim.engine.model import HealthSystemModel
    from sim.scenario import validate_scenario

    seen: dict[str, set[str]] = {}
    sums = records._sums

    def spy(world, s, *args):
        out = sums(world, s, *args)
        for f in world.hooks("record", s):
            seen.setdefault(type(f).__name__, set()).update(out)
        seen.setdefault("", set()).update(out)
        core = [records.MONTHLY.columns[name] for name in records.COLUMNS]
        core_needed = {c.sum for c in core if c.kind == "sum"}
        core_needed |= {k for c in core if c.ratio for k in c.ratio}
        assert core_needed <= set(out), core_needed - set(out)
        return out

    monkeypatch.setattr(records, "_sums", spy)
    for data in cases().values():
        scenario = validate_scenario(data, "case")
        model = HealthSystemModel(scenario)
        for _ in range(scenario.months):
            model.step()
    for cls in FEATURES:
        owner = cls.__name__
        needed = set()
        for name, c in records.MONTHLY.columns.items():
            if name in cls.COLUMNS:
                needed |= {c.sum} if c.kind == "sum" else set(c.ratio or ())
        if needed:
            assert owner in seen, f"no reference case runs {owner}"
            assert needed <= seen[owner], needed - seen[owner]
