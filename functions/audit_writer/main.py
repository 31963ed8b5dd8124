"""audit_writer: appends every ``audit.recorded`` event to its tenant's hash chain.

Consumes ``audit-events``. The chain store is idempotent by event id (its index
entry commits with the record), so a redelivery appends nothing; appends of one
tenant are serialized there, so the chain never forks. An event that can never
become a record (not an audit event, invalid data) is dead-lettered with the reason.
"""

from __future__ import annotations

from shared.audit import InvalidAuditEventError, append
from shared.events.audit import AUDIT_EVENT_TYPE
from shared.events.consumer import EventContext, PermanentEventError, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger


@event_consumer("audit_writer", accepts={AUDIT_EVENT_TYPE: [1]})
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    try:
        result = append(context.db, envelope)
    except InvalidAuditEventError as exc:
        raise PermanentEventError(str(exc)) from None
    get_logger("audit_writer").info(
        "audit.appended", seq=result.seq, appended=result.appended, event_id=result.event_id
    )
