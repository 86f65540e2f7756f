"""The package's structure: no import cycles, value objects at the bottom."""

from __future__ import annotations

import ast
from pathlib import Path

import bo_loop as bl

PACKAGE = Path(bl.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """The bo_loop modules a module imports at module level (not inside functions)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bo_loop"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("bo_loop"))
    return out


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles_inside_bo_loop():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    for m in graph:
        graph[m] = {i for i in graph[m] if not i.startswith(m + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append([*stack[stack.index(n) :], n] if n in stack else [m, n])
            elif n not in state:
                visit(n, [*stack, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_value_objects_import_nothing_above_them():
    for name in ("parameters", "space", "trial", "objective", "exceptions"):
        # Leaves: exceptions and the HTML table helpers import nothing of bo_loop; the space
        # builds on the parameters only.
        allowed = {"bo_loop.exceptions", "bo_loop.html_table"}
        if name == "space":
            allowed.add("bo_loop.parameters")
        if name == "objective":
            allowed |= {"bo_loop.space", "bo_loop.parameters"}
        leaves = ("bo_loop.exceptions.", "bo_loop.html_table.", "bo_loop.parameters.")
        found = {i for i in _imports(PACKAGE / f"{name}.py") if i.startswith("bo_loop.")}
        found = {i for i in found if not i.startswith(leaves)}
        assert found <= allowed, (name, found)
        lazy = [
            node.module
            for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text()))
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("bo_loop")
        ]
        assert set(lazy) <= allowed, (name, lazy)
