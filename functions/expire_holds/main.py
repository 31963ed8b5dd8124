"""expire_holds: on each scheduler tick, expires two-phase holds past their timeout.

Expiry releases what a hold reserved (available balances rise again) and stages
``ledger.hold_expired``; a hold posted or voided meanwhile is left alone, and a
repeated run expires nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope
from shared.ledger.instance import ledger_service
from shared.logger import get_logger


# Ticks every five minutes: a late one is superseded by the next.
@event_consumer(
    "expire_holds",
    accepts={SCHEDULE_TICK_TYPE: [1]},
    max_age=timedelta(minutes=10),
    processed_ttl=timedelta(days=1),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    run = ledger_service().expire_pending_holds()
    get_logger("expire_holds").info(
        "expire_holds.completed", expired=len(run.expired_entry_ids), tenants=run.tenants_scanned
    )
