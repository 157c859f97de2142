"""The test suite's own bookkeeping: the slow tests named in conftest.py exist."""

from __future__ import annotations

import ast

from conftest import SLOW
from paths import TESTS


def test_every_test_named_slow_exists():
    """Each ``file::function`` of conftest.SLOW is a test function of that file, so a renamed
    or removed test does not leave the quick loop running it (or the list stale)."""
    missing = []
    for name in sorted(SLOW):
        file, function = name.split("::")
        paths = sorted(TESTS.rglob(file))
        names = set()
        if len(paths) == 1:
            path = paths[0]
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if function not in names:
            missing.append(name)
    assert missing == []
