"""A webhook endpoint that hangs never delays a healthy endpoint's deliveries.

The real manifest runs from its archives (the ``product`` stack). The sink on the one
address the stack may deliver to (``127.0.0.1:8790``) serves two endpoints of one
tenant: a healthy one, and one whose requests are accepted and never answered within
any deadline (the handler holds them). Every payment event goes to both.

All deliveries of the deployment share the Pub/Sub emulator's push window, which holds
only a couple of messages at a time. Before the two lanes, each attempt at the hanging
endpoint held a slot for the whole 10 s deadline and the healthy endpoint's deliveries
queued behind them (tens of seconds). Now the fast lane cuts the first attempt short,
the endpoint cools down, and its deliveries are retried on the slow lane: half the
healthy endpoint's deliveries arrive sooner than one 10 s deadline after their events,
and all of them within two.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from emulator.webhook_sink import DEFAULT_SINK_PORT, SINK_HOST, ReceivedDelivery, WebhookSink
from shared.client import Tributum
from shared.webhooks.rules import DELIVERY_TIMEOUT_SECONDS, FIRST_ATTEMPT_TIMEOUT_SECONDS
from tests.e2e.conftest import StackHandle, wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
# Another test module (or a developer's sink) may hold the fixed port for a while.
PORT_WAIT_SECONDS = 180.0
DELIVERY_WAIT_SECONDS = 120.0
HANG_PREFIX = "/hang/"
# Longer than any attempt's deadline: the sender gives up first, every time.
HOLD_SECONDS = DELIVERY_TIMEOUT_SECONDS + 20
PAYMENTS = 4  # after a warm-up payment
FACTS = {"payment.authorized", "payment.captured", "payment.settled"}


class HangingPaths:
    """The sink's hook: a request to ``/hang/...`` is held unanswered past every deadline."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def __call__(self, delivery: ReceivedDelivery) -> None:
        if delivery.path.startswith(HANG_PREFIX):
            self.released.wait(HOLD_SECONDS)


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    hanging = HangingPaths()
    deadline = time.monotonic() + PORT_WAIT_SECONDS
    while True:
        try:
            running = WebhookSink(SINK_HOST, DEFAULT_SINK_PORT, on_delivery=hanging)
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"port {DEFAULT_SINK_PORT} stayed taken", pytrace=False)
            time.sleep(5)
    running.start()
    try:
        yield running
    finally:
        hanging.released.set()
        running.stop()


@pytest.fixture(scope="module")
def client(product: StackHandle) -> Iterator[Tributum]:
    email = f"slow-hooks-{uuid.uuid4().hex[:10]}@example.com"
    # Its own loopback address: the signup throttle counts per client address.
    transport = httpx.HTTPTransport(local_address="127.0.50.1")
    with Tributum(product.gateway_url, transport=transport) as signed_in:
        signed_in.sign_up({"email": email, "password": PASSWORD, "name": "Ada Slowhooks"})
        signed_in.log_in(email, PASSWORD)
        yield signed_in


def _endpoint(client: Tributum, sink: WebhookSink, path: str) -> dict[str, Any]:
    created = client.create_webhook_endpoint(
        {"url": sink.url(path), "event_types": ["payment.*"], "description": path}
    )
    assert created["enabled"] is True
    return dict(created)


def _payment(client: Tributum, number: int) -> str:
    payment = client.create_payment(
        {
            "amount": f"{10 + number}.00",
            "currency": "EUR",
            "payer_ref": "cust_3001",
            "payee_ref": "merchant_9",
            "method_token": "tok_approve",
            "description": f"slow endpoints {number}",
            "capture_mode": "automatic",
        }
    )
    return str(payment["id"])


def _firsts(sink: WebhookSink, path: str, secret: str) -> dict[str, tuple[dict[str, Any], Any]]:
    """The first delivery of each event at ``path``, verified: event id -> (event, receipt)."""
    found: dict[str, tuple[dict[str, Any], Any]] = {}
    for delivery in sink.deliveries:
        if delivery.path != path or delivery.answered != 200:
            continue
        event = Webhook(secret).verify(delivery.body, delivery.headers)
        found.setdefault(event["id"], (event, delivery.received_at))
    return found


def _await_healthy(
    sink: WebhookSink, endpoint: dict[str, Any], payments: list[str]
) -> dict[str, tuple[dict[str, Any], Any]]:
    """The first delivery of every fact of ``payments`` at the healthy endpoint."""
    subjects = {f"payments/{p}" for p in payments}
    expected = len(payments) * len(FACTS)

    def arrived() -> dict[str, tuple[dict[str, Any], Any]] | None:
        firsts = _firsts(sink, endpoint["description"], endpoint["secret"])
        mine = {
            k: v for k, v in firsts.items() if v[0]["subject"] in subjects and v[0]["type"] in FACTS
        }
        return mine if len(mine) >= expected else None

    return wait_for(arrived, timeout=DELIVERY_WAIT_SECONDS, what="every healthy delivery")


def test_a_hanging_endpoint_never_holds_up_a_healthy_one(
    client: Tributum, sink: WebhookSink
) -> None:
    healthy = _endpoint(client, sink, f"/hooks/{uuid.uuid4().hex[:8]}")
    # Warm-up: the first events after a start pay for imports and connections.
    _await_healthy(sink, healthy, [_payment(client, 0)])
    hanging = _endpoint(client, sink, f"{HANG_PREFIX}{uuid.uuid4().hex[:8]}")
    hanging_path = hanging["description"]
    try:
        payments = [_payment(client, n) for n in range(1, PAYMENTS + 1)]
        arrived = _await_healthy(sink, healthy, payments)

        # The hanging endpoint was being tried meanwhile...
        assert any(d.path == hanging_path for d in sink.deliveries), "never tried"
        # ...yet the healthy endpoint's deliveries did not wait behind it. Before the
        # lanes each of them queued behind attempts holding the push window for the
        # whole deadline (34 s p50 in the benchmark): now half of them arrive sooner
        # than one such deadline after their event, and all within two.
        lags = sorted(
            (received - datetime.fromisoformat(event["timestamp"])).total_seconds()
            for event, received in arrived.values()
        )
        assert lags[len(lags) // 2] < DELIVERY_TIMEOUT_SECONDS, lags
        assert lags[-1] < 2 * DELIVERY_TIMEOUT_SECONDS, lags

        # The hanging endpoint's deliveries are logged and retried on the slow lane.
        def retried() -> list[dict[str, Any]] | None:
            logged = list(client.iter_webhook_deliveries(hanging["id"]))
            again = [d for d in logged if d["lane"] == "slow" and d["attempt_count"] >= 2]
            return logged if again else None

        logged = wait_for(retried, timeout=DELIVERY_WAIT_SECONDS, what="a retried delivery")
        assert len(logged) == PAYMENTS * len(FACTS)
        assert {d["status"] for d in logged} <= {"pending", "retrying"}
        assert {d["lane"] for d in logged} == {"slow"}
        details = [client.get_webhook_delivery(hanging["id"], d["id"]) for d in logged]
        attempts = [a for d in details for a in d["attempts"]]
        assert attempts and {a["kind"] for a in attempts} <= {"timeout", "circuit_open"}
        # Some first attempts were cut at the fast lane's deadline; the rest of the
        # endpoint's deliveries skipped the fast lane while it cooled down.
        cut = [
            a
            for a in attempts
            if a["kind"] == "timeout"
            and a["latency_ms"] < (FIRST_ATTEMPT_TIMEOUT_SECONDS + 2) * 1000
        ]
        assert 1 <= len(cut) < len(logged)
        # Each retry of a delivery carried the webhook-id its log is kept under.
        sent_ids = {d.headers["webhook-id"] for d in sink.deliveries if d.path == hanging_path}
        assert {d["id"] for d in details if d["attempt_count"] >= 2} <= sent_ids
        assert client.get_webhook_endpoint(hanging["id"])["slow_until"] is not None
        after = client.get_webhook_endpoint(healthy["id"])
        assert (after["slow_until"], after["consecutive_failures"]) == (None, 0)
    finally:
        client.delete_webhook_endpoint(hanging["id"])
