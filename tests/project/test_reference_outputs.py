"""Every shipped scenario (small) and its behaviour variants give the recorded output bytes,
column by column (``tests/reference_outputs.py``)."""

from __future__ import annotations

import functools
import json

import pytest
from reference_outputs import STORE, cases, differences, fingerprint

STORED = json.loads(STORE.read_text())
CASES = cases()


@functools.cache
def _now(name: str) -> dict:
    return fingerprint(CASES[name])


def test_every_case_is_recorded():
    """A new shipped scenario or variant is recorded (run reference_outputs.py --add)."""
    assert sorted(CASES) == sorted(STORED)


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_match_the_recorded_bytes(name):
    """Every recorded column of the monthly table, provider panel, summary and ledgers hashes
    to its recorded value; a column that changed or went names itself."""
    found = differences(STORED[name], _now(name))
    assert not found["changed"] and not found["gone"], (
        f"changed: {found['changed']}; recorded but no longer written: {found['gone']}"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_column_is_recorded(name):
    """A column the tables gained is recorded (the others' hashes stay as they are)."""
    new = differences(STORED[name], _now(name))["new"]
    assert not new, (
        f"new, not yet recorded: {new} (record them with python tests/reference_outputs.py --add)"
    )


def test_the_comparison_names_changed_new_and_gone_columns():
    """The column-by-column comparison the tests above rely on tells the three apart."""
    stored = {"monthly": {"a": "1", "b": "2", "c": "3"}, "providers": "none"}
    now = {"monthly": {"a": "1", "b": "9", "d": "4"}, "providers": {"x": "5"}}
    assert differences(stored, now) == {
        "changed": ["monthly.b", "providers"],
        "gone": ["monthly.c"],
        "new": ["monthly.d"],
    }
    assert differences(stored, stored) == {"changed": [], "gone": [], "new": []}
