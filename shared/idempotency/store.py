"""The Firestore-backed idempotency store (collection ``idempotency_keys``).

One document per (scope, key), id ``sha256(scope NUL key)``, in one of two states:

* ``in_progress``: a request holds the key; ``expires_at`` is its lock expiry
  (``in_progress_ttl_seconds``). Past it, the holder is presumed dead and the next
  request takes the key over.
* ``completed``: the first response (status, headers, body); ``expires_at`` ends the
  replay window (``ttl_seconds``, 24 h by default). Past it, the key is new again.

``expires_at`` is also the collection's Firestore TTL field. TTL deletion runs up
to a day late in the cloud and never on the emulator, so every read compares
``expires_at`` with the clock instead of trusting that expired records are gone.

No step takes a transaction lock on the record: the claim is a ``create()``
(atomic: exactly one concurrent caller succeeds), waiters poll with plain reads,
and the rare overwrite (takeover, completion, release) carries a precondition on
the record's update time, so a concurrent change makes it fail instead of winning
silently. (On the emulator, which locks pessimistically, many transactions on one
document end in lock timeouts; plain creates and reads do not.)
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from shared import errors
from shared.logger import get_logger
from shared.resilience import poll

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.config import IdempotencySettings

IDEMPOTENCY_COLLECTION = "idempotency_keys"
KEY_FIELD = "Idempotency-Key"
MAX_KEY_LENGTH = 255
STATUS_IN_PROGRESS = "in_progress"
STATUS_COMPLETED = "completed"
# Statuses a retry must be allowed to execute again: the outcome said "not now",
# not "this request is wrong" (timeout, conflict, too early, rate limited).
TRANSIENT_CLIENT_STATUSES = frozenset({408, 409, 425, 429})
# A document holds at most 1 MiB; leave room for the other fields.
MAX_STORED_BODY_BYTES = 900 * 1024
_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 0.5
# Create/read/overwrite rounds within one poll before giving up on a record
# that keeps changing under us (each round means someone else made progress).
_ROUNDS_PER_POLL = 5


class _WaitClock:
    """The :class:`shared.resilience.Clock` of the wait for a concurrent holder."""

    def __init__(self, monotonic: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._monotonic = monotonic
        self._sleep = sleep

    def monotonic(self) -> float:
        return self._monotonic()

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first execution's response, replayed to every later request with the key."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of :meth:`IdempotencyStore.begin`.

    ``replay`` is None when this request acquired the key and must execute, then
    call ``complete`` or ``release``; otherwise it is the response to send again.
    """

    scope: str
    key: str
    fingerprint: str
    record_id: str
    owner: str
    replay: StoredResponse | None = None

    @property
    def acquired(self) -> bool:
        return self.replay is None


def validate_key(key: str) -> str:
    """The key itself, or ``ValidationError`` on ``Idempotency-Key``."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise errors.ValidationError.for_field(
            KEY_FIELD,
            f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            "invalid_idempotency_key",
        )
    return key


def record_id(scope: str, key: str) -> str:
    """Document id of a key: a NUL separates scope and key so no two pairs collide."""
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()


def _canonical_body(body: bytes) -> bytes:
    """JSON bodies compared by meaning (key order, whitespace); anything else byte for byte."""
    if not body:
        return b""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b"raw:" + body
    return b"json:" + orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """sha256 of the method, the path and the canonical body of a request."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), _canonical_body(body)):
        # Length-prefixed, so no shift of bytes between parts gives the same digest.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def is_replayable(status: int) -> bool:
    """Whether a response with ``status`` is stored and replayed for later requests.

    2xx-4xx are the outcome of the request itself, so the same request gets the same
    answer. 5xx and the transient 4xx (408, 409, 425, 429) release the key instead:
    a retry runs again. (Stripe also replays 5xx; here a failed execution must roll
    back its effects, so executing again is the safe answer.)
    """
    return 200 <= status < 500 and status not in TRANSIENT_CLIENT_STATUSES


class IdempotencyStore:
    """Begin, complete and release idempotent executions; thread-safe, no per-call state."""

    def __init__(
        self,
        db: firestore.Client,
        settings: IdempotencySettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        # The wait for a concurrent holder: its deadline and sleeps (tests drive both).
        self._wait_clock = _WaitClock(monotonic, sleep)

    def _ref(self, doc_id: str) -> Any:
        return self._db.collection(IDEMPOTENCY_COLLECTION).document(doc_id)

    def _in_progress(self, scope: str, key: str, fingerprint: str, owner: str) -> dict[str, Any]:
        now = self._clock()
        return {
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
            "status": STATUS_IN_PROGRESS,
            "owner": owner,
            "started_at": now,
            "expires_at": now + timedelta(seconds=self._settings.in_progress_ttl_seconds),
        }

    def begin(self, scope: str, key: str, fingerprint: str) -> Claim:
        """Claim ``key`` in ``scope`` for a request with ``fingerprint``.

        Returns a claim that either acquired the key (execute, then complete or
        release) or carries the stored response to replay. Raises
        ``BusinessRuleError`` (422, ``idempotency_key_reused``) when the key was used
        with another request, and ``ConflictError`` (409,
        ``idempotency_key_in_progress``) when a concurrent request with the key is
        still executing after ``wait_seconds``.
        """
        validate_key(key)
        doc_id = record_id(scope, key)
        owner = secrets.token_hex(16)
        claim = poll(
            lambda: self._try_claim(scope, key, fingerprint, doc_id, owner),
            timeout_seconds=self._settings.wait_seconds,
            first_delay_seconds=_FIRST_POLL_SECONDS,
            max_delay_seconds=_MAX_POLL_SECONDS,
            clock=self._wait_clock,
        )
        if claim is None:
            raise errors.ConflictError(
                "a request with this Idempotency-Key is still being processed; retry later",
                code="idempotency_key_in_progress",
                headers={"Retry-After": "1"},
            )
        return claim

    def _try_claim(
        self, scope: str, key: str, fingerprint: str, doc_id: str, owner: str
    ) -> Claim | None:
        """Acquire, replay, or None (someone else holds the key: wait and look again)."""
        from google.api_core.exceptions import Conflict, FailedPrecondition, NotFound

        ref = self._ref(doc_id)
        acquired = Claim(scope, key, fingerprint, doc_id, owner)
        for _ in range(_ROUNDS_PER_POLL):
            try:
                ref.create(self._in_progress(scope, key, fingerprint, owner))
                return acquired
            except Conflict:
                pass
            snapshot = ref.get()
            if not snapshot.exists:
                continue  # released or deleted in between: try to create again
            record: dict[str, Any] = snapshot.to_dict() or {}
            if record["expires_at"] <= self._clock():
                # A holder that crashed, or a replay window that closed: the key is free.
                try:
                    ref.update(
                        self._takeover(scope, key, fingerprint, owner),
                        option=self._db.write_option(last_update_time=snapshot.update_time),
                    )
                    return acquired
                except (FailedPrecondition, NotFound):
                    continue  # someone else changed it first: look again
            if record["fingerprint"] != fingerprint:
                raise errors.BusinessRuleError(
                    "this Idempotency-Key was already used with a different request "
                    "(method, path or body); use a new key for a new request",
                    code="idempotency_key_reused",
                )
            if record["status"] == STATUS_COMPLETED:
                return self._replay(acquired, record)
            return None
        return None

    def _takeover(self, scope: str, key: str, fingerprint: str, owner: str) -> dict[str, Any]:
        from google.cloud import firestore as fs

        return {
            **self._in_progress(scope, key, fingerprint, owner),
            "response_status": fs.DELETE_FIELD,
            "response_body": fs.DELETE_FIELD,
            "response_headers": fs.DELETE_FIELD,
            "response_stored": fs.DELETE_FIELD,
            "completed_at": fs.DELETE_FIELD,
        }

    @staticmethod
    def _replay(acquired: Claim, record: dict[str, Any]) -> Claim:
        if not record.get("response_stored", True):
            # The response was too large to keep; executing again is what the key
            # exists to prevent, so the client is told instead.
            raise errors.ConflictError(
                "the request with this Idempotency-Key was processed, but its response "
                "is too large to replay",
                code="idempotency_response_unavailable",
            )
        stored = StoredResponse(
            status=int(record["response_status"]),
            body=bytes(record.get("response_body") or b""),
            headers={str(k): str(v) for k, v in (record.get("response_headers") or {}).items()},
        )
        return Claim(
            acquired.scope,
            acquired.key,
            acquired.fingerprint,
            acquired.record_id,
            acquired.owner,
            replay=stored,
        )

    def _owned_snapshot(self, claim: Claim) -> Any | None:
        """The record if this claim still holds it (not taken over after its lock expired)."""
        if not claim.acquired:
            raise ValueError("only a claim that acquired its key can be completed or released")
        snapshot = self._ref(claim.record_id).get()
        if not snapshot.exists:
            return None
        record = snapshot.to_dict() or {}
        if record.get("owner") != claim.owner or record.get("status") != STATUS_IN_PROGRESS:
            return None
        return snapshot

    def complete(self, claim: Claim, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """Store the response of the execution ``claim`` acquired, for replays.

        A status that is not replayable (see :func:`is_replayable`) releases the key
        instead. If this claim's lock expired and another request took the key over,
        nothing is stored: that request's outcome is the one to replay.
        """
        from google.api_core.exceptions import FailedPrecondition, NotFound

        if not is_replayable(status):
            self.release(claim)
            return
        log = get_logger("idempotency")
        snapshot = self._owned_snapshot(claim)
        if snapshot is None:
            log.warning("idempotency.complete_lost_key", record_id=claim.record_id, status=status)
            return
        now = self._clock()
        body_fits = len(body) <= MAX_STORED_BODY_BYTES
        update: dict[str, Any] = {
            "status": STATUS_COMPLETED,
            "response_status": status,
            "response_body": body if body_fits else b"",
            "response_headers": dict(headers),
            "response_stored": body_fits,
            "completed_at": now,
            "expires_at": now + timedelta(seconds=self._settings.ttl_seconds),
        }
        if not body_fits:
            log.error("idempotency.response_too_large", record_id=claim.record_id, size=len(body))
        try:
            snapshot.reference.update(
                update, option=self._db.write_option(last_update_time=snapshot.update_time)
            )
        except (FailedPrecondition, NotFound):
            log.warning("idempotency.complete_lost_key", record_id=claim.record_id, status=status)

    def release(self, claim: Claim) -> None:
        """Delete the in-progress record of a failed execution, so a retry executes."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        snapshot = self._owned_snapshot(claim)
        if snapshot is None:
            return
        try:
            snapshot.reference.delete(
                option=self._db.write_option(last_update_time=snapshot.update_time)
            )
        except (FailedPrecondition, NotFound):
            # Taken over after our lock expired: the record is no longer ours to drop.
            return
