"""e2e_failing: counts each delivery in Firestore, then fails, so Pub/Sub redelivers."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.clients import firestore_client
from shared.events.consumer import register_cloud_event
from shared.events.push import decode_push


class RejectedOnPurposeError(RuntimeError):
    """Raised for every message: the dead-letter test needs a consumer that never succeeds."""


@register_cloud_event
def handle(cloud_event: Any) -> None:
    message = decode_push(cloud_event)
    firestore_client().collection("e2e_attempts").document(message.message_id).set(
        {"topic": message.topic, "attempts": firestore.Increment(1)}, merge=True
    )
    raise RejectedOnPurposeError(f"message {message.message_id} is rejected on purpose")
