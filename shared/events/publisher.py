"""Publishing with the instance's one publisher client; every future is awaited.

Messages carry no ordering key. No subscription enables message ordering, and no
consumer needs it: each is idempotent by event id, the users projection keeps the
newest version only, the audit chain serialises appends per tenant itself, ledger
events are facts, and payment processing acts on the payment's stored state.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.clients import publisher_client, topic_path
from shared.events.envelope import EventEnvelope

PUBLISH_TIMEOUT_SECONDS = 30.0


def publish_raw(messages: Sequence[tuple[str, bytes, dict[str, str]]]) -> list[str]:
    """Publish (topic, data, attributes) triples; returns message ids.

    Raises the first publish error after every future has settled, so the caller
    knows nothing was silently dropped.
    """
    client = publisher_client()
    futures = [
        client.publish(topic_path(topic), data, **attributes)
        for topic, data, attributes in messages
    ]
    ids: list[str] = []
    first_error: BaseException | None = None
    for future in futures:
        try:
            ids.append(future.result(timeout=PUBLISH_TIMEOUT_SECONDS))
        except Exception as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return ids


def publish_envelopes(messages: Sequence[tuple[str, EventEnvelope]]) -> list[str]:
    """Publish (topic, envelope) pairs."""
    return publish_raw([(t, e.to_bytes(), e.attributes()) for t, e in messages])
