"""Use cases of an endpoint's delivery log: reading it, and resending from it.

Apart from the endpoint use cases (:mod:`shared.webhooks.service`) because these work
on deliveries, not on endpoints: listing an endpoint's deliveries and one delivery with
its attempts, resending one delivery as a new round of attempts, and resending every
kept event since a moment. Each resend is one Firestore transaction (per chunk of
events) that stages the delivery messages and the audit event in the outbox, run by
:func:`shared.events.transact.transact`, which publishes them after the commit.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.errors import BusinessRuleError, NotFoundError, ValidationError
from shared.events.outbox import add_to_outbox
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.moments import fixed_or_now
from shared.pagination import DEFAULT_PAGE_SIZE, Page, newest_first
from shared.webhooks.changes import endpoint_not_found, stage_audit
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
    return newest_first(
        deliveries_collection(db, tenant_id, endpoint_id),
        time_field="created_at",
        scope=DELIVERIES_CURSOR,
        cursor=cursor,
        limit=limit,
        to_item=lambda d: delivery_from_document(d.id, d.to_dict() or {}),
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
    when = fixed_or_now(now)

    def decide(transaction: Any) -> Delivery:
        endpoint = _enabled_endpoint(db, tenant_id, endpoint_id, transaction)
        current = read_delivery(db, tenant_id, endpoint_id, delivery_id, transaction)
        if current is None:
            raise _delivery_not_found(delivery_id)
        resent = _next_round(current, when)
        transaction.set(
            delivery_ref(db, tenant_id, endpoint_id, delivery_id), delivery_to_document(resent)
        )
        add_to_outbox(
            transaction,
            db,
            DELIVERIES_TOPIC,
            delivery_message(resent, correlation_id=correlation_id),
        )
        stage_audit(
            transaction,
            db,
            "webhook_delivery.resent",
            endpoint,
            actor,
            correlation_id,
            {"delivery_id": delivery_id, "round": resent.round},
        )
        return resent

    return transact(db, decide, name="webhooks.resend_delivery")


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
    when = fixed_or_now(now)
    if since > when:
        raise ValidationError.for_field("since", "must not be in the future", "since_in_future")
    endpoint = _enabled_endpoint(db, tenant_id, endpoint_id)
    scanned = events_since(db, tenant_id, since, MAX_RESEND_EVENTS)
    wanted = [e for e in scanned if matches_any(endpoint.event_types, e.type)]

    def send_again(transaction: Any, events: list[StoredEvent]) -> None:
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
            add_to_outbox(
                transaction,
                db,
                DELIVERIES_TOPIC,
                delivery_message(delivery, correlation_id=correlation_id),
            )

    # One transaction per chunk (a commit's writes are bounded), each chunk's messages
    # published once it commits.
    for start in range(0, len(wanted), _RESEND_CHUNK):
        chunk = wanted[start : start + _RESEND_CHUNK]
        transact(db, partial(send_again, events=chunk), name="webhooks.resend_since")
    resent = len(wanted)
    truncated = len(scanned) >= MAX_RESEND_EVENTS
    details = {"since": since.isoformat(), "resent": resent, "truncated": truncated}
    transact(
        db,
        lambda transaction: stage_audit(
            transaction,
            db,
            "webhook_endpoint.resent_since",
            endpoint,
            actor,
            correlation_id,
            details,
        ),
        name="webhooks.resend_since.audit",
    )
    return ResendSummary(
        resent=resent,
        truncated=truncated,
        next_since=scanned[-1].time if truncated else None,
    )
