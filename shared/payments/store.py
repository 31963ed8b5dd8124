"""The payments' Firestore I/O: reads, and the commits of a change with its events.

A change of one payment is decided on a plain read and committed in one batch on a
precondition (its update time), with its events in the outbox (:func:`change_payment`);
a new payment is created in a transaction (:func:`run_transaction`). Events are
published after the commit; a failed publish is left to the outbox relay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from shared.errors import AppError, ContentionError, NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import StagedEvent, add_to_outbox
from shared.identity.actor import Actor
from shared.ledger.aggregate_locks import AggregateLocks
from shared.logger import get_logger
from shared.payments.domain import Payment, PaymentStatus
from shared.payments.repository import (
    payment_from_document,
    payment_ref,
    payment_to_document,
    payments_collection,
)
from shared.resilience import RetryPolicy, is_firestore_contention, retry_call

if TYPE_CHECKING:
    from google.cloud import firestore

PAYMENTS_TOPIC = "payment-events"
EVENT_SOURCE = "tributum/payments"
RESOURCE_TYPE = "payment"
# Creating a payment is one transaction (nothing contends on a new id): its attempts,
# then whole-use-case retries with jitter.
TRANSACTION_ATTEMPTS = 3
# Brief Firestore failures (unavailable, deadline, an emulator lock wait running out)
# are retried with jitter, for reads, commits and the creating transaction alike.
CONTENTION_RETRY = RetryPolicy(max_attempts=8, base_delay_seconds=0.05, max_delay_seconds=1.0)
# Read-decide-commit rounds of one change (see ``change_payment``); each lost round means
# another writer of the payment committed, so this bounds concurrent writers, not time.
CHANGE_ROUNDS = 16

Publisher = Callable[["firestore.Client", Sequence[StagedEvent]], None]
T = TypeVar("T")
# ``write(updated)``: stage the payment's new version, on the precondition of its read.
Write = Callable[[Payment], None]
_log = get_logger("shared.payments")
_PAYMENT_LOCKS = AggregateLocks()


def payment_not_found(payment_id: str) -> NotFoundError:
    return NotFoundError(f"no payment {payment_id!r}", code="payment_not_found")


def read_payment(db: firestore.Client, tenant_id: str, payment_id: str) -> Payment:
    """The payment, or 404 ``payment_not_found`` (also for another tenant's payment)."""
    snapshot = payment_ref(db, tenant_id, payment_id).get()
    if not snapshot.exists:
        raise payment_not_found(payment_id)
    return payment_from_document(snapshot.to_dict() or {})


def payments_query(
    db: firestore.Client,
    tenant_id: str,
    *,
    status: PaymentStatus | None,
    payer_ref: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> Any:
    """The tenant's payments matching the filters, not yet ordered.

    Newest first (``created_at`` then id, both descending), with a status or payer
    filter the query needs the composite indexes ``payments (status ASC, created_at
    DESC)`` and ``payments (payer_ref ASC, created_at DESC)`` (both filters together
    are served by merging them).
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = payments_collection(db, tenant_id)
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status.value))
    if payer_ref is not None:
        query = query.where(filter=FieldFilter("payer_ref", "==", payer_ref))
    if created_from is not None:
        query = query.where(filter=FieldFilter("created_at", ">=", created_from))
    if created_to is not None:
        query = query.where(filter=FieldFilter("created_at", "<", created_to))
    return query


def stage_events(
    transaction: Any,
    db: firestore.Client,
    payment: Payment,
    event_type: str,
    *,
    actor: Actor,
    action: str,
    details: dict[str, Any],
    correlation_id: str | None,
    extra: Mapping[str, Any] | None = None,
    outcome: Literal["success", "failure"] = "success",
) -> list[StagedEvent]:
    """Stage a payment event and its audit event in the caller's transaction.

    Event data never carries the method token: events travel to every consumer of
    the topic and to dead letters; the processor reads the token from the payment.
    """
    event = new_event(
        event_type,
        source=EVENT_SOURCE,
        subject=f"payments/{payment.id}",
        tenant_id=payment.tenant_id,
        correlation_id=correlation_id,
        data={
            "payment_id": payment.id,
            **(extra or {}),
            "payment": payment.to_json(include_method_token=False),
        },
    )
    staged = [add_to_outbox(transaction, db, PAYMENTS_TOPIC, event)]
    audit = audit_event(
        action,
        tenant_id=payment.tenant_id,
        actor=actor.to_audit(),
        resource_type=RESOURCE_TYPE,
        resource_id=payment.id,
        outcome=outcome,
        details={"status": payment.status.value, "version": payment.version, **details},
        source=EVENT_SOURCE,
        correlation_id=event.correlation_id,
    )
    staged.append(add_to_outbox(transaction, db, AUDIT_TOPIC, audit))
    return staged


def change_payment(
    db: firestore.Client,
    name: str,
    tenant_id: str,
    payment_id: str,
    decide: Callable[[Any, Payment, Write], tuple[T, list[StagedEvent]]],
    publisher: Publisher | None,
) -> T:
    """Change one payment: decide on a plain read, commit on a precondition, or decide again.

    ``decide(batch, payment, write)`` checks the rules against the payment as read and,
    to change it, calls ``write(updated)`` and stages its events in ``batch``; it
    returns the outcome and the staged events (none: nothing to commit). The batch
    commits atomically on the condition that the payment's update time is the one
    read, so no lock is held while deciding and a writer never waits for another.
    A writer that lost the race (``FailedPrecondition``) reads the payment again at
    once and decides anew on what the winner left: its own earlier commit (an
    ambiguous failure) is found and returned, a rule that now refuses it answers as
    the rule does (409 ``payment_action_pending``, 422 ``refund_exceeds_captured``,
    412 with ``If-Match``), and a change that still applies (another partial refund)
    commits. Each lost round means another writer committed, so rounds are few.

    Writers of one payment on one instance take turns (``AggregateLocks``) and never
    race each other at all.
    """
    from google.api_core.exceptions import FailedPrecondition

    ref = payment_ref(db, tenant_id, payment_id)
    with _PAYMENT_LOCKS.held((tenant_id, payment_id)):
        for _ in range(CHANGE_ROUNDS):
            snapshot = transient_retry(ref.get, f"payments.{name}.read")
            if not snapshot.exists:
                raise payment_not_found(payment_id)
            payment = payment_from_document(snapshot.to_dict() or {})
            batch = db.batch()
            precondition = db.write_option(last_update_time=snapshot.update_time)

            def write(
                updated: Payment, batch: Any = batch, precondition: Any = precondition
            ) -> None:
                batch.update(ref, payment_to_document(updated), option=precondition)

            result, staged = decide(batch, payment, write)
            if not staged:
                return result
            try:
                transient_retry(batch.commit, f"payments.{name}.commit")
            except FailedPrecondition:
                _log.info("payments.changed_meanwhile", payment_id=payment_id, use_case=name)
                continue
            break
        else:
            raise ContentionError("the payment kept changing while this request was decided; retry")
    # Published once the payment's lock is let go: the next writer need not wait for it.
    publish(db, staged, publisher)
    return result


def transient_retry(call: Callable[[], T], name: str) -> T:
    """``call`` retried on a brief Firestore failure; a 503 once the attempts are spent.

    Retrying a commit whose first attempt did commit is safe: the retry fails its
    precondition and the change is decided again, finding its own commit.
    """
    try:
        return retry_call(
            call, policy=CONTENTION_RETRY, is_retryable=is_firestore_contention, name=name
        )
    except Exception as exc:
        if isinstance(exc, AppError) or not is_firestore_contention(exc):
            raise
        raise ContentionError("the payments database is briefly unavailable; retry") from exc


def run_transaction(
    db: firestore.Client,
    name: str,
    attempt: Callable[[Any], tuple[T, list[StagedEvent]]],
    publisher: Publisher | None,
) -> T:
    """Run one transaction (retried as a whole on contention), then publish its events."""
    from google.cloud import firestore as fs

    wrapped = fs.transactional(attempt)

    def once() -> tuple[T, list[StagedEvent]]:
        outcome: tuple[T, list[StagedEvent]] = wrapped(
            db.transaction(max_attempts=TRANSACTION_ATTEMPTS)
        )
        return outcome

    try:
        result, staged = retry_call(
            once,
            policy=CONTENTION_RETRY,
            is_retryable=is_firestore_contention,
            name=f"payments.{name}",
        )
    except Exception as exc:
        if isinstance(exc, AppError) or not is_firestore_contention(exc):
            raise
        raise ContentionError("the payment is busy with concurrent changes; retry") from exc
    publish(db, staged, publisher)
    return result


def publish(
    db: firestore.Client, staged: Sequence[StagedEvent], publisher: Publisher | None
) -> None:
    if not staged or publisher is None:
        return
    try:
        publisher(db, staged)
    except Exception as exc:
        # Committed is committed: the outbox records stay pending for the relay.
        _log.warning("payments.publish_deferred", events=len(staged), error=type(exc).__name__)
