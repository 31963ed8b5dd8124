"""One delivery attempt, start to end: what to send, sending it, writing down how it went.

The ``webhook_deliver`` consumer calls :func:`attempt_delivery` for every message on
``webhook-deliveries`` and :func:`raise_for_retry` with its report:

* **delivered** (2xx) or **refused for good** (another 4xx, a 3xx, a URL that is
  no longer safe): recorded, the message is acknowledged;
* **retriable** (timeout, connection error, 5xx, 408, 429, an open circuit, a host
  that does not resolve now): recorded, then :class:`DeliveryRetryError` is raised so
  Pub/Sub redelivers the message after the subscription's backoff;
* the round's last attempt (:data:`~shared.webhooks.rules.MAX_DELIVERY_ATTEMPTS`)
  failing: recorded as failed, and a :class:`PermanentEventError` puts the message
  in the dead letters.

Messages that need no attempt are acknowledged without one: the delivery was
delivered already, a resend superseded the round, the endpoint was deleted. A
disabled endpoint cancels the delivery (a resend sends it again once re-enabled).

A message for a delivery that failed in the same round is a replay of its dead
letter: it starts a fresh series of attempts.

Every attempt is written with the delivery's new status in one transaction. A
delivery that ends in failure counts against the endpoint; the endpoint is disabled
after :data:`~shared.webhooks.rules.AUTO_DISABLE_AFTER_FAILED_DELIVERIES` in a row,
with an audit event. A delivery that succeeds resets the count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.consumer import PermanentEventError
from shared.events.outbox import StagedEvent, add_to_outbox
from shared.logger import get_logger
from shared.webhooks.messages import DeliveryMessage
from shared.webhooks.model import Attempt, Delivery, Endpoint
from shared.webhooks.rules import (
    EVENT_SOURCE,
    MAX_DELIVERY_ATTEMPTS,
    RETENTION,
    DeliveryStatus,
    Outcome,
    should_auto_disable,
    status_after,
)
from shared.webhooks.service import publish
from shared.webhooks.signing import delivery_headers
from shared.webhooks.store import (
    attempt_ref,
    attempt_to_document,
    delivery_ref,
    delivery_to_document,
    endpoint_ref,
    endpoint_to_document,
    read_delivery,
    read_endpoint,
    read_event,
    read_secrets,
)
from shared.webhooks.transport import AttemptResult, Transport
from shared.webhooks.urls import UrlPolicy

if TYPE_CHECKING:
    from google.cloud import firestore

AUTO_DISABLE_ACTOR = {"system": "webhooks.auto_disable"}
_log = get_logger("shared.webhooks.delivery")


class DeliveryRetryError(Exception):
    """The attempt failed in a way that may pass: Pub/Sub should deliver the message again."""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """How a message was handled: ``skipped`` names why no attempt was made."""

    delivery_id: str
    status: DeliveryStatus | None = None
    attempt: Attempt | None = None
    skipped: str | None = None
    endpoint_disabled: bool = False

    @property
    def retry(self) -> bool:
        return self.status is DeliveryStatus.RETRYING

    @property
    def exhausted(self) -> bool:
        return (
            self.status is DeliveryStatus.FAILED
            and self.attempt is not None
            and self.attempt.outcome is Outcome.RETRIABLE
        )


def raise_for_retry(report: DeliveryReport) -> None:
    """Turn a report into what Pub/Sub must see: a retry, a dead letter, or nothing."""
    if report.retry:
        assert report.attempt is not None
        raise DeliveryRetryError(
            f"attempt {report.attempt.number} of delivery {report.delivery_id} failed "
            f"({report.attempt.kind}"
            + (f" {report.attempt.status_code}" if report.attempt.status_code else "")
            + "); Pub/Sub retries it"
        )
    if report.exhausted:
        raise PermanentEventError(
            f"delivery {report.delivery_id} failed {MAX_DELIVERY_ATTEMPTS} attempts in a row; "
            "resend it from the webhooks API once the endpoint answers"
        )


def attempt_delivery(
    db: firestore.Client,
    tenant_id: str,
    message: DeliveryMessage,
    *,
    transport: Transport,
    policy: UrlPolicy,
    correlation_id: str | None = None,
) -> DeliveryReport:
    """Make the attempt a delivery message asks for, and record it."""
    delivery_id = message.delivery_id
    delivery = read_delivery(db, tenant_id, message.endpoint_id, delivery_id)
    if delivery is None:
        return DeliveryReport(delivery_id, skipped="delivery_gone")
    if delivery.round != message.round:
        return DeliveryReport(delivery_id, delivery.status, skipped="superseded_by_resend")
    if delivery.status is DeliveryStatus.DELIVERED:
        return DeliveryReport(delivery_id, delivery.status, skipped="already_delivered")
    endpoint = read_endpoint(db, tenant_id, message.endpoint_id)
    if endpoint is None:
        return DeliveryReport(delivery_id, skipped="endpoint_gone")
    event = read_event(db, tenant_id, delivery.event_id)
    if not endpoint.enabled or event is None:
        reason = "endpoint_disabled" if event is not None else "event_expired"
        _cancel(db, delivery, reason)
        return DeliveryReport(delivery_id, DeliveryStatus.CANCELLED, skipped=reason)
    now = datetime.now(UTC)
    signing = [s.value for s in read_secrets(db, tenant_id, endpoint.id) if s.signs_at(now)]
    if not signing:
        raise RuntimeError(f"webhook endpoint {endpoint.id} has no signing secret")
    headers = delivery_headers(signing, delivery.id, int(time.time()), event.body)
    result = transport.attempt(endpoint.id, endpoint.url, event.body, headers, policy)
    report = _record(db, delivery, message.round, result, correlation_id)
    _log.info(
        "webhooks.attempted",
        delivery_id=delivery_id,
        endpoint_id=endpoint.id,
        attempt=report.attempt.number if report.attempt else None,
        kind=result.kind.value,
        status_code=result.status_code,
        outcome=result.outcome.value,
        latency_ms=result.latency_ms,
        delivery_status=report.status.value if report.status else None,
        endpoint_disabled=report.endpoint_disabled,
    )
    return report


def _cancel(db: firestore.Client, delivery: Delivery, reason: str) -> None:
    from google.cloud import firestore as fs

    @fs.transactional
    def attempt(transaction: Any) -> None:
        current = read_delivery(
            db, delivery.tenant_id, delivery.endpoint_id, delivery.id, transaction
        )
        if current is None or current.round != delivery.round:
            return
        if current.status in (DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED):
            return
        now = datetime.now(UTC)
        transaction.update(
            delivery_ref(db, delivery.tenant_id, delivery.endpoint_id, delivery.id),
            {"status": DeliveryStatus.CANCELLED.value, "updated_at": now, "cancel_reason": reason},
        )

    attempt(db.transaction())


def _record(
    db: firestore.Client,
    sent: Delivery,
    round_number: int,
    result: AttemptResult,
    correlation_id: str | None,
) -> DeliveryReport:
    """Write the attempt, the delivery's new status and the endpoint's failure count."""
    from google.cloud import firestore as fs

    tenant_id, endpoint_id = sent.tenant_id, sent.endpoint_id
    ref = delivery_ref(db, tenant_id, endpoint_id, sent.id)
    staged: list[StagedEvent] = []

    @fs.transactional
    def attempt(transaction: Any) -> DeliveryReport:
        staged.clear()
        current = read_delivery(db, tenant_id, endpoint_id, sent.id, transaction)
        endpoint = read_endpoint(db, tenant_id, endpoint_id, transaction)
        if current is None:
            return DeliveryReport(sent.id, skipped="delivery_gone")
        now = datetime.now(UTC)
        in_round = current.round == round_number and current.status is not DeliveryStatus.DELIVERED
        # A message for a failed delivery of its round is its dead letter replayed.
        restarted = current.status is DeliveryStatus.FAILED
        round_attempts = (0 if restarted else current.round_attempts) + 1
        recorded = Attempt(
            number=current.attempt_count + 1,
            round=round_number,
            at=now,
            kind=result.kind.value,
            outcome=result.outcome,
            latency_ms=result.latency_ms,
            status_code=result.status_code,
            response_body=result.response_body,
            error=result.error,
        )
        status = status_after(result.outcome, round_attempts) if in_round else current.status
        delivered_now = in_round and status is DeliveryStatus.DELIVERED
        updated = replace(
            current,
            status=status,
            attempt_count=recorded.number,
            round_attempts=round_attempts if in_round else current.round_attempts,
            last_attempt=recorded,
            updated_at=now,
            delivered_at=now if delivered_now else current.delivered_at,
        )
        transaction.create(
            attempt_ref(ref, recorded.number),
            {**attempt_to_document(recorded), "expires_at": now + RETENTION},
        )
        transaction.set(ref, delivery_to_document(updated))
        disabled = False
        if in_round and endpoint is not None:
            disabled = _count_against(
                transaction, db, endpoint, status, now, staged, correlation_id
            )
        return DeliveryReport(sent.id, status, recorded, endpoint_disabled=disabled)

    report: DeliveryReport = attempt(db.transaction())
    publish(db, staged)
    return report


def _count_against(
    transaction: Any,
    db: firestore.Client,
    endpoint: Endpoint,
    status: DeliveryStatus,
    now: datetime,
    staged: list[StagedEvent],
    correlation_id: str | None,
) -> bool:
    """Update the endpoint's run of failed deliveries; True when this disables it."""
    ref = endpoint_ref(db, endpoint.tenant_id, endpoint.id)
    if status is DeliveryStatus.DELIVERED:
        if endpoint.consecutive_failures:
            transaction.update(ref, {"consecutive_failures": 0})
        return False
    if status is not DeliveryStatus.FAILED:
        return False
    failures = endpoint.consecutive_failures + 1
    if not (endpoint.enabled and should_auto_disable(failures)):
        transaction.update(ref, {"consecutive_failures": failures})
        return False
    disabled = replace(
        endpoint,
        consecutive_failures=failures,
        enabled=False,
        disabled_at=now,
        disabled_reason="consecutive_failures",
        updated_at=now,
    )
    transaction.set(ref, endpoint_to_document(disabled))
    staged.append(
        add_to_outbox(
            transaction,
            db,
            AUDIT_TOPIC,
            audit_event(
                "webhook_endpoint.disabled",
                tenant_id=endpoint.tenant_id,
                actor=dict(AUTO_DISABLE_ACTOR),
                resource_type="webhook_endpoint",
                resource_id=endpoint.id,
                details={"reason": "consecutive_failures", "failed_deliveries": failures},
                source=EVENT_SOURCE,
                correlation_id=correlation_id,
            ),
        )
    )
    _log.warning(
        "webhooks.endpoint_auto_disabled", endpoint_id=endpoint.id, failed_deliveries=failures
    )
    return True
