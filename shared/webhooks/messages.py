"""The message on ``webhook-deliveries``: which delivery to attempt, never what to send.

It names the delivery, its round and its lane only. The body comes from the stored event and
the secrets from the endpoint's record when the attempt is made, so no secret and no
event data travels through Pub/Sub or lands in a dead letter, and a rotation or URL
change made while a delivery is retrying applies to its next attempt.

A round starts on the fast lane (``webhook-deliveries``); a round moved to the slow
lane continues with a second message, ``lane: slow``, on ``webhook-deliveries-slow``
(see ``delivery.py``). A message without a lane (published before lanes existed) is
a fast-lane message.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import EventEnvelope, new_event
from shared.webhooks.model import Delivery
from shared.webhooks.rules import (
    DELIVERY_REQUESTED_TYPE,
    ENDPOINT_ID_PATTERN,
    EVENT_SOURCE,
    WEBHOOK_ID_PATTERN,
    Lane,
)


class DeliveryMessage(BaseModel):
    """``data`` of a ``webhook.delivery_requested`` event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_id: str = Field(pattern=ENDPOINT_ID_PATTERN)
    delivery_id: str = Field(pattern=WEBHOOK_ID_PATTERN)
    event_id: str = Field(min_length=1, max_length=128)
    round: int = Field(ge=0)
    lane: Lane = Lane.FAST


def delivery_message(
    delivery: Delivery, *, correlation_id: str | None = None, lane: Lane = Lane.FAST
) -> EventEnvelope:
    """The message that asks for one round of a delivery on one lane; its id is unique
    per round and lane, so the outbox and the deliverer's processed records tell them
    apart."""
    suffix = "" if lane is Lane.FAST else f"-{lane.value}"
    return new_event(
        DELIVERY_REQUESTED_TYPE,
        source=EVENT_SOURCE,
        subject=f"webhook_endpoints/{delivery.endpoint_id}/deliveries/{delivery.id}",
        tenant_id=delivery.tenant_id,
        correlation_id=correlation_id,
        event_id=f"{delivery.id}-{delivery.round}{suffix}",
        data=DeliveryMessage(
            endpoint_id=delivery.endpoint_id,
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            round=delivery.round,
            lane=lane,
        ).model_dump(mode="json"),
    )
