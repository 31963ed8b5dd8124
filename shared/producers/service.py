"""Use cases of producer keys: create, list, read, revoke, rotate, and authenticate a message.

Authenticating an HTTP request with a key is ``shared.producers.http`` (it adds a
per-instance cache and rate limits on top of the same checks).

Two databases: the keys (``producer_keys``) and the audit events staged with their
changes are in the credentials database, the ``db`` every use case takes; a key's
last use (``shared.producers.usage``) is in the main database, the ``books`` that
listing, reading and authenticating take besides.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import (
    BusinessRuleError,
    ConflictError,
    FieldError,
    NotFoundError,
    ValidationError,
)
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.producers.cache import forget_locally
from shared.producers.model import CreatedProducerKey, ProducerKey
from shared.producers.requests import CreateProducerKeyRequest, RotateProducerKeyRequest
from shared.producers.rules import (
    CREDENTIAL_ATTRIBUTE,
    MAX_KEYS_PER_TENANT,
    ProducerIdentity,
    check_key,
    check_key_access,
    check_role_ceiling,
    credential_hash,
    key_id_of,
    new_credential,
    new_key_id,
    rotation_expiry,
)
from shared.producers.store import key_ref, key_to_document, read_key, tenant_keys
from shared.producers.usage import UsageRecorder, read_last_used, with_last_use

if TYPE_CHECKING:
    from google.cloud import firestore

_RESOURCE = "producer_key"
# Messages note their key's use through this instance's recorder (once a minute a key).
_message_usage = UsageRecorder()
# The detail of a 503 ``contention`` when changes to a tenant's keys outlast the retries.
_KEYS_BUSY = "the producer keys were changed at the same time; retry"


def create_key(
    db: firestore.Client,
    tenant_id: str,
    request: CreateProducerKeyRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> CreatedProducerKey:
    """A new key for the tenant; the returned credential is never stored or shown again."""
    now = now or datetime.now(UTC)
    permissions = None if request.permissions is None else [p.value for p in request.permissions]
    check_key_access(request.role, permissions, request.scopes)
    check_role_ceiling(actor.role, request.role, action="create")
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
        created_by=actor.to_audit(),
        expires_at=request.expires_at,
        role=request.role,
        permissions=None if permissions is None else tuple(sorted(set(permissions))),
        rate_limit_per_minute=request.rate_limit_per_minute,
    )

    def attempt(transaction: Any) -> None:
        _check_room(tenant_keys(db, tenant_id, transaction), now)
        transaction.create(key_ref(db, key_id), key_to_document(key))
        _audit(transaction, db, "producer_key.created", key, actor, correlation_id)

    transact(db, attempt, name="producers.create_key", busy=_KEYS_BUSY)
    return CreatedProducerKey(key, credential)


def list_keys(
    db: firestore.Client, tenant_id: str, *, books: firestore.Client
) -> list[ProducerKey]:
    """The tenant's keys from ``db`` (credentials), with their last use from ``books``."""
    keys = tenant_keys(db, tenant_id)
    return with_last_use(keys, read_last_used(books, (k.id for k in keys)))


def get_key(
    db: firestore.Client, tenant_id: str, key_id: str, *, books: firestore.Client
) -> ProducerKey:
    """One key of the tenant from ``db`` (credentials), with its last use from ``books``."""
    key = read_key(db, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise NotFoundError(f"producer key {key_id} not found", code="producer_key_not_found")
    [merged] = with_last_use([key], read_last_used(books, [key.id]))
    return merged


def revoke_key(
    db: firestore.Client,
    tenant_id: str,
    key_id: str,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> ProducerKey:
    """Revoke a key: every message presenting it from now on is refused. Idempotent."""
    when = now or datetime.now(UTC)

    def attempt(transaction: Any) -> ProducerKey:
        key = read_key(db, key_id, transaction)
        if key is None or key.tenant_id != tenant_id:
            raise NotFoundError(f"producer key {key_id} not found", code="producer_key_not_found")
        check_role_ceiling(actor.role, key.role, action="revoke")
        if key.revoked_at is not None:
            return key
        revoked = ProducerKey(
            **{**_fields(key), "revoked_at": when, "revoked_by": actor.to_audit()},
        )
        transaction.update(
            key_ref(db, key_id), {"revoked_at": when, "revoked_by": actor.to_audit()}
        )
        _audit(transaction, db, "producer_key.revoked", revoked, actor, correlation_id)
        return revoked

    return transact(
        db,
        attempt,
        name="producers.revoke_key",
        busy=_KEYS_BUSY,
        # Before the events are published: a slow publish must not keep the key cached.
        before_publish=lambda _revoked: forget_locally(key_id),
    )


def rotate_key(
    db: firestore.Client,
    tenant_id: str,
    key_id: str,
    request: RotateProducerKeyRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> CreatedProducerKey:
    """A new key with the old one's name, access and expiry; the old one keeps working for
    ``overlap_seconds`` (its ``expires_at``), then is refused. Returns the new credential."""
    when = now or datetime.now(UTC)
    new_id = new_key_id()
    credential = new_credential(new_id)

    def attempt(transaction: Any) -> ProducerKey:
        old = read_key(db, key_id, transaction)
        if old is None or old.tenant_id != tenant_id:
            raise NotFoundError(f"producer key {key_id} not found", code="producer_key_not_found")
        check_role_ceiling(actor.role, old.role, action="rotate")
        status = old.status_at(when)
        if status != "active":
            raise ConflictError(
                f"producer key {key_id} is {status}; create a new key instead",
                code=f"producer_key_{status}",
            )
        if old.replaced_by is not None:
            raise ConflictError(
                f"producer key {key_id} was rotated already (to {old.replaced_by})",
                code="producer_key_rotated",
            )
        others = [k for k in tenant_keys(db, tenant_id, transaction) if k.id != key_id]
        _check_room(others, when)
        new = ProducerKey(
            **{
                **_fields(old),
                "id": new_id,
                "secret_hash": credential_hash(credential),
                "created_at": when,
                "created_by": actor.to_audit(),
                "revoked_at": None,
                "revoked_by": None,
                "last_used_at": None,
                "replaces": key_id,
                "replaced_by": None,
            }
        )
        old_ends = rotation_expiry(when, timedelta(seconds=request.overlap_seconds), old.expires_at)
        rotated = ProducerKey(**{**_fields(old), "expires_at": old_ends, "replaced_by": new_id})
        transaction.create(key_ref(db, new_id), key_to_document(new))
        transaction.update(key_ref(db, key_id), {"expires_at": old_ends, "replaced_by": new_id})
        _audit(transaction, db, "producer_key.created", new, actor, correlation_id)
        _audit(transaction, db, "producer_key.rotated", rotated, actor, correlation_id)
        return new

    new_key = transact(
        db,
        attempt,
        name="producers.rotate_key",
        busy=_KEYS_BUSY,
        before_publish=lambda _new: forget_locally(key_id),
    )
    return CreatedProducerKey(new_key, credential)


def authenticate(
    db: firestore.Client,
    attributes: Mapping[str, str],
    scope: str,
    *,
    books: Callable[[], firestore.Client],
    now: datetime | None = None,
) -> ProducerIdentity:
    """The producer a message's credential proves, for ``scope``; raises ProducerRejected.

    Reads only the message attributes and the key's record in ``db`` (credentials):
    nothing of the body. The key's use is noted in ``books`` (the main database's
    client, asked for only when a note is due), best effort.
    """
    now = now or datetime.now(UTC)
    credential = attributes.get(CREDENTIAL_ATTRIBUTE)
    key_id = key_id_of(credential)
    assert credential is not None  # key_id_of refuses a missing one
    identity = check_key(read_key(db, key_id), credential, scope, now)
    _message_usage.record(books, key_id, now)
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


def _check_room(keys: list[ProducerKey], now: datetime) -> None:
    """Revoked and expired keys make room; active ones (rotated ones in their overlap too)
    count against the tenant's limit."""
    active = [k for k in keys if k.status_at(now) == "active"]
    if len(active) >= MAX_KEYS_PER_TENANT:
        raise BusinessRuleError(
            f"a tenant has at most {MAX_KEYS_PER_TENANT} active producer keys; revoke one first",
            code="too_many_producer_keys",
            errors=[FieldError("name", "no room for another key", "too_many_producer_keys")],
        )


def _fields(key: ProducerKey) -> dict[str, Any]:
    return {name: getattr(key, name) for name in key.__dataclass_fields__}


def _audit(
    transaction: Any,
    db: firestore.Client,
    action: str,
    key: ProducerKey,
    actor: Actor,
    correlation_id: str | None,
) -> None:
    """Stage the audit event of a change to ``key`` in ``transaction``."""
    add_to_outbox(
        transaction,
        db,
        AUDIT_TOPIC,
        audit_event(
            action,
            tenant_id=key.tenant_id,
            actor=actor.to_audit(),
            resource_type=_RESOURCE,
            resource_id=key.id,
            details={
                "name": key.name,
                "scopes": list(key.scopes),
                "role": key.role,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                "replaces": key.replaces,
                "replaced_by": key.replaced_by,
            },
            source="tributum/producers",
            correlation_id=correlation_id,
        ),
    )
