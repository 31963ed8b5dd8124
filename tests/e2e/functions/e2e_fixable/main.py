"""e2e_fixable: a consumer that fails while a switch says it is broken, then works.

It stands for a consumer with a bug: while ``e2e_switches/fixable`` holds
``broken: true`` every delivery fails, so Pub/Sub dead-letters the message after
the subscription's attempts; once the switch is off ("the fix is deployed") a
replayed message is processed through ``run_once``, which counts its effect.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope


class StillBrokenError(RuntimeError):
    """Raised while the switch is on: a retryable failure, as a bug would be."""


@event_consumer("e2e_fixable", accepts={"e2e.work_requested": [1]})
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    switch = context.db.collection("e2e_switches").document("fixable").get()
    if switch.exists and switch.get("broken"):
        raise StillBrokenError(f"event {envelope.id} fails until the switch is off")
    effect = context.db.collection("e2e_effects").document(envelope.id)

    def count(transaction: Any) -> None:
        transaction.set(effect, {"applied": firestore.Increment(1)}, merge=True)

    context.run_once(count)
