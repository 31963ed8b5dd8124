"""Push delivery, dead-lettering and the scheduler, through the real Pub/Sub emulator."""

from __future__ import annotations

import json
import uuid

from emulator.scheduler import TICK_TYPE, tick_message
from shared.events.envelope import EventEnvelope
from tests.e2e.conftest import StackHandle, wait_for


def test_a_published_message_reaches_its_consumer_by_push(stack: StackHandle) -> None:
    marker = f"order-{uuid.uuid4().hex}"
    message_id = stack.pubsub().publish("e2e-orders", marker.encode(), {"correlation_id": marker})
    delivery = wait_for(
        lambda: stack.firestore().get(f"e2e_deliveries/{message_id}"),
        timeout=30,
        what="the recorder to store the message",
    )
    assert delivery["topic"] == "e2e-orders"  # read from the push endpoint's path
    assert delivery["data"] == marker
    assert delivery["attributes"]["correlation_id"] == marker
    assert delivery["cloud_event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"


def test_a_message_that_always_fails_lands_on_the_dead_letter_topic(stack: StackHandle) -> None:
    payload = f"poison-{uuid.uuid4().hex}"
    message_id = stack.pubsub().publish("e2e-poison", payload.encode())

    # e2e-poison-dlq-sub pushes to the real dead_letters function, which stores it.
    def dead_letter() -> dict[str, object] | None:
        for letter in stack.firestore().list("dead_letters"):
            if letter.get("topic") == "e2e-poison" and letter.get("data_text") == payload:
                return letter
        return None

    stored = wait_for(dead_letter, timeout=120, what="the poison message in dead_letters")
    assert stored["delivery_count"] == 5
    assert stored["source_subscription"] == "e2e-poison--e2e_failing"
    assert stored["reason"] == "delivery attempts exhausted"
    attempts = stack.firestore().get(f"e2e_attempts/{message_id}")
    assert attempts is not None
    assert attempts["attempts"] == 5


def test_the_scheduler_publishes_tick_envelopes(stack: StackHandle) -> None:
    def tick() -> dict[str, object] | None:
        deliveries = stack.firestore().list("e2e_deliveries")
        return next((d for d in deliveries if d["topic"] == "e2e-ticks"), None)

    delivery = wait_for(
        tick, timeout=30, what="a tick from the scheduler (every minute, run 12x faster)"
    )
    envelope = EventEnvelope.from_bytes(str(delivery["data"]).encode())
    assert envelope.type == TICK_TYPE
    assert envelope.subject == "e2e-ticks"
    assert envelope.data == {"topic": "e2e-ticks"}
    attributes = delivery["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["type"] == TICK_TYPE
    assert json.loads(str(delivery["data"]))["tenant_id"] == "*"


def test_a_tick_fired_by_hand_is_the_cloud_schedulers_payload(stack: StackHandle) -> None:
    fired = stack.cli("tick", "e2e-ticks")
    assert fired.returncode == 0, fired.stderr
    message_id = fired.stdout.rsplit("(message ", 1)[1].rstrip(")\n")

    delivery = wait_for(
        lambda: stack.firestore().get(f"e2e_deliveries/{message_id}"),
        timeout=30,
        what="the tick fired with `python -m emulator tick`",
    )
    data, attributes = tick_message("e2e-ticks")
    assert str(delivery["data"]).encode() == data
    assert delivery["attributes"] == attributes
    refused = stack.cli("tick", "e2e-orders")
    assert refused.returncode == 2 and "has no schedule" in refused.stderr
