"""The ledger functions called in-process against the Firestore and Pub/Sub emulators.

HTTP functions go through :class:`RouterClient` with static principals (roles from
the real permission matrix); background functions get push deliveries built by
``push_envelope``. Topics the functions publish to exist, so publishing after a
commit really happens.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.idempotency.store import IDEMPOTENCY_COLLECTION
from shared.identity.roles import permissions_for
from tests.integration.ledger.conftest import dump
from tests.support.http import Answer, Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
PRINCIPALS = {
    "accountant": Principal("u-accountant", TENANT, "accountant", permissions_for("accountant")),
    "viewer": Principal("u-viewer", TENANT, "viewer", permissions_for("viewer")),
    "other": Principal("u-other", OTHER_TENANT, "accountant", permissions_for("accountant")),
}
PUBLISHED_TOPICS = ("ledger-events", "audit-events", "ledger-posting-results")


@pytest.fixture(autouse=True)
def platform(firestore_client: Any, emulators: Any, pubsub_publisher: Any) -> Iterator[Any]:
    """An empty database, settings and clients from the emulator environment, topics made."""
    reset_settings()
    reset_clients()
    for topic in PUBLISHED_TOPICS:
        with contextlib.suppress(AlreadyExists):
            pubsub_publisher.create_topic(
                name=pubsub_publisher.topic_path(emulators.project_id, topic)
            )
    yield firestore_client
    reset_clients()
    reset_settings()


def _client(function: str) -> RouterClient:
    module = load_function(function)
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    return RouterClient(module.router)


@dataclass
class Api:
    """The accounts and journal functions, as one client routes them."""

    accounts: RouterClient = field(default_factory=lambda: _client("accounts"))
    journal: RouterClient = field(default_factory=lambda: _client("journal"))

    def create_account(
        self,
        code: str,
        type: str = "asset",
        currency: str = "EUR",
        who: str = "accountant",
        **extra: Any,
    ) -> str:
        answer = self.accounts.post(
            "/v1/accounts",
            json={"code": code, "name": code.title(), "type": type, "currency": currency, **extra},
            token=who,
        )
        assert answer.status == 201, answer.json
        return str(answer.data["id"])

    def post(
        self,
        *lines: tuple[str, str, str],
        key: str | None = None,
        who: str = "accountant",
        **fields: Any,
    ) -> Answer:
        body = {
            "lines": [{"account_id": a, "side": s, "amount": amount} for a, s, amount in lines],
            **fields,
        }
        return self.journal.post(
            "/v1/journal-entries",
            json=body,
            token=who,
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def action(self, entry_id: str, verb: str, body: dict[str, Any] | None = None) -> Answer:
        return self.journal.post(
            f"/v1/journal-entries/{entry_id}/{verb}",
            json=body or {},
            token="accountant",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )

    def balances(self, account_id: str, who: str = "accountant") -> dict[str, str]:
        answer = self.accounts.get(f"/v1/accounts/{account_id}", token=who)
        assert answer.status == 200, answer.json
        return dict(answer.data["balances"])


@pytest.fixture
def api(platform: Any) -> Api:
    return Api()


def ledger_state(db: Any) -> dict[str, dict[str, Any]]:
    """Every document but the idempotency records (they store a rejection's response)."""
    return {
        path: document
        for path, document in dump(db).items()
        if not path.startswith(f"{IDEMPOTENCY_COLLECTION}/")
    }


@pytest.fixture
def state(platform: Any) -> Callable[[], dict[str, dict[str, Any]]]:
    return lambda: ledger_state(platform)


def idempotency_records(db: Any) -> list[dict[str, Any]]:
    return [s.to_dict() or {} for s in db.collection(IDEMPOTENCY_COLLECTION).stream()]
