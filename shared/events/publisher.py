"""Publishing with the instance's one publisher client; every future is awaited."""

from __future__ import annotations

from collections.abc import Sequence

from shared.clients import publisher_client, topic_path
from shared.events.envelope import EventEnvelope

PUBLISH_TIMEOUT_SECONDS = 30.0


def publish_raw(messages: Sequence[tuple[str, bytes, dict[str, str], str]]) -> list[str]:
    """Publish (topic, data, attributes, ordering key) tuples; returns message ids.

    Raises the first publish error after every future has settled, so the caller
    knows nothing was silently dropped.
    """
    client = publisher_client()
    futures = [
        client.publish(topic_path(topic), data, ordering_key=key, **attributes)
        for topic, data, attributes, key in messages
    ]
    ids: list[str] = []
    first_error: BaseException | None = None
    for (topic, _, _, key), future in zip(messages, futures, strict=True):
        try:
            ids.append(future.result(timeout=PUBLISH_TIMEOUT_SECONDS))
        except Exception as exc:
            first_error = first_error or exc
            if key:
                # An ordering key pauses after a failure until resumed explicitly.
                client.resume_publish(topic_path(topic), key)
    if first_error is not None:
        raise first_error
    return ids


def publish_envelopes(messages: Sequence[tuple[str, EventEnvelope, str]]) -> list[str]:
    """Publish (topic, envelope, ordering key) tuples."""
    return publish_raw([(t, e.to_bytes(), e.attributes(), k) for t, e, k in messages])


def publish_event(topic: str, envelope: EventEnvelope, ordering_key: str = "") -> str:
    return publish_envelopes([(topic, envelope, ordering_key)])[0]
