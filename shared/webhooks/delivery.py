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

**Two lanes.** Every round starts on the fast lane (``webhook-deliveries``), whose
attempts have a short deadline (:data:`~shared.webhooks.rules.FIRST_ATTEMPT_TIMEOUT_SECONDS`).
A fast-lane attempt that times out is recorded, the endpoint starts cooling down
(``slow_until`` on its record, seen by every instance), and the round moves to the slow
lane (``webhook-deliveries-slow``, its own push subscription, attempts with the full
:data:`~shared.webhooks.rules.DELIVERY_TIMEOUT_SECONDS`): one slow-lane message is
staged with the attempt, the fast-lane message is acknowledged. While an endpoint
cools, the dispatcher puts its new deliveries on the slow lane from the start
(``dispatch.py``) and fast-lane messages already in flight move there without an
attempt, so an endpoint that hangs holds no fast-lane push slot beyond its first
timeout. The slow lane's retries follow its own subscription's backoff. A slow-lane
answer within the fast deadline ends the cool-down; a timeout or a slow answer extends
it (``rules.slow_until_after``).

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
from shared.events.outbox import OUTBOX_COLLECTION, add_to_outbox
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.logger import get_logger
from shared.webhooks.messages import DeliveryMessage, delivery_message
from shared.webhooks.model import Attempt, Delivery, Endpoint
from shared.webhooks.rules import (
    EVENT_SOURCE,
    MAX_DELIVERY_ATTEMPTS,
    RETENTION,
    SLOW_DELIVERIES_TOPIC,
    AttemptKind,
    DeliveryStatus,
    Lane,
    Outcome,
    cool_down_changed,
    defers_to_slow_lane,
    lane_timeout_seconds,
    moves_to_slow_lane,
    should_auto_disable,
    slow_until_after,
    status_after,
)
from shared.webhooks.signing import delivery_headers
from shared.webhooks.store import (
    attempt_ref,
    attempt_to_document,
    delivery_from_document,
    delivery_ref,
    delivery_to_document,
    endpoint_from_document,
    endpoint_ref,
    endpoint_to_document,
    read_attempt_inputs,
    read_delivery,
    read_event,
)
from shared.webhooks.transport import AttemptResult, Transport
from shared.webhooks.urls import UrlPolicy

if TYPE_CHECKING:
    from google.cloud import firestore

AUTO_DISABLE_ACTOR = Actor.system("webhooks.auto_disable")
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
    # The round continues on the slow lane: this (fast-lane) message is done.
    moved_to_slow_lane: bool = False

    @property
    def retry(self) -> bool:
        return (
            self.status is DeliveryStatus.RETRYING
            and self.attempt is not None
            and not self.moved_to_slow_lane
        )

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
    """Make the attempt a delivery message asks for on its lane, and record it; or move
    the round to the slow lane without an attempt when the endpoint is cooling down."""
    delivery_id, lane = message.delivery_id, message.lane
    inputs = read_attempt_inputs(db, tenant_id, message.endpoint_id, delivery_id, message.event_id)
    delivery = inputs.delivery
    if delivery is None:
        return DeliveryReport(delivery_id, skipped="delivery_gone")
    if delivery.round != message.round:
        return DeliveryReport(delivery_id, delivery.status, skipped="superseded_by_resend")
    if delivery.status is DeliveryStatus.DELIVERED:
        return DeliveryReport(delivery_id, delivery.status, skipped="already_delivered")
    if _owned_by_slow_lane(delivery, lane):
        # A fast-lane copy of a round the slow lane carries on (a redelivery).
        return DeliveryReport(delivery_id, delivery.status, skipped="on_slow_lane")
    endpoint = inputs.endpoint
    if endpoint is None:
        return DeliveryReport(delivery_id, skipped="endpoint_gone")
    event = (
        inputs.event
        if delivery.event_id == message.event_id
        else read_event(db, tenant_id, delivery.event_id)
    )
    if not endpoint.enabled or event is None:
        reason = "endpoint_disabled" if event is not None else "event_expired"
        _cancel(db, delivery, reason)
        return DeliveryReport(delivery_id, DeliveryStatus.CANCELLED, skipped=reason)
    now = datetime.now(UTC)
    if defers_to_slow_lane(lane, endpoint.slow_until, now):
        moved = _move_to_slow_lane(db, delivery, correlation_id)
        return DeliveryReport(
            delivery_id, delivery.status, skipped="endpoint_cooling", moved_to_slow_lane=moved
        )
    signing = [s.value for s in inputs.secrets if s.signs_at(now)]
    if not signing:
        raise RuntimeError(f"webhook endpoint {endpoint.id} has no signing secret")
    headers = delivery_headers(signing, delivery.id, int(time.time()), event.body)
    result = transport.attempt(
        endpoint.id,
        endpoint.url,
        event.body,
        headers,
        policy,
        timeout_seconds=lane_timeout_seconds(lane),
    )
    report = _record(db, delivery, message.round, lane, result, correlation_id)
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
        lane=lane.value,
        moved_to_slow_lane=report.moved_to_slow_lane,
    )
    return report


def _owned_by_slow_lane(delivery: Delivery, lane: Lane) -> bool:
    """Whether a fast-lane message's round was moved to the slow lane already. A failed
    round is not: a message for it is a replayed dead letter, which starts afresh."""
    return (
        lane is Lane.FAST
        and delivery.lane is Lane.SLOW
        and delivery.status is not DeliveryStatus.FAILED
    )


def _stage_slow_lane(
    transaction: Any,
    db: firestore.Client,
    delivery: Delivery,
    correlation_id: str | None,
    already_staged: bool,
) -> None:
    """Stage the round's slow-lane message, unless an earlier move staged it."""
    if already_staged:
        return
    message = delivery_message(delivery, correlation_id=correlation_id, lane=Lane.SLOW)
    add_to_outbox(transaction, db, SLOW_DELIVERIES_TOPIC, message)


def _slow_message_ref(db: firestore.Client, delivery: Delivery, round_number: int) -> Any:
    # The outbox record of the round's slow-lane message (its id: see delivery_message).
    return db.collection(OUTBOX_COLLECTION).document(f"{delivery.id}-{round_number}-slow")


def _move_to_slow_lane(
    db: firestore.Client, delivery: Delivery, correlation_id: str | None
) -> bool:
    """Hand the round to the slow lane without an attempt; False when already handed
    (or the round ended meanwhile)."""

    def move(transaction: Any) -> bool:
        current = read_delivery(
            db, delivery.tenant_id, delivery.endpoint_id, delivery.id, transaction
        )
        if current is None or current.round != delivery.round:
            return False
        if current.status in (DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED):
            return False
        if _owned_by_slow_lane(current, Lane.FAST):
            return False
        already = _slow_message_ref(db, current, current.round).get(transaction=transaction).exists
        moved = replace(current, lane=Lane.SLOW, updated_at=datetime.now(UTC))
        transaction.set(
            delivery_ref(db, current.tenant_id, current.endpoint_id, current.id),
            delivery_to_document(moved),
        )
        _stage_slow_lane(transaction, db, moved, correlation_id, already)
        return True

    return transact(db, move, name="webhooks.move_to_slow_lane")


def _cancel(db: firestore.Client, delivery: Delivery, reason: str) -> None:
    def cancel(transaction: Any) -> None:
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

    transact(db, cancel, name="webhooks.cancel_delivery")


def _record(
    db: firestore.Client,
    sent: Delivery,
    round_number: int,
    lane: Lane,
    result: AttemptResult,
    correlation_id: str | None,
) -> DeliveryReport:
    """Write the attempt, the delivery's new status and lane, and the endpoint's
    failure count and cool-down; stage the slow-lane message when the round moves."""
    tenant_id, endpoint_id = sent.tenant_id, sent.endpoint_id
    ref = delivery_ref(db, tenant_id, endpoint_id, sent.id)

    def record(transaction: Any) -> DeliveryReport:
        # One batched read: the delivery, its endpoint, and the round's slow-lane message
        # in the outbox (when this timeout may move the round).
        endpoint_doc = endpoint_ref(db, tenant_id, endpoint_id)
        slow_ref = _slow_message_ref(db, sent, round_number)
        refs = [ref, endpoint_doc]
        if lane is Lane.FAST and result.kind is AttemptKind.TIMEOUT:
            refs.append(slow_ref)
        found = {s.reference.path: s for s in transaction.get_all(refs) if s.exists}
        if ref.path not in found:
            return DeliveryReport(sent.id, skipped="delivery_gone")
        current = delivery_from_document(sent.id, found[ref.path].to_dict() or {})
        endpoint = (
            endpoint_from_document(endpoint_id, found[endpoint_doc.path].to_dict() or {})
            if endpoint_doc.path in found
            else None
        )
        slow_staged = slow_ref.path in found
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
        moving = in_round and moves_to_slow_lane(lane, result.kind, status)
        new_lane = Lane.SLOW if moving else (lane if in_round and restarted else current.lane)
        updated = replace(
            current,
            status=status,
            attempt_count=recorded.number,
            round_attempts=round_attempts if in_round else current.round_attempts,
            last_attempt=recorded,
            updated_at=now,
            delivered_at=now if delivered_now else current.delivered_at,
            lane=new_lane,
        )
        transaction.create(
            attempt_ref(ref, recorded.number),
            {**attempt_to_document(recorded), "expires_at": now + RETENTION},
        )
        transaction.set(ref, delivery_to_document(updated))
        if moving:
            _stage_slow_lane(transaction, db, updated, correlation_id, slow_staged)
        disabled = False
        if endpoint is not None:
            # How the endpoint answered counts for its cool-down in any round.
            slow_until = slow_until_after(
                lane, result.kind, result.latency_ms, endpoint.slow_until, now
            )
            changes: dict[str, Any] = {}
            if cool_down_changed(endpoint.slow_until, slow_until, now):
                changes["slow_until"] = slow_until
            if in_round:
                disabled = _count_against(
                    transaction, db, endpoint, status, now, correlation_id, changes
                )
            elif changes:
                transaction.update(endpoint_ref(db, tenant_id, endpoint_id), changes)
        return DeliveryReport(
            sent.id, status, recorded, endpoint_disabled=disabled, moved_to_slow_lane=moving
        )

    return transact(db, record, name="webhooks.record_attempt")


def _count_against(
    transaction: Any,
    db: firestore.Client,
    endpoint: Endpoint,
    status: DeliveryStatus,
    now: datetime,
    correlation_id: str | None,
    changes: dict[str, Any],
) -> bool:
    """Update the endpoint's run of failed deliveries, with ``changes`` (its cool-down)
    in the same single write; True when this disables it."""
    ref = endpoint_ref(db, endpoint.tenant_id, endpoint.id)
    if status is DeliveryStatus.DELIVERED and endpoint.consecutive_failures:
        changes = {**changes, "consecutive_failures": 0}
    failures = endpoint.consecutive_failures + 1
    if not (status is DeliveryStatus.FAILED and endpoint.enabled and should_auto_disable(failures)):
        if status is DeliveryStatus.FAILED:
            changes = {**changes, "consecutive_failures": failures}
        if changes:
            transaction.update(ref, changes)
        return False
    disabled = replace(
        endpoint,
        consecutive_failures=failures,
        enabled=False,
        disabled_at=now,
        disabled_reason="consecutive_failures",
        updated_at=now,
        slow_until=changes.get("slow_until", endpoint.slow_until),
    )
    transaction.set(ref, endpoint_to_document(disabled))
    add_to_outbox(
        transaction,
        db,
        AUDIT_TOPIC,
        audit_event(
            "webhook_endpoint.disabled",
            tenant_id=endpoint.tenant_id,
            actor=AUTO_DISABLE_ACTOR.to_audit(),
            resource_type="webhook_endpoint",
            resource_id=endpoint.id,
            details={"reason": "consecutive_failures", "failed_deliveries": failures},
            source=EVENT_SOURCE,
            correlation_id=correlation_id,
        ),
    )
    _log.warning(
        "webhooks.endpoint_auto_disabled", endpoint_id=endpoint.id, failed_deliveries=failures
    )
    return True
