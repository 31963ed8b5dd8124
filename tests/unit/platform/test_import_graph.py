"""No import cycle among the modules of shared/.

Every ``import`` and ``from ... import`` counts wherever it is written: at module level,
inside a function (a lazy import that only defers a cycle is still a cycle) and under
``if TYPE_CHECKING:`` (a type-only cycle still ties two modules together: neither can be
read, type-checked or moved without the other). ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg`` (whose ``__init__`` runs). Importing a
submodule also runs its parents' ``__init__``; that implicit step is not an edge, as in
every import-graph tool.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "shared"


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    path: Path
    is_package: bool


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    where: str  # file:line of the import statement


def modules_under(root: Path, package: str) -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, is_package)
    return found


def _imported_names(node: ast.Import | ast.ImportFrom, module: Module) -> Iterable[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.name.split(".")
        if not module.is_package:
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        package = ".".join([*base, node.module] if node.module else base)
    else:
        package = node.module or ""
    return [f"{package}.{alias.name}" for alias in node.names] + [package]


def _resolve(name: str, known: dict[str, Module]) -> str | None:
    """The longest known module ``name`` is or lies within (None: outside the package)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_edges(root: Path, package: str) -> list[Edge]:
    known = modules_under(root, package)
    edges: list[Edge] = []
    for module in known.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
        where = module.path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = list(_imported_names(node, module))
            if isinstance(node, ast.ImportFrom):
                # ``from pkg import name``: the submodule when ``name`` is one, else ``pkg``.
                package_name, members = names[-1], names[:-1]
                targets = [name for name in members if name in known]
                if len(targets) < len(members):
                    targets.append(package_name)
            else:
                targets = names
            for target in {_resolve(name, known) for name in targets}:
                if target is not None and target != module.name:
                    edges.append(Edge(module.name, target, f"{where}:{node.lineno}"))
    return edges


def strongly_connected(edges: list[Edge]) -> list[list[str]]:
    """Tarjan's algorithm; only the components of more than one module (the cycles)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def describe(components: list[list[str]], edges: list[Edge]) -> str:
    lines = []
    for component in components:
        members = set(component)
        lines.append("cycle among " + ", ".join(component) + ":")
        lines.extend(
            f"  {edge.source} -> {edge.target}  ({edge.where})"
            for edge in sorted(edges, key=lambda e: (e.source, e.target, e.where))
            if edge.source in members and edge.target in members
        )
    return "\n".join(lines)


def test_shared_has_no_import_cycle() -> None:
    edges = import_edges(REPO_ROOT, PACKAGE)
    assert len({edge.source for edge in edges}) > 50, "the scan found almost no imports"
    cycles = strongly_connected(edges)
    assert not cycles, "import cycles in shared/:\n" + describe(cycles, edges)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_lazy_relative_import_closing_a_loop_is_reported_with_its_lines(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/web/__init__.py": "from pkg.web.router import Router\n",
            "pkg/web/router.py": "def auth():\n    from pkg.auth import http\n",
            "pkg/web/util.py": "",
            "pkg/auth/__init__.py": "",
            "pkg/auth/http.py": "from ..web import router, util\n",
        },
    )
    edges = import_edges(tmp_path, "pkg")
    cycles = strongly_connected(edges)
    assert cycles == [["pkg.auth.http", "pkg.web.router"]]
    report = describe(cycles, edges)
    assert "pkg.web.router -> pkg.auth.http  (pkg/web/router.py:2)" in report
    assert "pkg.auth.http -> pkg.web.router  (pkg/auth/http.py:1)" in report


def test_type_checking_imports_and_package_imports_count(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/tokens.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.revocation import Store\n"
            ),
            "pkg/revocation.py": "from pkg import tokens as t, Claims\n",
        },
    )
    edges = import_edges(tmp_path, "pkg")
    assert {(edge.source, edge.target) for edge in edges} == {
        ("pkg.tokens", "pkg.revocation"),
        ("pkg.revocation", "pkg.tokens"),
        ("pkg.revocation", "pkg"),
    }
    assert strongly_connected(edges) == [["pkg.revocation", "pkg.tokens"]]
