"""Use cases of producer keys: create, list, read, revoke, and authenticate a message."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import BusinessRuleError, FieldError, NotFoundError, ValidationError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import StagedEvent, add_to_outbox, publish_committed
from shared.logger import get_logger
from shared.producers.model import CreatedProducerKey, ProducerKey
from shared.producers.requests import CreateProducerKeyRequest
from shared.producers.rules import (
    CREDENTIAL_ATTRIBUTE,
    MAX_KEYS_PER_TENANT,
    ProducerIdentity,
    check_key,
    credential_hash,
    key_id_of,
    new_credential,
    new_key_id,
)
from shared.producers.store import key_ref, key_to_document, read_key, tenant_keys

if TYPE_CHECKING:
    from google.cloud import firestore

# ``last_used_at`` is refreshed at most this often: a busy producer must not turn
# every message into a write on its key's document.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_RESOURCE = "producer_key"

_log = get_logger("shared.producers")


def create_key(
    db: firestore.Client,
    tenant_id: str,
    request: CreateProducerKeyRequest,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> CreatedProducerKey:
    """A new key for the tenant; the returned credential is never stored or shown again."""
    from google.cloud import firestore as fs

    now = now or datetime.now(UTC)
    if request.expires_at is not None and request.expires_at <= now:
        raise ValidationError.for_field("expires_at", "must be in the future", "expiry_in_past")
    key_id = new_key_id()
    credential = new_credential(key_id)
    key = ProducerKey(
        id=key_id,
        tenant_id=tenant_id,
        name=request.name,
        scopes=tuple(sorted(set(request.scopes))),
        secret_hash=credential_hash(credential),
        created_at=now,
        created_by=dict(actor),
        expires_at=request.expires_at,
    )
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> None:
        staged.clear()
        active = [k for k in tenant_keys(db, tenant_id, transaction) if k.revoked_at is None]
        if len(active) >= MAX_KEYS_PER_TENANT:
            raise BusinessRuleError(
                f"a tenant has at most {MAX_KEYS_PER_TENANT} active producer keys; "
                "revoke one first",
                code="too_many_producer_keys",
                errors=[FieldError("name", "no room for another key", "too_many_producer_keys")],
            )
        transaction.create(key_ref(db, key_id), key_to_document(key))
        staged.append(_audit(transaction, db, "producer_key.created", key, actor, correlation_id))

    attempt(db.transaction())
    _publish(db, staged)
    return CreatedProducerKey(key, credential)


def list_keys(db: firestore.Client, tenant_id: str) -> list[ProducerKey]:
    return tenant_keys(db, tenant_id)


def get_key(db: firestore.Client, tenant_id: str, key_id: str) -> ProducerKey:
    key = read_key(db, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise NotFoundError(f"producer key {key_id} not found", code="producer_key_not_found")
    return key


def revoke_key(
    db: firestore.Client,
    tenant_id: str,
    key_id: str,
    *,
    actor: Mapping[str, Any],
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> ProducerKey:
    """Revoke a key: every message presenting it from now on is refused. Idempotent."""
    from google.cloud import firestore as fs

    when = now or datetime.now(UTC)
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> ProducerKey:
        staged.clear()
        key = read_key(db, key_id, transaction)
        if key is None or key.tenant_id != tenant_id:
            raise NotFoundError(f"producer key {key_id} not found", code="producer_key_not_found")
        if key.revoked_at is not None:
            return key
        revoked = ProducerKey(
            **{**_fields(key), "revoked_at": when, "revoked_by": dict(actor)},
        )
        transaction.update(key_ref(db, key_id), {"revoked_at": when, "revoked_by": dict(actor)})
        staged.append(
            _audit(transaction, db, "producer_key.revoked", revoked, actor, correlation_id)
        )
        return revoked

    revoked_key: ProducerKey = attempt(db.transaction())
    _publish(db, staged)
    return revoked_key


def authenticate(
    db: firestore.Client,
    attributes: Mapping[str, str],
    scope: str,
    *,
    now: datetime | None = None,
) -> ProducerIdentity:
    """The producer a message's credential proves, for ``scope``; raises ProducerRejected.

    Reads only the message attributes and the key's record: nothing of the body.
    """
    now = now or datetime.now(UTC)
    credential = attributes.get(CREDENTIAL_ATTRIBUTE)
    key_id = key_id_of(credential)
    assert credential is not None  # key_id_of refuses a missing one
    key = read_key(db, key_id)
    identity = check_key(key, credential, scope, now)
    assert key is not None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        # Best effort: a failed bookkeeping write must not refuse a valid message.
        with contextlib.suppress(Exception):
            key_ref(db, key_id).update({"last_used_at": now})
    return identity


def tenant_of_credential(db: firestore.Client, credential: str) -> str | None:
    """The tenant of the key a credential proves, revoked or not; None when none matches."""
    from shared.producers.rules import ProducerRejected

    try:
        key = read_key(db, key_id_of(credential))
    except ProducerRejected:
        return None
    if key is None or not hmac.compare_digest(key.secret_hash, credential_hash(credential)):
        return None
    return key.tenant_id


def _fields(key: ProducerKey) -> dict[str, Any]:
    return {name: getattr(key, name) for name in key.__dataclass_fields__}


def _audit(
    transaction: Any,
    db: firestore.Client,
    action: str,
    key: ProducerKey,
    actor: Mapping[str, Any],
    correlation_id: str | None,
) -> StagedEvent:
    return add_to_outbox(
        transaction,
        db,
        AUDIT_TOPIC,
        audit_event(
            action,
            tenant_id=key.tenant_id,
            actor=dict(actor),
            resource_type=_RESOURCE,
            resource_id=key.id,
            details={"name": key.name, "scopes": list(key.scopes)},
            source="tributum/producers",
            correlation_id=correlation_id,
        ),
    )


def _publish(db: firestore.Client, staged: list[StagedEvent]) -> None:
    try:
        publish_committed(db, staged)
    except Exception as exc:  # the outbox relay publishes what is left
        _log.warning("producers.audit_publish_deferred", error=type(exc).__name__)
