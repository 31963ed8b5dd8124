"""Fan-out: one domain event becomes one delivery per matching enabled endpoint.

Runs as the effect of the ``webhook_dispatch`` consumer's ``run_once``, so it is one
transaction with the consumer's processed record: a redelivered event finds that
record and does nothing. Beyond the record's lifetime the deliveries themselves
deduplicate: a delivery's id is the ``webhook-id`` derived from the event id and the
endpoint id, and an existing delivery is never created again. Either way a receiver
never gets one event twice under two ids.

The delivery messages go through the outbox (published after the commit, or by the
relay), on the fast lane, or on the slow lane when the endpoint is cooling down
(``delivery.py``). The event's body is kept (``webhook_events``) when any endpoint, enabled or
not, subscribes to its type: every attempt sends those exact bytes, and a resend can
deliver it later, also to an endpoint that was disabled when it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.events.envelope import EventEnvelope
from shared.events.outbox import add_to_outbox
from shared.moments import fixed_or_now
from shared.webhooks.messages import delivery_message
from shared.webhooks.model import Delivery, StoredEvent
from shared.webhooks.rules import (
    DELIVERIES_TOPIC,
    RETENTION,
    SLOW_DELIVERIES_TOPIC,
    DeliveryStatus,
    Lane,
    is_cooling,
    matches_any,
    payload,
    webhook_id,
)
from shared.webhooks.store import (
    delivery_ref,
    delivery_to_document,
    event_ref,
    event_to_document,
    tenant_endpoints,
)

if TYPE_CHECKING:
    from google.cloud import firestore


@dataclass(frozen=True, slots=True)
class FanOut:
    """What an event led to: the endpoints subscribed to it and the deliveries created."""

    subscribed: int
    deliveries: tuple[str, ...]


def fan_out(
    transaction: Any,
    db: firestore.Client,
    envelope: EventEnvelope,
    *,
    now: datetime | None = None,
) -> FanOut:
    """Create the event's deliveries and stage their messages, in ``transaction``."""
    when = fixed_or_now(now)
    tenant_id = envelope.tenant_id
    endpoints = tenant_endpoints(db, tenant_id, transaction)
    subscribed = [e for e in endpoints if matches_any(e.event_types, envelope.type)]
    if not subscribed:
        return FanOut(0, ())
    # Reads first, as a transaction requires: the kept event and the deliveries, in one
    # batched read (every round trip here is paid per event, see README "Dispatch time").
    stored_event = event_ref(db, tenant_id, envelope.id)
    targets = {webhook_id(envelope.id, e.id): e for e in subscribed if e.enabled}
    refs = {
        delivery_id: delivery_ref(db, tenant_id, endpoint.id, delivery_id)
        for delivery_id, endpoint in targets.items()
    }
    found = {
        s.reference.path for s in transaction.get_all([stored_event, *refs.values()]) if s.exists
    }
    event_exists = stored_event.path in found
    existing = {delivery_id for delivery_id, ref in refs.items() if ref.path in found}
    if not event_exists:
        event = StoredEvent(envelope.id, envelope.type, envelope.time, payload(envelope))
        transaction.set(
            stored_event,
            {**event_to_document(event, recorded_at=when), "expires_at": when + RETENTION},
        )
    created: list[str] = []
    for delivery_id, endpoint in targets.items():
        if delivery_id in existing:
            continue
        # An endpoint cooling down gets its delivery on the slow lane from the start: it
        # costs the fast lane nothing, not even a move (see delivery.py).
        lane = Lane.SLOW if is_cooling(endpoint.slow_until, when) else Lane.FAST
        delivery = Delivery(
            id=delivery_id,
            tenant_id=tenant_id,
            endpoint_id=endpoint.id,
            event_id=envelope.id,
            event_type=envelope.type,
            status=DeliveryStatus.PENDING,
            created_at=when,
            updated_at=when,
            lane=lane,
        )
        transaction.create(refs[delivery_id], delivery_to_document(delivery))
        add_to_outbox(
            transaction,
            db,
            SLOW_DELIVERIES_TOPIC if lane is Lane.SLOW else DELIVERIES_TOPIC,
            delivery_message(delivery, correlation_id=envelope.correlation_id, lane=lane),
        )
        created.append(delivery_id)
    return FanOut(len(subscribed), tuple(created))
