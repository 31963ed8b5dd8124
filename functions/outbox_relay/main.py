"""outbox_relay: on each scheduler tick, publishes outbox events a crash left unpublished."""

from __future__ import annotations

from datetime import timedelta

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope
from shared.events.outbox import relay_pending
from shared.logger import get_logger


# A tick delivered late is superseded by the next one (every minute): drop it.
@event_consumer(
    "outbox_relay",
    accepts={SCHEDULE_TICK_TYPE: [1]},
    max_age=timedelta(minutes=5),
    processed_ttl=timedelta(days=1),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    published = relay_pending(context.db)
    get_logger("outbox_relay").info("outbox_relay.relayed", published=published)
