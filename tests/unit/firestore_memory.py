"""An in-memory stand-in for the few Firestore calls a retried transaction makes.

Enough for unit tests of the retry wrapped around ``@firestore.transactional`` code:
documents addressed by path, ``get``/``create``/``set`` (in or out of a transaction),
and a transaction whose writes apply only on commit. ``fail_commits`` makes the next
commits raise the given errors instead (an ``Aborted`` is what contention looks like).
``transactional`` replaces ``google.cloud.firestore.transactional``: it runs the
function once and commits, leaving every retry to the code under test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from google.api_core.exceptions import AlreadyExists


class Snapshot:
    def __init__(self, data: dict[str, Any] | None) -> None:
        self._data = data
        self.exists = data is not None

    def to_dict(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._data)

    def get(self, field: str) -> Any:
        assert self._data is not None
        return self._data[field]


class Reference:
    """A collection or document path (``a/b/c/d``) over the database's documents."""

    def __init__(self, db: MemoryFirestore, path: str) -> None:
        self._db = db
        self.path = path

    def collection(self, name: str) -> Reference:
        return Reference(self._db, f"{self.path}/{name}")

    def document(self, document_id: str) -> Reference:
        return Reference(self._db, f"{self.path}/{document_id}")

    def get(self, transaction: Transaction | None = None) -> Snapshot:
        self._db.reads += 1
        return Snapshot(self._db.documents.get(self.path))

    def create(self, data: dict[str, Any]) -> None:
        if self.path in self._db.documents:
            raise AlreadyExists(f"{self.path} already exists")
        self._db.documents[self.path] = copy.deepcopy(data)


class Transaction:
    def __init__(self, db: MemoryFirestore) -> None:
        self._db = db
        self._writes: list[tuple[str, str, dict[str, Any]]] = []

    def set(self, reference: Reference, data: dict[str, Any]) -> None:
        self._writes.append(("set", reference.path, copy.deepcopy(data)))

    def create(self, reference: Reference, data: dict[str, Any]) -> None:
        self._writes.append(("create", reference.path, copy.deepcopy(data)))

    def commit(self) -> None:
        self._db.commits += 1
        if self._db.fail_commits:
            failure = self._db.fail_commits.pop(0)
            if self._db.before_failing is not None:
                self._db.before_failing()
            raise failure
        for kind, path, _data in self._writes:
            if kind == "create" and path in self._db.documents:
                raise AlreadyExists(f"{path} already exists")
        for _kind, path, data in self._writes:
            self._db.documents[path] = data


class MemoryFirestore:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.fail_commits: list[BaseException] = []
        # Runs just before a failing commit raises: another instance acting meanwhile.
        self.before_failing: Callable[[], None] | None = None
        self.commits = 0
        self.reads = 0
        self.transaction_options: list[dict[str, Any]] = []

    def collection(self, name: str) -> Reference:
        return Reference(self, name)

    def transaction(self, **options: Any) -> Transaction:
        self.transaction_options.append(options)
        return Transaction(self)


def transactional(fn: Callable[[Transaction], Any]) -> Callable[[Transaction], Any]:
    """``fn`` run once in ``transaction``, then committed (no retry of its own)."""

    def run(transaction: Transaction) -> Any:
        result = fn(transaction)
        transaction.commit()
        return result

    return run
