"""One commit path: read-write Firestore transactions are opened only by shared.events.transact.

A domain that opens its own transaction grows its own retry loop, its own staging of
events and its own contention code again. The few that must stay outside are listed
here by function, each with the reason a reviewer can check against its code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# (module, enclosing function) -> why it does not go through shared.events.transact
OUTSIDE_THE_COMMIT_PATH = {
    ("shared/events/transact.py", "_run"): "the commit path itself",
    ("shared/events/outbox.py", "_claim"): (
        "leases relay records; a lost race means another relay has them, never a 503"
    ),
    ("shared/ledger/store.py", "fold_limbs"): (
        "rewrites one balance shard without changing its value; stages no events"
    ),
    ("shared/auth/families.py", "rotate"): (
        "contention is a 409 refresh_in_progress: a retried refresh would look like reuse"
    ),
}


def _read_write_transactions(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(enclosing top-level or method name, line) of each ``x.transaction(...)`` not read-only."""

    def visit(node: ast.AST, owner: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            name = owner
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and owner in ("", "class"):
                name = child.name
            elif isinstance(child, ast.ClassDef):
                name = "class"
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "transaction"
                and not any(
                    keyword.arg == "read_only"
                    and isinstance(keyword.value, ast.Constant)
                    and keyword.value.value is True
                    for keyword in child.keywords
                )
            ):
                yield name, child.lineno
            yield from visit(child, name)

    yield from visit(tree, "")


def _sources() -> Iterator[Path]:
    for folder in ("shared", "functions"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_read_write_transactions_are_opened_only_on_the_commit_path() -> None:
    found: set[tuple[str, str]] = set()
    strays: list[str] = []
    for path in _sources():
        module = path.relative_to(ROOT).as_posix()
        for owner, line in _read_write_transactions(ast.parse(path.read_text(), module)):
            found.add((module, owner))
            if (module, owner) not in OUTSIDE_THE_COMMIT_PATH:
                strays.append(f"{module}:{line} in {owner or '<module>'}")
    assert not strays, (
        "read-write transactions outside shared.events.transact (use transact, "
        "commit_in_transaction or settle):\n" + "\n".join(strays)
    )
    # A listed exception that no longer exists must leave the list with it.
    assert set(OUTSIDE_THE_COMMIT_PATH) <= found, set(OUTSIDE_THE_COMMIT_PATH) - found


def test_the_scan_sees_a_stray_transaction() -> None:
    stray = ast.parse(
        "def change(db):\n"
        "    return db.transaction()\n"
        "def snapshot(db):\n"
        "    return db.transaction(read_only=True)\n"
    )
    assert list(_read_write_transactions(stray)) == [("change", 2)]
