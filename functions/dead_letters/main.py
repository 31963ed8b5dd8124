"""dead_letters: stores every message Pub/Sub forwards to a dead-letter topic."""

from __future__ import annotations

from typing import Any

from shared.clients import credentials_client, firestore_client
from shared.deadletters import record_dead_letter
from shared.events.consumer import record_malformed_push, register_cloud_event
from shared.events.push import MalformedPushError, current_execution_id, decode_push
from shared.events.push_auth import check_current_push
from shared.logger import bind_request_context, get_logger

log = get_logger("dead_letters")


@register_cloud_event
def handle(cloud_event: Any) -> None:
    # Proven by its subscription's OIDC token before anything is read from its body.
    check_current_push()
    try:
        message = decode_push(cloud_event)
    except MalformedPushError as exc:
        # Kept with the reason and acknowledged: a retry would fail the same way.
        bind_request_context(execution_id=current_execution_id())
        kept = record_malformed_push(firestore_client(), exc, consumer="dead_letters")
        log.error("dead_letter.malformed_push", reason=exc.reason, dead_letter_id=kept)
        return
    bind_request_context(
        correlation_id=message.attributes.get("correlation_id"),
        execution_id=current_execution_id(),
    )
    # A producer topic's message is filed under the tenant its key proves: the keys are
    # in the credentials database.
    stored = record_dead_letter(firestore_client(), message, credentials=credentials_client())
    # Operators see every dead letter here, those filed under no tenant too (tenant_id
    # null: a producer topic's message that proved no valid key).
    log.warning(
        "dead_letter.stored",
        dead_letter_id=stored.id,
        topic=stored.topic,
        tenant_id=stored.tenant_id,
        claimed_tenant_id=stored.claimed_tenant_id,
        event_type=stored.event_type,
        delivery_count=stored.delivery_count,
        seen_count=stored.seen_count,
    )
