"""The library's import graph, read statically from its sources (function-local imports included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers.paths import REPO

SRC = REPO / "src"
PACKAGE = "depthpipe"


@dataclass(frozen=True)
class Import:
    """One import statement: the module it names, and whether it sits inside a function."""

    module: str
    line: int
    local: bool


def module_name(path: Path) -> str:
    """``src/depthpipe/a/b.py`` -> ``depthpipe.a.b``; ``src/depthpipe/a/__init__.py`` -> ``depthpipe.a``."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path:
    """The file of library module ``name`` (a package's ``__init__.py``)."""
    base = SRC.joinpath(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def library_modules() -> dict[str, Path]:
    """Every module of the library, by name."""
    return {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_module(name: str) -> bool:
    return module_path(name).exists()


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield child, in_function
        yield from _walk(child, inner)


def imports_of(source: str) -> list[Import]:
    """Every import in ``source``: library submodules resolved (``from depthpipe.a import b`` names module
    ``depthpipe.a.b`` when that is a module), third-party ones by the name written."""
    found = []
    for node, local in _walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, local) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            subs = [
                f"{base}.{a.name}" for a in node.names if base.startswith(PACKAGE) and _is_module(f"{base}.{a.name}")
            ]
            found += [Import(m, node.lineno, local) for m in subs]
            if len(subs) < len(node.names):
                found.append(Import(base, node.lineno, local))
    return found


def library_imports(path: Path) -> set[str]:
    """The library modules ``path`` imports (anywhere in it), and the packages they sit in (Python runs those
    ``__init__.py`` files too)."""
    out = set()
    for imp in imports_of(path.read_text()):
        if imp.module == PACKAGE or imp.module.startswith(PACKAGE + "."):
            parts = imp.module.split(".")
            out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {m for m in out if _is_module(m)}


def import_graph() -> dict[str, set[str]]:
    """Library module -> the library modules it imports (package ``__init__`` files implied by a submodule
    import are left out: they are not cycles a reader can break)."""
    graph = {}
    for name, path in library_modules().items():
        direct = set()
        for imp in imports_of(path.read_text()):
            if imp.module.startswith(PACKAGE + ".") and _is_module(imp.module):
                direct.add(imp.module)
        graph[name] = direct - {name}
    return graph


def closure(start: Path) -> set[str]:
    """The library modules ``start`` (a script or module file) loads, following imports transitively."""
    seen: set[str] = set()
    todo = list(library_imports(start))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += library_imports(module_path(name)) - seen
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out
