"""Refresh-token families: one per login session, rotated on every refresh.

A family records the ``jti`` of the one refresh token that may be used next. A
refresh presents that token and, in one Firestore transaction, the family moves on
to the new token's ``jti``. Presenting any older token of the family means it was
copied: the thief or the user is replaying a rotated token, and which one cannot be
told, so the whole family is revoked and both must log in again (reuse detection,
as in the OAuth 2.0 Security BCP). Because the check and the move happen in one
transaction, two concurrent refreshes of the same token cannot both succeed: the
second sees a rotated family.

Collection ``refresh_token_families``, document id = family id (random). Fields:
``tenant_id``, ``user_id``, ``current_jti``, ``generation`` (rotations so far),
``status`` (``active`` / ``revoked``), ``created_at``, ``rotated_at``,
``revoked_at``, ``revoke_reason``, and ``expires_at`` (the collection's TTL field:
the current refresh token's expiry plus a margin; a family whose last token expired
protects nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.auth.revocation import RETENTION_MARGIN
from shared.auth.tokens import TOKEN_INVALID, TOKEN_REVOKED, token_error
from shared.errors import ConflictError, UnauthorizedError
from shared.logger import get_logger

if TYPE_CHECKING:
    from google.cloud import firestore

REFRESH_FAMILIES_COLLECTION = "refresh_token_families"
STATUS_ACTIVE = "active"
STATUS_REVOKED = "revoked"
REASON_REUSE = "reuse_detected"

_Outcome = Literal["rotated", "unknown", "mismatch", "revoked", "reused"]


class RefreshTokenReused(UnauthorizedError):
    """A rotated refresh token came back and its family is now revoked.

    To the client it is the plain 401 ``token_revoked``; the subclass lets the session
    service end the family's access tokens and the auth function audit the reuse.
    """

    def __init__(self, family_id: str, *, user_id: str, tenant_id: str) -> None:
        answer = token_error(TOKEN_REVOKED)
        super().__init__(answer.detail, code=answer.code, headers=answer.headers)
        self.family_id = family_id
        self.user_id = user_id
        self.tenant_id = tenant_id


class RefreshFamilyStore(Protocol):
    def start(
        self, family_id: str, *, jti: str, user_id: str, tenant_id: str, expires_at: datetime
    ) -> None: ...

    def rotate(
        self,
        family_id: str,
        *,
        presented_jti: str,
        next_jti: str,
        user_id: str,
        tenant_id: str,
        expires_at: datetime,
    ) -> None:
        """Move the family to ``next_jti`` or raise ``UnauthorizedError``."""

    def revoke(self, family_id: str, *, reason: str) -> bool: ...

    def revoke_user(
        self, tenant_id: str, user_id: str, *, reason: str, keep: str | None = None
    ) -> int: ...


class FirestoreRefreshTokenFamilies:
    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = REFRESH_FAMILIES_COLLECTION,
        max_attempts: int = 5,
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._max_attempts = max_attempts

    def start(
        self, family_id: str, *, jti: str, user_id: str, tenant_id: str, expires_at: datetime
    ) -> None:
        from google.cloud import firestore

        # create(): a family id is random; a collision must fail, never overwrite a session.
        self._collection.document(family_id).create(
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "current_jti": jti,
                "generation": 0,
                "status": STATUS_ACTIVE,
                "created_at": firestore.SERVER_TIMESTAMP,
                "rotated_at": None,
                "revoked_at": None,
                "revoke_reason": None,
                "expires_at": _ttl(expires_at),
            }
        )

    def get(self, family_id: str) -> dict[str, Any] | None:
        snapshot = self._collection.document(family_id).get()
        return snapshot.to_dict() if snapshot.exists else None

    def rotate(
        self,
        family_id: str,
        *,
        presented_jti: str,
        next_jti: str,
        user_id: str,
        tenant_id: str,
        expires_at: datetime,
    ) -> None:
        from google.api_core import exceptions as api_exceptions
        from google.cloud import firestore

        reference = self._collection.document(family_id)

        # Not shared.events.transact: contention here is a 409 ``refresh_in_progress``, not a
        # 503 "retry": a client retrying the same refresh token would find the family
        # rotated and have it revoked as a reuse. Re-run by Firestore on contention: it only
        # reads and writes, never calls out.
        @firestore.transactional
        def attempt(transaction: firestore.Transaction) -> _Outcome:
            snapshot = reference.get(transaction=transaction)
            if not snapshot.exists:
                return "unknown"
            record = snapshot.to_dict() or {}
            if record.get("tenant_id") != tenant_id or record.get("user_id") != user_id:
                return "mismatch"
            if record.get("status") != STATUS_ACTIVE:
                return "revoked"
            if record.get("current_jti") != presented_jti:
                transaction.update(reference, _revocation(REASON_REUSE))
                return "reused"
            transaction.update(
                reference,
                {
                    "current_jti": next_jti,
                    "generation": int(record.get("generation", 0)) + 1,
                    "rotated_at": firestore.SERVER_TIMESTAMP,
                    "expires_at": _ttl(expires_at),
                },
            )
            return "rotated"

        try:
            outcome = attempt(self._client.transaction(max_attempts=self._max_attempts))
        except (api_exceptions.Aborted, ValueError) as exc:
            # The client wraps "every attempt aborted" in a ValueError; others are bugs.
            if isinstance(exc, ValueError) and not isinstance(
                exc.__cause__, api_exceptions.Aborted
            ):
                raise
            # Every attempt lost to concurrent use of this family: refuse rather than guess.
            get_logger("shared.auth").warning(
                "refresh_rotation_contended", family_id=family_id, error=type(exc).__name__
            )
            raise ConflictError(
                "the refresh token is being used concurrently", code="refresh_in_progress"
            ) from None
        if outcome == "rotated":
            return
        if outcome == "reused":
            get_logger("shared.auth").warning(
                "refresh_token_reuse_detected",
                family_id=family_id,
                tenant_id=tenant_id,
                user_id=user_id,
            )
            raise RefreshTokenReused(family_id, user_id=user_id, tenant_id=tenant_id)
        if outcome == "revoked":
            raise token_error(TOKEN_REVOKED)
        raise token_error(TOKEN_INVALID)

    def revoke(self, family_id: str, *, reason: str) -> bool:
        """Revoke one family (logout); False if it does not exist."""
        from google.api_core import exceptions as api_exceptions

        try:
            self._collection.document(family_id).update(_revocation(reason))
        except api_exceptions.NotFound:
            return False
        return True

    def revoke_user(
        self, tenant_id: str, user_id: str, *, reason: str, keep: str | None = None
    ) -> int:
        """Revoke every active family of a user but ``keep`` (password change, disable)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("tenant_id", "==", tenant_id))
            .where(filter=FieldFilter("user_id", "==", user_id))
            .where(filter=FieldFilter("status", "==", STATUS_ACTIVE))
        )
        count = 0
        batch = self._client.batch()
        for snapshot in query.stream():
            if snapshot.id == keep:
                continue
            batch.update(snapshot.reference, _revocation(reason))
            count += 1
            if count % 400 == 0:  # a batch holds at most 500 writes
                batch.commit()
                batch = self._client.batch()
        if count % 400:
            batch.commit()
        return count


def _ttl(expires_at: datetime) -> datetime:
    return expires_at.astimezone(UTC) + RETENTION_MARGIN


def _revocation(reason: str) -> dict[str, Any]:
    from google.cloud import firestore

    return {
        "status": STATUS_REVOKED,
        "revoked_at": firestore.SERVER_TIMESTAMP,
        "revoke_reason": reason,
    }
