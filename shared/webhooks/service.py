"""Use cases of webhook endpoints: manage them, read their delivery log, resend.

Every change is one Firestore transaction that also stages its audit event (and, for
resends, the delivery messages) in the outbox; they are published after the commit.
An endpoint's URL is checked before anything is written, so an unsafe URL is a 422
on ``url`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import BusinessRuleError, FieldError, NotFoundError, ValidationError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import StagedEvent, add_to_outbox, publish_committed
from shared.http import Page, TimeOrderedPosition, decode_cursor, encode_cursor
from shared.logger import get_logger
from shared.webhooks.messages import delivery_message
from shared.webhooks.model import (
    CreatedEndpoint,
    Delivery,
    DeliveryDetail,
    Endpoint,
    ResendSummary,
    RotatedSecret,
    SigningSecret,
    StoredEvent,
)
from shared.webhooks.requests import CreateEndpointRequest, UpdateEndpointRequest
from shared.webhooks.rules import (
    DELIVERIES_TOPIC,
    EVENT_SOURCE,
    MAX_ENDPOINTS_PER_TENANT,
    MAX_RESEND_EVENTS,
    SECRET_OVERLAP,
    DeliveryStatus,
    Lane,
    matches_any,
    new_endpoint_id,
    normalized_patterns,
    webhook_id,
)
from shared.webhooks.signing import new_secret
from shared.webhooks.store import (
    deliveries_collection,
    delivery_from_document,
    delivery_ref,
    delivery_to_document,
    endpoint_ref,
    endpoint_to_document,
    events_since,
    read_attempts,
    read_delivery,
    read_endpoint,
    read_secrets,
    secrets_ref,
    secrets_to_document,
    tenant_endpoints,
)
from shared.webhooks.urls import UnsafeUrlError, UrlPolicy, resolve_target

if TYPE_CHECKING:
    from google.cloud import firestore

DELIVERIES_CURSOR = "webhooks.deliveries"
# A delivery's detail shows this many attempts, the newest.
ATTEMPTS_SHOWN = 100
# A secret is retired from the document once its overlap is over; at most this many
# (the current one and those still overlapping) are kept after a rotation.
MAX_SECRETS = 3
_RESEND_CHUNK = 100
_RESOURCE = "webhook_endpoint"
_log = get_logger("shared.webhooks")


def url_policy() -> UrlPolicy:
    """The deployment's URL policy (``TRIBUTUM_WEBHOOKS__ALLOWED_PRIVATE_HOSTS``)."""
    from shared.config import get_settings

    allowed = get_settings().webhooks.allowed_private_hosts
    return UrlPolicy(allowed_private_hosts=frozenset(h.lower() for h in allowed))


def checked_url(url: str, policy: UrlPolicy) -> str:
    """``url`` if webhooks may go there, else a 422 on ``url`` naming the rule."""
    try:
        resolve_target(url, policy)
    except UnsafeUrlError as exc:
        raise ValidationError.for_field("url", exc.reason, exc.code) from None
    return url


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _not_found(endpoint_id: str) -> NotFoundError:
    return NotFoundError(
        f"webhook endpoint {endpoint_id} not found", code="webhook_endpoint_not_found"
    )


def _audit(
    writer: Any,
    db: firestore.Client,
    action: str,
    endpoint: Endpoint,
    actor: Mapping[str, Any],
    correlation_id: str | None,
    details: dict[str, Any] | None = None,
) -> StagedEvent:
    """An audit event; it names the endpoint's host, never its full URL (a query string
    may carry the receiver's own token) and never a secret."""
    from urllib.parse import urlsplit

    return add_to_outbox(
        writer,
        db,
        AUDIT_TOPIC,
        audit_event(
            action,
            tenant_id=endpoint.tenant_id,
            actor=dict(actor),
            resource_type=_RESOURCE,
            resource_id=endpoint.id,
            details={
                "host": urlsplit(endpoint.url).hostname,
                "event_types": list(endpoint.event_types),
                "enabled": endpoint.enabled,
                **(details or {}),
            },
            source=EVENT_SOURCE,
            correlation_id=correlation_id,
        ),
    )


def publish(db: firestore.Client, staged: Sequence[StagedEvent]) -> None:
    """Publish what a committed change staged; the outbox relay publishes what fails."""
    try:
        publish_committed(db, staged)
    except Exception as exc:
        _log.warning("webhooks.publish_deferred", events=len(staged), error=type(exc).__name__)


# -- endpoints -----------------------------------------------------------------------------


def create_endpoint(
    db: firestore.Client,
    tenant_id: str,
    request: CreateEndpointRequest,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    policy: UrlPolicy | None = None,
    now: datetime | None = None,
) -> CreatedEndpoint:
    """A new endpoint; the returned secret is never shown again."""
    from google.cloud import firestore as fs

    url = checked_url(request.url, policy or url_policy())
    when = _now(now)
    endpoint = Endpoint(
        id=new_endpoint_id(),
        tenant_id=tenant_id,
        url=url,
        event_types=normalized_patterns(request.event_types),
        description=request.description,
        enabled=request.enabled,
        created_at=when,
        created_by=dict(actor),
        updated_at=when,
        disabled_at=None if request.enabled else when,
        disabled_reason=None if request.enabled else "disabled_by_user",
    )
    secret = new_secret()
    # Sealed once, before the transaction: a retried attempt does not call KMS again.
    sealed = secrets_to_document(
        [SigningSecret(secret, when)], tenant_id=tenant_id, endpoint_id=endpoint.id
    )
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> None:
        staged.clear()
        if len(tenant_endpoints(db, tenant_id, transaction)) >= MAX_ENDPOINTS_PER_TENANT:
            raise BusinessRuleError(
                f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; "
                "delete one first",
                code="too_many_webhook_endpoints",
                errors=[FieldError("url", "no room for another endpoint", "too_many_endpoints")],
            )
        transaction.create(endpoint_ref(db, tenant_id, endpoint.id), endpoint_to_document(endpoint))
        transaction.create(secrets_ref(db, tenant_id, endpoint.id), sealed)
        staged.append(
            _audit(transaction, db, "webhook_endpoint.created", endpoint, actor, correlation_id)
        )

    attempt(db.transaction())
    publish(db, staged)
    _log.info("webhooks.endpoint_created", endpoint_id=endpoint.id)
    return CreatedEndpoint(endpoint, secret)


def list_endpoints(db: firestore.Client, tenant_id: str) -> list[Endpoint]:
    return tenant_endpoints(db, tenant_id)


def get_endpoint(db: firestore.Client, tenant_id: str, endpoint_id: str) -> Endpoint:
    endpoint = read_endpoint(db, tenant_id, endpoint_id)
    if endpoint is None:
        raise _not_found(endpoint_id)
    return endpoint


def _with_enabled(endpoint: Endpoint, enabled: bool, when: datetime, reason: str) -> Endpoint:
    if enabled == endpoint.enabled:
        return endpoint
    if enabled:
        # A fresh start: the failures that disabled it are history.
        return replace(
            endpoint, enabled=True, disabled_at=None, disabled_reason=None, consecutive_failures=0
        )
    return replace(endpoint, enabled=False, disabled_at=when, disabled_reason=reason)


def update_endpoint(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    request: UpdateEndpointRequest,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    policy: UrlPolicy | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Change the fields the request names; a new URL is checked before anything is read."""
    from google.cloud import firestore as fs

    given = request.model_fields_set
    if "url" in given:
        assert request.url is not None
        checked_url(request.url, policy or url_policy())
    when = _now(now)
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> Endpoint:
        staged.clear()
        current = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            raise _not_found(endpoint_id)
        changes: dict[str, Any] = {}
        if "url" in given and request.url != current.url:
            changes["url"] = request.url
        if "event_types" in given:
            assert request.event_types is not None
            patterns = normalized_patterns(request.event_types)
            if patterns != current.event_types:
                changes["event_types"] = patterns
        if "description" in given and request.description != current.description:
            changes["description"] = request.description
        updated = replace(current, **changes)
        if "enabled" in given:
            assert request.enabled is not None
            updated = _with_enabled(updated, request.enabled, when, "disabled_by_user")
        if updated == current:
            return current
        updated = replace(updated, updated_at=when)
        transaction.set(endpoint_ref(db, tenant_id, endpoint_id), endpoint_to_document(updated))
        changed = sorted({*changes, *(["enabled"] if updated.enabled != current.enabled else [])})
        staged.append(
            _audit(
                transaction,
                db,
                "webhook_endpoint.updated",
                updated,
                actor,
                correlation_id,
                {"changed": changed},
            )
        )
        return updated

    result: Endpoint = attempt(db.transaction())
    publish(db, staged)
    return result


def disable_endpoint(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> Endpoint:
    """Stop deliveries to an endpoint (retries in flight are cancelled). Idempotent."""
    return update_endpoint(
        db,
        tenant_id,
        endpoint_id,
        UpdateEndpointRequest(enabled=False),
        actor=actor,
        correlation_id=correlation_id,
        now=now,
    )


def delete_endpoint(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
) -> None:
    """Delete an endpoint, its secrets and its delivery log."""
    from google.cloud import firestore as fs

    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> None:
        staged.clear()
        current = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            raise _not_found(endpoint_id)
        transaction.delete(endpoint_ref(db, tenant_id, endpoint_id))
        transaction.delete(secrets_ref(db, tenant_id, endpoint_id))
        staged.append(
            _audit(transaction, db, "webhook_endpoint.deleted", current, actor, correlation_id)
        )

    attempt(db.transaction())
    publish(db, staged)
    try:
        # The log goes after the endpoint: retries in flight then find no endpoint and
        # stop. Whatever this leaves behind, the TTL deletes.
        db.recursive_delete(deliveries_collection(db, tenant_id, endpoint_id))
    except Exception as exc:
        _log.warning("webhooks.delivery_log_left_to_ttl", error=type(exc).__name__)


def rotate_secret(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> RotatedSecret:
    """A new signing secret, shown once; the previous ones keep signing for the overlap."""
    from google.cloud import firestore as fs

    when = _now(now)
    overlap_until = when + SECRET_OVERLAP
    secret = new_secret()
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> Endpoint:
        staged.clear()
        current = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            raise _not_found(endpoint_id)
        previous = read_secrets(db, tenant_id, endpoint_id, transaction)
        retiring = [
            SigningSecret(
                s.value,
                s.created_at,
                overlap_until if s.expires_at is None else min(s.expires_at, overlap_until),
            )
            for s in previous
            if s.signs_at(when)
        ]
        kept = [SigningSecret(secret, when), *retiring][:MAX_SECRETS]
        transaction.set(
            secrets_ref(db, tenant_id, endpoint_id),
            secrets_to_document(kept, tenant_id=tenant_id, endpoint_id=endpoint_id),
        )
        updated = replace(current, secret_rotated_at=when, updated_at=when)
        transaction.set(endpoint_ref(db, tenant_id, endpoint_id), endpoint_to_document(updated))
        staged.append(
            _audit(
                transaction,
                db,
                "webhook_endpoint.secret_rotated",
                updated,
                actor,
                correlation_id,
                {"previous_secret_expires_at": overlap_until.isoformat()},
            )
        )
        return updated

    endpoint: Endpoint = attempt(db.transaction())
    publish(db, staged)
    return RotatedSecret(endpoint, secret, overlap_until)


# -- the delivery log ----------------------------------------------------------------------


def list_deliveries(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """An endpoint's deliveries, newest first."""
    get_endpoint(db, tenant_id, endpoint_id)
    collection = deliveries_collection(db, tenant_id, endpoint_id)
    # The id breaks ties in the direction of created_at: Firestore's single-field index
    # on created_at serves that order, no composite index needed.
    query = collection.order_by("created_at", direction="DESCENDING").order_by(
        "__name__", direction="DESCENDING"
    )
    if cursor:
        position = decode_cursor(cursor, TimeOrderedPosition, scope=DELIVERIES_CURSOR)
        query = query.start_after(
            {"created_at": position.at, "__name__": collection.document(position.id)}
        )
    documents = list(query.limit(limit + 1).stream())
    items = [delivery_from_document(d.id, d.to_dict() or {}) for d in documents[:limit]]
    next_cursor = None
    if len(documents) > limit:
        last = items[-1]
        next_cursor = encode_cursor(
            TimeOrderedPosition(at=last.created_at, id=last.id), scope=DELIVERIES_CURSOR
        )
    return Page(items=items, next_cursor=next_cursor)


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
        raise _not_found(endpoint_id)
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
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Send a delivery again, with the same ``webhook-id``, as a new round of attempts.

    A round still retrying is superseded: its remaining messages are dropped.
    """
    from google.cloud import firestore as fs

    when = _now(now)
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
            _audit(
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
    actor: Mapping[str, Any],
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

    when = _now(now)
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
        _audit(
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
