"""The package's structure: the wings' layering, no import cycles, features and stages kept
apart from the model."""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[1] / "sim"


def _module(path: Path) -> str:
    parts = path.relative_to(SIM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """sim modules imported at run time (module level or inside functions), not those under
    ``if TYPE_CHECKING:`` (annotations only)."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                # ``from sim import rules`` depends on sim.engine.rules; ``from sim.x import f`` on
                # sim.x
                dep = sub if sub in modules else node.module
                if dep in modules:
                    out.add(dep)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in SIM.rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        deps = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")), modules)
        # importing a package's submodule runs the package's __init__ first: not a dependency
        # of the package on itself
        graph[name] = {d for d in deps if d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return [*stack[stack.index(v) :], v]
            if v not in state and (found := dfs(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (found := dfs(u)):
            return found
    return None


def test_no_import_cycles_between_sim_modules():
    """No chain of run-time imports between sim modules leads back to where it started."""
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle():
    """The check itself sees a cycle when there is one (a -> b -> a)."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_features_and_stages_never_import_the_model():
    """Stages and features act on the World they receive; none imports sim.engine.model or the
    agents."""
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith(
            ("sim.engine.features", "sim.engine.month", "sim.engine.world", "sim.engine.payment")
        ):
            assert "sim.engine.model" not in deps, name
            assert "sim.engine.agents" not in deps, name


def test_the_engine_asks_no_feature_whether_it_is_on():
    """The stages and the model reach features only through hooks: they name no feature class
    and test no feature for None."""
    names = ("Pathway", "Investments", "Therapy", "Churn", "Bunching", "Selection")
    engine = SIM / "engine"
    for path in [engine / "model.py", *sorted((engine / "month").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        for n in names:
            assert n not in text, f"{path.name} names {n}"
        assert "pathway is not None" not in text and "inv is not None" not in text


# ---------------------------------------------------------------------------------------------
# the wings: each may import only the wings below it (docs/architecture.md)

#: wing -> wings it must never import (at run time; annotations under TYPE_CHECKING are free)
FORBIDDEN = {
    "sim.guards": ("sim.engine", "sim.scenario", "sim.results", "sim.experiments", "sim.publish",
                   "sim.explore", "sim.cli"),
    "sim.scenario": ("sim.results", "sim.experiments", "sim.publish", "sim.explore", "sim.cli"),
    "sim.engine": ("sim.results", "sim.experiments", "sim.publish", "sim.explore", "sim.cli"),
    "sim.results": ("sim.experiments", "sim.publish", "sim.explore", "sim.cli"),
    "sim.publish": ("sim.experiments", "sim.explore", "sim.cli"),
    "sim.experiments": ("sim.explore", "sim.cli"),
}  # fmt: skip

#: the scenario schema validates contracts and codes against the engine's rule book only
SCENARIO_MAY_USE = ("sim.engine.payment", "sim.engine.billing", "sim.engine.rules")


def _wing(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for name, deps in sorted(graph.items()):
        banned = FORBIDDEN.get(_wing(name), ())
        for dep in sorted(deps):
            if dep.startswith(banned) or _wing(dep) in banned:
                out.append(f"{name} imports {dep}")
            if (
                _wing(name) == "sim.scenario"
                and dep.startswith("sim.engine")
                and not dep.startswith(SCENARIO_MAY_USE)
            ):
                out.append(f"{name} imports {dep} (beyond the rule book)")
    return out


def test_the_wings_import_only_the_wings_below_them():
    """The engine never imports experiments, results or publish; publish never imports
    experiments; the scenario schema reaches into the engine only for its rule book."""
    assert _violations(import_graph()) == []


def test_the_layering_check_sees_a_violation():
    """The check itself reports an engine module importing the experiments, and publish
    importing them."""
    graph = {
        "sim.engine.model": {"sim.experiments.run"},
        "sim.publish.report": {"sim.experiments.sweep", "sim.results.read"},
        "sim.scenario": {"sim.engine.world", "sim.engine.payment"},
    }
    assert _violations(graph) == [
        "sim.engine.model imports sim.experiments.run",
        "sim.publish.report imports sim.experiments.sweep",
        "sim.scenario imports sim.engine.world (beyond the rule book)",
    ]


def test_every_module_lives_in_a_wing():
    """Below the package's root only the entry points and the error types; everything else
    sits in a wing (the tree is the architecture)."""
    top = sorted(p.name for p in SIM.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "errors.py"]
