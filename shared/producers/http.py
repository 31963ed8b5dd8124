"""Keys on the HTTP API: ``Authorization: Bearer trb_pk_...`` on any route.

The router's authenticator (``shared.auth.http.BearerAuthenticator``) hands a bearer
token that starts with ``trb_pk_`` here; JWTs (``eyJ...``) go to the token verifier.
Per request:

1. the credential parses, its key record is read through the instance's cache
   (``cache.py``: at most 2 s stale, like sessions) and its hash matches in constant
   time; revoked, expired (a rotated key after its overlap) or unknown keys are a 401
   with ``WWW-Authenticate`` (``token_revoked``, ``token_expired``, ``token_invalid``);
2. a key without a role is a 403 ``key_without_role``: it opens topics only;
3. the key's rate limit: ``rate_limit_per_minute`` in a token bucket of this instance
   (bursts up to the limit, then limit/60 per second), a 429 with ``Retry-After``;
4. the key's use is noted at most once a minute per key per instance, best effort, in
   the main database (``usage.py``): the key's record is in the credentials database,
   which HTTP functions may only read.

The principal is a :class:`~shared.auth.context.KeyPrincipal` acting as
``key:<key id>``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.auth.context import KeyPrincipal
from shared.auth.tokens import TOKEN_EXPIRED, TOKEN_INVALID, TOKEN_REVOKED, token_error
from shared.errors import AppError, ForbiddenError, ServiceUnavailableError
from shared.instance import per_instance, reset_instances
from shared.logger import get_logger
from shared.producers.cache import CachedKeys
from shared.producers.model import ProducerKey
from shared.producers.rules import (
    ProducerRejected,
    check_credential,
    key_id_of,
    key_permissions,
)
from shared.producers.store import read_key
from shared.producers.usage import UsageRecorder
from shared.ratelimit.base import RateLimit
from shared.ratelimit.memory import TokenBucketLimiter

if TYPE_CHECKING:
    from google.cloud import firestore

_UNAUTHORIZED = {
    "credential_malformed": TOKEN_INVALID,
    "credential_unknown": TOKEN_INVALID,
    "credential_revoked": TOKEN_REVOKED,
    "credential_expired": TOKEN_EXPIRED,
}


def _credentials() -> firestore.Client:
    from shared.clients import credentials_client

    return credentials_client()


def _books() -> firestore.Client:
    from shared.clients import firestore_client

    return firestore_client()


class KeyAuthenticator:
    """One per instance (:func:`key_authenticator`); thread-safe.

    ``client`` gives the credentials database's client (the key records), ``books``
    the main database's (where a key's use is noted).
    """

    def __init__(
        self,
        client: Callable[[], firestore.Client] = _credentials,
        *,
        books: Callable[[], firestore.Client] = _books,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._books = books
        self._now = now
        self._monotonic = monotonic
        self._keys = CachedKeys(lambda key_id: read_key(self._client(), key_id), clock=monotonic)
        self._limiters: dict[int, TokenBucketLimiter] = {}
        self._usage = UsageRecorder(monotonic=monotonic)
        self._lock = threading.Lock()

    def authenticate(self, credential: str) -> KeyPrincipal:
        log = get_logger("shared.producers")
        try:
            key_id = key_id_of(credential)
            key = check_credential(self._read(key_id), credential, self._now())
        except ProducerRejected as rejected:
            log.info("token_rejected", reason=rejected.code)
            raise token_error(_UNAUTHORIZED.get(rejected.code, TOKEN_INVALID)) from None
        if key.role is None:
            raise ForbiddenError(
                "this key opens topics only: it has no role on the HTTP API",
                code="key_without_role",
            )
        self._limiter(key.rate_limit_per_minute).hit(
            key.id, detail=f"this key allows {key.rate_limit_per_minute} requests a minute"
        )
        self._usage.record(self._books, key.id, self._now())
        return KeyPrincipal(
            key_id=key.id,
            tenant_id=key.tenant_id,
            name=key.name,
            role=key.role,
            permissions=key_permissions(key.role, key.permissions),
        )

    def _read(self, key_id: str) -> ProducerKey | None:
        try:
            return self._keys.get(key_id)
        except AppError:
            raise
        except Exception as exc:
            # Fail closed: a key whose record cannot be read is not accepted.
            get_logger("shared.producers").error("key_read_failed", error=type(exc).__name__)
            raise ServiceUnavailableError(
                "the key's record is unavailable", code="auth_unavailable"
            ) from exc

    def _limiter(self, per_minute: int) -> TokenBucketLimiter:
        with self._lock:
            limiter = self._limiters.get(per_minute)
            if limiter is None:
                limiter = TokenBucketLimiter(
                    RateLimit(limit=per_minute, window_seconds=60), clock=self._monotonic
                )
                self._limiters[per_minute] = limiter
            return limiter


@per_instance
def key_authenticator() -> KeyAuthenticator:
    """The instance's key authenticator (its cache and rate limits live as long as it)."""
    return KeyAuthenticator()


def reset_key_authenticator() -> None:
    """Forget the instance's key authenticator (tests; a new one starts with empty caches)."""
    reset_instances(__name__)
