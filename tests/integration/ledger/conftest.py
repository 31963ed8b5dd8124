"""Fixtures for the ledger against the Firestore emulator: a service, builders, a dump.

``database_dump`` reads every document of the (emptied) database, so a rejection
test can assert that a refused command wrote nothing at all: no entry, no balance
change, no outbox record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from shared.identity.actor import Actor
from shared.ledger import (
    Account,
    CreateAccountRequest,
    Entry,
    LedgerService,
    PostEntryRequest,
    parse_request,
)
from shared.ledger.service import LedgerSettings

ADMIN = Actor.user("u-admin", role="admin")
TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"


@pytest.fixture
def ledger(firestore_client: Any) -> LedgerService:
    """The service with publishing left to the outbox relay (records stay pending)."""
    return LedgerService(firestore_client, publisher=None)


@pytest.fixture
def ledger_without_group_commit(firestore_client: Any) -> LedgerService:
    return LedgerService(
        firestore_client, publisher=None, settings=LedgerSettings(group_commit=False)
    )


@dataclass
class Books:
    """Helpers bound to one service and tenant."""

    service: LedgerService
    tenant: str = TENANT

    def account(self, code: str, type: str = "asset", currency: str = "EUR", **extra: Any) -> str:
        request = parse_request(
            CreateAccountRequest,
            {"code": code, "name": code.title(), "type": type, "currency": currency, **extra},
        )
        return self.service.create_account(self.tenant, request, actor=ADMIN).id

    def account_record(self, account_id: str) -> Account:
        return self.service.get_account(self.tenant, account_id).account

    def post(self, *lines: tuple[str, str, str], **fields: Any) -> Entry:
        return self.service.post_entry(self.tenant, entry(*lines, **fields), actor=ADMIN)

    def posted(self, account_id: str) -> str:
        return self.service.get_account(self.tenant, account_id).balances.to_json()["posted"]  # type: ignore[no-any-return]

    def balances(self, account_id: str) -> dict[str, str]:
        return self.service.get_account(self.tenant, account_id).balances.to_json()


def entry(*lines: tuple[str, str, str], **fields: Any) -> PostEntryRequest:
    body = {
        "lines": [{"account_id": a, "side": side, "amount": amount} for a, side, amount in lines],
        **fields,
    }
    return parse_request(PostEntryRequest, body)


@pytest.fixture
def books(ledger: LedgerService) -> Books:
    return Books(ledger)


def dump(db: Any) -> dict[str, dict[str, Any]]:
    """Every document in the database, by path (one recursive query per root collection)."""
    return {
        snapshot.reference.path: snapshot.to_dict() or {}
        for collection in db.collections()
        for snapshot in collection.recursive().stream()
    }


@pytest.fixture
def database_dump(firestore_client: Any) -> Callable[[], dict[str, dict[str, Any]]]:
    return lambda: dump(firestore_client)


def outbox_types(db: Any) -> list[tuple[str, str]]:
    """(topic, type) of every outbox record, oldest first."""
    records = [s.to_dict() or {} for s in db.collection("outbox").stream()]
    records.sort(key=lambda r: r["created_at"])
    return [(r["topic"], r["type"]) for r in records]
