"""The layers of docs/architecture.md, checked on the source: no import cycles inside `cifarctl/`,
and nothing outside `cifarctl/cli/` imports the CLI, typer or rich (data flows down)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cifarctl"
UI_LIBRARIES = ("typer", "rich", "click")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, top_level_only: bool) -> set[str]:
    """The modules `path` imports (`from a import b` counts as a.b when a.b is a module);
    with `top_level_only`, only those run at import time (not inside functions, nor for
    type checking)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if top_level_only and isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return found


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def import_graph(top_level_only: bool = True) -> dict[str, set[str]]:
    return {name: {imported for imported in imports_of(path, top_level_only)
                   if imported in MODULES and imported != name}
            for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_checker_finds_a_cycle_and_sees_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "cifarctl.errors" in graph["cifarctl.cli.app"]  # `from cifarctl.errors import ...`
    assert "cifarctl.cli.train" in graph["cifarctl.cli.app"]  # `from cifarctl.cli import train`


def test_no_import_cycle_inside_the_package():
    """Module-level imports only: an import inside a function runs later and breaks no cycle
    at start-up, but `files` <-> `data.store` hid one that way; they would show here at the
    top level."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


CORE = sorted(name for name in MODULES if not name.startswith("cifarctl.cli") and name != "cifarctl.__main__")


@pytest.mark.parametrize("module", CORE)
def test_core_modules_do_not_import_the_cli_or_its_libraries(module):
    """Anywhere in the file, inside functions too: the core reports through Events."""
    forbidden = sorted(imported for imported in imports_of(MODULES[module], top_level_only=False)
                       if imported == "cifarctl.cli" or imported.startswith("cifarctl.cli.")
                       or imported.split(".")[0] in UI_LIBRARIES)
    assert not forbidden, f"{module} imports {', '.join(forbidden)}"
