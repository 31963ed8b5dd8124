"""ledger_postings: journal postings requested by other systems on ``ledger-posting-requests``.

Producers publish the project's event envelope (type ``ledger.posting_requested``,
schema version 1) whose data is ``{"request_id": ..., "posting": <the body of
POST /v1/journal-entries>}``; the envelope is required because the shared consumer
validates it, deduplicates redeliveries by its id and takes the tenant from it.
Each request gets one result on ``ledger-posting-results``: accepted with the
entry, or rejected with the code, reason and field errors of the HTTP route. A
message that is not an envelope, or has no valid ``request_id``, cannot be answered:
it is recorded in dead letters with the reason. Every message must carry a producer
key with the ``ledger:post`` scope in its ``producer_key`` attribute (checked before
the body is read), and its envelope's tenant must be the key's. The rules, idempotency by
``request_id`` and the message schemas are in :mod:`shared.ledger.inbound`;
docs/producers.md shows a producer.
"""

from __future__ import annotations

from shared.events.consumer import EventContext, PermanentEventError, event_consumer
from shared.events.envelope import EventEnvelope
from shared.ledger.inbound import (
    POSTING_SCOPE,
    REQUEST_TYPE,
    UnanswerableRequest,
    answer_posting_request,
)
from shared.ledger.instance import ledger_service
from shared.logger import get_logger


@event_consumer("ledger_postings", accepts={REQUEST_TYPE: [1]}, producer_scope=POSTING_SCOPE)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    assert context.producer is not None  # the consumer refuses unauthenticated messages
    try:
        result = answer_posting_request(
            ledger_service(), envelope, run_once=context.run_once, actor=context.producer.actor
        )
    except UnanswerableRequest as exc:
        raise PermanentEventError(exc.reason) from None
    if result is not None:
        get_logger("ledger_postings").info(
            "ledger_postings.answered",
            request_id=result["request_id"],
            status=result["status"],
            entry_id=result.get("entry_id"),
            code=result.get("code"),
        )
