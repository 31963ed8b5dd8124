"""push_counter: a consumer run by functions-framework in the push delivery test."""

from __future__ import annotations

from typing import Any

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope


@event_consumer("push_counter", accepts={"test.counted": [1]})
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    ref = context.db.collection("push_effects").document(envelope.id)

    def count(transaction: Any) -> None:
        snapshot = ref.get(transaction=transaction)
        runs = (snapshot.get("runs") if snapshot.exists else 0) + 1
        transaction.set(ref, {"runs": runs, "marker": envelope.data["marker"]})

    context.run_once(count)
