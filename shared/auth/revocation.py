"""Token revocation by ``(iss, jti)``.

``FirestoreRevocationStore`` keeps one document per revoked token in
``revoked_tokens``, id ``sha256(iss NUL jti)`` (fixed length, no characters Firestore
ids forbid, and two issuers can never collide on one jti). ``expires_at``, the
collection's TTL field, is the token's own expiry plus a margin beyond the verifier's
leeway: once the token has expired the record has nothing left to protect, so
Firestore may delete it. TTL deletion runs late (up to a day) and never on the
emulator, which is harmless here: a lingering record only marks an expired token.

Every authenticated request reads one document; revocation takes effect on the next
request on every instance, with no cache to wait for.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.claims import TokenClaims

REVOKED_TOKENS_COLLECTION = "revoked_tokens"
# Records outlive their token by more than the verifier's leeway, so a token accepted a
# few seconds past `exp` is still seen as revoked.
RETENTION_MARGIN = timedelta(minutes=5)


class RevocationStore(Protocol):
    def revoke(self, issuer: str, jti: str, *, expires_at: datetime, reason: str) -> None:
        """Mark the token ``(issuer, jti)`` revoked until ``expires_at``."""

    def is_revoked(self, issuer: str, jti: str) -> bool: ...


def revocation_id(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


def revoke_token(store: RevocationStore, claims: TokenClaims, *, reason: str) -> None:
    """Revoke the token ``claims`` describes, for as long as it would have been valid."""
    store.revoke(claims.issuer, claims.jti, expires_at=claims.expires_at_datetime, reason=reason)


class FirestoreRevocationStore:
    def __init__(
        self, client: firestore.Client, *, collection: str = REVOKED_TOKENS_COLLECTION
    ) -> None:
        self._collection = client.collection(collection)

    def revoke(self, issuer: str, jti: str, *, expires_at: datetime, reason: str) -> None:
        from google.cloud import firestore

        # set(): revoking twice is harmless, and a later revocation may extend expires_at.
        self._collection.document(revocation_id(issuer, jti)).set(
            {
                "iss": issuer,
                "jti": jti,
                "reason": reason,
                "revoked_at": firestore.SERVER_TIMESTAMP,
                "expires_at": expires_at.astimezone(UTC) + RETENTION_MARGIN,
            }
        )

    def is_revoked(self, issuer: str, jti: str) -> bool:
        snapshot = self._collection.document(revocation_id(issuer, jti)).get()
        return bool(snapshot.exists)


class InMemoryRevocationStore:
    """Per-instance revocations: for a single process (tools, tests of adapters)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._revoked: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def revoke(self, issuer: str, jti: str, *, expires_at: datetime, reason: str) -> None:
        with self._lock:
            self._revoked[revocation_id(issuer, jti)] = expires_at + RETENTION_MARGIN
            self._forget_expired()

    def is_revoked(self, issuer: str, jti: str) -> bool:
        with self._lock:
            return revocation_id(issuer, jti) in self._revoked

    def _forget_expired(self) -> None:
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        for key in [key for key, expires in self._revoked.items() if expires <= now]:
            del self._revoked[key]
