"""The transactional outbox: an event is committed with the state change that implies it.

Inside the transaction, :func:`add_to_outbox` stages a document ``outbox/{event id}``.
After the commit, :func:`publish_committed` publishes the staged events and marks
them published (and expiring, through the ``expires_at`` TTL field). If the
process dies in between, the relay (:func:`relay_pending`, run on a schedule)
publishes what is still pending. Consumers are idempotent by event id, so the
rare double publish (crash after publish, before the mark) has no second effect.

A pending record carries ``pending_since``; publishing deletes that field. The
relay's query filters and sorts on it alone, which Firestore serves from its
automatic single-field index: no composite index is needed (the emulator does
not enforce indexes, so a query needing one would only fail in the cloud).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.events.envelope import EventEnvelope
from shared.logger import get_logger
from shared.resilience import RetryPolicy, is_firestore_contention, retry_call

if TYPE_CHECKING:
    from google.cloud import firestore

OUTBOX_COLLECTION = "outbox"
STATUS_PENDING = "pending"
STATUS_PUBLISHED = "published"
# Published records are kept a week for inspection, then Firestore's TTL deletes them.
PUBLISHED_RETENTION = timedelta(days=7)
# How long a relay owns the records it claimed. Longer than a publish takes; when a
# relay dies mid-way, its records become claimable again after this.
RELAY_LEASE = timedelta(seconds=60)
# Records claimed per transaction: Firestore caps the writes of one commit.
_CLAIM_CHUNK = 100
# Marking records published may wait on a racing relay's claim; a few tries ride it out
# (and if they do not, the records are published again after the lease: at least once).
_MARK_RETRY = RetryPolicy(max_attempts=5, base_delay_seconds=0.05, max_delay_seconds=1.0)
_log = get_logger("shared.events.outbox")


@dataclass(frozen=True, slots=True)
class StagedEvent:
    topic: str
    envelope: EventEnvelope


_collector: ContextVar[list[StagedEvent] | None] = ContextVar("outbox_collector", default=None)


@contextmanager
def collect_staged(into: list[StagedEvent]) -> Iterator[list[StagedEvent]]:
    """While active, every :func:`add_to_outbox` in this context also appends to ``into``.

    Collectors nest: events go to the innermost one only. A unit of work that
    committed hands its events to the one around it (:func:`hand_up`), so
    ``shared.events.transact`` publishes, after the outermost commit, whatever was
    staged, without any use case handing its staged events back by hand.
    """
    token = _collector.set(into)
    try:
        yield into
    finally:
        _collector.reset(token)


def hand_up(staged: Sequence[StagedEvent]) -> None:
    """Give committed events to the active collector, if there is one."""
    collected = _collector.get()
    if collected is not None:
        collected.extend(staged)


def add_to_outbox(
    writer: Any,
    db: firestore.Client,
    topic: str,
    envelope: EventEnvelope,
) -> StagedEvent:
    """Stage ``envelope`` for ``topic`` in the same transaction (or batch) as the change."""
    now = datetime.now(UTC)
    writer.create(
        db.collection(OUTBOX_COLLECTION).document(envelope.id),
        {
            "topic": topic,
            "data": envelope.to_bytes(),
            "attributes": envelope.attributes(),
            "tenant_id": envelope.tenant_id,
            "type": envelope.type,
            "status": STATUS_PENDING,
            "created_at": now,
            "pending_since": now,
            "published_at": None,
            "expires_at": None,
        },
    )
    staged = StagedEvent(topic, envelope)
    collected = _collector.get()
    if collected is not None:
        collected.append(staged)
    return staged


def publish_committed(db: firestore.Client, staged: Sequence[StagedEvent]) -> None:
    """Publish events whose transaction committed, then mark them published.

    A failure here loses nothing: the records stay pending and the relay retries.
    """
    from shared.events.publisher import publish_envelopes

    if not staged:
        return
    publish_envelopes([(s.topic, s.envelope) for s in staged])
    _mark_published(db, [s.envelope.id for s in staged])


def _mark_published(db: firestore.Client, event_ids: Sequence[str]) -> None:
    from google.cloud import firestore as fs

    now = datetime.now(UTC)
    batch = db.batch()
    for event_id in event_ids:
        batch.update(
            db.collection(OUTBOX_COLLECTION).document(event_id),
            {
                "status": STATUS_PUBLISHED,
                "pending_since": fs.DELETE_FIELD,
                "published_at": now,
                "expires_at": now + PUBLISHED_RETENTION,
            },
        )
    batch.commit()


def _claim(
    db: firestore.Client, refs: Sequence[Any], *, owner: str, lease: timedelta
) -> list[dict[str, Any]]:
    """Lease the records among ``refs`` that are still pending and not leased by a live relay.

    The read and the lease are one transaction, so two relays racing for the same
    record cannot both win it: the loser's transaction is retried (optimistic
    concurrency in the cloud, a lock wait on the emulator) and then sees the lease.
    """
    from google.cloud import firestore as fs

    @fs.transactional
    def claim(transaction: Any, chunk: Sequence[Any]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        # Rebuilt on every attempt: a retried transaction must not keep a lost claim.
        won: list[dict[str, Any]] = []
        for snapshot in transaction.get_all(list(chunk)):
            if not snapshot.exists:
                continue
            record: dict[str, Any] = snapshot.to_dict() or {}
            lease_until = record.get("lease_until")
            if record.get("status") != STATUS_PENDING or (
                lease_until is not None and lease_until > now
            ):
                continue
            transaction.update(
                snapshot.reference, {"lease_until": now + lease, "lease_owner": owner}
            )
            won.append({**record, "id": snapshot.id})
        return won

    claimed: list[dict[str, Any]] = []
    for start in range(0, len(refs), _CLAIM_CHUNK):
        chunk = refs[start : start + _CLAIM_CHUNK]
        try:
            claimed.extend(claim(db.transaction(), chunk))
        except Exception as exc:
            if not is_firestore_contention(exc):
                raise
            # Another relay holds these records (or the database is briefly busy): they
            # are its to publish, or the next tick's once its lease passes. Failing the
            # whole tick here would also drop the chunks this relay did win.
            _log.info("outbox.claim_contended", records=len(chunk), error=type(exc).__name__)
    # Batch reads come back in any order; publish oldest first, as they were staged.
    claimed.sort(key=lambda record: record["created_at"])
    return claimed


def relay_pending(
    db: firestore.Client,
    *,
    older_than: timedelta = timedelta(seconds=30),
    limit: int = 500,
    lease: timedelta = RELAY_LEASE,
) -> int:
    """Publish outbox records still pending after ``older_than``; returns how many.

    Each record is first leased to this call (see :func:`_claim`), so concurrent
    relays split the work instead of publishing the same record twice. A record
    leased by a relay that then failed is retried once its lease has passed.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    from shared.events.publisher import publish_raw

    cutoff = datetime.now(UTC) - older_than
    query = (
        db.collection(OUTBOX_COLLECTION)
        .where(filter=FieldFilter("pending_since", "<=", cutoff))
        .order_by("pending_since")
        .limit(limit)
    )
    refs = [snapshot.reference for snapshot in query.stream()]
    if not refs:
        return 0
    records = _claim(db, refs, owner=uuid.uuid4().hex, lease=lease)
    if not records:
        return 0
    publish_raw([(r["topic"], r["data"], dict(r["attributes"])) for r in records])
    retry_call(
        lambda: _mark_published(db, [r["id"] for r in records]),
        policy=_MARK_RETRY,
        is_retryable=is_firestore_contention,
        name="outbox.mark_published",
    )
    return len(records)
