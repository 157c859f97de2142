"""Every shipped scenario (small) and its behaviour variants give the recorded output bytes."""

from __future__ import annotations

import json

import pytest
from reference_outputs import STORE, cases, fingerprint

STORED = json.loads(STORE.read_text())
CASES = cases()


def test_every_case_is_recorded():
    """A new shipped scenario or variant is recorded (run reference_outputs.py --write)."""
    assert sorted(CASES) == sorted(STORED)


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_match_the_recorded_bytes(name):
    """Monthly table, provider panel, summary and ledgers hash to the recorded values."""
    assert fingerprint(CASES[name]) == STORED[name]
