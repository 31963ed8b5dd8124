"""Each user's access state: what every request checks beyond the token's signature.

A token is signed once and lives up to 15 minutes; what it says about its holder can
go stale in that time. The document ``user_access/{user id}`` holds what must take
effect on the holder's next request instead:

* ``role``: the effective role. Permissions come from it, never from the token's
  ``role`` claim, so a demotion or promotion applies to tokens already issued;
* ``status``: ``active`` or ``disabled``; every token of a disabled user is refused;
* ``epoch``: raised when every session of the user must end (password change,
  disable). A token carries the epoch it was issued in (claim ``ep``); one from an
  earlier epoch is refused, unless it belongs to ``kept_session``, the session that
  changed the password and so stays signed in;
* ``ended_sessions``: family id -> unix time until which the tokens of that session
  are refused (logout, refresh-token reuse). An entry is dropped, at the next write,
  once every access token the session could have issued has expired.

The write model (``shared/users``) updates this document in the same transaction as
the user, so the two never disagree. Refusals are 401 ``token_revoked``.

Reading costs one document read per user per instance every
:data:`STALENESS_SECONDS` at most: :class:`CachedAccessStates` serves a state it read
for that long, so a change made on one instance is seen by every other instance's
next request at most 2 seconds after it committed (on the instance that made it, at
once: writers call :func:`forget_locally`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from shared import stale_cache
from shared.auth.tokens import TOKEN_REVOKED, TokenClaims, token_error
from shared.events.transact import transact
from shared.logger import get_logger

if TYPE_CHECKING:
    from google.cloud import firestore

USER_ACCESS_COLLECTION = "user_access"
STATUS_ACTIVE = "active"
STATUS_DISABLED = "disabled"
# The bound on how stale a cached access state may be, in seconds.
STALENESS_SECONDS = stale_cache.STALENESS_SECONDS
DEFAULT_MAX_CACHED_USERS = 10_000


@dataclass(frozen=True, slots=True)
class AccessState:
    user_id: str
    tenant_id: str
    role: str
    status: str = STATUS_ACTIVE
    epoch: int = 0
    kept_session: str | None = None
    ended_sessions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def refusal(self, claims: TokenClaims) -> str | None:
        """Why a token with ``claims`` is refused under this state, or None if admitted."""
        if claims.user_id != self.user_id or claims.tenant_id != self.tenant_id:
            return "principal_mismatch"
        if not self.active:
            return "user_disabled"
        if claims.family_id is not None and claims.family_id in self.ended_sessions:
            return "session_ended"
        kept = self.kept_session is not None and claims.family_id == self.kept_session
        if claims.epoch < self.epoch and not kept:
            return "epoch_passed"
        return None

    def to_document(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "role": self.role,
            "status": self.status,
            "epoch": self.epoch,
            "kept_session": self.kept_session,
            "ended_sessions": dict(self.ended_sessions),
        }

    @classmethod
    def from_document(cls, user_id: str, document: Mapping[str, Any]) -> AccessState:
        ended = document.get("ended_sessions") or {}
        return cls(
            user_id=user_id,
            tenant_id=str(document.get("tenant_id", "")),
            role=str(document.get("role", "")),
            status=str(document.get("status", STATUS_DISABLED)),
            epoch=int(document.get("epoch", 0)),
            kept_session=document.get("kept_session"),
            ended_sessions=MappingProxyType({str(k): int(v) for k, v in ended.items()}),
        )


def admit(state: AccessState | None, claims: TokenClaims) -> AccessState:
    """The state under which ``claims`` are honoured; 401 ``token_revoked`` if none is."""
    reason = "unknown_user" if state is None else state.refusal(claims)
    if reason is not None or state is None:
        get_logger("shared.auth").info("token_rejected", reason=reason, jti=claims.jti)
        raise token_error(TOKEN_REVOKED)
    return state


class AccessStateStore(Protocol):
    def get(self, user_id: str) -> AccessState | None: ...

    def end_session(self, user_id: str, family_id: str, *, until: int) -> None:
        """Refuse the tokens of session ``family_id`` until the unix time ``until``."""


# -- writing, for the write model's transactions ------------------------------------------------


def access_reference(db: firestore.Client, user_id: str) -> Any:
    return db.collection(USER_ACCESS_COLLECTION).document(user_id)


def access_fields(*, user_id: str, tenant_id: str, role: str, status: str) -> dict[str, Any]:
    """The fields a user's creation or change sets (merge them: the rest is kept)."""
    from google.cloud import firestore as fs

    return {
        "user_id": user_id,
        "tenant_id": tenant_id,
        "role": role,
        "status": status,
        "updated_at": fs.SERVER_TIMESTAMP,
    }


def ending_every_session(kept_session: str | None = None) -> dict[str, Any]:
    """The fields that end every session of a user but ``kept_session`` (merge them)."""
    from google.cloud import firestore as fs

    return {"epoch": fs.Increment(1), "kept_session": kept_session}


# -- reading ----------------------------------------------------------------------------------


class FirestoreAccessStates:
    """The documents themselves: every ``get`` is a read (refresh, and behind the cache)."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 5,
    ) -> None:
        self._client = client
        self._clock = clock
        self._max_attempts = max_attempts

    def get(self, user_id: str) -> AccessState | None:
        snapshot = access_reference(self._client, user_id).get()
        if not snapshot.exists:
            return None
        return AccessState.from_document(user_id, snapshot.to_dict() or {})

    def end_session(self, user_id: str, family_id: str, *, until: int) -> None:
        reference = access_reference(self._client, user_id)
        now = int(self._clock())

        def attempt(transaction: Any) -> None:
            snapshot = reference.get(transaction=transaction)
            if not snapshot.exists:
                return  # no state: every token of the user is refused already
            ended = {
                str(k): int(v)
                for k, v in ((snapshot.to_dict() or {}).get("ended_sessions") or {}).items()
                if int(v) > now
            }
            ended[family_id] = max(until, ended.get(family_id, 0))
            transaction.update(reference, {"ended_sessions": ended})

        transact(
            self._client,
            attempt,
            name="auth.end_session",
            attempts=self._max_attempts,
            busy="the session was changed at the same time; retry",
        )
        forget_locally(user_id)


class InMemoryAccessStates:
    """Access states in this process only: for tools and tests without Firestore."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._states: dict[str, AccessState] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def put(self, state: AccessState) -> None:
        with self._lock:
            self._states[state.user_id] = state

    def get(self, user_id: str) -> AccessState | None:
        with self._lock:
            return self._states.get(user_id)

    def end_session(self, user_id: str, family_id: str, *, until: int) -> None:
        now = int(self._clock())
        with self._lock:
            state = self._states.get(user_id)
            if state is None:
                return
            ended = {k: v for k, v in state.ended_sessions.items() if v > now}
            ended[family_id] = max(until, ended.get(family_id, 0))
            self._states[user_id] = AccessState(
                user_id=state.user_id,
                tenant_id=state.tenant_id,
                role=state.role,
                status=state.status,
                epoch=state.epoch,
                kept_session=state.kept_session,
                ended_sessions=MappingProxyType(ended),
            )
        forget_locally(user_id)


# The group of this module's caches in shared.stale_cache.
_CACHE_GROUP = "access_states"


def forget_locally(user_id: str) -> None:
    """Drop ``user_id`` from every cache of this process (after a write committed)."""
    stale_cache.forget_locally(_CACHE_GROUP, user_id)


class CachedAccessStates:
    """A per-instance cache in front of a store: each state is served at most ``ttl_seconds``
    (``shared.stale_cache``: counted from the start of the read; missing states, which
    exist before a user's first token, are not cached; at most ``max_entries`` users)."""

    def __init__(
        self,
        source: AccessStateStore,
        *,
        ttl_seconds: float = STALENESS_SECONDS,
        max_entries: int = DEFAULT_MAX_CACHED_USERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._states: stale_cache.ReadThroughCache[AccessState] = stale_cache.ReadThroughCache(
            source.get,
            group=_CACHE_GROUP,
            ttl_seconds=ttl_seconds,
            max_entries=max_entries,
            clock=clock,
        )

    @property
    def ttl_seconds(self) -> float:
        return self._states.ttl_seconds

    def get(self, user_id: str) -> AccessState | None:
        return self._states.get(user_id)

    def end_session(self, user_id: str, family_id: str, *, until: int) -> None:
        self._source.end_session(user_id, family_id, until=until)
        self.forget(user_id)

    def forget(self, user_id: str) -> None:
        self._states.forget(user_id)
