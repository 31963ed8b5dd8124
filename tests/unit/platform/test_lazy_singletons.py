"""No hand-written lazy singleton in shared/: per-instance values use ``shared.instance``.

The pattern looked for: a module-level name initialised to ``None`` that a function of
the module rebinds through ``global`` (``if _x is None: _x = build()``), whether or not a
module-level lock guards it. Without a lock two first calls both build; with one, each
such value has its own lock and reset. ``@per_instance`` is the one way instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "shared"


def _none_initialised(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if isinstance(value, ast.Constant) and value.value is None:
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def _rebound_through_global(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    declared = {
        name for node in ast.walk(function) if isinstance(node, ast.Global) for name in node.names
    }
    assigned: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            assigned.update(t.id for t in targets if isinstance(t, ast.Name))
    return declared & assigned


def lazy_singletons(source: str, where: str) -> list[str]:
    """``file:line name`` of every function rebinding a ``None``-initialised module global."""
    tree = ast.parse(source, filename=where)
    module_nones = _none_initialised(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for name in sorted(_rebound_through_global(node) & module_nones):
                found.append(f"{where}:{node.lineno} {node.name}() sets {name}")
    return found


def test_shared_has_no_hand_written_lazy_singleton() -> None:
    found: list[str] = []
    paths = sorted((REPO_ROOT / PACKAGE).rglob("*.py"))
    assert len(paths) > 50, "the scan found almost no modules"
    for path in paths:
        where = path.relative_to(REPO_ROOT).as_posix()
        found.extend(lazy_singletons(path.read_text(encoding="utf-8"), where))
    assert not found, (
        "lazy singletons written by hand (use shared.instance.per_instance):\n" + "\n".join(found)
    )


def test_the_double_checked_pattern_and_the_lockless_one_are_reported() -> None:
    source = (
        "import threading\n"
        "_client: object | None = None\n"
        "_lock = threading.Lock()\n"
        "_plain = None\n"
        "_configured = False\n"
        "def client():\n"
        "    global _client\n"
        "    if _client is None:\n"
        "        with _lock:\n"
        "            if _client is None:\n"
        "                _client = object()\n"
        "    return _client\n"
        "def plain():\n"
        "    global _plain\n"
        "    if _plain is None:\n"
        "        _plain = object()\n"
        "    return _plain\n"
        "def configure():\n"
        "    global _configured\n"
        "    _configured = True\n"
        "def reads():\n"
        "    return _client\n"
    )
    assert lazy_singletons(source, "m.py") == [
        "m.py:6 client() sets _client",
        "m.py:13 plain() sets _plain",
    ]
