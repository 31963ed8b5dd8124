"""webhook_deliver: POSTs each webhook delivery, signed, to its endpoint.

Consumes two lanes, each its own push subscription: ``webhook-deliveries`` (the fast
lane: one message per delivery round, attempts with a 3 s deadline) and
``webhook-deliveries-slow`` (rounds whose endpoint timed out or is cooling down,
attempts with a 10 s deadline). Each message is one attempt: the endpoint's URL is
checked again and the request goes to the checked address, with the Standard Webhooks
headers, the lane's deadline and a circuit breaker per endpoint
(shared/webhooks/transport.py). Every attempt is recorded.

A fast-lane timeout moves the round to the slow lane (the message is acknowledged), as
does a fast-lane message for an endpoint that is cooling down, without an attempt
(shared/webhooks/delivery.py). Any other retriable failure (connection error, 5xx,
408, 429) raises, so Pub/Sub redelivers the message with its subscription's
exponential backoff; the round's last attempt failing puts the message in the dead
letters. A 2xx, or a refusal for good (another 4xx), is acknowledged.
"""

from __future__ import annotations

from datetime import timedelta

from shared import webhooks
from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger

# One per instance: it keeps each endpoint's circuit breaker between messages.
TRANSPORT = webhooks.Transport()


@event_consumer(
    "webhook_deliver",
    accepts={webhooks.DELIVERY_REQUESTED_TYPE: [1]},
    # Longer than Pub/Sub keeps retrying a message: a delivered round is never sent again.
    processed_ttl=timedelta(days=30),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    message = context.parse_data(webhooks.DeliveryMessage)
    report = webhooks.attempt_delivery(
        context.db,
        envelope.tenant_id,
        message,
        transport=TRANSPORT,
        policy=webhooks.url_policy(),
        correlation_id=envelope.correlation_id,
    )
    if report.skipped:
        get_logger("webhook_deliver").info(
            "webhooks.skipped",
            delivery_id=report.delivery_id,
            reason=report.skipped,
            moved_to_slow_lane=report.moved_to_slow_lane,
        )
    webhooks.raise_for_retry(report)
