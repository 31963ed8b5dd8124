"""The same effect through the shared event consumer: envelope checks, dedup, run_once."""

from __future__ import annotations

import time
from typing import Any

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope

EFFECTS = "bench_effects_consumer"


# As project_users: every effect is inside run_once, which deduplicates on its own.
@event_consumer(
    "bench_consumer", accepts={"bench.event_published": [1]}, check_duplicate_first=False
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    ref = context.db.collection(EFFECTS).document(envelope.id)

    def effect(transaction: Any) -> None:
        transaction.set(
            ref, {"published_at": envelope.data["published_at"], "done_at": time.time()}
        )

    context.run_once(effect)
