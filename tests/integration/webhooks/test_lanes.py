"""The fast and the slow lane: a hanging endpoint is moved aside, on every instance.

The hanging endpoint is a socket that listens and never accepts: connections are
taken by the kernel, the request is sent, and no answer ever comes.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shared.config import reset_settings
from shared.webhooks import DeliveryRetryError
from shared.webhooks.rules import (
    ENDPOINT_COOL_DOWN,
    FIRST_ATTEMPT_TIMEOUT_SECONDS,
    SLOW_DELIVERIES_TOPIC,
)
from shared.webhooks.rules import webhook_id as derived_id
from shared.webhooks.store import delivery_ref, endpoint_ref
from tests.integration.events.conftest import PullSubscription
from tests.integration.webhooks.conftest import TENANT, Webhooks, payment_event


@pytest.fixture
def hanging_url(
    hooks: Webhooks, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A URL whose server takes the connection and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        allowed = [f"127.0.0.1:{hooks.sink.port}", f"127.0.0.1:{closed_port}", f"127.0.0.1:{port}"]
        monkeypatch.setenv("TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS", json.dumps(allowed))
        reset_settings()
        yield f"http://127.0.0.1:{port}/hooks"
    reset_settings()


def _document(ref: Any) -> dict[str, Any]:
    return ref.get().to_dict() or {}


def _lane_of(message: Any) -> str:
    return str(orjson.loads(message.data)["data"]["lane"])


def test_a_fast_lane_timeout_moves_the_round_to_the_slow_lane_and_cools_the_endpoint(
    hooks: Webhooks, hanging_url: str, slow_delivery_messages: PullSubscription
) -> None:
    endpoint = hooks.create(["payment.*"], url=hanging_url)
    first = payment_event(payment_id="pay_hang_1")
    hooks.dispatch(first)
    [message] = hooks.published(1)

    started = time.monotonic()
    hooks.deliver(message)  # acknowledged: the slow lane carries the round on
    took = time.monotonic() - started

    # The attempt was cut at the fast lane's deadline, not the full one.
    assert FIRST_ATTEMPT_TIMEOUT_SECONDS <= took < FIRST_ATTEMPT_TIMEOUT_SECONDS + 3
    delivery_id = derived_id(first.id, endpoint["id"])
    logged = hooks.delivery(endpoint["id"], delivery_id)
    assert (logged["status"], logged["lane"], logged["attempt_count"]) == ("retrying", "slow", 1)
    assert logged["attempts"][0]["kind"] == "timeout"
    [moved] = slow_delivery_messages.receive(1, timeout=10, settle=0.5)
    assert _lane_of(moved) == "slow"
    assert orjson.loads(moved.data)["data"]["delivery_id"] == delivery_id
    cooling = hooks.endpoint(endpoint["id"])["slow_until"]
    assert cooling is not None
    until = datetime.fromisoformat(cooling)
    assert until > datetime.now(UTC) + ENDPOINT_COOL_DOWN - timedelta(minutes=1)

    # A redelivery of the fast-lane message makes no second attempt.
    hooks.deliver(message)
    assert hooks.delivery(endpoint["id"], delivery_id)["attempt_count"] == 1

    # While it cools, the endpoint's next delivery starts on the slow lane: the fast
    # lane never sees it.
    second = payment_event(payment_id="pay_hang_2")
    hooks.dispatch(second)
    assert hooks.published(0, settle=1.0) == []
    second_id = derived_id(second.id, endpoint["id"])
    routed = hooks.delivery(endpoint["id"], second_id)
    assert (routed["status"], routed["lane"], routed["attempts"]) == ("pending", "slow", [])
    [slow_from_start] = slow_delivery_messages.receive(1, timeout=10, settle=0.5)
    assert orjson.loads(slow_from_start.data)["data"]["delivery_id"] == second_id
    assert _lane_of(slow_from_start) == "slow"


def test_a_fast_lane_message_for_a_cooling_endpoint_moves_without_an_attempt(
    hooks: Webhooks, hanging_url: str, slow_delivery_messages: PullSubscription
) -> None:
    endpoint = hooks.create(["payment.*"], url=hanging_url)
    event = payment_event(payment_id="pay_hang_4")
    hooks.dispatch(event)  # not cooling yet: the fast lane
    [in_flight] = hooks.published(1)
    # Meanwhile another instance saw the endpoint time out.
    endpoint_ref(hooks.db, TENANT, endpoint["id"]).update(
        {"slow_until": datetime.now(UTC) + ENDPOINT_COOL_DOWN}
    )

    started = time.monotonic()
    hooks.deliver(in_flight)

    assert time.monotonic() - started < FIRST_ATTEMPT_TIMEOUT_SECONDS
    delivery_id = derived_id(event.id, endpoint["id"])
    moved = hooks.delivery(endpoint["id"], delivery_id)
    assert (moved["status"], moved["lane"], moved["attempts"]) == ("pending", "slow", [])
    [slow] = slow_delivery_messages.receive(1, timeout=10, settle=0.5)
    assert orjson.loads(slow.data)["data"]["delivery_id"] == delivery_id
    # A redelivery of the fast-lane message moves nothing twice.
    hooks.deliver(in_flight)
    assert slow_delivery_messages.receive(0, timeout=1, settle=1.0) == []


def test_a_hanging_endpoint_on_the_slow_lane_is_retried_by_redelivery(
    hooks: Webhooks, hanging_url: str, slow_delivery_messages: PullSubscription
) -> None:
    endpoint = hooks.create(["payment.*"], url=hanging_url)
    event = payment_event(payment_id="pay_hang_3")
    hooks.dispatch(event)
    [message] = hooks.published(1)
    hooks.deliver(message)
    [slow] = slow_delivery_messages.receive(1, timeout=10, settle=0.5)

    with pytest.raises(DeliveryRetryError):  # Pub/Sub retries it on the slow subscription
        hooks.deliver(slow, SLOW_DELIVERIES_TOPIC)

    logged = hooks.delivery(endpoint["id"], derived_id(event.id, endpoint["id"]))
    assert (logged["status"], logged["attempt_count"]) == ("retrying", 2)
    assert [a["kind"] for a in logged["attempts"]] == ["timeout", "timeout"]
    # The slow lane's deadline is the full one.
    assert logged["attempts"][0]["latency_ms"] > FIRST_ATTEMPT_TIMEOUT_SECONDS * 1000 * 2
    assert hooks.endpoint(endpoint["id"])["enabled"] is True


def test_a_prompt_answer_on_the_slow_lane_brings_the_endpoint_back_to_the_fast_lane(
    hooks: Webhooks, slow_delivery_messages: PullSubscription
) -> None:
    endpoint = hooks.create(["payment.*"])
    # As if another instance had seen it time out a minute ago.
    endpoint_ref(hooks.db, TENANT, endpoint["id"]).update(
        {"slow_until": datetime.now(UTC) + ENDPOINT_COOL_DOWN - timedelta(minutes=1)}
    )
    event = payment_event(payment_id="pay_back_1")
    hooks.dispatch(event)  # cooling: straight to the slow lane
    assert hooks.published(0, settle=1.0) == []
    [slow] = slow_delivery_messages.receive(1, timeout=10, settle=0.5)

    hooks.deliver(slow, SLOW_DELIVERIES_TOPIC)

    delivery_id = derived_id(event.id, endpoint["id"])
    delivered = hooks.delivery(endpoint["id"], delivery_id)
    assert (delivered["status"], delivered["lane"]) == ("delivered", "slow")
    assert [d.webhook_id for d in hooks.sink.deliveries] == [delivery_id]
    assert hooks.endpoint(endpoint["id"])["slow_until"] is None
    # The next delivery is attempted on the fast lane at once.
    later = payment_event(payment_id="pay_back_2")
    hooks.dispatch(later)
    [fast] = hooks.published(1)
    hooks.deliver(fast)
    assert hooks.delivery(endpoint["id"], derived_id(later.id, endpoint["id"]))["lane"] == "fast"
    assert len(hooks.sink.deliveries) == 2
    assert _document(delivery_ref(hooks.db, TENANT, endpoint["id"], delivery_id))["lane"] == "slow"
