"""Journal postings requested by other systems over Pub/Sub, and their published results.

Upstream systems (billing, point of sale) publish to the public topic
``ledger-posting-requests`` and read the outcome from ``ledger-posting-results``.

**Message shape.** Producers send the project's event envelope (shared/events/README.md), not
a bare JSON object: the shared consumer validates the envelope before any handler
runs, deduplicates redeliveries by its ``id``, takes the tenant from
``tenant_id`` and the correlation id for logs from ``correlation_id``. The
request itself is the envelope's ``data``::

    {"id": "<unique per publication>", "type": "ledger.posting_requested",
     "source": "billing", "subject": "invoices/INV-1", "time": "2026-11-23T10:00:00Z",
     "tenant_id": "tenant-a", "correlation_id": "...", "schema_version": 1,
     "data": {"request_id": "INV-1-posting", "posting": { ...POST /v1/journal-entries body... }}}

``posting`` is validated by :class:`~shared.ledger.requests.PostEntryRequest`, the
model of ``POST /v1/journal-entries``, and posted by the same use case, so a
posting the HTTP route refuses is refused here with the same code.

**Idempotency.** ``request_id`` is the producer's key: the first request with it
decides the outcome, which is stored under the tenant
(``tenants/{tid}/posting_requests/{request_id}``); any later request with the
same ``request_id`` and the same data posts nothing and republishes the stored
result (a rejection too: fix the cause and send a new ``request_id``). The same
``request_id`` with different data is answered ``rejected`` with code
``request_id_reused`` and changes nothing. The entry id is derived from the
``request_id`` (unless the posting names its own ``entry_id``), so a crash
between the posting's commit and the stored result cannot post twice: the retry
finds the entry it committed. The result is staged in the outbox in the same
transaction as the stored result, so it is published even if the instance dies.

**What cannot be answered.** A message that is not an envelope, or whose data has
no valid ``request_id``, has no one to answer: the consumer records it in
``dead_letters`` with the reason and acknowledges it (see
:class:`UnanswerableRequest`). Everything else gets exactly one result per request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shared.errors import AppError, FieldError, ValidationError
from shared.events.envelope import EventEnvelope, new_event
from shared.events.outbox import add_to_outbox
from shared.identity.actor import Actor
from shared.ledger.idempotency import entry_id_for_request, with_entry_id
from shared.ledger.repository import TENANTS
from shared.ledger.requests import PostEntryRequest, parse_request
from shared.ledger.responses import EntryOut

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.ledger.service import LedgerService

REQUESTS_TOPIC = "ledger-posting-requests"
# The producer-key scope a posting request must prove (shared/producers).
POSTING_SCOPE = "ledger:post"
RESULTS_TOPIC = "ledger-posting-results"
REQUEST_TYPE = "ledger.posting_requested"
RESULT_TYPE = "ledger.posting_result"
POSTING_REQUESTS = "posting_requests"
RESULT_SOURCE = "tributum/ledger"
# Safe verbatim as a Firestore document id (no '/', never '.' or '__x__').
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
SCHEMA_FILES = {
    REQUESTS_TOPIC: "ledger-posting-request.schema.json",
    RESULTS_TOPIC: "ledger-posting-result.schema.json",
}
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas"

T = TypeVar("T")
RunOnce = Callable[[Callable[[Any], T]], T | None]


# -- message models -----------------------------------------------------------------


class PostingRequestData(BaseModel):
    """``data`` of a posting request."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    request_id: str = Field(
        pattern=REQUEST_ID_PATTERN,
        description="the producer's idempotency key: one posting and one result per request_id",
        examples=["INV-2026-0001"],
    )
    posting: PostEntryRequest = Field(description="the body of POST /v1/journal-entries")


class PostingRequestMessage(EventEnvelope):
    """A message on ``ledger-posting-requests``: the event envelope around the request."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, title="ledger-posting-requests message"
    )

    type: Literal["ledger.posting_requested"]
    schema_version: Literal[1]
    data: PostingRequestData  # type: ignore[assignment]


class ResultFieldError(BaseModel):
    field: str = Field(description="dotted path in the request's data, e.g. posting.lines.1.amount")
    message: str
    code: str


class PostingResultData(BaseModel):
    """``data`` of a posting result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    status: Literal["accepted", "rejected"]
    entry_id: str | None = Field(default=None, description="the posted entry (accepted)")
    entry: EntryOut | None = Field(default=None, description="the posted entry (accepted)")
    code: str | None = Field(default=None, description="stable error code (rejected)")
    reason: str | None = Field(default=None, description="what was wrong (rejected)")
    errors: list[ResultFieldError] = Field(default_factory=list)
    request_event_id: str = Field(description="envelope id of the request that decided it")
    decided_at: str = Field(description="when the outcome was decided (ISO 8601, UTC)")


class PostingResultMessage(EventEnvelope):
    """A message on ``ledger-posting-results``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, title="ledger-posting-results message"
    )

    type: Literal["ledger.posting_result"]
    schema_version: Literal[1]
    data: PostingResultData  # type: ignore[assignment]


class _Addressed(BaseModel):
    """Just enough of a request to answer it; the rest is checked afterwards."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)


class UnanswerableRequest(ValueError):
    """The request names no valid ``request_id``: no result could be correlated to it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# -- processing ---------------------------------------------------------------------


def request_id_of(data: Mapping[str, Any]) -> str:
    try:
        return _Addressed.model_validate(dict(data)).request_id
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"data.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise UnanswerableRequest(f"posting request cannot be answered: {problems}") from None


def answer_posting_request(
    service: LedgerService,
    envelope: EventEnvelope,
    *,
    run_once: RunOnce[dict[str, Any]],
    actor: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Post the requested entry once per ``request_id`` and stage its result for publishing.

    ``run_once`` is the event consumer's: the stored result, the result event in the
    outbox and the consumer's processed record commit together. Returns the result's
    data, or None when this delivery was a duplicate. Raises
    :class:`UnanswerableRequest` (dead-letter it) and retryable errors (redeliver).
    ``actor`` names the authenticated producer on the entry and in the audit trail.
    """
    request_id = request_id_of(envelope.data)
    fingerprint = _fingerprint(envelope.data)
    stored = _stored_record(service.db, envelope.tenant_id, request_id)
    if stored is not None:
        result = _replay(stored, fingerprint, request_id, envelope)
    else:
        result = _decide(service, envelope, request_id, actor)
    return run_once(
        lambda transaction: _record_and_stage(
            transaction, service.db, envelope, request_id, fingerprint, result
        )
    )


def _decide(
    service: LedgerService,
    envelope: EventEnvelope,
    request_id: str,
    producer: Mapping[str, Any] | None,
) -> dict[str, Any]:
    try:
        request = parse_request(PostingRequestData, envelope.data)
    except ValidationError as exc:
        return _rejected(request_id, envelope, exc.code, exc.detail, exc.errors)
    posting = with_entry_id(request.posting, entry_id_for_request(request_id))
    actor = Actor.system("ledger_postings", **{"source": envelope.source, **(producer or {})})
    try:
        entry = service.post_entry(
            envelope.tenant_id, posting, actor=actor, correlation_id=envelope.correlation_id
        )
    except AppError as exc:
        if exc.status >= 500:
            raise  # contention or an outage: the redelivery tries again
        errors = [FieldError(f"posting.{e.field}", e.message, e.code) for e in exc.errors]
        return _rejected(request_id, envelope, exc.code, exc.detail, errors)
    return PostingResultData(
        request_id=request_id,
        status="accepted",
        entry_id=entry.id,
        entry=EntryOut.model_validate(entry.to_json()),
        request_event_id=envelope.id,
        decided_at=_now_text(),
    ).model_dump(mode="json")


def _rejected(
    request_id: str,
    envelope: EventEnvelope,
    code: str,
    reason: str,
    errors: Sequence[FieldError],
) -> dict[str, Any]:
    return PostingResultData(
        request_id=request_id,
        status="rejected",
        code=code,
        reason=reason,
        errors=[ResultFieldError(field=e.field, message=e.message, code=e.code) for e in errors],
        request_event_id=envelope.id,
        decided_at=_now_text(),
    ).model_dump(mode="json")


def _replay(
    stored: Mapping[str, Any], fingerprint: str, request_id: str, envelope: EventEnvelope
) -> dict[str, Any]:
    if stored.get("fingerprint") == fingerprint:
        return dict(stored["result"])
    return _rejected(
        request_id,
        envelope,
        "request_id_reused",
        f"request_id {request_id!r} was already used for a different posting request",
        [FieldError("request_id", "already used for different data", "request_id_reused")],
    )


def _record_and_stage(
    transaction: Any,
    db: firestore.Client,
    envelope: EventEnvelope,
    request_id: str,
    fingerprint: str,
    result: dict[str, Any],
) -> dict[str, Any]:
    ref = _record_ref(db, envelope.tenant_id, request_id)
    snapshot = ref.get(transaction=transaction)
    if snapshot.exists:
        # Another request with this id decided first (a race, or a retry after a crash).
        result = _replay(snapshot.to_dict() or {}, fingerprint, request_id, envelope)
    elif result.get("code") != "request_id_reused":
        transaction.create(
            ref,
            {
                "request_id": request_id,
                "fingerprint": fingerprint,
                "result": result,
                "first_event_id": envelope.id,
                "source": envelope.source,
                "created_at": datetime.now(UTC),
            },
        )
    answer = new_event(
        RESULT_TYPE,
        source=RESULT_SOURCE,
        subject=f"posting-requests/{request_id}",
        tenant_id=envelope.tenant_id,
        correlation_id=envelope.correlation_id,
        data=result,
    )
    add_to_outbox(transaction, db, RESULTS_TOPIC, answer)
    return result


def _record_ref(db: firestore.Client, tenant_id: str, request_id: str) -> Any:
    return (
        db.collection(TENANTS).document(tenant_id).collection(POSTING_REQUESTS).document(request_id)
    )


def _stored_record(db: firestore.Client, tenant_id: str, request_id: str) -> dict[str, Any] | None:
    snapshot = _record_ref(db, tenant_id, request_id).get()
    return (snapshot.to_dict() or {}) if snapshot.exists else None


def _fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(dict(data), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _now_text() -> str:
    return datetime.now(UTC).isoformat()


# -- JSON Schemas of the public topics ----------------------------------------------


def public_topic_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (2020-12) of each public topic's messages, by file name."""
    described: dict[str, tuple[type[BaseModel], str]] = {
        REQUESTS_TOPIC: (
            PostingRequestMessage,
            "A journal posting requested by an upstream system: publish it to the "
            "ledger-posting-requests topic. One posting and one result per data.request_id.",
        ),
        RESULTS_TOPIC: (
            PostingResultMessage,
            "The outcome of a posting request, published to ledger-posting-results: "
            "accepted with the entry, or rejected with a code, a reason and field errors.",
        ),
    }
    schemas = {}
    for topic, (model, description) in described.items():
        schema = model.model_json_schema(mode="validation")
        file_name = SCHEMA_FILES[topic]
        schemas[file_name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://tributum.dev/schemas/{file_name}",
            **schema,
            "description": description,
        }
    return schemas


def render_schema(schema: Mapping[str, Any]) -> bytes:
    """The committed form of a schema: sorted keys, two-space indent, final newline."""
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, schema in public_topic_schemas().items():
        path = directory / file_name
        path.write_bytes(render_schema(schema))
        written.append(path)
    return written


if __name__ == "__main__":  # python -m shared.ledger.inbound: regenerate docs/schemas
    for written_path in write_schemas():
        print(written_path)
