"""The audit hash chain: records, their links, and verification. Pure: no I/O.

Each tenant's audit trail is a sequence of records numbered from 1. A record holds
its ``seq``, the previous record's hash (``prev_hash``; :data:`GENESIS_HASH` for
record 1) and its own ``hash``: since chain version 2, the HMAC-SHA256 of its
canonical form (:mod:`shared.audit.canonical`) under the audit key named in its
``key_id`` (:mod:`shared.audit.keys`); the form covers ``seq``, ``prev_hash`` and
``key_id`` too. (Version 1 records, written before keys, carry the plain SHA-256.)
The tenant's *head* remembers the last ``seq`` and ``hash``.

So changing a record's content without fixing its hash breaks that record;
fixing its hash too needs the key (without it, the MAC does not verify), and
even with it breaks the next record's link (or the head, for the last); removing
a record leaves a gap in ``seq``; removing the last one leaves the head pointing
past the end; passing a rewritten record off as an unkeyed version 1 record
after keyed ones is a downgrade. :func:`verify_records` reports each of these.
Against someone holding the key and rewriting the whole tail, the hourly witness
of each head in Cloud Logging (outside Firestore) is the reference: a head once
witnessed must still be in the chain (``verify_records(witness=...)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shared.audit.canonical import (
    GENESIS_HASH,
    HASH_FIELD,
    CanonicalFormError,
    JsonValue,
    canonical_json,
    normalize,
    record_hash,
)
from shared.audit.keys import AuditKeySet
from shared.events.audit import AUDIT_EVENT_TYPE
from shared.events.envelope import EventEnvelope

CHAIN_VERSION = 2
# Records written before the chain was keyed: plain SHA-256. Anyone able to write
# Firestore could write such records, so they are refused unless the key set (held in
# Secret Manager, outside Firestore) says a deployment still has them, and even then only
# before the first keyed record of a tenant.
UNKEYED_CHAIN_VERSION = 1
SEQ_WIDTH = 12
# A report lists this many problems in full; the count is always exact.
MAX_REPORTED_PROBLEMS = 100


class InvalidAuditEventError(ValueError):
    """An event that cannot become an audit record (not an audit event, bad data)."""


def seq_document_id(seq: int) -> str:
    """``000000000042``: zero-padded so document ids sort as the sequence does."""
    return f"{seq:0{SEQ_WIDTH}d}"


def actor_id(actor: Mapping[str, Any]) -> str:
    """The actor as one filterable string: the user id, ``system:<name>``, or ``unknown``."""
    user = actor.get("user_id")
    if isinstance(user, str) and user:
        return user
    system = actor.get("system")
    if isinstance(system, str) and system:
        return f"system:{system}"
    return "unknown"


class _Resource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, max_length=100)
    id: str = Field(min_length=1, max_length=500)


class _AuditData(BaseModel):
    """``data`` of an ``audit.recorded`` event, as ``shared.events.audit.audit_event`` makes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(min_length=1, max_length=200)
    actor: dict[str, Any]
    resource: _Resource
    outcome: Literal["success", "failure"]
    details: dict[str, Any] = Field(default_factory=dict)


def audit_fields(envelope: EventEnvelope) -> dict[str, JsonValue]:
    """What a record keeps of ``envelope``, normalized; raises :class:`InvalidAuditEventError`."""
    if envelope.type != AUDIT_EVENT_TYPE:
        raise InvalidAuditEventError(
            f"only {AUDIT_EVENT_TYPE} events are audited, not {envelope.type}"
        )
    try:
        data = _AuditData.model_validate(envelope.data)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'data'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise InvalidAuditEventError(f"audit event data is invalid: {problems}") from None
    try:
        fields = normalize(
            {
                "tenant_id": envelope.tenant_id,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "source": envelope.source,
                "subject": envelope.subject,
                "correlation_id": envelope.correlation_id,
                "occurred_at": envelope.time,
                "action": data.action,
                "actor": data.actor,
                "actor_id": actor_id(data.actor),
                "resource_type": data.resource.type,
                "resource_id": data.resource.id,
                "outcome": data.outcome,
                "details": data.details,
            }
        )
    except CanonicalFormError as exc:
        raise InvalidAuditEventError(f"audit event data cannot be hashed: {exc}") from None
    assert isinstance(fields, dict)
    return fields


def chain_record(
    fields: Mapping[str, JsonValue],
    *,
    seq: int,
    prev_hash: str,
    recorded_at: datetime,
    keys: AuditKeySet,
) -> dict[str, JsonValue]:
    """The stored record: ``fields`` linked at ``seq`` after ``prev_hash``, with its MAC."""
    if seq < 1:
        raise ValueError("seq starts at 1")
    content = normalize(
        {
            **fields,
            "chain_version": CHAIN_VERSION,
            "key_id": keys.current,
            "seq": seq,
            "prev_hash": prev_hash,
            "recorded_at": recorded_at,
        }
    )
    assert isinstance(content, dict)
    _, content[HASH_FIELD] = keys.sign(canonical_json(content))
    return content


def head_seal(tenant_id: str, seq: int, head_hash: str, keys: AuditKeySet) -> dict[str, str]:
    """The MAC fields of a tenant's head: without the key, nobody can move it back to an
    earlier record to drop the newest ones."""
    key_id, mac = keys.sign(canonical_json({"tenant_id": tenant_id, "seq": seq, "hash": head_hash}))
    return {"key_id": key_id, "mac": mac}


def _head_sealed(tenant_id: str, head: Mapping[str, Any], keys: AuditKeySet) -> bool | None:
    content = canonical_json(
        {"tenant_id": tenant_id, "seq": head.get("seq"), "hash": head.get("hash")}
    )
    return keys.matches(str(head.get("key_id")), content, str(head.get("mac", "")))


def _sealed(record: Mapping[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in record.items() if k != HASH_FIELD})


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored record, as the API lists it."""

    seq: int
    content: Mapping[str, Any]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AuditRecord:
        return cls(int(document["seq"]), dict(document))

    @property
    def hash(self) -> str:
        return str(self.content.get(HASH_FIELD, ""))

    def to_json(self) -> dict[str, Any]:
        c = self.content
        return {
            "seq": self.seq,
            "hash": c.get(HASH_FIELD),
            "prev_hash": c.get("prev_hash"),
            "event_id": c.get("event_id"),
            "action": c.get("action"),
            "actor": c.get("actor"),
            "actor_id": c.get("actor_id"),
            "resource": {"type": c.get("resource_type"), "id": c.get("resource_id")},
            "outcome": c.get("outcome"),
            "details": c.get("details"),
            "occurred_at": c.get("occurred_at"),
            "recorded_at": c.get("recorded_at"),
            "correlation_id": c.get("correlation_id"),
            "source": c.get("source"),
            "subject": c.get("subject"),
        }


# -- verification -------------------------------------------------------------------------

ProblemKind = Literal[
    "content_altered",  # the record's content no longer matches its own hash
    "link_broken",  # its prev_hash is not the previous record's hash
    "sequence_gap",  # records are missing before it
    "misplaced_record",  # its seq does not match its position (document id)
    "head_mismatch",  # the head disagrees with the last record
    "head_missing",  # records exist but the head does not
    "unknown_key",  # it names an audit key the key set does not hold
    "witness_mismatch",  # a head witnessed outside Firestore is no longer in the chain
]


@dataclass(frozen=True, slots=True)
class ChainProblem:
    kind: ProblemKind
    seq: int | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    tenant_id: str
    records_checked: int
    last_seq: int
    last_hash: str | None
    head_seq: int | None
    head_hash: str | None
    problems: tuple[ChainProblem, ...] = ()
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_problem(self) -> ChainProblem | None:
        return self.problems[0] if self.problems else None

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "ok": self.ok,
            "records_checked": self.records_checked,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_problem": self.first_problem.to_json() if self.first_problem else None,
            "problems": [p.to_json() for p in self.problems],
            "problem_count": self.problem_count,
        }


def _content_problem(
    record: Mapping[str, Any], seq: int, keys: AuditKeySet, keyed_before: bool
) -> tuple[ProblemKind, str] | None:
    """Why a record's own ``hash`` does not seal its content, if it does not."""
    stored_hash = record.get(HASH_FIELD)
    version = record.get("chain_version")
    try:
        sealed = _sealed(record)
    except CanonicalFormError:
        return "content_altered", f"record {seq} has no canonical form"
    if version == CHAIN_VERSION:
        key_id = record.get("key_id")
        matches = keys.matches(str(key_id), sealed, str(stored_hash))
        if matches is None:
            return "unknown_key", f"record {seq} names audit key {key_id!r}, which is not held"
        return None if matches else ("content_altered", f"record {seq}'s MAC does not verify")
    if version == UNKEYED_CHAIN_VERSION and not keys.accept_unkeyed:
        return "content_altered", f"record {seq} is unkeyed: anyone could have written it"
    if version == UNKEYED_CHAIN_VERSION and not keyed_before:
        if record_hash(record) == stored_hash:
            return None
        return "content_altered", f"record {seq}'s content does not match its hash"
    if version == UNKEYED_CHAIN_VERSION:
        return "content_altered", f"record {seq} is unkeyed after keyed records: rewritten"
    return "content_altered", f"record {seq} has an unknown chain version {version!r}"


def verify_records(
    tenant_id: str,
    records: Iterable[tuple[str, Mapping[str, Any]]],
    head: Mapping[str, Any] | None,
    keys: AuditKeySet,
    *,
    witness: tuple[int, str] | None = None,
) -> VerifyReport:
    """Check ``(document id, record)`` pairs in document-id order: each record, links, head.

    ``witness`` is a ``(seq, hash)`` head recorded outside Firestore: record ``seq`` must
    still carry that hash.
    """
    problems: list[ChainProblem] = []
    count = 0

    def report(kind: ProblemKind, seq: int | None, detail: str) -> None:
        nonlocal count
        count += 1
        if len(problems) < MAX_REPORTED_PROBLEMS:
            problems.append(ChainProblem(kind, seq, detail))

    expected_seq = 1
    previous_hash = GENESIS_HASH
    last_seq = 0
    checked = 0
    keyed_before = False
    witnessed: str | None = None
    for document_id, record in records:
        checked += 1
        raw_seq = record.get("seq")
        if not isinstance(raw_seq, int) or isinstance(raw_seq, bool) or raw_seq < 1:
            report("misplaced_record", None, f"document {document_id} has no valid seq")
            continue
        seq = raw_seq
        if document_id != seq_document_id(seq):
            report("misplaced_record", seq, f"record {seq} is stored as document {document_id}")
        stored_hash = record.get(HASH_FIELD)
        problem = _content_problem(record, seq, keys, keyed_before)
        if problem is not None:
            report(problem[0], seq, problem[1])
        keyed_before = keyed_before or record.get("chain_version") == CHAIN_VERSION
        if witness is not None and seq == witness[0]:
            witnessed = str(stored_hash)
        if seq > expected_seq:
            missing = str(expected_seq) if seq - 1 == expected_seq else f"{expected_seq}..{seq - 1}"
            report("sequence_gap", seq, f"record(s) {missing} are missing before record {seq}")
        elif seq < expected_seq:
            report("misplaced_record", seq, f"record {seq} appears again after {expected_seq - 1}")
        elif record.get("prev_hash") != previous_hash:
            report(
                "link_broken",
                seq,
                f"record {seq} does not link to record {seq - 1}: "
                f"record {seq - 1} was altered (hash recomputed) or replaced"
                if seq > 1
                else "record 1 does not start from the genesis hash",
            )
        expected_seq = max(expected_seq, seq + 1)
        previous_hash = str(stored_hash)
        last_seq = max(last_seq, seq)

    if witness is not None and witnessed != witness[1]:
        report(
            "witness_mismatch",
            witness[0],
            f"record {witness[0]} no longer carries the hash witnessed for it: "
            "the chain was rewritten after the witness"
            if witnessed is not None
            else f"record {witness[0]}, witnessed earlier, is missing",
        )
    last_hash = previous_hash if checked else None
    head_seq = _int_or_none(head.get("seq")) if head else None
    head_hash = str(head.get("hash")) if head and head.get("hash") is not None else None
    if head is not None and "mac" not in head and not keys.accept_unkeyed:
        report("head_mismatch", head_seq, "the head carries no seal: it was rewritten")
    elif head is not None and "mac" in head:
        sealed = _head_sealed(tenant_id, head, keys)
        if sealed is None:
            report("unknown_key", head_seq, "the head names an audit key that is not held")
        elif not sealed:
            report("head_mismatch", head_seq, "the head's seal does not verify: it was rewritten")
    if head is None:
        if checked:
            report("head_missing", None, "records exist but the chain head is missing")
    elif head_seq != last_seq:
        if head_seq is not None and head_seq > last_seq:
            missing = str(head_seq) if head_seq - 1 == last_seq else f"{last_seq + 1}..{head_seq}"
            detail = f"the head is at {head_seq} but the last record is {last_seq}: "
            detail += f"record(s) {missing} are missing"
        else:
            detail = f"the head is at {head_seq} but the last record is {last_seq}"
        report("head_mismatch", head_seq, detail)
    elif checked and head_hash != last_hash:
        report(
            "head_mismatch",
            head_seq,
            f"the head's hash differs from record {last_seq}'s: it was altered or replaced",
        )
    return VerifyReport(
        tenant_id=tenant_id,
        records_checked=checked,
        last_seq=last_seq,
        last_hash=last_hash,
        head_seq=head_seq,
        head_hash=head_hash,
        problems=tuple(problems),
        problem_count=count,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
