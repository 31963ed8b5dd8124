"""The payments' Firestore I/O: reads, and the commits of a change with its events.

A change of one payment is decided on a plain read and committed on a precondition
(its update time), with its events in the outbox, in rounds (:func:`change_payment`,
over :func:`shared.events.transact.settle`); a new payment is created in one
transaction (:func:`shared.events.transact.transact`). Events are published after the
commit; a failed publish is left to the outbox relay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from shared.errors import NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import Publisher, commit_in_transaction, read_retried, settle
from shared.identity.actor import Actor
from shared.ledger.aggregate_locks import AggregateLocks
from shared.payments.domain import Payment, PaymentStatus
from shared.payments.repository import (
    payment_from_document,
    payment_ref,
    payment_to_document,
    payments_collection,
)

if TYPE_CHECKING:
    from google.cloud import firestore

PAYMENTS_TOPIC = "payment-events"
EVENT_SOURCE = "tributum/payments"
RESOURCE_TYPE = "payment"
BUSY = "the payment kept changing while this request was decided; retry"
UNAVAILABLE = "the payments database is briefly unavailable; retry"

T = TypeVar("T")
_PAYMENT_LOCKS = AggregateLocks()


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One ``payment.*`` event a change emits; its audit event records the same action."""

    type: str
    details: Mapping[str, Any]
    extra: Mapping[str, Any] | None = None
    outcome: Literal["success", "failure"] = "success"


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    """A decided change: the payment's new version, its events, and the answer."""

    result: T
    payment: Payment
    events: Sequence[PaymentEvent]


@dataclass(frozen=True, slots=True)
class Unchanged(Generic[T]):
    """Nothing to commit (the change is already there, e.g. this request's own)."""

    result: T


Decision = Changed[T] | Unchanged[T]


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
    writer: Any,
    db: firestore.Client,
    payment: Payment,
    event_type: str,
    *,
    actor: Actor,
    action: str,
    details: Mapping[str, Any],
    correlation_id: str | None,
    extra: Mapping[str, Any] | None = None,
    outcome: Literal["success", "failure"] = "success",
) -> None:
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
    add_to_outbox(writer, db, PAYMENTS_TOPIC, event)
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
    add_to_outbox(writer, db, AUDIT_TOPIC, audit)


def change_payment(
    db: firestore.Client,
    name: str,
    tenant_id: str,
    payment_id: str,
    decide: Callable[[Payment], Decision[T]],
    *,
    actor: Actor,
    correlation_id: str | None,
    publisher: Publisher | None,
) -> T:
    """Change one payment: decide on a plain read, commit on a precondition, or decide again.

    ``decide(payment)`` checks the rules against the payment as read (no I/O) and
    answers :class:`Changed` (the new version and its events) or :class:`Unchanged`.
    A change commits in a short transaction that only writes: the new version, on
    the condition that the payment's update time is the one read, and its events in
    the outbox (each with an audit event by ``actor``). So no lock is held while
    deciding and a writer never waits for another. A writer that lost the race
    (``FailedPrecondition``) reads the payment again at once and decides anew on
    what the winner left (:func:`~shared.events.transact.settle`): its own earlier
    commit (an ambiguous failure retried) is found and returned, a rule that now
    refuses it answers as the rule does (409 ``payment_action_pending``, 422
    ``refund_exceeds_captured``, 412 with ``If-Match``), and a change that still
    applies (another partial refund) commits. Each lost round means another writer
    committed, so rounds are few.

    Writers of one payment on one instance take turns (``AggregateLocks``) and never
    race each other at all; the events are published once that turn is over.
    """
    ref = payment_ref(db, tenant_id, payment_id)

    def decide_and_commit() -> T:
        snapshot = _read(ref, name)
        if not snapshot.exists:
            raise payment_not_found(payment_id)
        decision = decide(payment_from_document(snapshot.to_dict() or {}))
        if isinstance(decision, Unchanged):
            return decision.result
        precondition = db.write_option(last_update_time=snapshot.update_time)
        updated = decision.payment

        def commit(transaction: Any) -> None:
            transaction.update(ref, payment_to_document(updated), option=precondition)
            for event in decision.events:
                stage_events(
                    transaction,
                    db,
                    updated,
                    event.type,
                    actor=actor,
                    action=event.type,
                    details=event.details,
                    correlation_id=correlation_id,
                    extra=event.extra,
                    outcome=event.outcome,
                )

        commit_in_transaction(db, commit, name=f"payments.{name}.commit", busy=UNAVAILABLE)
        return decision.result

    return settle(
        db,
        decide_and_commit,
        name=f"payments.{name}",
        busy=BUSY,
        hold=_PAYMENT_LOCKS.held((tenant_id, payment_id)),
        publisher=publisher,
    )


def _read(ref: Any, name: str) -> Any:
    """The payment's snapshot, read outside any transaction (a read takes no lock)."""
    return read_retried(ref.get, name=f"payments.{name}.read", busy=UNAVAILABLE)
