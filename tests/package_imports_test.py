"""The packages of lbkeras depend on each other one way: no import cycle between them.

A static check: every ``import lbkeras.X...`` and ``from lbkeras[.X] import ...`` in a
module of ``lbkeras/X`` (or ``lbkeras/X.py``), at any depth of the file (function-level
imports too), is an edge X -> Y; the graph must have no cycle. ``lbkeras/__init__.py``,
which re-exports the public API, is the root and not a node.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "lbkeras")


def _imported(node: ast.AST) -> list[str]:
    """The ``lbkeras.X`` names (X a package or top-level module) ``node`` imports."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [node.module]
        if node.module == "lbkeras":  # from lbkeras import data, optimizers
            names = [f"lbkeras.{alias.name}" for alias in node.names]
    else:
        return []
    return [name.split(".")[1] for name in names if name.startswith("lbkeras.")]


def _import_graph() -> dict[str, dict[str, str]]:
    """``{X: {Y: "file:line" of one import}}`` over the nodes of lbkeras."""
    graph: dict[str, dict[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            relative = os.path.relpath(path, PACKAGE)
            if not filename.endswith(".py") or relative == "__init__.py":
                continue
            node = relative.split(os.sep)[0].removesuffix(".py")
            edges = graph.setdefault(node, {})
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for statement in ast.walk(tree):
                for target in _imported(statement):
                    if target != node:
                        where = f"{os.path.relpath(path, ROOT)}:{statement.lineno}"
                        edges.setdefault(target, where)
    return graph


def _cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``X -> Y (file:line)`` steps, or None."""
    state: dict[str, str] = {}  # "open" on the current path, "done" once explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == "open":
                loop = path[path.index(target) :] + [target]
                return [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(loop, loop[1:])]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_known_edges():
    graph = _import_graph()
    assert "optimizers" in graph["monitoring"]  # GradientStatistics wraps an optimizer
    assert "optimizers" in graph["training"]
    assert "checks" in graph["optimizers"]


def test_a_cycle_is_found():
    graph = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:2"}, "c": {"a": "c.py:3"}}
    assert _cycle(graph) == ["a -> b (a.py:1)", "b -> c (b.py:2)", "c -> a (c.py:3)"]
    assert _cycle({"a": {"b": "a.py:1"}, "b": {}}) is None


def test_packages_import_each_other_one_way():
    cycle = _cycle(_import_graph())
    assert cycle is None, "import cycle between lbkeras packages:\n" + "\n".join(cycle)
