"""A stored key (never its secret: only the credential's SHA-256).

One kind of key serves both doors: ``scopes`` say which inbound topics it may publish
to, ``role`` (and optionally ``permissions``) what it may do on the HTTP API. A key
with no role never passes an HTTP permission check; a key with no scope never
publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_RATE_LIMIT_PER_MINUTE = 600


@dataclass(frozen=True, slots=True)
class ProducerKey:
    id: str
    tenant_id: str
    name: str
    scopes: tuple[str, ...]
    secret_hash: str
    created_at: datetime
    created_by: dict[str, Any]
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: dict[str, Any] | None = None
    last_used_at: datetime | None = None
    # The HTTP API: the role whose permissions the key holds, narrowed to
    # ``permissions`` when those are given (a restricted key).
    role: str | None = None
    permissions: tuple[str, ...] | None = None
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    # Rotation: the key this one replaced, and the key that replaced this one.
    replaces: str | None = None
    replaced_by: str | None = None

    def status_at(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    @property
    def status(self) -> str:
        return self.status_at(datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "role": self.role,
            "permissions": list(self.permissions) if self.permissions is not None else None,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "created_by": dict(self.created_by),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "replaces": self.replaces,
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True, slots=True)
class CreatedProducerKey:
    """A new key with its credential: the only time the secret leaves the service."""

    key: ProducerKey
    credential: str

    def to_json(self) -> dict[str, Any]:
        return {**self.key.to_json(), "credential": self.credential}
