"""Fixtures for the event tests: a clean platform, push deliveries, topics to pull from."""

from __future__ import annotations

import base64
import io
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.http import CloudEvent

from shared.clients import reset_clients
from shared.config import get_settings, reset_settings
from shared.events.envelope import EventEnvelope
from shared.logger import configure_logging


@pytest.fixture(autouse=True)
def platform(firestore_client: Any) -> Iterator[Any]:
    """Settings and clients rebuilt from the emulator environment, on an empty database."""
    reset_settings()
    reset_clients()
    yield firestore_client
    reset_clients()
    reset_settings()


def push_event(
    project_id: str,
    topic: str,
    data: bytes,
    attributes: dict[str, str] | None = None,
    message_id: str | None = None,
    publish_time: datetime | None = None,
) -> CloudEvent:
    """The CloudEvent functions-framework builds from a Pub/Sub push of ``data``."""
    message_id = message_id or uuid.uuid4().hex
    return CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": f"//pubsub.googleapis.com/projects/{project_id}/topics/{topic}",
            "id": message_id,
        },
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "attributes": attributes or {},
                "messageId": message_id,
                "publishTime": (publish_time or datetime.now(UTC))
                .isoformat()
                .replace("+00:00", "Z"),
            },
            "subscription": f"projects/{project_id}/subscriptions/{topic}--consumer",
        },
    )


def push_envelope(project_id: str, topic: str, envelope: EventEnvelope) -> CloudEvent:
    # Published when it was created: a stale envelope also has a stale publish time.
    return push_event(
        project_id, topic, envelope.to_bytes(), envelope.attributes(), publish_time=envelope.time
    )


@dataclass
class PullSubscription:
    """A topic with a pull subscription, to see what was published to it."""

    topic: str
    path: str
    subscriber: Any

    def receive(self, expected: int, timeout: float = 15.0, settle: float = 2.0) -> list[Any]:
        """Pull until ``expected`` messages arrived, then ``settle`` more seconds for extras."""
        received: list[Any] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < (settle_until or deadline):
            response = self.subscriber.pull(
                subscription=self.path, max_messages=100, timeout=5, return_immediately=True
            )
            if response.received_messages:
                self.subscriber.acknowledge(
                    subscription=self.path,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
                received.extend(m.message for m in response.received_messages)
            if len(received) >= expected and settle_until is None:
                settle_until = time.monotonic() + settle
            time.sleep(0.1)
        return received


@pytest.fixture
def pull_topic(
    emulators: Any, pubsub_publisher: Any, pubsub_subscriber: Any, unique_name: Any
) -> Callable[[], PullSubscription]:
    def make() -> PullSubscription:
        topic = unique_name("events")
        topic_path = pubsub_publisher.topic_path(emulators.project_id, topic)
        subscription = pubsub_subscriber.subscription_path(
            emulators.project_id, unique_name("events-sub")
        )
        pubsub_publisher.create_topic(name=topic_path)
        pubsub_subscriber.create_subscription(name=subscription, topic=topic_path)
        return PullSubscription(topic, subscription, pubsub_subscriber)

    return make


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Log lines written while the test runs, as Cloud Logging JSON objects."""
    stream = io.BytesIO()
    settings = get_settings()
    configure_logging(
        project_id=settings.project_id,
        function_name="events-test",
        level="DEBUG",
        fmt="json",
        stream=stream,
    )

    def lines() -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    configure_logging(
        project_id=settings.project_id,
        function_name=settings.function_name,
        level=settings.log_level,
        fmt=settings.effective_log_format,
    )
