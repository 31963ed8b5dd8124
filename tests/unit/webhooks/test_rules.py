"""Webhook rules without I/O: classification, patterns, ids, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from shared.events.envelope import new_event
from shared.topology import load_manifest
from shared.webhooks.rules import (
    AUTO_DISABLE_AFTER_FAILED_DELIVERIES,
    DELIVERIES_TOPIC,
    EVENT_CATALOG,
    MAX_DELIVERY_ATTEMPTS,
    RESPONSE_BODY_LIMIT,
    SLOW_DELIVERIES_TOPIC,
    SOURCE_TOPICS,
    AttemptKind,
    DeliveryStatus,
    Outcome,
    classify_status,
    matches_any,
    outcome_of,
    pattern_problem,
    payload,
    should_auto_disable,
    status_after,
    truncated_body,
    webhook_id,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (201, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.RETRIABLE),
        (429, Outcome.RETRIABLE),
        (500, Outcome.RETRIABLE),
        (502, Outcome.RETRIABLE),
        (503, Outcome.RETRIABLE),
        (599, Outcome.RETRIABLE),
        (301, Outcome.PERMANENT),
        (302, Outcome.PERMANENT),
        (307, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (410, Outcome.PERMANENT),
        (413, Outcome.PERMANENT),
        (101, Outcome.PERMANENT),
    ],
)
def test_answers_are_classified(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        (AttemptKind.TIMEOUT, Outcome.RETRIABLE),
        (AttemptKind.CONNECTION_ERROR, Outcome.RETRIABLE),
        (AttemptKind.CIRCUIT_OPEN, Outcome.RETRIABLE),
        (AttemptKind.UNRESOLVABLE, Outcome.RETRIABLE),
        (AttemptKind.URL_REFUSED, Outcome.PERMANENT),
    ],
)
def test_attempts_without_an_answer_are_classified(kind: AttemptKind, outcome: Outcome) -> None:
    assert outcome_of(kind, None) is outcome


def test_the_last_retriable_attempt_of_a_round_fails_the_delivery() -> None:
    assert status_after(Outcome.RETRIABLE, 1) is DeliveryStatus.RETRYING
    assert status_after(Outcome.RETRIABLE, MAX_DELIVERY_ATTEMPTS - 1) is DeliveryStatus.RETRYING
    assert status_after(Outcome.RETRIABLE, MAX_DELIVERY_ATTEMPTS) is DeliveryStatus.FAILED
    assert status_after(Outcome.PERMANENT, 1) is DeliveryStatus.FAILED
    assert status_after(Outcome.DELIVERED, MAX_DELIVERY_ATTEMPTS) is DeliveryStatus.DELIVERED


def test_the_attempt_budget_is_the_subscriptions() -> None:
    manifest = load_manifest()
    deliver = manifest.functions_by_name["webhook_deliver"]

    # Both lanes: a round's attempts are counted across them, against the same budget.
    assert {c.topic for c in deliver.consumes} == {DELIVERIES_TOPIC, SLOW_DELIVERIES_TOPIC}
    for consumed in deliver.consumes:
        assert consumed.retry.max_delivery_attempts == MAX_DELIVERY_ATTEMPTS
        assert consumed.retry.maximum_backoff_seconds == 600
    assert SLOW_DELIVERIES_TOPIC in deliver.publishes
    dispatch = manifest.functions_by_name["webhook_dispatch"]
    assert {c.topic for c in dispatch.consumes} == set(SOURCE_TOPICS)
    assert set(dispatch.publishes) == {DELIVERIES_TOPIC, SLOW_DELIVERIES_TOPIC}


def test_the_catalog_types_are_on_the_topics_the_dispatcher_consumes() -> None:
    descriptions = {t.name: t.description for t in load_manifest().topics}
    families = {"payment": "payment-events", "ledger": "ledger-events"}
    for event_type in EVENT_CATALOG:
        assert families[event_type.split(".")[0]] in descriptions


def test_auto_disable_after_a_run_of_failed_deliveries() -> None:
    assert not should_auto_disable(AUTO_DISABLE_AFTER_FAILED_DELIVERIES - 1)
    assert should_auto_disable(AUTO_DISABLE_AFTER_FAILED_DELIVERIES)


@pytest.mark.parametrize(
    ("patterns", "event_type", "matched"),
    [
        (["*"], "payment.settled", True),
        (["payment.*"], "payment.settled", True),
        (["payment.*"], "ledger.entry_posted", False),
        (["payment.settled"], "payment.settled", True),
        (["payment.settled"], "payment.failed", False),
        (["payment.*", "ledger.entry_posted"], "ledger.entry_posted", True),
        # Commands on the same topics are never sent, whatever the pattern.
        (["*"], "payment.requested", False),
        (["payment.*"], "payment.refund_requested", False),
    ],
)
def test_patterns_match_catalog_types(patterns: list[str], event_type: str, matched: bool) -> None:
    assert matches_any(patterns, event_type) is matched


@pytest.mark.parametrize(
    "pattern", ["payment.settled", "payment.*", "ledger.*", "*", "ledger.hold_voided"]
)
def test_subscribable_patterns(pattern: str) -> None:
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    ["payment.setled", "audit.*", "user.created", "payment.requested", "Payment.*", "payment*",
     "*.settled", "payment.*.x", "", "payment.", ".*"],
)  # fmt: skip
def test_unknown_or_malformed_patterns_are_refused(pattern: str) -> None:
    assert pattern_problem(pattern) is not None


def test_the_webhook_id_is_derived_from_the_event_and_the_endpoint() -> None:
    first = webhook_id("evt-1", "wh" + "a" * 24)

    assert first == webhook_id("evt-1", "wh" + "a" * 24)
    assert first != webhook_id("evt-1", "wh" + "b" * 24)
    assert first != webhook_id("evt-2", "wh" + "a" * 24)
    assert first.startswith("msg_") and len(first) == 36


def test_the_payload_is_the_events_type_timestamp_and_data() -> None:
    envelope = new_event(
        "payment.settled",
        source="tributum/payments",
        subject="payments/pay_1",
        tenant_id="tenant-a",
        data={"payment_id": "pay_1"},
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )

    body = orjson.loads(payload(envelope))

    assert body == {
        "type": "payment.settled",
        "timestamp": "2026-01-02T03:04:05+00:00",
        "data": {"payment_id": "pay_1"},
        "id": envelope.id,
        "subject": "payments/pay_1",
        "schema_version": 1,
    }
    assert "tenant_id" not in body and "correlation_id" not in body


@pytest.mark.parametrize(
    "raw",
    [b"x" * 5000, "é".encode() * 1000, b"\xff\xfe" * 900, b"ok"],
)
def test_response_bodies_are_kept_to_a_kilobyte(raw: bytes) -> None:
    kept = truncated_body(raw)

    assert len(kept.encode()) <= RESPONSE_BODY_LIMIT
    if len(raw) <= RESPONSE_BODY_LIMIT and raw.isascii():
        assert kept == raw.decode()
