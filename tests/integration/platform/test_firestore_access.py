"""A function's Firestore access, as its manifest entry declares it, against the emulator.

The emulator enforces no IAM: ``shared.clients`` refuses in code what the function's
``TRIBUTUM_FIRESTORE__ACCESS`` does not grant, with the ``PermissionDenied`` Firestore
answers in the cloud, and a refused write leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core.exceptions import PermissionDenied

from shared import clients
from shared.clients import reset_clients
from shared.config import reset_settings
from tests.integration.ledger.conftest import dump

SEEDED = {"name": "seeded"}


@pytest.fixture
def access(
    firestore_client: Any, credentials_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], None]]:
    """Sets the function's declared access (JSON of its manifest entry) for shared code."""

    def declare(value: str) -> None:
        monkeypatch.setenv("TRIBUTUM_FIRESTORE__ACCESS", value)
        reset_settings()
        reset_clients()

    yield declare
    monkeypatch.delenv("TRIBUTUM_FIRESTORE__ACCESS", raising=False)
    reset_settings()
    reset_clients()


def test_a_function_without_credentials_access_cannot_reach_that_database(
    access: Callable[[str], None], credentials_client: Any
) -> None:
    credentials_client.collection("users").document("u-1").set(SEEDED)
    access('{"main": "write", "credentials": "none"}')

    with pytest.raises(PermissionDenied):
        clients.credentials_client()
    # Its main database is its own as before.
    clients.firestore_client().collection("probe").document("p-1").set({"ok": True})
    assert clients.firestore_client().collection("probe").document("p-1").get().exists


# Every way a client writes: each must be refused by a client that may only read.
WRITES: dict[str, Callable[[Any], Any]] = {
    "set": lambda db: db.collection("users").document("u-1").set({"name": "changed"}),
    "create": lambda db: db.collection("users").document("u-2").create({"name": "new"}),
    "update": lambda db: db.collection("users").document("u-1").update({"name": "changed"}),
    "delete": lambda db: db.collection("users").document("u-1").delete(),
    "add": lambda db: db.collection("users").add({"name": "added"}),
    "batch": lambda db: _batch(db),
    "transaction": lambda db: _transaction(db),
}


def _batch(db: Any) -> None:
    batch = db.batch()
    batch.set(db.collection("users").document("u-3"), {"name": "batched"})
    batch.commit()


def _transaction(db: Any) -> None:
    from google.cloud import firestore

    reference = db.collection("users").document("u-1")

    @firestore.transactional
    def change(transaction: Any) -> None:
        reference.get(transaction=transaction)
        transaction.update(reference, {"name": "in a transaction"})

    change(db.transaction())


@pytest.mark.parametrize("write", list(WRITES))
def test_a_read_only_credentials_client_refuses_every_write_and_writes_nothing(
    access: Callable[[str], None], credentials_client: Any, write: str
) -> None:
    credentials_client.collection("users").document("u-1").set(SEEDED)
    before = dump(credentials_client)
    access('{"main": "write", "credentials": "read"}')
    readable = clients.credentials_client()

    assert readable.collection("users").document("u-1").get().to_dict() == SEEDED
    with pytest.raises(PermissionDenied):
        WRITES[write](readable)

    assert dump(credentials_client) == before


@pytest.mark.parametrize("write", list(WRITES))
def test_a_read_only_main_client_refuses_every_write_and_writes_nothing(
    access: Callable[[str], None], firestore_client: Any, write: str
) -> None:
    firestore_client.collection("users").document("u-1").set(SEEDED)
    before = dump(firestore_client)
    access('{"main": "read", "credentials": "read"}')
    readable = clients.firestore_client()

    assert readable.collection("users").document("u-1").get().to_dict() == SEEDED
    with pytest.raises(PermissionDenied):
        WRITES[write](readable)

    assert dump(firestore_client) == before


def test_without_a_declaration_both_databases_are_writable(credentials_client: Any) -> None:
    # One process holding several functions (these tests): no access is declared.
    reset_settings()
    reset_clients()
    clients.credentials_client().collection("users").document("u-9").set(SEEDED)
    clients.firestore_client().collection("probe").document("p-9").set(SEEDED)

    assert credentials_client.collection("users").document("u-9").get().to_dict() == SEEDED
