"""Firestore layout of webhooks, all under the tenant (``tenants/{tenant_id}/...``).

=================================================================  ========================
``webhook_endpoints/{endpoint_id}``                                 the endpoint (no secret)
``webhook_secrets/{endpoint_id}``                                   its signing secrets
``webhook_events/{event key}``                                      an event's body, kept for
                                                                    retries and resends
``webhook_endpoints/{endpoint_id}/webhook_deliveries/{webhook-id}`` one event to one endpoint
``.../webhook_deliveries/{webhook-id}/webhook_attempts/{number}``  every attempt
=================================================================  ========================

Under the tenant, every list is one collection's own query: a tenant's endpoints
(at most 20, read whole), an endpoint's deliveries newest first, a tenant's events
since a moment, a delivery's attempts by number. Each is served by Firestore's
automatic single-field indexes, so no composite index is needed. Events, deliveries
and attempts carry ``expires_at`` and Firestore's TTL deletes them after
:data:`~shared.webhooks.rules.RETENTION`.

The secrets live apart from the endpoint so that reading an endpoint to answer a
request never loads a secret: only signing (the deliverer) and rotation read them. They
are stored sealed with the deployment's Cloud KMS key (a local key on the local stack),
bound to their tenant and endpoint (``shared/secrets/sealing.py``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.instance import per_instance_over
from shared.secrets.sealing import UnsealCache
from shared.webhooks.model import Attempt, Delivery, Endpoint, SigningSecret, StoredEvent
from shared.webhooks.rules import RETENTION, DeliveryStatus, Lane, Outcome

if TYPE_CHECKING:
    from google.cloud import firestore

TENANTS = "tenants"
ENDPOINTS = "webhook_endpoints"
SECRETS = "webhook_secrets"
EVENTS = "webhook_events"
DELIVERIES = "webhook_deliveries"
ATTEMPTS = "webhook_attempts"

_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")


def _tenant(db: firestore.Client, tenant_id: str) -> Any:
    return db.collection(TENANTS).document(tenant_id)


def endpoints_collection(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(ENDPOINTS)


def endpoint_ref(db: firestore.Client, tenant_id: str, endpoint_id: str) -> Any:
    return endpoints_collection(db, tenant_id).document(endpoint_id)


def secrets_ref(db: firestore.Client, tenant_id: str, endpoint_id: str) -> Any:
    return _tenant(db, tenant_id).collection(SECRETS).document(endpoint_id)


def events_collection(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(EVENTS)


def event_key(event_id: str) -> str:
    """The document id of an event: the id itself, or its hash when unusable as one."""
    if _PLAIN_ID.match(event_id) and not event_id.startswith("__"):
        return event_id
    return f"sha256-{hashlib.sha256(event_id.encode()).hexdigest()}"


def event_ref(db: firestore.Client, tenant_id: str, event_id: str) -> Any:
    return events_collection(db, tenant_id).document(event_key(event_id))


def deliveries_collection(db: firestore.Client, tenant_id: str, endpoint_id: str) -> Any:
    return endpoint_ref(db, tenant_id, endpoint_id).collection(DELIVERIES)


def delivery_ref(db: firestore.Client, tenant_id: str, endpoint_id: str, delivery_id: str) -> Any:
    return deliveries_collection(db, tenant_id, endpoint_id).document(delivery_id)


def attempt_ref(delivery: Any, number: int) -> Any:
    return delivery.collection(ATTEMPTS).document(f"{number:06d}")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _required_time(value: datetime | None) -> datetime:
    aware = _aware(value)
    if aware is None:
        raise ValueError("a stored webhook record lacks a timestamp")
    return aware


# -- endpoints -----------------------------------------------------------------------------


def endpoint_to_document(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "tenant_id": endpoint.tenant_id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at,
        "created_by": dict(endpoint.created_by),
        "updated_at": endpoint.updated_at,
        "consecutive_failures": endpoint.consecutive_failures,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "secret_rotated_at": endpoint.secret_rotated_at,
        "slow_until": endpoint.slow_until,
    }


def endpoint_from_document(endpoint_id: str, document: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=endpoint_id,
        tenant_id=document["tenant_id"],
        url=document["url"],
        event_types=tuple(document.get("event_types") or ()),
        description=document.get("description") or "",
        enabled=bool(document.get("enabled")),
        created_at=_required_time(document.get("created_at")),
        created_by=dict(document.get("created_by") or {}),
        updated_at=_required_time(document.get("updated_at")),
        consecutive_failures=int(document.get("consecutive_failures") or 0),
        disabled_at=_aware(document.get("disabled_at")),
        disabled_reason=document.get("disabled_reason"),
        secret_rotated_at=_aware(document.get("secret_rotated_at")),
        slow_until=_aware(document.get("slow_until")),
    )


def read_endpoint(
    db: firestore.Client, tenant_id: str, endpoint_id: str, transaction: Any = None
) -> Endpoint | None:
    snapshot = endpoint_ref(db, tenant_id, endpoint_id).get(transaction=transaction)
    if not snapshot.exists:
        return None
    return endpoint_from_document(snapshot.id, snapshot.to_dict() or {})


def tenant_endpoints(
    db: firestore.Client, tenant_id: str, transaction: Any = None
) -> list[Endpoint]:
    """Every endpoint of a tenant, oldest first (at most MAX_ENDPOINTS_PER_TENANT exist)."""
    snapshots = endpoints_collection(db, tenant_id).stream(transaction=transaction)
    endpoints = [endpoint_from_document(s.id, s.to_dict() or {}) for s in snapshots]
    return sorted(endpoints, key=lambda e: (e.created_at, e.id))


# -- secrets -------------------------------------------------------------------------------


def _settings() -> Any:
    from shared.config import get_settings

    return get_settings()


@per_instance_over(_settings)
def secret_sealing(settings: Any) -> UnsealCache:
    """The instance's sealer (a KMS client in the cloud) and the secrets it unsealed;
    rebuilt when the settings are (tests that change them)."""
    from shared.secrets.sealing import sealer_for

    sealer = sealer_for(settings.webhooks.secrets_key, local_dir=settings.secrets.local_dir)
    return UnsealCache(sealer)


def _seal_context(tenant_id: str, endpoint_id: str) -> bytes:
    # Binds a sealed secret to its endpoint: copied under another one, it does not unseal.
    return f"webhook-secret:{tenant_id}/{endpoint_id}".encode()


def secrets_to_document(
    secrets: list[SigningSecret], *, tenant_id: str, endpoint_id: str
) -> dict[str, Any]:
    """The secrets document: each secret sealed (shared/secrets/sealing.py), never plain."""
    from shared.secrets.sealing import encode

    sealer = secret_sealing().sealer
    context = _seal_context(tenant_id, endpoint_id)
    return {
        "secrets": [
            {
                "sealed": encode(sealer.seal(s.value.encode(), context=context)),
                "key": sealer.key_name,
                "created_at": s.created_at,
                "expires_at": s.expires_at,
            }
            for s in secrets
        ]
    }


def read_secrets(
    db: firestore.Client, tenant_id: str, endpoint_id: str, transaction: Any = None
) -> list[SigningSecret]:
    """The endpoint's secrets, newest first."""
    return _secrets_from(secrets_ref(db, tenant_id, endpoint_id).get(transaction=transaction))


def _secrets_from(snapshot: Any) -> list[SigningSecret]:
    """Unseal the stored secrets; a document written before sealing holds them plain."""
    stored = ((snapshot.to_dict() or {}).get("secrets") or []) if snapshot.exists else []
    if not stored:
        return []
    from shared.secrets.sealing import decode

    # tenants/{tenant}/webhook_secrets/{endpoint}
    context = _seal_context(snapshot.reference.parent.parent.id, snapshot.reference.id)
    unsealing = secret_sealing()
    secrets = [
        SigningSecret(
            value=(
                unsealing.unseal(decode(item["sealed"]), context=context).decode()
                if "sealed" in item
                else item["value"]
            ),
            created_at=_required_time(item.get("created_at")),
            expires_at=_aware(item.get("expires_at")),
        )
        for item in stored
    ]
    return sorted(secrets, key=lambda s: s.created_at, reverse=True)


# -- events --------------------------------------------------------------------------------


def event_to_document(event: StoredEvent, *, recorded_at: datetime) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "time": event.time,
        "body": event.body,
        "recorded_at": recorded_at,
    }


def event_from_document(document: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        event_id=document["event_id"],
        type=document["type"],
        time=_required_time(document.get("time")),
        body=bytes(document["body"]),
    )


def read_event(
    db: firestore.Client, tenant_id: str, event_id: str, transaction: Any = None
) -> StoredEvent | None:
    snapshot = event_ref(db, tenant_id, event_id).get(transaction=transaction)
    return event_from_document(snapshot.to_dict() or {}) if snapshot.exists else None


def events_since(
    db: firestore.Client, tenant_id: str, since: datetime, limit: int
) -> list[StoredEvent]:
    """The tenant's kept events from ``since`` on, oldest first, at most ``limit``."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        events_collection(db, tenant_id)
        .where(filter=FieldFilter("time", ">=", since))
        .order_by("time")
        .limit(limit)
    )
    return [event_from_document(s.to_dict() or {}) for s in query.stream()]


# -- deliveries and attempts ---------------------------------------------------------------


def attempt_to_document(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "round": attempt.round,
        "at": attempt.at,
        "kind": attempt.kind,
        "outcome": attempt.outcome.value,
        "latency_ms": attempt.latency_ms,
        "status_code": attempt.status_code,
        "response_body": attempt.response_body,
        "error": attempt.error,
    }


def attempt_from_document(document: dict[str, Any]) -> Attempt:
    return Attempt(
        number=int(document["number"]),
        round=int(document.get("round") or 0),
        at=_required_time(document.get("at")),
        kind=str(document["kind"]),
        outcome=Outcome(document["outcome"]),
        latency_ms=float(document.get("latency_ms") or 0.0),
        status_code=document.get("status_code"),
        response_body=document.get("response_body"),
        error=document.get("error"),
    )


def delivery_to_document(delivery: Delivery) -> dict[str, Any]:
    return {
        "tenant_id": delivery.tenant_id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
        "round": delivery.round,
        "attempt_count": delivery.attempt_count,
        "round_attempts": delivery.round_attempts,
        "last_attempt": (
            attempt_to_document(delivery.last_attempt) if delivery.last_attempt else None
        ),
        "delivered_at": delivery.delivered_at,
        "lane": delivery.lane.value,
        # Kept RETENTION after its last change, then Firestore's TTL deletes it.
        "expires_at": delivery.updated_at + RETENTION,
    }


def delivery_from_document(delivery_id: str, document: dict[str, Any]) -> Delivery:
    last = document.get("last_attempt")
    return Delivery(
        id=delivery_id,
        tenant_id=document["tenant_id"],
        endpoint_id=document["endpoint_id"],
        event_id=document["event_id"],
        event_type=document["event_type"],
        status=DeliveryStatus(document["status"]),
        created_at=_required_time(document.get("created_at")),
        updated_at=_required_time(document.get("updated_at")),
        round=int(document.get("round") or 0),
        attempt_count=int(document.get("attempt_count") or 0),
        round_attempts=int(document.get("round_attempts") or 0),
        last_attempt=attempt_from_document(last) if last else None,
        delivered_at=_aware(document.get("delivered_at")),
        lane=Lane(document.get("lane") or Lane.FAST.value),
    )


def read_delivery(
    db: firestore.Client,
    tenant_id: str,
    endpoint_id: str,
    delivery_id: str,
    transaction: Any = None,
) -> Delivery | None:
    snapshot = delivery_ref(db, tenant_id, endpoint_id, delivery_id).get(transaction=transaction)
    if not snapshot.exists:
        return None
    return delivery_from_document(snapshot.id, snapshot.to_dict() or {})


@dataclass(frozen=True, slots=True)
class AttemptInputs:
    """What an attempt needs, read together: any of them may be gone."""

    delivery: Delivery | None
    endpoint: Endpoint | None
    event: StoredEvent | None
    secrets: list[SigningSecret]


def read_attempt_inputs(
    db: firestore.Client, tenant_id: str, endpoint_id: str, delivery_id: str, event_id: str
) -> AttemptInputs:
    """The delivery, its endpoint, its event and the endpoint's secrets in one batched
    read: one round trip instead of four on the deliverer's path."""
    refs = {
        "delivery": delivery_ref(db, tenant_id, endpoint_id, delivery_id),
        "endpoint": endpoint_ref(db, tenant_id, endpoint_id),
        "event": event_ref(db, tenant_id, event_id),
        "secrets": secrets_ref(db, tenant_id, endpoint_id),
    }
    by_path = {snapshot.reference.path: snapshot for snapshot in db.get_all(list(refs.values()))}
    found = {name: by_path.get(ref.path) for name, ref in refs.items()}

    def document(name: str) -> dict[str, Any] | None:
        snapshot = found[name]
        return (snapshot.to_dict() or {}) if snapshot is not None and snapshot.exists else None

    delivery_document, endpoint_document = document("delivery"), document("endpoint")
    event_document = document("event")
    secrets_snapshot = found["secrets"]
    return AttemptInputs(
        delivery=(
            delivery_from_document(delivery_id, delivery_document)
            if delivery_document is not None
            else None
        ),
        endpoint=(
            endpoint_from_document(endpoint_id, endpoint_document)
            if endpoint_document is not None
            else None
        ),
        event=event_from_document(event_document) if event_document is not None else None,
        secrets=_secrets_from(secrets_snapshot) if secrets_snapshot is not None else [],
    )


def read_attempts(delivery: Any, limit: int) -> list[Attempt]:
    """The newest ``limit`` attempts of a delivery, newest first."""
    query = delivery.collection(ATTEMPTS).order_by("number", direction="DESCENDING").limit(limit)
    return [attempt_from_document(s.to_dict() or {}) for s in query.stream()]
