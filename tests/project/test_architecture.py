"""The package's structure: the wings' layering, no import cycles, features and stages kept
apart from the model."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paths import SIM, TESTS


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


# ---------------------------------------------------------------------------------------------
# the tests mirror the package: a module's tests are in the folder of tests/ that mirrors its
# own (tests/engine/payment/ for sim/engine/payment/), named after it where one module is tested

#: the folder for tests of the whole project (docs, packaging, the command line end to end, the
#: layering) and of the modules at the package's root (sim/cli.py, sim/errors.py)
PROJECT = "project"
#: folders of tests/ that hold no tests: data files and recorded outputs
NOT_TESTS = {"data", "reference", "__pycache__"}
_NAMED = re.compile(r"\bsim(?:[/.][A-Za-z_]+)+")


def _test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def _sim_module(ref: str) -> tuple[str, ...] | None:
    """The module or package of sim named by ``ref`` (``sim/engine/billing.py``,
    ``sim.engine.kernels``, ``sim/engine/features/``): its path's parts below sim/, the longest
    that exists."""
    parts = [p for p in re.split(r"[/.]", ref)[1:] if p != "py"]
    for k in range(len(parts), 0, -1):
        path = SIM.joinpath(*parts[:k])
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return tuple(parts[:k])
    return None


def declared_module(path: Path) -> tuple[str, ...] | None:
    """The module a test file declares it tests: the first module of sim its docstring's first
    paragraph names, else the one module of sim with the file's name (``test_decisions.py``:
    sim/engine/decisions.py), else None (several modules or none)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    for ref in _NAMED.findall(doc.split("\n\n")[0]):
        if (module := _sim_module(ref)) is not None:
            return module
    name = path.stem.removeprefix("test_")
    found = [p for p in SIM.rglob("*.py") if p.stem == name and p.parent.name != name]
    found += [p for p in SIM.rglob(name) if (p / "__init__.py").is_file()]
    if len(found) == 1:
        return found[0].relative_to(SIM).with_suffix("").parts
    return None


def mirror_folder(module: tuple[str, ...], folders: set[str]) -> str:
    """The folder of tests/ (one of ``folders``, relative) for the tests of ``module`` (its parts
    below sim/): the deepest that mirrors a folder on the module's path, the project's for a
    module at the package's root."""
    is_package = (SIM.joinpath(*module) / "__init__.py").is_file()
    path = module if is_package else module[:-1]
    for k in range(len(path), 0, -1):
        if "/".join(path[:k]) in folders:
            return "/".join(path[:k])
    return PROJECT


def _test_folders() -> set[str]:
    return {p.parent.relative_to(TESTS).as_posix() for p in _test_files()}


def test_no_test_file_sits_flat_in_tests():
    """Every test file is in a folder of tests/; only the shared helpers stay at its root."""
    assert [p.name for p in TESTS.glob("test_*.py")] == []


def test_each_test_folder_mirrors_a_folder_of_the_package():
    """A folder of tests is the project's or has the path of a package of sim (tests/engine/
    payment/ for sim/engine/payment/), and holds nothing but tests (no data, no helpers)."""
    for folder in sorted(_test_folders()):
        assert folder == PROJECT or (SIM / folder / "__init__.py").is_file(), folder
    for path in sorted(TESTS.rglob("*")):
        rel = path.relative_to(TESTS)
        if path.is_file() and len(rel.parts) > 1 and not NOT_TESTS & set(rel.parts):
            assert path.suffix == ".py" and path.name.startswith("test_"), rel


def test_test_file_names_are_unique():
    """No two test files share a name: pytest imports each by its name alone (no __init__.py
    in tests/), and conftest.SLOW names tests by file name."""
    names = [p.name for p in _test_files()]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_each_test_file_sits_in_the_folder_of_the_module_it_tests():
    """Where a test file declares its module (named in its docstring's first paragraph, or the
    file named after the one module of that name), it is in the folder mirroring the module's."""
    folders = _test_folders()
    wrong = []
    for path in _test_files():
        module = declared_module(path)
        if module is None:
            continue
        want = mirror_folder(module, folders)
        if path.parent.relative_to(TESTS).as_posix() != want:
            wrong.append(f"{path.relative_to(TESTS)} tests sim/{'/'.join(module)}: tests/{want}/")
    assert wrong == []


def test_the_mirror_check_finds_the_folder_and_the_module(tmp_path):
    """The check itself: the folder of a module, of a package, of a module below a folder with
    no tests of its own, of a root module; a module found by its docstring and by the name."""
    folders = {"engine", "engine/payment", "explore", PROJECT}
    assert mirror_folder(("engine", "billing"), folders) == "engine"
    assert mirror_folder(("engine", "payment", "prices"), folders) == "engine/payment"
    assert mirror_folder(("engine", "payment"), folders) == "engine/payment"
    assert mirror_folder(("engine", "month", "lifecourse"), folders) == "engine"
    assert mirror_folder(("explore",), folders) == "explore"
    assert mirror_folder(("cli",), folders) == PROJECT
    named = tmp_path / "test_anything.py"
    named.write_text('"""Prices (sim/engine/payment/prices.py) and more."""\n')
    assert declared_module(named) == ("engine", "payment", "prices")
    (tmp_path / "test_decisions.py").write_text('"""Decisions."""\n')
    assert declared_module(tmp_path / "test_decisions.py") == ("engine", "decisions")
    (tmp_path / "test_world.py").write_text('"""Two modules of this name."""\n')
    assert declared_module(tmp_path / "test_world.py") is None
