"""Bank reconciliation against the Firestore and Pub/Sub emulators.

``bank_statements`` runs in-process through its router with static principals (roles
from the real permission matrix); the ledger is written through ``LedgerService``.
The ``bank_statement.imported`` messages an import publishes are pulled from the topic
and pushed to ``match_bank_statements`` as Pub/Sub would push them, so a test decides
when (and how often) the matching runs.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.bank_reconciliation.rules import TOPIC
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.identity.actor import Actor
from shared.identity.roles import permissions_for
from shared.ledger import CreateAccountRequest, LedgerService, PostEntryRequest, parse_request
from tests.integration.events.conftest import PullSubscription, push_event
from tests.support.http import Answer, Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
ADMIN = Actor.user("u-admin", role="admin")
PRINCIPALS = {
    "accountant": Principal("u-accountant", TENANT, "accountant", permissions_for("accountant")),
    "viewer": Principal("u-viewer", TENANT, "viewer", permissions_for("viewer")),
    "other": Principal("u-other", OTHER_TENANT, "accountant", permissions_for("accountant")),
}
TOPICS = (TOPIC, "audit-events", "ledger-events")


@pytest.fixture(autouse=True)
def platform(firestore_client: Any, emulators: Any, pubsub_publisher: Any) -> Iterator[Any]:
    reset_settings()
    reset_clients()
    for topic in TOPICS:
        with contextlib.suppress(AlreadyExists):
            pubsub_publisher.create_topic(
                name=pubsub_publisher.topic_path(emulators.project_id, topic)
            )
    yield firestore_client
    reset_clients()
    reset_settings()


@pytest.fixture
def imported_messages(
    platform: Any, emulators: Any, pubsub_subscriber: Any
) -> Iterator[PullSubscription]:
    path = pubsub_subscriber.subscription_path(emulators.project_id, f"sub-{uuid.uuid4().hex[:10]}")
    pubsub_subscriber.create_subscription(
        name=path, topic=f"projects/{emulators.project_id}/topics/{TOPIC}"
    )
    yield PullSubscription(TOPIC, path, pubsub_subscriber)
    with contextlib.suppress(Exception):
        pubsub_subscriber.delete_subscription(subscription=path)


@dataclass
class Bank:
    """The HTTP function, the consumer and the ledger, driven step by step."""

    api: RouterClient
    db: Any
    ledger: LedgerService
    project_id: str
    messages: PullSubscription

    # -- the ledger ------------------------------------------------------------------------

    def account(self, code: str, type: str = "asset", currency: str = "EUR") -> str:
        request = parse_request(
            CreateAccountRequest,
            {"code": code, "name": code.title(), "type": type, "currency": currency},
        )
        return self.ledger.create_account(TENANT, request, actor=ADMIN).id

    def post(
        self, bank: str, other: str, amount: str, day: str, side: str = "debit", **fields: Any
    ) -> str:
        """An entry moving ``amount`` on ``bank`` (debit: money in) against ``other``."""
        opposite = "credit" if side == "debit" else "debit"
        request = parse_request(
            PostEntryRequest,
            {
                "effective_date": day,
                "lines": [
                    {"account_id": bank, "side": side, "amount": amount},
                    {"account_id": other, "side": opposite, "amount": amount},
                ],
                **fields,
            },
        )
        return self.ledger.post_entry(TENANT, request, actor=ADMIN).id

    # -- the API ---------------------------------------------------------------------------

    def import_csv(
        self, account_id: str, text: str, who: str = "accountant", **extra: Any
    ) -> Answer:
        body = {
            "account_id": account_id,
            "format": "csv",
            "content": text,
            "csv": {
                "columns": {
                    "date": "Date",
                    "amount": "Amount",
                    "reference": "Ref",
                    "description": "Text",
                }
            },
            **extra,
        }
        return self.api.post("/v1/bank-statements", json=body, token=who)

    def import_camt(self, account_id: str, content: bytes) -> Answer:
        return self.api.post(
            "/v1/bank-statements",
            json={
                "account_id": account_id,
                "format": "camt053",
                "content": base64.b64encode(content).decode(),
                "content_encoding": "base64",
            },
            token="accountant",
        )

    def statement(self, statement_id: str, who: str = "accountant") -> dict[str, Any]:
        answer = self.api.get(f"/v1/bank-statements/{statement_id}", token=who)
        assert answer.status == 200, answer.json
        return dict(answer.data)

    def lines(self, statement_id: str, **query: Any) -> dict[str, dict[str, Any]]:
        answer = self.api.get(
            f"/v1/bank-statements/{statement_id}/lines",
            token="accountant",
            query={"limit": 100, **query},
        )
        assert answer.status == 200, answer.json
        return {line["id"]: line for line in answer.data}

    def unmatched_entries(self, statement_id: str) -> list[str]:
        answer = self.api.get(
            f"/v1/bank-statements/{statement_id}/unmatched-entries",
            token="accountant",
            query={"limit": 100},
        )
        assert answer.status == 200, answer.json
        return [entry["id"] for entry in answer.data]

    def line_action(
        self, statement_id: str, line_id: str, verb: str, body: Any = None, who: str = "accountant"
    ) -> Answer:
        return self.api.post(
            f"/v1/bank-statements/{statement_id}/lines/{line_id}/{verb}",
            json=body,
            token=who,
        )

    def reconcile(self, statement_id: str, who: str = "accountant") -> Answer:
        return self.api.post(f"/v1/bank-statements/{statement_id}/reconcile", token=who)

    # -- the consumer ----------------------------------------------------------------------

    def published(self, expected: int = 1) -> list[Any]:
        return self.messages.receive(expected, timeout=10, settle=0.3)

    def deliver(self, message: Any) -> None:
        """Push one message to match_bank_statements, as Pub/Sub would (again)."""
        load_function("match_bank_statements").handle(
            push_event(
                self.project_id,
                TOPIC,
                message.data,
                dict(message.attributes),
                message_id=message.message_id,
            )
        )

    def match(self) -> None:
        """Push the import's event to the consumer."""
        [message] = self.published(1)
        self.deliver(message)


@pytest.fixture
def bank(platform: Any, emulators: Any, imported_messages: PullSubscription) -> Bank:
    module = load_function("bank_statements")
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    return Bank(
        RouterClient(module.router),
        platform,
        LedgerService(platform, publisher=None),
        emulators.project_id,
        imported_messages,
    )
