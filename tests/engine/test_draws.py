"""The registry of random draws (sim/engine/draws.py): unique pairs and counters, the counters
the model always had, each draw used by its owner alone, no purpose numbers outside it."""

from __future__ import annotations

import ast

from paths import SIM

from sim.engine import draws
from sim.engine.draws import DRAWS, SECOND, SETTING, STREAMS, Draw, next_free

MONTHS = range(-1, 1200)  # the population's month before the first (-1) up to the schema's limit
SETTINGS = range(32)  # the schema allows at most 32 settings


def _counters(d: Draw) -> set[int]:
    return {d.counter(m, s) for m in MONTHS for s in SETTINGS}


def test_names_pairs_and_counters_are_unique():
    """Each draw is a module constant of its own name; no two share (slot family, purpose),
    and none shares a counter with another in any month of any setting."""
    for name, d in DRAWS.items():
        assert getattr(draws, name) is d and d.name == name
    pairs = [(d.slot, d.purpose) for d in DRAWS.values()]
    assert len(set(pairs)) == len(pairs)
    seen: set[int] = set()
    for d in DRAWS.values():
        mine = _counters(d)
        assert len(mine) == len(MONTHS) * len(SETTINGS)
        assert not mine & seen, d.name
        seen |= mine


def test_the_counters_are_the_models_of_old():
    """Page 0 is the original layout ((month · 64 + slot) · 8 + purpose + 1), so every
    draw of page 0 keeps its bytes; the base is the key XOR the counter's golden-ratio mix."""
    key = 0x0123456789ABCDEF
    for d in DRAWS.values():
        assert d.slot in (SETTING, SECOND)
        if d.purpose >= 8:
            continue
        for m, s in ((0, 0), (5, 3), (1199, 31), (-1, 2)):
            old = (m * 64 + d.slot + s) * 8 + d.purpose + 1
            assert d.counter(m, s) == old
            assert d.base(key, m, s) == (key ^ old * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)


def test_every_slot_of_page_0_is_taken_and_new_draws_have_room():
    """The 2 × 8 pairs of page 0 are all taken; a new draw gets the next free purpose (page 1
    or later) in either family, and the free purposes of pages 1 and 2 collide with nothing
    registered."""
    pairs = {(d.slot, d.purpose) for d in DRAWS.values()}
    assert {(f, p) for f in (SETTING, SECOND) for p in range(8)} <= pairs
    for family in (SETTING, SECOND):
        assert next_free(family) >= 8 and (family, next_free(family)) not in pairs
    taken = set().union(*(_counters(d) for d in DRAWS.values()))
    new: set[int] = set()
    for family in (SETTING, SECOND):
        for purpose in [p for p in (*range(8, 24),) if (family, p) not in pairs]:
            mine = _counters(Draw("NEW", family, purpose, "nobody", "a test"))
            assert not mine & taken and not mine & new, (family, purpose)
            new |= mine
    first = Draw("NEW", SETTING, 8, "nobody", "a test")
    assert first.counter(3, 1) == draws.READMISSION.counter(3, 1) + (1 << 32)


def test_the_streams_are_the_models():
    """The model spawns the registry's streams, in its order."""
    from sim.engine import model

    assert model.STREAMS is STREAMS
    assert list(STREAMS) == [
        "population",
        "patients_monthly",
        "providers",
        "providers_monthly",
        "mesa",
        "life",
        "pathway",
    ]


def _modules() -> dict[str, ast.AST]:
    out = {}
    for path in SIM.rglob("*.py"):
        parts = path.relative_to(SIM.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"))
    return out


MODULES = _modules()


def _references(tree: ast.AST) -> set[str]:
    """The registered draws a module names: ``draws.X`` or ``from sim.engine.draws import X``."""
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "draws"
            and node.attr in DRAWS
        ):
            out.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "sim.engine.draws":
            out.update(a.name for a in node.names if a.name in DRAWS)
    return out


def test_every_draw_is_used_by_its_owner_and_nobody_else():
    """The owner each draw names draws it, and no other module does."""
    users: dict[str, set[str]] = {name: set() for name in DRAWS}
    for module, tree in MODULES.items():
        if module == "sim.engine.draws":
            continue
        for name in _references(tree):
            users[name].add(module)
    assert {name: {d.owner} for name, d in DRAWS.items()} == users


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "uniforms" and len(node.args) == 3:
                yield node, node.args[2]
            elif node.func.attr == "uniform_base":
                yield node, node.args[-1]


def test_every_counter_based_draw_names_a_registered_draw():
    """Every call of ``Population.uniforms(patients, setting, draw)`` and ``uniform_base``
    outside the population passes ``draws.<NAME>``: no purpose numbers outside the registry."""
    calls = 0
    for module, tree in MODULES.items():
        if module == "sim.engine.population":
            continue
        for node, arg in _calls(tree):
            calls += 1
            where = f"{module}, line {node.lineno}"
            assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name), where
            assert arg.value.id == "draws" and arg.attr in DRAWS, where
    assert calls >= len(DRAWS)
