"""Webhooks end to end: a tenant's payment lifecycle, signed, at a receiver on this machine.

The real manifest runs from its archives (the ``product`` stack); its functions may
reach exactly one private address, the webhook sink's ``127.0.0.1:8790``
(``webhook_private_hosts`` in emulator/runtime_contract.py), so the sink is started
here on that port. Every delivery is verified with the Standard Webhooks reference
library (``standardwebhooks``) under the endpoint's secret, as a receiver would.

The design promises no order between the events of one payment (payment events
travel unordered, each delivery retries on its own), so a payment's deliveries are
checked as a set; the events' own timestamps carry the order of occurrence.

The tests share one tenant, one sink and its fail-next switch, and run in file order.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from emulator.webhook_sink import DEFAULT_SINK_PORT, SINK_HOST, ReceivedDelivery, WebhookSink
from shared.client import Tributum
from shared.webhooks.rules import DELIVERY_TIMEOUT_SECONDS, WEBHOOK_ID_PATTERN
from tests.e2e.conftest import StackHandle, http, wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
# The payment facts of the catalog one manual-capture payment, captured in part and
# refunded in part, goes through (the sandbox settles with the capture).
LIFECYCLE = {"payment.authorized", "payment.captured", "payment.settled", "payment.refunded"}
# Another test run (or a developer's sink) may hold the fixed port for a while.
PORT_WAIT_SECONDS = 180.0
DELIVERY_WAIT_SECONDS = 120.0
# Three failed attempts, each retried after Pub/Sub's backoff.
RETRY_WAIT_SECONDS = 240.0
# Requests to a dead endpoint are dropped without an answer: a host that is gone.
DEAD_PATH_PREFIX = "/dead"


@dataclass(frozen=True)
class Endpoint:
    id: str
    secret: str
    path: str


@dataclass
class Tenant:
    client: Tributum
    healthy: Endpoint


@dataclass(frozen=True)
class Arrival:
    """A delivery the sink received, verified under its endpoint's secret on receipt."""

    path: str
    webhook_id: str
    event: dict[str, Any]
    answered: int
    received_at: datetime
    timestamp: int
    body: bytes


class Receiver:
    """What a client's receiver does with each delivery the sink gets, as it gets it.

    Each delivery to a known endpoint is verified at once with the reference library
    (its timestamp tolerance is five minutes, so verifying later would refuse old
    deliveries); one that fails verification is kept in ``refused``. The connection of
    a request to a dead path is then dropped without an answer (the sink's handler
    fails), as a host that went away does: the sender gets no status at all.
    """

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.refused: list[str] = []
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()

    def expect(self, endpoint: Endpoint) -> None:
        self.secrets[endpoint.path] = endpoint.secret

    def arrivals(self, endpoint: Endpoint) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if a.path == endpoint.path]

    def __call__(self, delivery: ReceivedDelivery) -> None:
        secret = self.secrets.get(delivery.path)
        if secret is not None:
            try:
                arrival = _verified(delivery, secret)
            except Exception as exc:  # every refusal (signature, assertion) is a finding
                with self._lock:
                    self.refused.append(f"{delivery.path}: {exc!r}")
            else:
                with self._lock:
                    self._arrivals.append(arrival)
        if delivery.path.startswith(DEAD_PATH_PREFIX):
            raise ConnectionDroppedError(delivery.path)


class ConnectionDroppedError(Exception):
    """Raised in the sink's handler: it closes the connection without answering."""


def _verified(delivery: ReceivedDelivery, secret: str) -> Arrival:
    # The reference implementation: raises unless signed with this secret, recently.
    event = Webhook(secret).verify(delivery.body, delivery.headers)
    assert event == json.loads(delivery.body)
    webhook_id = delivery.headers["webhook-id"]
    assert re.match(WEBHOOK_ID_PATTERN, webhook_id), webhook_id
    return Arrival(
        path=delivery.path,
        webhook_id=webhook_id,
        event=event,
        answered=delivery.answered,
        received_at=delivery.received_at,
        timestamp=int(delivery.headers["webhook-timestamp"]),
        body=delivery.body,
    )


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture(autouse=True)
def every_delivery_verifies(receiver: Receiver) -> Iterator[None]:
    yield
    assert receiver.refused == [], "deliveries the reference library refused"


@pytest.fixture(scope="module")
def sink(receiver: Receiver) -> Iterator[WebhookSink]:
    """The sink on the one address the stack may deliver to, once that port is free."""
    deadline = time.monotonic() + PORT_WAIT_SECONDS
    while True:
        try:
            running = WebhookSink(SINK_HOST, DEFAULT_SINK_PORT, on_delivery=receiver)
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"port {DEFAULT_SINK_PORT} stayed taken", pytrace=False)
            time.sleep(5)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _endpoint(client: Tributum, sink: WebhookSink, receiver: Receiver, path: str) -> Endpoint:
    created = client.create_webhook_endpoint(
        {"url": sink.url(path), "event_types": ["payment.*"], "description": path}
    )
    assert created["enabled"] is True
    assert created["secret"].startswith("whsec_")
    endpoint = Endpoint(created["id"], created["secret"], path)
    receiver.expect(endpoint)
    return endpoint


@pytest.fixture(scope="module")
def tenant(product: StackHandle, sink: WebhookSink, receiver: Receiver) -> Iterator[Tenant]:
    email = f"hooks-{uuid.uuid4().hex[:10]}@example.com"
    # Its own loopback address: the signup throttle counts per client address.
    transport = httpx.HTTPTransport(local_address="127.0.46.1")
    with Tributum(product.gateway_url, transport=transport) as client:
        client.sign_up({"email": email, "password": PASSWORD, "name": "Ada Hooks"})
        client.log_in(email, PASSWORD)
        healthy = _endpoint(client, sink, receiver, f"/hooks/{uuid.uuid4().hex[:8]}")
        yield Tenant(client, healthy)


# -- what the receiver got ---------------------------------------------------------------------


def _of_payment(arrivals: list[Arrival], payment_id: str) -> list[Arrival]:
    return [a for a in arrivals if a.event["subject"] == f"payments/{payment_id}"]


def _delivered_types(receiver: Receiver, endpoint: Endpoint, payment_id: str) -> set[str]:
    arrivals = _of_payment(receiver.arrivals(endpoint), payment_id)
    return {a.event["type"] for a in arrivals if a.answered == 200}


def _await_types(
    receiver: Receiver, endpoint: Endpoint, payment_id: str, types: set[str]
) -> list[Arrival]:
    wait_for(
        lambda: types <= _delivered_types(receiver, endpoint, payment_id) or None,
        timeout=DELIVERY_WAIT_SECONDS,
        what=f"{sorted(types)} of {payment_id} at {endpoint.path}",
    )
    return _of_payment(receiver.arrivals(endpoint), payment_id)


def _payment_in(client: Tributum, payment_id: str, *statuses: str) -> dict[str, Any] | None:
    payment = client.get_payment(payment_id)
    return dict(payment) if payment["status"] in statuses else None


def _await_payment(client: Tributum, payment_id: str, *statuses: str) -> dict[str, Any]:
    return wait_for(
        lambda: _payment_in(client, payment_id, *statuses),
        timeout=DELIVERY_WAIT_SECONDS,
        what=f"payment {payment_id} to be {' or '.join(statuses)}",
    )


def _new_payment(client: Tributum, amount: str, capture_mode: str) -> str:
    payment = client.create_payment(
        {
            "amount": amount,
            "currency": "EUR",
            "payer_ref": "cust_2001",
            "payee_ref": "merchant_9",
            "method_token": "tok_approve",
            "description": "webhook lifecycle",
            "capture_mode": capture_mode,
        }
    )
    assert payment["status"] == "requested"
    return str(payment["id"])


def _one_per_event(arrivals: list[Arrival]) -> dict[str, Arrival]:
    """The first arrival of each event, after checking every copy has one webhook-id."""
    ids: dict[str, set[str]] = {}
    for arrival in arrivals:
        ids.setdefault(arrival.event["id"], set()).add(arrival.webhook_id)
    assert all(len(found) == 1 for found in ids.values()), ids
    firsts: dict[str, Arrival] = {}
    for arrival in arrivals:
        firsts.setdefault(arrival.event["id"], arrival)
    return firsts


# -- the tests, in order ----------------------------------------------------------------------

_state: dict[str, Any] = {}


def test_a_payments_lifecycle_arrives_signed_once_per_event(
    tenant: Tenant, receiver: Receiver
) -> None:
    client, endpoint = tenant.client, tenant.healthy
    payment_id = _new_payment(client, "100.00", "manual")
    _await_payment(client, payment_id, "authorized")
    client.capture_payment(payment_id, {"amount": "60.00"})
    captured = _await_payment(client, payment_id, "captured", "settled")
    assert captured["captured_amount"] == "60.00"
    refund = client.refund_payment(payment_id, {"amount": "25.00", "reason": "one item back"})
    _await_payment(client, payment_id, "partially_refunded")

    arrivals = _await_types(receiver, endpoint, payment_id, LIFECYCLE)
    events = _one_per_event(arrivals)
    by_type = {a.event["type"]: a for a in events.values()}
    # Exactly the lifecycle's facts, one event each: no command (payment.requested,
    # payment.capture_requested...) is ever sent.
    assert sorted(a.event["type"] for a in events.values()) == sorted(LIFECYCLE)
    # One webhook-id per event (and endpoint), never shared between two events.
    assert len({a.webhook_id for a in events.values()}) == len(LIFECYCLE)
    # What the events say, and the order they occurred in (their own timestamps).
    assert by_type["payment.captured"].event["data"]["amount"] == "60.00"
    assert by_type["payment.refunded"].event["data"]["refund_id"] == refund["refund"]["id"]
    assert by_type["payment.refunded"].event["data"]["payment"]["refunded_amount"] == "25.00"
    occurred = [
        datetime.fromisoformat(by_type[t].event["timestamp"])
        for t in ("payment.authorized", "payment.captured", "payment.settled", "payment.refunded")
    ]
    assert occurred == sorted(occurred)
    for arrival in events.values():
        assert arrival.event["schema_version"] == 1
        assert b"method_token" not in arrival.body

    # The delivery log holds each one, delivered, under the id the receiver saw.
    for arrival in events.values():
        logged = client.get_webhook_delivery(endpoint.id, arrival.webhook_id)
        assert logged["status"] == "delivered"
        assert logged["event_id"] == arrival.event["id"]
        assert logged["event_type"] == arrival.event["type"]
        assert logged["attempts"][0]["status_code"] == 200
    _state["payment_id"] = payment_id
    _state["lifecycle"] = by_type


def test_failed_attempts_are_retried_under_the_same_webhook_id_until_delivered(
    tenant: Tenant, sink: WebhookSink, receiver: Receiver
) -> None:
    client, endpoint = tenant.client, tenant.healthy
    payment_id = _state["payment_id"]
    switched = http(
        "POST",
        sink.url("/_sink/fail-next"),
        headers={"Content-Type": "application/json"},
        body=json.dumps({"count": 3, "status": 503}).encode(),
    )
    assert switched.status == 200, switched.body
    refund = client.refund_payment(payment_id, {"amount": "5.00", "reason": "another item"})
    refund_id = refund["refund"]["id"]

    def copies() -> list[Arrival]:
        return [
            a
            for a in _of_payment(receiver.arrivals(endpoint), payment_id)
            if a.event["data"].get("refund_id") == refund_id
        ]

    wait_for(
        lambda: any(a.answered == 200 for a in copies()) or None,
        timeout=RETRY_WAIT_SECONDS,
        what="the refund's delivery to succeed after three failed attempts",
    )
    arrived = copies()
    assert [a.answered for a in arrived][:4] == [503, 503, 503, 200]
    assert len({a.webhook_id for a in arrived}) == 1
    assert len({a.body for a in arrived}) == 1  # the same bytes on every attempt
    # Each attempt is signed anew at its own time.
    assert [a.timestamp for a in arrived] == sorted(a.timestamp for a in arrived)

    logged = client.get_webhook_delivery(endpoint.id, arrived[0].webhook_id)
    assert logged["status"] == "delivered"
    assert logged["attempt_count"] >= 4
    attempts = sorted(logged["attempts"], key=lambda a: a["number"])
    assert [a["status_code"] for a in attempts][:4] == [503, 503, 503, 200]
    assert [a["outcome"] for a in attempts][:4] == ["retriable"] * 3 + ["delivered"]
    _state["second_refund"] = arrived[-1]


def test_a_delivery_and_everything_since_a_moment_are_resent_verifiably(
    tenant: Tenant, receiver: Receiver
) -> None:
    client, endpoint = tenant.client, tenant.healthy
    lifecycle: dict[str, Arrival] = _state["lifecycle"]
    captured = lifecycle["payment.captured"]

    def received(webhook_id: str) -> list[Arrival]:
        return [a for a in receiver.arrivals(endpoint) if a.webhook_id == webhook_id]

    before = len(received(captured.webhook_id))
    resent = client.resend_webhook_delivery(endpoint.id, captured.webhook_id)
    assert resent["id"] == captured.webhook_id
    assert resent["round"] == 1  # round 0 was the fan-out's
    wait_for(
        lambda: len(received(captured.webhook_id)) > before or None,
        timeout=DELIVERY_WAIT_SECONDS,
        what="the resent delivery",
    )
    again = received(captured.webhook_id)[-1]
    assert again.body == captured.body
    assert again.timestamp >= captured.timestamp

    # Since the first refund: that refund and the second one, oldest first.
    refunded = lifecycle["payment.refunded"]
    second: Arrival = _state["second_refund"]
    since = datetime.fromisoformat(refunded.event["timestamp"]) - timedelta(milliseconds=1)
    counts = {w: len(received(w)) for w in (refunded.webhook_id, second.webhook_id)}
    summary = client.resend_webhook_events(endpoint.id, {"since": since.isoformat()})
    assert summary == {"resent": 2, "truncated": False, "next_since": None}
    wait_for(
        lambda: all(len(received(w)) > n for w, n in counts.items()) or None,
        timeout=DELIVERY_WAIT_SECONDS,
        what="both refunds resent",
    )
    for original in (refunded, second):
        assert received(original.webhook_id)[-1].body == original.body
        assert client.get_webhook_delivery(endpoint.id, original.webhook_id)["round"] == 1


def test_a_dead_endpoint_never_holds_up_deliveries_to_a_healthy_one(
    tenant: Tenant, sink: WebhookSink, receiver: Receiver
) -> None:
    client, healthy = tenant.client, tenant.healthy
    dead = _endpoint(client, sink, receiver, f"{DEAD_PATH_PREFIX}/{uuid.uuid4().hex[:8]}")
    try:
        payment_id = _new_payment(client, "10.00", "automatic")
        expected = {"payment.authorized", "payment.captured", "payment.settled"}
        arrivals = _await_types(receiver, healthy, payment_id, expected)
        # The dead endpoint was tried, and answered nothing...
        wait_for(
            lambda: _of_payment(receiver.arrivals(dead), payment_id) or None,
            timeout=DELIVERY_WAIT_SECONDS,
            what="an attempt at the dead endpoint",
        )
        # ...yet every event reached the healthy endpoint promptly: sooner than one
        # attempt's deadline, so none waited behind a dead one.
        for arrival in _one_per_event(arrivals).values():
            occurred = datetime.fromisoformat(arrival.event["timestamp"])
            lag = (arrival.received_at - occurred).total_seconds()
            assert lag < DELIVERY_TIMEOUT_SECONDS, (arrival.event["type"], lag)

        def unanswered() -> list[dict[str, Any]] | None:
            logged = list(client.iter_webhook_deliveries(dead.id))
            found = [
                d for d in logged if (d["last_attempt"] or {}).get("kind") == "connection_error"
            ]
            return found or None

        dead_deliveries = wait_for(
            unanswered,
            timeout=DELIVERY_WAIT_SECONDS,
            what="the dead endpoint's attempts to be recorded as unanswered",
        )
        assert {d["status"] for d in dead_deliveries} <= {"retrying"}
        assert client.get_webhook_endpoint(healthy.id)["consecutive_failures"] == 0
    finally:
        client.delete_webhook_endpoint(dead.id)
