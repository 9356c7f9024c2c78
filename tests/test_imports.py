"""The package's import graph has no cycle, read from the source with ``ast`` (nothing is imported).

Edges are the imports a module runs when it is first imported: those at module level, including
inside ``try`` / ``if`` blocks there. Imports inside a function or method run only when it is
called, after every module-level import has finished, so they cannot deadlock a partly initialised
module and are not edges here; the project keeps them for a cold-start or optional-dependency
reason written beside them. ``import a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so a
submodule import is an edge to each package above it too — except the importing module's own
packages, which Python has already started before the module runs (``cli/__init__`` importing
``cli.train``, which imports ``cli.options``, is no loop).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "dpinfogan"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level_imports(tree: ast.Module):
    """Import nodes that run at import time: module level, descending into if/try/with, not into
    functions or classes' methods."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []) or [])
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)
        elif isinstance(node, ast.ClassDef):  # a class body runs at import time; its methods do not
            todo.extend(n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        parts_of = mod.split(".")
        own_packages = {".".join(parts_of[:i]) for i in range(1, len(parts_of))}
        for node in top_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = mod.split(".")[: len(mod.split(".")) - node.level + (1 if is_pkg else 0)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # `from pkg import name` imports pkg, and pkg.name when that is a module
                targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            for t in targets:
                parts = t.split(".")
                for i in range(1, len(parts) + 1):  # each package above it runs first
                    name = ".".join(parts[:i])
                    if name in files and name != mod and name not in own_packages:
                        graph[mod].add(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_sees_the_package():
    g = import_graph()
    assert {"dpinfogan.cli", "dpinfogan.cli.train", "dpinfogan.jobs", "dpinfogan.federated.task"} <= set(g)
    assert "dpinfogan.config" in g["dpinfogan.train"]  # a plain relative import is an edge


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
