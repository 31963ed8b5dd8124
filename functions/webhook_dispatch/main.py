"""webhook_dispatch: fans payment and ledger events out to the tenant's webhook endpoints.

Consumes ``payment-events`` and ``ledger-events``. For each event whose type is in the
webhook catalog, one transaction (``run_once``) creates a delivery per enabled endpoint
subscribed to the type and stages one ``webhook-deliveries`` message per delivery. A
delivery's id is the ``webhook-id`` derived from the event id and the endpoint id, so a
redelivered event never yields a second delivery (shared/webhooks/dispatch.py). Other
types on those topics (the processor's commands) are acknowledged quietly.
"""

from __future__ import annotations

from shared import webhooks
from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger


@event_consumer(
    "webhook_dispatch",
    accepts=webhooks.CATALOG_SCHEMA_VERSIONS,
    ignore_other_types=True,
    # Every effect is in run_once, whose commit creates the processed record: a duplicate's
    # commit fails and writes nothing.
    check_duplicate_first=False,
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    result = context.run_once(
        lambda transaction: webhooks.fan_out(transaction, context.db, envelope)
    )
    if result is not None and result.deliveries:
        get_logger("webhook_dispatch").info(
            "webhooks.fanned_out", subscribed=result.subscribed, deliveries=len(result.deliveries)
        )
