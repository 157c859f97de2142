"""The package's structure: no import cycles, features and stages kept apart from the model."""

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
                # ``from sim import rules`` depends on sim.rules; ``from sim.x import f`` on sim.x
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
    """Stages and features act on the World they receive; none imports sim.model or the
    agents."""
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith(("sim.features", "sim.month", "sim.world", "sim.payment")):
            assert "sim.model" not in deps, name
            assert "sim.agents" not in deps, name


def test_the_engine_asks_no_feature_whether_it_is_on():
    """The stages and the model reach features only through hooks: they name no feature class
    and test no feature for None."""
    names = ("Pathway", "Investments", "Therapy", "Churn", "Bunching", "Selection")
    for path in [SIM / "model.py", *sorted((SIM / "month").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        for n in names:
            assert n not in text, f"{path.name} names {n}"
        assert "pathway is not None" not in text and "inv is not None" not in text
