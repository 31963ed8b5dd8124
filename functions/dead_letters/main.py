"""dead_letters: stores every message Pub/Sub forwards to a dead-letter topic."""

from __future__ import annotations

from typing import Any

from shared.clients import firestore_client
from shared.deadletters import record_dead_letter
from shared.events.push import MalformedPushError, decode_push
from shared.logger import bind_request_context, get_logger

log = get_logger("dead_letters")


def handle(cloud_event: Any) -> None:
    try:
        message = decode_push(cloud_event)
    except MalformedPushError as exc:
        # Nothing to keep and nothing a retry could fix: acknowledge, loudly.
        log.error("dead_letter.malformed_push", reason=str(exc))
        return
    bind_request_context(correlation_id=message.attributes.get("correlation_id"))
    stored = record_dead_letter(firestore_client(), message)
    log.warning(
        "dead_letter.stored",
        dead_letter_id=stored.id,
        topic=stored.topic,
        event_type=stored.event_type,
        delivery_count=stored.delivery_count,
        seen_count=stored.seen_count,
    )
