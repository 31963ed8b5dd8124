"""Webhooks without I/O: the event catalog, type patterns, ids, limits and outcomes.

What a client can subscribe to is :data:`EVENT_CATALOG`: the facts of the payment and
ledger topics. The commands on those topics (``payment.requested``,
``payment.capture_requested`` and the other ``*_requested`` types) are instructions
to the payment processor, not facts a client acts on; the facts they lead to
(``payment.authorized``, ``payment.captured``...) are in the catalog.

An endpoint names the types it wants with patterns: an exact type
(``payment.settled``), a family (``payment.*``: every type that starts with
``payment.``) or everything (``*``). Each pattern must match at least one type of the
catalog, so a typo is refused instead of silently receiving nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

import orjson

from shared.events.envelope import EventEnvelope

# The topics whose events are fanned out to endpoints, and the topic of the deliveries.
SOURCE_TOPICS = ("payment-events", "ledger-events")
DELIVERIES_TOPIC = "webhook-deliveries"
# The slow lane: deliveries whose endpoint timed out or is cooling down (see Lane).
SLOW_DELIVERIES_TOPIC = "webhook-deliveries-slow"
DELIVERY_REQUESTED_TYPE = "webhook.delivery_requested"
EVENT_SOURCE = "tributum/webhooks"

EVENT_CATALOG: Mapping[str, str] = MappingProxyType(
    {
        "payment.authorized": "the provider authorized the payment",
        "payment.captured": "the payment was captured, in full or in part",
        "payment.settled": "the payment is settled in the ledger",
        "payment.failed": "the provider declined the payment or it could not be processed",
        "payment.cancelled": "an authorized payment was cancelled before capture",
        "payment.refunded": "a refund went through",
        "payment.refund_failed": "a refund was declined",
        "ledger.account_created": "an account was opened",
        "ledger.account_updated": "an account's name, status or settings changed",
        "ledger.entry_posted": "a journal entry was posted",
        "ledger.entry_pending": "a two-phase hold was placed",
        "ledger.hold_posted": "a hold was posted (in full or in part)",
        "ledger.hold_voided": "a hold was voided",
        "ledger.hold_expired": "a hold expired unposted",
        "ledger.entry_reversed": "a posted entry was reversed",
        "ledger.discrepancy": "reconciliation found a balance that does not match its lines",
        "ledger.balance_monitor_triggered": "a balance monitor's condition started to hold",
        "ledger.balance_monitor_cleared": "a balance monitor's condition stopped holding",
    }
)
# Every type of the catalog is at schema version 1.
CATALOG_SCHEMA_VERSIONS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    dict.fromkeys(EVENT_CATALOG, (1,))
)

MAX_ENDPOINTS_PER_TENANT = 20
MAX_EVENT_TYPES = 32
MAX_URL_LENGTH = 2048

ENDPOINT_ID_PREFIX = "wh"
ENDPOINT_ID_PATTERN = r"^wh[0-9a-f]{24}$"
WEBHOOK_ID_PREFIX = "msg_"
WEBHOOK_ID_PATTERN = r"^msg_[0-9a-f]{32}$"

# Pub/Sub delivers a delivery message at most this many times (the manifest's
# max_delivery_attempts of webhook-deliveries--webhook_deliver, which a test keeps
# equal): with backoff growing from 10 s to Pub/Sub's ceiling of 600 s, about 16
# hours of retries, the longest Pub/Sub's limits allow.
MAX_DELIVERY_ATTEMPTS = 100
# An endpoint whose deliveries end in failure this many times in a row (each a
# permanent refusal, or every attempt spent) is disabled, with an audit event.
AUTO_DISABLE_AFTER_FAILED_DELIVERIES = 5
# Delivery records, their attempts and the events kept for resends live this long.
RETENTION = timedelta(days=30)
# A resend-since request resends at most this many events (the oldest first).
MAX_RESEND_EVENTS = 500
# After a rotation the previous secret keeps signing this long, beside the new one.
SECRET_OVERLAP = timedelta(hours=24)
# The deadline of an attempt on the slow lane: the longest a receiver may take.
DELIVERY_TIMEOUT_SECONDS = 10.0
# The deadline of an attempt on the fast lane. Short, so that an endpoint that hangs
# holds one of the fast lane's few push slots this long, once, before it cools down.
FIRST_ATTEMPT_TIMEOUT_SECONDS = 3.0
# An endpoint that timed out (or answered slower than the fast lane's deadline) is
# "cooling" this long: its deliveries skip the fast lane and go to the slow one.
ENDPOINT_COOL_DOWN = timedelta(minutes=10)
RESPONSE_BODY_LIMIT = 1024

_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
_RETRIABLE_STATUSES = frozenset({408, 429})


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # published, no attempt yet
    RETRYING = "retrying"  # an attempt failed and Pub/Sub will try again
    DELIVERED = "delivered"
    FAILED = "failed"  # refused for good, or every attempt spent
    CANCELLED = "cancelled"  # the endpoint was disabled before it could be delivered


class Outcome(StrEnum):
    """How one attempt ended."""

    DELIVERED = "delivered"
    RETRIABLE = "retriable"
    PERMANENT = "permanent"


class AttemptKind(StrEnum):
    """What an attempt met: an HTTP answer, or no answer at all."""

    RESPONSE = "response"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    CIRCUIT_OPEN = "circuit_open"
    UNRESOLVABLE = "unresolvable"
    URL_REFUSED = "url_refused"


def classify_status(status: int) -> Outcome:
    """2xx delivered; 408, 429 and 5xx retried; any other answer refused for good.

    A redirect is a refusal: deliveries never follow one (it could point anywhere,
    an internal address included), so the endpoint must be configured at its final URL.
    """
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in _RETRIABLE_STATUSES or 500 <= status < 600:
        return Outcome.RETRIABLE
    return Outcome.PERMANENT


def outcome_of(kind: AttemptKind, status: int | None) -> Outcome:
    if kind is AttemptKind.RESPONSE:
        assert status is not None
        return classify_status(status)
    if kind is AttemptKind.URL_REFUSED:
        return Outcome.PERMANENT
    # No answer: a timeout, a refused or reset connection, a name that did not resolve
    # now, an open circuit. All of them may pass.
    return Outcome.RETRIABLE


def status_after(outcome: Outcome, attempts_in_round: int) -> DeliveryStatus:
    """The delivery's status after its ``attempts_in_round``-th attempt ended in ``outcome``."""
    if outcome is Outcome.DELIVERED:
        return DeliveryStatus.DELIVERED
    if outcome is Outcome.PERMANENT or attempts_in_round >= MAX_DELIVERY_ATTEMPTS:
        return DeliveryStatus.FAILED
    return DeliveryStatus.RETRYING


class Lane(StrEnum):
    """Which subscription an attempt comes through, and so its deadline."""

    FAST = "fast"  # webhook-deliveries: every delivery starts here
    SLOW = "slow"  # webhook-deliveries-slow: endpoints that time out or are cooling


def lane_timeout_seconds(lane: Lane) -> float:
    return FIRST_ATTEMPT_TIMEOUT_SECONDS if lane is Lane.FAST else DELIVERY_TIMEOUT_SECONDS


def is_cooling(slow_until: datetime | None, now: datetime) -> bool:
    return slow_until is not None and slow_until > now


def defers_to_slow_lane(lane: Lane, slow_until: datetime | None, now: datetime) -> bool:
    """A fast-lane message for a cooling endpoint moves to the slow lane without an
    attempt: it must not hold a fast push slot for an endpoint known to be slow."""
    return lane is Lane.FAST and is_cooling(slow_until, now)


def moves_to_slow_lane(lane: Lane, kind: AttemptKind, status: DeliveryStatus) -> bool:
    """A fast-lane attempt that timed out is retried on the slow lane (at once, with the
    longer deadline), not by redelivery on the fast one."""
    return lane is Lane.FAST and kind is AttemptKind.TIMEOUT and status is DeliveryStatus.RETRYING


def slow_until_after(
    lane: Lane,
    kind: AttemptKind,
    latency_ms: float,
    slow_until: datetime | None,
    now: datetime,
) -> datetime | None:
    """The endpoint's cool-down after an attempt: set (or extended) by a timeout or a
    slow answer, ended by an answer within the fast lane's deadline on the slow lane.

    Connection errors and open circuits fail at once and hold no slot: they leave it.
    """
    if kind is AttemptKind.TIMEOUT:
        return now + ENDPOINT_COOL_DOWN
    if kind is AttemptKind.RESPONSE:
        if latency_ms >= FIRST_ATTEMPT_TIMEOUT_SECONDS * 1000:
            return now + ENDPOINT_COOL_DOWN
        if lane is Lane.SLOW:
            return None
    return slow_until


def cool_down_changed(current: datetime | None, new: datetime | None, now: datetime) -> bool:
    """Whether the endpoint's record must be written: on a change of state, or to extend
    a cool-down with less than half of it left (not on every attempt: concurrent
    attempts at one endpoint would all write its record)."""
    if not is_cooling(new, now):
        return is_cooling(current, now)  # a lapsed cool-down needs no write to end
    if not is_cooling(current, now):
        return True
    assert current is not None and new is not None
    return new - current >= ENDPOINT_COOL_DOWN / 2


def should_auto_disable(consecutive_failed_deliveries: int) -> bool:
    return consecutive_failed_deliveries >= AUTO_DISABLE_AFTER_FAILED_DELIVERIES


# -- event types ---------------------------------------------------------------------------


def pattern_matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def matches_any(patterns: Iterable[str], event_type: str) -> bool:
    return event_type in EVENT_CATALOG and any(pattern_matches(p, event_type) for p in patterns)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be subscribed to, or None when it can."""
    if not _PATTERN.match(pattern):
        return "must be an event type, a family like payment.*, or *"
    if not any(pattern_matches(pattern, event_type) for event_type in EVENT_CATALOG):
        return "matches no event type of the catalog"
    return None


def normalized_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """The patterns without repeats, in a stable order."""
    return tuple(sorted(set(patterns)))


# -- ids and payloads ----------------------------------------------------------------------


def new_endpoint_id() -> str:
    return f"{ENDPOINT_ID_PREFIX}{secrets.token_hex(12)}"


def webhook_id(event_id: str, endpoint_id: str) -> str:
    """The ``webhook-id`` of an event's delivery to an endpoint: the same on every retry,
    redelivery and resend, so a receiver deduplicates by it; different per endpoint."""
    digest = hashlib.sha256(f"{endpoint_id}\n{event_id}".encode()).hexdigest()
    return f"{WEBHOOK_ID_PREFIX}{digest[:32]}"


def payload(envelope: EventEnvelope) -> bytes:
    """The body POSTed for an event: Standard Webhooks' ``type``, ``timestamp`` and
    ``data``, plus the event's id, subject and schema version."""
    return orjson.dumps(
        {
            "type": envelope.type,
            "timestamp": envelope.time.isoformat(),
            "data": envelope.data,
            "id": envelope.id,
            "subject": envelope.subject,
            "schema_version": envelope.schema_version,
        }
    )


def truncated_body(raw: bytes, limit: int = RESPONSE_BODY_LIMIT) -> str:
    """At most ``limit`` bytes of a response body as text (undecodable bytes replaced)."""
    text = raw[:limit].decode("utf-8", errors="replace")
    while len(text.encode()) > limit:
        text = text[:-1]
    return text
