"""Password reset tokens: pure rules, no I/O.

A token is 32 random bytes, URL-safe base64 (43 characters); it is shown once, in the
reset email. Firestore keeps only its SHA-256 (the id of ``password_resets/{digest}``),
so a reader of the database cannot use a stored token. A stored token is usable once,
for :data:`RESET_TOKEN_LIFETIME`, and only while the user's access epoch is the one it
was issued in: any password change, reset or disable raises the epoch, so every other
token outstanding for that user dies with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

RESET_TOKEN_BYTES = 32
RESET_TOKEN_LIFETIME = timedelta(minutes=30)
# The one answer for an unknown, expired, used or superseded token: no oracle.
RESET_TOKEN_INVALID = "reset_token_invalid"  # noqa: S105 (an error code)
RESET_TOKEN_INVALID_DETAIL = "the reset token is invalid or has expired; request a new one"  # noqa: S105


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``secret`` goes into the email, ``digest`` into Firestore."""

    secret: str
    digest: str


def token_digest(secret: str) -> str:
    """The stored form of a token (hex SHA-256 of its text)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token() -> IssuedToken:
    secret = secrets.token_urlsafe(RESET_TOKEN_BYTES)
    return IssuedToken(secret=secret, digest=token_digest(secret))


@dataclass(frozen=True, slots=True)
class StoredResetToken:
    """``password_resets/{digest}``: whose token it is, until when, and whether it was used."""

    user_id: str
    tenant_id: str
    epoch: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    @classmethod
    def new(cls, *, user_id: str, tenant_id: str, epoch: int, now: datetime) -> StoredResetToken:
        return cls(
            user_id=user_id,
            tenant_id=tenant_id,
            epoch=epoch,
            created_at=now,
            expires_at=now + RESET_TOKEN_LIFETIME,
        )

    def usable(self, *, now: datetime, current_epoch: int) -> bool:
        """Unused, unexpired, and issued in the user's current access epoch."""
        return self.used_at is None and now < self.expires_at and self.epoch == current_epoch

    def to_document(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "epoch": self.epoch,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StoredResetToken:
        return cls(
            user_id=str(document["user_id"]),
            tenant_id=str(document["tenant_id"]),
            epoch=int(document.get("epoch", 0)),
            created_at=document["created_at"],
            expires_at=document["expires_at"],
            used_at=document.get("used_at"),
        )
