"""Layers talk through public APIs and import each other one way only (issue 14).

The import graph is read from the source (every import statement, those under TYPE_CHECKING and inside
functions included: a lazy import hides a circle from Python, not from a reader), file by file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import polpo_nb as polpo

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"polpo_nb": ROOT / "polpo_nb", "polpo_server": ROOT / "jupyter_server_extension" / "polpo_server"}


def _module_of(path: Path, package: str, base: Path) -> str:
    parts = [package, *path.relative_to(base).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_of(p, name, base): p for name, base in PACKAGES.items() for p in base.rglob("*.py")}


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of this tree that `module` names in an import statement."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import name`: the submodule pkg.name if there is one, else pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        found |= {t for t in targets if t in known and t != module}
    return found


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_modules_of_the_library_and_the_server():
    known = _modules()
    graph = {module: _imports(module, path, known) for module, path in known.items()}
    assert _circles(graph) == []


def test_the_spec_imports_nothing_above_it():
    """Mission files are read by the spec itself, and a notebook's drawing is plugged in by polpo_nb."""
    known = _modules()
    above = {m for m in known if m.startswith("polpo_nb.") and not m.startswith(("polpo_nb.spec", "polpo_nb.errors"))}
    for module in (m for m in known if m.startswith("polpo_nb.spec")):
        assert not _imports(module, known[module], known) & above, module


def test_the_project_does_not_import_the_chat_orchestrator_nor_the_notebook_views_back():
    known = _modules()
    graph = {module: _imports(module, path, known) for module, path in known.items()}
    assert "polpo_nb.project.aproject" in graph["polpo_nb.chat.tools"]  # the chat calls the project's API...
    assert not {m for m in graph["polpo_nb.project.aproject"] if m.startswith("polpo_nb.chat.")} - {
        "polpo_nb.chat.messages", "polpo_nb.chat.sessions", "polpo_nb.chat.stream"}  # ...not the other way round
    assert not {m for m in graph["polpo_nb.notebook.views"] | graph["polpo_nb.notebook.display"]
                if m.startswith("polpo_nb.project")}


def test_delay_is_exported_beside_the_other_holds():
    assert (polpo.Delay, polpo.QualityGate, polpo.Checkpoint) == (
        polpo.spec.Delay, polpo.spec.QualityGate, polpo.spec.Checkpoint)
