"""Firestore layout of producer keys: ``producer_keys/{key_id}``, one top-level collection
of the credentials database (``shared.clients.credentials_client()``); a key's last use
is noted apart, in the main database (``shared.producers.usage``).

Top level rather than under the tenant: a message names only its credential, and the
key id inside it must find the record in one read before the tenant is known. Every
tenant-facing read filters on the record's ``tenant_id``, so another tenant's key is
indistinguishable from a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.producers.model import DEFAULT_RATE_LIMIT_PER_MINUTE, ProducerKey

if TYPE_CHECKING:
    from google.cloud import firestore

PRODUCER_KEYS = "producer_keys"


def key_ref(db: firestore.Client, key_id: str) -> Any:
    return db.collection(PRODUCER_KEYS).document(key_id)


def key_to_document(key: ProducerKey) -> dict[str, Any]:
    return {
        "tenant_id": key.tenant_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "secret_hash": key.secret_hash,
        "created_at": key.created_at,
        "created_by": dict(key.created_by),
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "revoked_by": key.revoked_by,
        "last_used_at": key.last_used_at,
        "role": key.role,
        "permissions": list(key.permissions) if key.permissions is not None else None,
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "replaces": key.replaces,
        "replaced_by": key.replaced_by,
    }


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value.timestamp(), UTC)


def key_from_document(key_id: str, document: dict[str, Any]) -> ProducerKey:
    # Keys stored before HTTP use have no role, permissions or limit: topic-only keys.
    permissions = document.get("permissions")
    return ProducerKey(
        id=key_id,
        tenant_id=document["tenant_id"],
        name=document["name"],
        scopes=tuple(document.get("scopes") or ()),
        secret_hash=document["secret_hash"],
        created_at=_aware(document["created_at"]) or datetime.now(UTC),
        created_by=dict(document.get("created_by") or {}),
        expires_at=_aware(document.get("expires_at")),
        revoked_at=_aware(document.get("revoked_at")),
        revoked_by=document.get("revoked_by"),
        last_used_at=_aware(document.get("last_used_at")),
        role=document.get("role"),
        permissions=tuple(permissions) if permissions is not None else None,
        rate_limit_per_minute=int(
            document.get("rate_limit_per_minute") or DEFAULT_RATE_LIMIT_PER_MINUTE
        ),
        replaces=document.get("replaces"),
        replaced_by=document.get("replaced_by"),
    )


def read_key(db: firestore.Client, key_id: str, transaction: Any = None) -> ProducerKey | None:
    snapshot = key_ref(db, key_id).get(transaction=transaction)
    return key_from_document(snapshot.id, snapshot.to_dict() or {}) if snapshot.exists else None


def tenant_keys(db: firestore.Client, tenant_id: str, transaction: Any = None) -> list[ProducerKey]:
    """Every key of a tenant, oldest first (at most MAX_KEYS_PER_TENANT exist)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection(PRODUCER_KEYS).where(filter=FieldFilter("tenant_id", "==", tenant_id))
    snapshots = query.stream(transaction=transaction)
    keys = [key_from_document(s.id, s.to_dict() or {}) for s in snapshots]
    return sorted(keys, key=lambda k: (k.created_at, k.id))
