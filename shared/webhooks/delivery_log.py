"""Use cases of an endpoint's delivery log: reading it, and resending from it.

Apart from the endpoint use cases (:mod:`shared.webhooks.service`) because these work
on deliveries, not on endpoints: listing an endpoint's deliveries and one delivery with
its attempts, resending one delivery as a new round of attempts, and resending every
kept event since a moment. Each resend is one Firestore transaction (per chunk of
events) that stages the delivery messages and the audit event in the outbox.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import BusinessRuleError, NotFoundError, ValidationError
from shared.events.outbox import StagedEvent, add_to_outbox
from shared.identity.actor import Actor
from shared.pagination import DEFAULT_PAGE_SIZE, DOCUMENT_ID, Page, TimeOrderedPosition, keyset_page
from shared.webhooks.changes import endpoint_not_found, moment, publish, stage_audit
from shared.webhooks.messages import delivery_message
from shared.webhooks.model import (
    Delivery,
    DeliveryDetail,
    Endpoint,
    ResendSummary,
    StoredEvent,
)
from shared.webhooks.rules import (
    DELIVERIES_TOPIC,
    MAX_RESEND_EVENTS,
    DeliveryStatus,
    Lane,
    matches_any,
    webhook_id,
)
from shared.webhooks.service import get_endpoint
from shared.webhooks.store import (
    deliveries_collection,
    delivery_from_document,
    delivery_ref,
    delivery_to_document,
    events_since,
    read_attempts,
    read_delivery,
    read_endpoint,
)

if TYPE_CHECKING:
    from google.cloud import firestore

DELIVERIES_CURSOR = "webhooks.deliveries"
# A delivery's detail shows this many attempts, the newest.
ATTEMPTS_SHOWN = 100
_RESEND_CHUNK = 100


def list_deliveries(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Delivery]:
    """An endpoint's deliveries, newest first."""
    get_endpoint(db, tenant_id, endpoint_id)
    collection = deliveries_collection(db, tenant_id, endpoint_id)
    # The id breaks ties in the direction of created_at: Firestore's single-field index
    # on created_at serves that order, no composite index needed.
    return keyset_page(
        collection,
        order=("created_at", DOCUMENT_ID),
        descending=True,
        position=TimeOrderedPosition,
        scope=DELIVERIES_CURSOR,
        cursor=cursor,
        limit=limit,
        to_item=lambda d: delivery_from_document(d.id, d.to_dict() or {}),
        start_after=lambda p: (p.at, collection.document(p.id)),
        position_of=lambda item: TimeOrderedPosition(at=item.created_at, id=item.id),
    )


def get_delivery(
    db: firestore.Client, tenant_id: str, endpoint_id: str, delivery_id: str
) -> DeliveryDetail:
    """A delivery with its newest attempts."""
    get_endpoint(db, tenant_id, endpoint_id)
    delivery = read_delivery(db, tenant_id, endpoint_id, delivery_id)
    if delivery is None:
        raise _delivery_not_found(delivery_id)
    ref = delivery_ref(db, tenant_id, endpoint_id, delivery_id)
    return DeliveryDetail(delivery, tuple(read_attempts(ref, ATTEMPTS_SHOWN)))


def _delivery_not_found(delivery_id: str) -> NotFoundError:
    return NotFoundError(
        f"webhook delivery {delivery_id} not found", code="webhook_delivery_not_found"
    )


# -- resends -------------------------------------------------------------------------------


def _enabled_endpoint(
    db: firestore.Client, tenant_id: str, endpoint_id: str, transaction: Any = None
) -> Endpoint:
    endpoint = read_endpoint(db, tenant_id, endpoint_id, transaction)
    if endpoint is None:
        raise endpoint_not_found(endpoint_id)
    if not endpoint.enabled:
        raise BusinessRuleError(
            f"webhook endpoint {endpoint_id} is disabled; enable it to resend",
            code="webhook_endpoint_disabled",
        )
    return endpoint


def _next_round(delivery: Delivery, when: datetime) -> Delivery:
    return replace(
        delivery,
        status=DeliveryStatus.PENDING,
        round=delivery.round + 1,
        round_attempts=0,
        updated_at=when,
        lane=Lane.FAST,  # a new round starts on the fast lane (unless the endpoint cools)
    )


def _first_round(endpoint: Endpoint, event: StoredEvent, when: datetime) -> Delivery:
    return Delivery(
        id=webhook_id(event.event_id, endpoint.id),
        tenant_id=endpoint.tenant_id,
        endpoint_id=endpoint.id,
        event_id=event.event_id,
        event_type=event.type,
        status=DeliveryStatus.PENDING,
        created_at=when,
        updated_at=when,
    )


def resend_delivery(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    delivery_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Send a delivery again, with the same ``webhook-id``, as a new round of attempts.

    A round still retrying is superseded: its remaining messages are dropped.
    """
    from google.cloud import firestore as fs

    when = moment(now)
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> Delivery:
        staged.clear()
        endpoint = _enabled_endpoint(db, tenant_id, endpoint_id, transaction)
        current = read_delivery(db, tenant_id, endpoint_id, delivery_id, transaction)
        if current is None:
            raise _delivery_not_found(delivery_id)
        resent = _next_round(current, when)
        transaction.set(
            delivery_ref(db, tenant_id, endpoint_id, delivery_id), delivery_to_document(resent)
        )
        staged.append(
            add_to_outbox(
                transaction,
                db,
                DELIVERIES_TOPIC,
                delivery_message(resent, correlation_id=correlation_id),
            )
        )
        staged.append(
            stage_audit(
                transaction,
                db,
                "webhook_delivery.resent",
                endpoint,
                actor,
                correlation_id,
                {"delivery_id": delivery_id, "round": resent.round},
            )
        )
        return resent

    delivery: Delivery = attempt(db.transaction())
    publish(db, staged)
    return delivery


def resend_since(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    since: datetime,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> ResendSummary:
    """Resend every kept event from ``since`` on that the endpoint subscribes to.

    Events the endpoint never got (it was disabled, or subscribed to other types
    then) are delivered for the first time, with the ``webhook-id`` they would have
    had. At most :data:`MAX_RESEND_EVENTS` events are looked at, oldest first; when
    that cuts the list short, ``next_since`` says where to continue (the event at
    that moment may then be sent once more; receivers deduplicate by webhook-id).
    """
    from google.cloud import firestore as fs

    when = moment(now)
    if since > when:
        raise ValidationError.for_field("since", "must not be in the future", "since_in_future")
    endpoint = _enabled_endpoint(db, tenant_id, endpoint_id)
    scanned = events_since(db, tenant_id, since, MAX_RESEND_EVENTS)
    wanted = [e for e in scanned if matches_any(endpoint.event_types, e.type)]
    staged: list[StagedEvent] = []

    @fs.transactional
    def send_again(transaction: Any, events: list[StoredEvent], into: list[StagedEvent]) -> None:
        into.clear()
        _enabled_endpoint(db, tenant_id, endpoint_id, transaction)
        ids = {e.event_id: webhook_id(e.event_id, endpoint_id) for e in events}
        refs = {i: delivery_ref(db, tenant_id, endpoint_id, i) for i in ids.values()}
        found = {s.id: s for s in transaction.get_all(list(refs.values())) if s.exists}
        for event in events:
            delivery_id = ids[event.event_id]
            snapshot = found.get(delivery_id)
            delivery = (
                _next_round(delivery_from_document(delivery_id, snapshot.to_dict() or {}), when)
                if snapshot is not None
                else _first_round(endpoint, event, when)
            )
            transaction.set(refs[delivery_id], delivery_to_document(delivery))
            into.append(
                add_to_outbox(
                    transaction,
                    db,
                    DELIVERIES_TOPIC,
                    delivery_message(delivery, correlation_id=correlation_id),
                )
            )

    for start in range(0, len(wanted), _RESEND_CHUNK):
        chunk_staged: list[StagedEvent] = []
        send_again(db.transaction(), wanted[start : start + _RESEND_CHUNK], chunk_staged)
        staged.extend(chunk_staged)
    resent = len(wanted)
    truncated = len(scanned) >= MAX_RESEND_EVENTS
    batch = db.batch()
    staged.append(
        stage_audit(
            batch,
            db,
            "webhook_endpoint.resent_since",
            endpoint,
            actor,
            correlation_id,
            {"since": since.isoformat(), "resent": resent, "truncated": truncated},
        )
    )
    batch.commit()
    publish(db, staged)
    return ResendSummary(
        resent=resent,
        truncated=truncated,
        next_since=scanned[-1].time if truncated else None,
    )
