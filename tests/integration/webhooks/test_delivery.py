"""From a domain event to a signed POST on a real HTTP endpoint, and what is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.config import reset_settings
from shared.events.event_context import PROCESSED_COLLECTION, processed_document_id
from shared.webhooks import DeliveryRetryError
from shared.webhooks.rules import webhook_id
from shared.webhooks.store import secrets_ref
from tests.integration.webhooks.conftest import TENANT, Webhooks, payment_event


def test_an_event_is_delivered_signed_to_each_subscribed_endpoint(hooks: Webhooks) -> None:
    payments = hooks.create(["payment.*"])
    everything = hooks.create(["*"])
    hooks.create(["ledger.*"])
    event = payment_event()

    hooks.dispatch(event)
    messages = hooks.published(2)
    for message in messages:
        hooks.deliver(message)

    received = {d.webhook_id: d for d in hooks.sink.deliveries}
    expected = {webhook_id(event.id, e["id"]): e for e in (payments, everything)}
    assert set(received) == set(expected)
    for delivery_id, endpoint in expected.items():
        request = received[delivery_id]
        body = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert body["type"] == "payment.settled" and body["id"] == event.id
        assert body["data"]["payment_id"] == "pay_1"
        recorded = hooks.delivery(endpoint["id"], delivery_id)
        assert (recorded["status"], recorded["attempt_count"]) == ("delivered", 1)
        [attempt] = recorded["attempts"]
        assert (attempt["kind"], attempt["status_code"], attempt["outcome"]) == (
            "response", 200, "delivered",
        )  # fmt: skip
        assert attempt["latency_ms"] > 0 and attempt["response_body"] == '{"received": true}'
    # One endpoint's secret does not verify another's delivery.
    other = received[webhook_id(event.id, payments["id"])]
    with pytest.raises(WebhookVerificationError):
        Webhook(everything["secret"]).verify(other.body, other.headers)


def test_types_outside_the_catalog_and_other_tenants_are_not_delivered(hooks: Webhooks) -> None:
    hooks.create(["*"])

    hooks.dispatch(payment_event("payment.requested"))
    hooks.dispatch(payment_event(tenant="tenant-b"))

    assert hooks.published(0, settle=1.0) == []


def test_a_redelivered_event_yields_no_second_delivery(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()

    hooks.dispatch(event, message_id="m-1")
    hooks.dispatch(event, message_id="m-2")
    # Even once the dispatcher's processed record is gone (its TTL), the delivery's
    # derived id finds the delivery made before.
    hooks.db.collection(PROCESSED_COLLECTION).document(
        processed_document_id("webhook_dispatch", event.id)
    ).delete()
    hooks.dispatch(event, message_id="m-3")

    [message] = hooks.published(1, settle=1.5)
    hooks.deliver(message)
    hooks.deliver(message)  # Pub/Sub delivering the same message twice

    assert [d.webhook_id for d in hooks.sink.deliveries] == [webhook_id(event.id, endpoint["id"])]
    listed = hooks.api.get(f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries", token="admin")
    assert [d["id"] for d in listed.data] == [webhook_id(event.id, endpoint["id"])]


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_a_retriable_answer_fails_the_delivery_and_the_retry_keeps_the_webhook_id(
    hooks: Webhooks, status: int
) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()
    hooks.dispatch(event)
    [message] = hooks.published(1)
    hooks.sink.fail_next(1, status)

    with pytest.raises(DeliveryRetryError):
        hooks.deliver(message)
    delivery_id = webhook_id(event.id, endpoint["id"])
    retrying = hooks.delivery(endpoint["id"], delivery_id)
    hooks.deliver(message)  # Pub/Sub's redelivery after the backoff

    assert retrying["status"] == "retrying"
    assert (retrying["last_attempt"]["status_code"], retrying["last_attempt"]["outcome"]) == (
        status, "retriable",
    )  # fmt: skip
    assert [(d.webhook_id, d.answered) for d in hooks.sink.deliveries] == [
        (delivery_id, status),
        (delivery_id, 200),
    ]
    timestamps = [d.headers["webhook-timestamp"] for d in hooks.sink.deliveries]
    assert all(t.isdigit() for t in timestamps)
    done = hooks.delivery(endpoint["id"], delivery_id)
    assert (done["status"], done["attempt_count"]) == ("delivered", 2)
    assert [a["number"] for a in done["attempts"]] == [2, 1]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_a_permanent_refusal_fails_the_delivery_without_a_retry(
    hooks: Webhooks, status: int
) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()
    hooks.dispatch(event)
    [message] = hooks.published(1)
    hooks.sink.fail_next(1, status)

    hooks.deliver(message)  # acknowledged: no exception, no redelivery
    hooks.deliver(message)

    failed = hooks.delivery(endpoint["id"], webhook_id(event.id, endpoint["id"]))
    assert (failed["status"], failed["attempt_count"]) == ("failed", 1)
    assert failed["last_attempt"]["outcome"] == "permanent"
    assert len(hooks.sink.deliveries) == 1
    assert hooks.endpoint(endpoint["id"])["consecutive_failures"] == 1


def test_a_refused_connection_is_retried(hooks: Webhooks, closed_port: int) -> None:
    endpoint = hooks.create(["payment.*"], url=f"http://127.0.0.1:{closed_port}/hooks")
    event = payment_event()
    hooks.dispatch(event)
    [message] = hooks.published(1)

    with pytest.raises(DeliveryRetryError):
        hooks.deliver(message)

    recorded = hooks.delivery(endpoint["id"], webhook_id(event.id, endpoint["id"]))
    assert recorded["status"] == "retrying"
    assert recorded["last_attempt"]["kind"] == "connection_error"
    assert recorded["last_attempt"]["status_code"] is None


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    rotated = hooks.api.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret", token="admin"
    ).data
    hooks.dispatch(payment_event(payment_id="pay_1"))
    [first] = hooks.published(1)
    hooks.deliver(first)

    [during] = hooks.sink.deliveries
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(rotated["secret"]).verify(during.body, during.headers)
    Webhook(endpoint["secret"]).verify(during.body, during.headers)

    # The overlap ends: the previous secret stops signing.
    ref = secrets_ref(hooks.db, TENANT, endpoint["id"])
    stored = ref.get().to_dict()["secrets"]
    stored[1]["expires_at"] = datetime.now(UTC) - timedelta(seconds=1)
    ref.set({"secrets": stored})
    hooks.dispatch(payment_event(payment_id="pay_2"))
    [second] = hooks.published(1)
    hooks.deliver(second)

    after = hooks.sink.deliveries[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated["secret"]).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(after.body, after.headers)


def test_disabling_an_endpoint_cancels_its_pending_deliveries(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()
    hooks.dispatch(event)
    [message] = hooks.published(1)
    hooks.api.post(f"/v1/webhooks/endpoints/{endpoint['id']}/disable", token="admin")

    hooks.deliver(message)
    hooks.dispatch(payment_event(payment_id="pay_2"))

    assert hooks.sink.deliveries == []
    cancelled = hooks.delivery(endpoint["id"], webhook_id(event.id, endpoint["id"]))
    assert (cancelled["status"], cancelled["attempt_count"]) == ("cancelled", 0)
    assert hooks.published(0, settle=1.0) == []


def test_the_url_is_checked_again_at_delivery_time(
    hooks: Webhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = hooks.create(["payment.*"])
    event = payment_event()
    hooks.dispatch(event)
    [message] = hooks.published(1)
    # Where the sink's address is no longer allowed (as in the cloud), the attempt is
    # refused before any connection.
    monkeypatch.setenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", "[]")
    reset_settings()

    hooks.deliver(message)

    assert hooks.sink.deliveries == []
    refused = hooks.delivery(endpoint["id"], webhook_id(event.id, endpoint["id"]))
    assert refused["status"] == "failed"
    assert refused["last_attempt"]["kind"] == "url_refused"


def test_nothing_secret_is_in_messages_or_records(hooks: Webhooks) -> None:
    endpoint = hooks.create(["payment.*"])
    hooks.dispatch(payment_event())
    [message] = hooks.published(1)
    hooks.deliver(message)

    data = orjson.loads(message.data)
    assert set(data["data"]) == {"endpoint_id", "delivery_id", "event_id", "round", "lane"}
    everything: list[Any] = [
        s.to_dict() for c in hooks.db.collections() for s in c.recursive().stream()
    ]
    # Not even the secrets document holds it plain: it is sealed there.
    assert [d for d in everything if endpoint["secret"] in str(d)] == []
