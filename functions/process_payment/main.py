"""process_payment: carries out payment requests with the provider and the ledger.

Consumes ``payment-events``. The types it acts on are the requests the payments API
emits (``payment.requested``, ``payment.capture_requested``,
``payment.cancel_requested``, ``payment.refund_requested``); the processor's own
outcomes on the same topic (``payment.authorized``...) are acknowledged quietly.

The handler does not use ``run_once``: the processor talks to the provider and runs
its own transactions, and every step of it is idempotent (see
``shared/payments/processor.py``), so a redelivery after a crash finishes the work
instead of repeating it. A provider outage (or an open circuit) raises, so the
delivery fails and Pub/Sub redelivers it with backoff: the payment waits, it is not lost.
"""

from __future__ import annotations

from datetime import timedelta

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger
from shared.payments import PROCESSED_EVENT_TYPES, default_payment_provider, process_payment_event
from shared.payments.ledger_adapter import payments_ledger


@event_consumer(
    "process_payment",
    accepts={event_type: [1] for event_type in PROCESSED_EVENT_TYPES},
    ignore_other_types=True,
    # Longer than Pub/Sub keeps retrying a message (7 days): a payment never waits out.
    processed_ttl=timedelta(days=30),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    outcome = process_payment_event(
        envelope, default_payment_provider(), payments_ledger(), context.db
    )
    get_logger("process_payment").info(
        "payments.processed",
        payment_id=outcome.payment_id,
        result=outcome.result,
        status=outcome.status.value,
        detail=outcome.detail,
    )
