"""Response models of the webhook routes (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_at: str | None
    disabled_reason: str | None
    consecutive_failures: int
    created_at: str
    created_by: dict[str, Any]
    updated_at: str
    secret_rotated_at: str | None
    # Until when the endpoint's deliveries go through the slow lane (it timed out).
    slow_until: str | None


class CreatedEndpointOut(EndpointOut):
    secret: str


class RotatedSecretOut(EndpointOut):
    secret: str
    previous_secret_expires_at: str


class AttemptOut(BaseModel):
    number: int
    round: int
    at: str
    kind: str
    outcome: str
    status_code: int | None
    latency_ms: float
    response_body: str | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    round: int
    attempt_count: int
    created_at: str
    updated_at: str
    delivered_at: str | None
    last_attempt: AttemptOut | None
    # The lane of the round: "fast", or "slow" once its endpoint timed out.
    lane: str


class DeliveryDetailOut(DeliveryOut):
    attempts: list[AttemptOut]


class ResendSummaryOut(BaseModel):
    resent: int
    truncated: bool
    next_since: str | None
