"""Webhook endpoints, their signing secrets, deliveries and attempts.

``to_json`` is what the API shows. A signing secret appears in exactly two answers:
the endpoint's creation (:class:`CreatedEndpoint`) and a rotation
(:class:`RotatedSecret`); an :class:`Endpoint` does not even hold one, so no other
answer can carry it by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.webhooks.rules import DeliveryStatus, Lane, Outcome


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    description: str
    enabled: bool
    created_at: datetime
    created_by: dict[str, Any]
    updated_at: datetime
    # Deliveries ended in failure since the last success (see rules.should_auto_disable).
    consecutive_failures: int = 0
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    secret_rotated_at: datetime | None = None
    # Until when the endpoint's deliveries skip the fast lane (rules.slow_until_after):
    # shared by every instance of the deliverer through the endpoint's record.
    slow_until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "event_types": list(self.event_types),
            "description": self.description,
            "enabled": self.enabled,
            "disabled_at": _iso(self.disabled_at),
            "disabled_reason": self.disabled_reason,
            "consecutive_failures": self.consecutive_failures,
            "created_at": self.created_at.isoformat(),
            "created_by": dict(self.created_by),
            "updated_at": self.updated_at.isoformat(),
            "secret_rotated_at": _iso(self.secret_rotated_at),
            "slow_until": _iso(self.slow_until),
        }


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """One secret of an endpoint; ``expires_at`` is set once a newer one replaced it."""

    value: str
    created_at: datetime
    expires_at: datetime | None = None

    def signs_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    """A new endpoint with its signing secret: the one time the secret is shown."""

    endpoint: Endpoint
    secret: str

    def to_json(self) -> dict[str, Any]:
        return {**self.endpoint.to_json(), "secret": self.secret}


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    """The endpoint after a rotation, the new secret (shown this once) and until when
    the previous one still signs."""

    endpoint: Endpoint
    secret: str
    previous_secret_expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            **self.endpoint.to_json(),
            "secret": self.secret,
            "previous_secret_expires_at": self.previous_secret_expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event kept for its deliveries: the exact body every attempt signs and sends."""

    event_id: str
    type: str
    time: datetime
    body: bytes


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to deliver: what was answered (or why nothing was), and how fast."""

    number: int
    round: int
    at: datetime
    kind: str
    outcome: Outcome
    latency_ms: float
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "round": self.round,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "outcome": self.outcome.value,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "response_body": self.response_body,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event to one endpoint; its id is the ``webhook-id`` the receiver sees.

    ``round`` counts sends: 0 for the fan-out, one more per resend. Each round has its
    own budget of attempts; ``attempt_count`` counts every attempt of every round.
    """

    id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    created_at: datetime
    updated_at: datetime
    round: int = 0
    attempt_count: int = 0
    round_attempts: int = 0
    last_attempt: Attempt | None = None
    delivered_at: datetime | None = None
    # The lane the round's attempts go through; a round starts on the fast one.
    lane: Lane = Lane.FAST

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status.value,
            "round": self.round,
            "attempt_count": self.attempt_count,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "delivered_at": _iso(self.delivered_at),
            "last_attempt": self.last_attempt.to_json() if self.last_attempt else None,
            "lane": self.lane.value,
        }


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    """A delivery with its attempts, newest first."""

    delivery: Delivery
    attempts: tuple[Attempt, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.delivery.to_json(), "attempts": [a.to_json() for a in self.attempts]}


@dataclass(frozen=True, slots=True)
class ResendSummary:
    """What a resend-since did: how many deliveries were sent again and whether the
    bound cut the list short (then resend again from ``next_since``)."""

    resent: int
    truncated: bool
    next_since: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "resent": self.resent,
            "truncated": self.truncated,
            "next_since": _iso(self.next_since),
        }
