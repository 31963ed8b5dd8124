"""The emulator fixtures give real, isolated emulators."""

from __future__ import annotations

from typing import Any


def test_firestore_round_trip_and_isolation(firestore_client: Any) -> None:
    ref = firestore_client.collection("probe").document("one")
    ref.set({"value": "12.34"})
    assert ref.get().to_dict() == {"value": "12.34"}


def test_each_test_starts_from_an_empty_database(firestore_client: Any) -> None:
    assert list(firestore_client.collection("probe").stream()) == []


def test_pubsub_publish_and_pull(
    pubsub_publisher: Any, pubsub_subscriber: Any, emulators: Any, unique_name: Any
) -> None:
    topic = pubsub_publisher.topic_path(emulators.project_id, unique_name("probe"))
    subscription = pubsub_subscriber.subscription_path(
        emulators.project_id, unique_name("probe-sub")
    )
    pubsub_publisher.create_topic(name=topic)
    pubsub_subscriber.create_subscription(name=subscription, topic=topic)
    pubsub_publisher.publish(topic, b"hello").result(timeout=10)
    response = pubsub_subscriber.pull(subscription=subscription, max_messages=1, timeout=10)
    assert [m.message.data for m in response.received_messages] == [b"hello"]
