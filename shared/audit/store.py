"""The audit chain in Firestore: append, list, verify.

Layout, per tenant::

    tenants/{tid}/audit/{seq:012d}        the records (see chain.py)
    tenants/{tid}/audit_meta/head         {seq, hash, updated_at}: the chain's head
    tenants/{tid}/audit_index/{event id}  {seq, hash}: which record an event became

**No fork.** An append is one transaction that reads the head, creates the next
record(s), the index entries and moves the head. Two appends that read the same
head conflict on it, so Firestore lets one commit and aborts (or, on the emulator,
blocks) the other, which then runs again on the new head. Around the transaction is
a bounded retry with jittered backoff, so contenders spread out
(``shared.events.transact.commit_in_transaction``).

**Batching.** Concurrent appends of one tenant on one instance would only collide on
the head document. They queue instead: one caller (the leader) takes every queued
event of the tenant, up to :data:`MAX_BATCH`, and appends them in one transaction,
in arrival order; the others wait for their result. A lone append commits at once.
Across instances, the transaction above keeps the chain linear.

**Idempotent by event id.** The index entry is read and created in the same
transaction, so a redelivered event appends nothing and returns the record it
became the first time (``appended=False``).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.audit.canonical import GENESIS_HASH, HASH_FIELD, JsonValue, format_time
from shared.audit.chain import (
    AuditRecord,
    VerifyReport,
    audit_fields,
    chain_record,
    head_seal,
    seq_document_id,
    verify_records,
)
from shared.audit.keys import AuditKeySet, audit_keys
from shared.errors import ValidationError
from shared.events.envelope import EventEnvelope
from shared.events.transact import commit_in_transaction
from shared.logger import get_logger
from shared.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorFilters,
    Page,
    TimedPosition,
    newest_first,
)
from shared.resilience import RetryPolicy

if TYPE_CHECKING:
    from google.cloud import firestore

TENANTS = "tenants"
RECORDS = "audit"
META = "audit_meta"
HEAD = "head"
INDEX = "audit_index"
# Two writes per record plus the head: far below Firestore's 500 writes per commit.
MAX_BATCH = 100
TRANSACTION_ATTEMPTS = 3
APPEND_RETRY = RetryPolicy(max_attempts=10, base_delay_seconds=0.05, max_delay_seconds=2.0)
_PLAIN_EVENT_ID = re.compile(r"^[A-Za-z0-9._:@+=-]{1,128}$")
_log = get_logger("shared.audit")


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an event sits in the chain; ``appended`` is False for a redelivery."""

    event_id: str
    seq: int
    hash: str
    appended: bool


# -- paths --------------------------------------------------------------------------------


def _tenant(db: firestore.Client, tenant_id: str) -> Any:
    return db.collection(TENANTS).document(tenant_id)


def records_collection(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(RECORDS)


def record_ref(db: firestore.Client, tenant_id: str, seq: int) -> Any:
    return records_collection(db, tenant_id).document(seq_document_id(seq))


def head_ref(db: firestore.Client, tenant_id: str) -> Any:
    return _tenant(db, tenant_id).collection(META).document(HEAD)


def index_document_id(event_id: str) -> str:
    """The event id itself when it is plain document-id material, else its SHA-256."""
    if _PLAIN_EVENT_ID.match(event_id) and event_id not in {".", ".."}:
        return event_id
    return f"sha256-{hashlib.sha256(event_id.encode()).hexdigest()}"


def index_ref(db: firestore.Client, tenant_id: str, event_id: str) -> Any:
    return _tenant(db, tenant_id).collection(INDEX).document(index_document_id(event_id))


# -- append -------------------------------------------------------------------------------


def append(db: firestore.Client, envelope: EventEnvelope) -> AppendResult:
    """Append an ``audit.recorded`` event to its tenant's chain (once per event id).

    Raises :class:`~shared.audit.chain.InvalidAuditEventError` for an event that can
    never become a record (the consumer dead-letters it); Firestore errors that
    outlast the retries propagate (the consumer has the event redelivered).
    """
    fields = audit_fields(envelope)
    return _batcher.submit(db, envelope.tenant_id, envelope.id, fields)


def _commit_batch(
    db: firestore.Client, tenant_id: str, items: list[tuple[str, dict[str, JsonValue]]]
) -> list[AppendResult]:
    """Append ``items`` (event id, fields) in order in one transaction; one result each."""
    head = head_ref(db, tenant_id)
    unique_ids = list(dict.fromkeys(event_id for event_id, _ in items))
    keys = audit_keys()

    def decide(transaction: Any) -> list[AppendResult]:
        head_snapshot = head.get(transaction=transaction)
        indexed: dict[str, AppendResult] = {}
        refs = [index_ref(db, tenant_id, event_id) for event_id in unique_ids]
        for snapshot in db.get_all(refs, transaction=transaction):
            if snapshot.exists:
                entry = snapshot.to_dict() or {}
                event_id = str(entry["event_id"])
                indexed[event_id] = AppendResult(
                    event_id, int(entry["seq"]), str(entry["hash"]), appended=False
                )
        head_state = (head_snapshot.to_dict() or {}) if head_snapshot.exists else {}
        seq = int(head_state.get("seq", 0))
        previous = str(head_state.get("hash", GENESIS_HASH))
        recorded_at = datetime.now(UTC)
        results: list[AppendResult] = []
        for event_id, fields in items:
            known = indexed.get(event_id)
            if known is not None:
                results.append(AppendResult(event_id, known.seq, known.hash, appended=False))
                continue
            seq += 1
            record = chain_record(
                fields, seq=seq, prev_hash=previous, recorded_at=recorded_at, keys=keys
            )
            digest = str(record[HASH_FIELD])
            transaction.create(record_ref(db, tenant_id, seq), record)
            transaction.create(
                index_ref(db, tenant_id, event_id),
                {"event_id": event_id, "seq": seq, "hash": digest},
            )
            previous = digest
            result = AppendResult(event_id, seq, digest, appended=True)
            indexed[event_id] = result
            results.append(result)
        if any(r.appended for r in results):
            transaction.set(
                head,
                {
                    "seq": seq,
                    "hash": previous,
                    "updated_at": recorded_at,
                    **head_seal(tenant_id, seq, previous, keys),
                },
            )
        return results

    # busy=None: contention that outlasts the retries is raised as it is, and the
    # consumer has the event redelivered.
    return commit_in_transaction(
        db,
        decide,
        name="audit.append",
        retry=APPEND_RETRY,
        attempts=TRANSACTION_ATTEMPTS,
        busy=None,
    ).result


@dataclass(eq=False)
class _Waiter:
    event_id: str
    fields: dict[str, JsonValue]
    done: bool = False
    result: AppendResult | None = None
    error: BaseException | None = None


class _TenantBatcher:
    """Queues appends per (client, tenant); one leader commits what is queued, in order."""

    def __init__(
        self,
        commit: Callable[
            [firestore.Client, str, list[tuple[str, dict[str, JsonValue]]]], list[AppendResult]
        ],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._changed = threading.Condition()
        self._queues: dict[tuple[int, str], list[_Waiter]] = {}
        self._leading: set[tuple[int, str]] = set()

    def submit(
        self, db: firestore.Client, tenant_id: str, event_id: str, fields: dict[str, JsonValue]
    ) -> AppendResult:
        key = (id(db), tenant_id)
        waiter = _Waiter(event_id, fields)
        with self._changed:
            self._queues.setdefault(key, []).append(waiter)
            while not waiter.done and key in self._leading:
                self._changed.wait()
            if not waiter.done:
                self._leading.add(key)
        if not waiter.done:
            self._lead(db, tenant_id, key, waiter)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def _lead(
        self, db: firestore.Client, tenant_id: str, key: tuple[int, str], me: _Waiter
    ) -> None:
        """Commit batches from the queue until this caller's own event is done."""
        try:
            while not me.done:
                with self._changed:
                    queue = self._queues[key]
                    batch = queue[: self._max_batch]
                    del queue[: self._max_batch]
                try:
                    results = self._commit(db, tenant_id, [(w.event_id, w.fields) for w in batch])
                    outcomes: list[AppendResult | BaseException] = list(results)
                except BaseException as exc:
                    outcomes = [exc] * len(batch)
                with self._changed:
                    for waiter, outcome in zip(batch, outcomes, strict=True):
                        if isinstance(outcome, BaseException):
                            waiter.error = outcome
                        else:
                            waiter.result = outcome
                        waiter.done = True
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._leading.discard(key)
                if not self._queues.get(key):
                    self._queues.pop(key, None)
                self._changed.notify_all()


_batcher = _TenantBatcher(_commit_batch)


# -- read ---------------------------------------------------------------------------------


# The list's name in its cursors: a cursor of another list is refused.
_LIST_CURSOR = "audit.records"
# format_time's fixed-width UTC text, as the records store occurred_at.
_STORED_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"


class AuditPosition(TimedPosition):
    """The last record of a page, most recent first: its time, its seq, the filters."""

    occurred_at: str = Field(pattern=_STORED_TIME)
    seq: int = Field(ge=1)
    filters: CursorFilters

    def time_and_id(self) -> tuple[str, str]:
        return self.occurred_at, seq_document_id(self.seq)


def list_records(
    db: firestore.Client,
    tenant_id: str,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[AuditRecord]:
    """The tenant's audit records, most recent first (by ``occurred_at``, then ``seq``).

    ``actor`` matches the record's ``actor_id`` (a user id, or ``system:<name>``);
    ``occurred_from`` is inclusive, ``occurred_to`` exclusive. With equality filters
    the query needs the composite indexes ``audit (<field> ASC, occurred_at DESC)``
    for ``actor_id``, ``action``, ``resource_type`` and ``resource_id``.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError.for_field(
            "query.limit", f"must be between 1 and {MAX_PAGE_SIZE}", "out_of_range"
        )
    bounds: dict[str, str | None] = {}
    for name, moment in (("occurred_from", occurred_from), ("occurred_to", occurred_to)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationError.for_field(
                f"query.{name}", "must carry a timezone (e.g. 2030-01-01T00:00:00Z)", "naive_time"
            )
        bounds[name] = format_time(moment) if moment is not None else None
    if occurred_from and occurred_to and occurred_from >= occurred_to:
        raise ValidationError.for_field(
            "query.occurred_to", "must be after occurred_from", "invalid_time_range"
        )
    equalities = {
        "actor_id": actor,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
    }
    filters: dict[str, str | None] = {**equalities, **bounds}
    records = records_collection(db, tenant_id)
    query = records
    for name, value in equalities.items():
        if value is not None:
            query = query.where(filter=FieldFilter(name, "==", value))
    # occurred_at is stored as fixed-width UTC text, which sorts as the moments do.
    if bounds["occurred_from"] is not None:
        query = query.where(filter=FieldFilter("occurred_at", ">=", bounds["occurred_from"]))
    if bounds["occurred_to"] is not None:
        query = query.where(filter=FieldFilter("occurred_at", "<", bounds["occurred_to"]))
    return newest_first(
        query,
        time_field="occurred_at",
        documents=records,
        scope=_LIST_CURSOR,
        cursor=cursor,
        limit=limit,
        to_item=lambda s: AuditRecord.from_document(s.to_dict() or {}),
        position=AuditPosition,
        position_of=lambda record: AuditPosition(
            occurred_at=str(record.content.get("occurred_at")), seq=record.seq, filters=filters
        ),
        bound={"filters": filters},
    )


def get_head(db: firestore.Client, tenant_id: str) -> dict[str, Any] | None:
    snapshot = head_ref(db, tenant_id).get()
    return (snapshot.to_dict() or {}) if snapshot.exists else None


def verify_chain(
    db: firestore.Client,
    tenant_id: str,
    *,
    witness: tuple[int, str] | None = None,
    keys: AuditKeySet | None = None,
) -> VerifyReport:
    """Re-check every record's MAC of the tenant, every link, the sequence and the head.

    ``witness`` is a head recorded outside Firestore (``audit.chain_witness`` log lines):
    its record must still carry its hash.

    The head is read first and only records up to it are checked, so appends that
    land during the verification do not count as a mismatch. Reads every record:
    run it from an admin endpoint or a scheduled job, not on a request's hot path.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    head = get_head(db, tenant_id)
    query = records_collection(db, tenant_id).order_by(FieldPath.document_id())
    head_seq = head.get("seq") if head else None
    if isinstance(head_seq, int) and not isinstance(head_seq, bool):
        query = query.where(
            filter=FieldFilter(
                FieldPath.document_id(), "<=", record_ref(db, tenant_id, max(head_seq, 1))
            )
        )

    def pairs() -> Iterator[tuple[str, dict[str, Any]]]:
        for snapshot in query.stream():
            yield snapshot.id, snapshot.to_dict() or {}

    report = verify_records(tenant_id, pairs(), head, keys or audit_keys(), witness=witness)
    if not report.ok:
        _log.error(
            "audit.chain_verification_failed",
            tenant_id=tenant_id,
            problems=report.problem_count,
            first_problem=report.first_problem.to_json() if report.first_problem else None,
        )
    return report


def audited_tenants(db: firestore.Client) -> list[str]:
    """Every tenant whose audit chain has a head, in id order."""
    tenants = sorted(ref.id for ref in db.collection(TENANTS).list_documents())
    heads = db.get_all([head_ref(db, tenant) for tenant in tenants]) if tenants else []
    return sorted(snapshot.reference.parent.parent.id for snapshot in heads if snapshot.exists)


def verify_and_witness(db: firestore.Client) -> list[VerifyReport]:
    """Verify every tenant's chain and log each verified head as a witness.

    The ``audit.chain_witness`` line is written to Cloud Logging, outside
    Firestore, where whoever can rewrite Firestore cannot rewrite it: a later
    ``verify_chain(witness=(seq, hash))`` with a witnessed head proves the chain still
    holds it. A broken chain is logged at ERROR (``audit.chain_verification_failed``).
    """
    reports = []
    for tenant_id in audited_tenants(db):
        try:
            report = verify_chain(db, tenant_id)
        except Exception as exc:
            # One tenant's trail that cannot even be read through must not silence the
            # others, nor the alert: it counts as a failed verification.
            _log.error(
                "audit.chain_verification_failed",
                tenant_id=tenant_id,
                error=type(exc).__name__,
            )
            continue
        reports.append(report)
        if report.ok and report.head_seq is not None:
            _log.info(
                "audit.chain_witness",
                tenant_id=tenant_id,
                witness_seq=report.head_seq,
                witness_hash=report.head_hash,
            )
    return reports
