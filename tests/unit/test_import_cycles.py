"""No import cycle in our three packages, and the CLI sits on top: nothing below it imports it.

The graph is read from the source with ``ast`` (nothing is imported, so it takes well under a second). Every
import counts: module level, inside a function (a lazy import closes a cycle just as well, only later), under
``if TYPE_CHECKING:``, and ``importlib.import_module("a.b")`` with a literal name. ``from a import b`` is an edge to
the module ``a.b`` when there is one, else to ``a``. Importing ``a.b`` also runs ``a/__init__.py``; that implied edge
is not drawn (as in every import-graph tool), so a package's ``__init__`` may re-export its submodules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The package roots: the CLI and local runtime, the ML jobs' library, and the Lambda layer's package.
PACKAGE_DIRS = (
    REPO_ROOT / "src" / "governed_mlops_local",
    REPO_ROOT / "src" / "governed_mlops_ml",
    REPO_ROOT / "layers" / "common" / "python" / "governed_mlops",
)
CLI_PACKAGE = "governed_mlops_local.cli"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of the package at ``package_dir``."""
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _longest_known(name: str, known: Iterable[str]) -> str | None:
    known = set(known)
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def _imported_names(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterable[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield submodule if submodule in known else base
    elif isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called == "import_module" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import from one of ``modules`` to another (self-imports dropped)."""
    known = set(modules)
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            for name in _imported_names(node, module, is_package, known):
                target = _longest_known(name, known)
                if target is not None and target != module:
                    edges.append(Edge(module, target, getattr(node, "lineno", 0)))
    return edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep chain of imports cannot hit the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _all_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package_dir in PACKAGE_DIRS:
        modules.update(module_names(package_dir))
    return modules


def _describe(component: list[str], edges: list[Edge], modules: dict[str, Path]) -> str:
    members = set(component)
    ties = sorted(
        {
            f"  {modules[edge.source].relative_to(REPO_ROOT)}:{edge.line} imports {edge.target}"
            for edge in edges
            if edge.source in members and edge.target in members
        }
    )
    return "\n".join([f"cycle of {len(component)} modules: {', '.join(component)}", *ties])


def test_the_packages_have_no_import_cycle() -> None:
    modules = _all_modules()
    edges = import_edges(modules)
    found = cycles(edges)
    assert not found, (
        "import cycles (break them: pass a callback, or move the shared piece down to a module both may import):\n"
        + "\n".join(_describe(component, edges, modules) for component in found)
    )


def test_nothing_below_the_cli_imports_it() -> None:
    # The direction is CLI -> services/runtime -> adapters: the runtime and the console UI take callbacks instead.
    modules = _all_modules()
    upward = [
        f"{modules[e.source].relative_to(REPO_ROOT)}:{e.line} imports {e.target}"
        for e in import_edges(modules)
        if (e.target == CLI_PACKAGE or e.target.startswith(CLI_PACKAGE + "."))
        and not (e.source == CLI_PACKAGE or e.source.startswith(CLI_PACKAGE + "."))
    ]
    assert upward == []


def test_the_layer_imports_neither_the_local_runtime_nor_the_ml_library() -> None:
    # What Lambda deploys stands alone: the layer's package must not need what is not in the layer.
    modules = _all_modules()
    outward = [
        f"{modules[e.source].relative_to(REPO_ROOT)}:{e.line} imports {e.target}"
        for e in import_edges(modules)
        if e.source.split(".")[0] == "governed_mlops" and e.target.split(".")[0] != "governed_mlops"
    ]
    assert outward == []


# -- the checker itself: it must see the kinds of import that close a cycle -------------------------------------
def _package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return module_names(root / "pkg")


@pytest.mark.parametrize(
    ("a_imports_b", "label"),
    [
        ("from pkg.b import thing\n", "module level"),
        ("def later():\n    from pkg.b import thing\n    return thing\n", "inside a function"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import Thing\n", "TYPE_CHECKING"),
        ("from pkg import b\n", "from a package import a submodule"),
        ("from . import b\n", "relative"),
        ("import importlib\nB = importlib.import_module('pkg.b')\n", "import_module with a literal name"),
    ],
)
def test_the_checker_finds_a_cycle_closed_by_an_import(tmp_path: Path, a_imports_b: str, label: str) -> None:
    modules = _package(tmp_path, {"__init__.py": "", "a.py": a_imports_b, "b.py": "import pkg.a\nthing = 1\n"})
    assert cycles(import_edges(modules)) == [["pkg.a", "pkg.b"]], label


def test_the_checker_finds_a_longer_cycle_and_not_a_chain(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "__init__.py": "from pkg.a import x\n",  # a package re-exporting its submodule is no cycle
            "a.py": "from pkg.b import y\nx = 1\n",
            "b.py": "from pkg.sub.c import z\ny = 1\n",
            "sub/__init__.py": "",
            "sub/c.py": "def f():\n    from pkg.a import x\n    return x\nz = 1\n",
            "d.py": "from pkg.a import x\n",
        },
    )
    assert cycles(import_edges(modules)) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_the_checker_sees_no_cycle_in_a_chain(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "from .c import z\n", "c.py": "import os\nz = 1\n"},
    )
    assert [(e.source, e.target) for e in import_edges(modules)] == [("pkg.a", "pkg.b"), ("pkg.b", "pkg.c")]
    assert cycles(import_edges(modules)) == []
