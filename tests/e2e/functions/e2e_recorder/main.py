"""e2e_recorder: stores each pushed message in Firestore, keyed by message id."""

from __future__ import annotations

from typing import Any

from shared.clients import firestore_client
from shared.events.consumer import register_cloud_event
from shared.events.push import decode_push


@register_cloud_event
def handle(cloud_event: Any) -> None:
    message = decode_push(cloud_event)
    firestore_client().collection("e2e_deliveries").document(message.message_id).set(
        {
            "topic": message.topic,
            "data": message.data.decode(),
            "attributes": message.attributes,
            "cloud_event_type": cloud_event["type"],
        }
    )
