"""A stored producer key (never its secret: only the credential's SHA-256)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


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

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "created_by": dict(self.created_by),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


@dataclass(frozen=True, slots=True)
class CreatedProducerKey:
    """A new key with its credential: the only time the secret leaves the service."""

    key: ProducerKey
    credential: str

    def to_json(self) -> dict[str, Any]:
        return {**self.key.to_json(), "credential": self.credential}
