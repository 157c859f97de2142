"""Where the tests find the project, whatever folder under ``tests/`` a test file sits in."""

from __future__ import annotations

from pathlib import Path

#: the tests' own folder, holding the helpers, ``data/`` and ``reference/``
TESTS = Path(__file__).resolve().parent
#: the repository
ROOT = TESTS.parent
#: the package
SIM = ROOT / "sim"
#: the shipped scenarios
SCENARIOS = ROOT / "scenarios"
#: the shipped scenarios as they were before they moved to the base world (learning providers
#: who take every patient): the reference outputs' cases, and the mechanism tests that use a
#: shipped scenario as their fixture
FROZEN = TESTS / "reference" / "scenarios"
