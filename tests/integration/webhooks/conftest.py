"""Webhooks against the Firestore and Pub/Sub emulators, delivering to a real local sink.

The functions run in-process: ``webhooks`` through its router, ``webhook_dispatch``
and ``webhook_deliver`` with the push deliveries Pub/Sub would make. Delivery
messages are pulled from ``webhook-deliveries`` as published and pushed to the
deliverer by the test, so a test decides when (and how often) each is delivered.
"""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from emulator.webhook_sink import WebhookSink
from shared.clients import reset_clients
from shared.config import reset_settings
from shared.events.envelope import EventEnvelope, new_event
from shared.identity.roles import permissions_for
from shared.webhooks.rules import DELIVERIES_TOPIC, SLOW_DELIVERIES_TOPIC
from tests.integration.events.conftest import PullSubscription, push_event
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
PRINCIPALS = {
    role: Principal(f"u-{role}", TENANT, role, permissions_for(role))
    for role in ("owner", "admin", "accountant", "viewer")
} | {"other-admin": Principal("u-other", OTHER_TENANT, "admin", permissions_for("admin"))}
TOPICS = (
    "audit-events",
    DELIVERIES_TOPIC,
    SLOW_DELIVERIES_TOPIC,
    "payment-events",
    "ledger-events",
)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(port=0) as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def platform(
    firestore_client: Any,
    emulators: Any,
    pubsub_publisher: Any,
    sink: WebhookSink,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    # What the local stack's manifest environment does for its sink: only these two
    # private addresses may be reached.
    allowed = [f"127.0.0.1:{sink.port}", f"127.0.0.1:{closed_port}"]
    monkeypatch.setenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", json.dumps(allowed))
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


def _pull(emulators: Any, subscriber: Any, topic: str) -> Iterator[PullSubscription]:
    path = subscriber.subscription_path(emulators.project_id, f"sub-{uuid.uuid4().hex[:10]}")
    subscriber.create_subscription(
        name=path, topic=f"projects/{emulators.project_id}/topics/{topic}"
    )
    yield PullSubscription(topic, path, subscriber)
    with contextlib.suppress(Exception):
        subscriber.delete_subscription(subscription=path)


@pytest.fixture
def delivery_messages(
    platform: Any, emulators: Any, pubsub_subscriber: Any
) -> Iterator[PullSubscription]:
    yield from _pull(emulators, pubsub_subscriber, DELIVERIES_TOPIC)


@pytest.fixture
def slow_delivery_messages(
    platform: Any, emulators: Any, pubsub_subscriber: Any
) -> Iterator[PullSubscription]:
    yield from _pull(emulators, pubsub_subscriber, SLOW_DELIVERIES_TOPIC)


@pytest.fixture
def audit_messages(
    platform: Any, emulators: Any, pubsub_subscriber: Any
) -> Iterator[PullSubscription]:
    yield from _pull(emulators, pubsub_subscriber, "audit-events")


@pytest.fixture
def api(platform: Any) -> RouterClient:
    module = load_function("webhooks")
    module.router._authenticator = StaticAuthenticator(PRINCIPALS)
    return RouterClient(module.router)


@dataclass
class Webhooks:
    """The three functions and the sink, driven step by step."""

    api: RouterClient
    db: Any
    project_id: str
    sink: WebhookSink
    messages: PullSubscription

    def create(self, event_types: list[str] | None = None, url: str | None = None) -> Any:
        answer = self.api.post(
            "/v1/webhooks/endpoints",
            json={"url": url or self.sink.url("/hooks"), "event_types": event_types or ["*"]},
            token="admin",
        )
        assert answer.status == 201, answer.json
        return answer.data

    def dispatch(self, envelope: EventEnvelope, message_id: str | None = None) -> None:
        topic = "payment-events" if envelope.type.startswith("payment.") else "ledger-events"
        load_function("webhook_dispatch").handle(
            push_event(
                self.project_id, topic, envelope.to_bytes(), envelope.attributes(), message_id
            )
        )

    def published(self, expected: int, settle: float = 0.5) -> list[Any]:
        """The delivery messages published since the last call (waits for ``expected``)."""
        return self.messages.receive(expected, timeout=10, settle=settle)

    def deliver(self, message: Any, topic: str = DELIVERIES_TOPIC) -> None:
        """Push one delivery message to webhook_deliver, as Pub/Sub would (again)."""
        load_function("webhook_deliver").handle(
            push_event(
                self.project_id,
                topic,
                message.data,
                dict(message.attributes),
                message_id=message.message_id,
            )
        )

    def delivery(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        answer = self.api.get(
            f"/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}", token="admin"
        )
        assert answer.status == 200, answer.json
        return dict(answer.data)

    def endpoint(self, endpoint_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/webhooks/endpoints/{endpoint_id}", token="admin")
        assert answer.status == 200, answer.json
        return dict(answer.data)


@pytest.fixture
def hooks(
    api: RouterClient,
    platform: Any,
    emulators: Any,
    sink: WebhookSink,
    delivery_messages: PullSubscription,
) -> Webhooks:
    return Webhooks(api, platform, emulators.project_id, sink, delivery_messages)


def payment_event(
    event_type: str = "payment.settled", tenant: str = TENANT, payment_id: str = "pay_1"
) -> EventEnvelope:
    return new_event(
        event_type,
        source="tributum/payments",
        subject=f"payments/{payment_id}",
        tenant_id=tenant,
        data={"payment_id": payment_id, "payment": {"id": payment_id, "amount": "12.30"}},
    )


def webhook_documents(db: Any) -> dict[str, dict[str, Any]]:
    """Every webhook document of every tenant, by path."""
    found: dict[str, dict[str, Any]] = {}
    for tenant in db.collection("tenants").list_documents():
        for collection in tenant.collections():
            if collection.id.startswith("webhook_"):
                for snapshot in collection.recursive().stream():
                    found[snapshot.reference.path] = snapshot.to_dict() or {}
                for snapshot in collection.stream():
                    found[snapshot.reference.path] = snapshot.to_dict() or {}
    return found
