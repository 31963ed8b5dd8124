"""The payments use cases over Firestore: what the HTTP and background adapters call.

Every use case takes the Firestore client and the (already authenticated) tenant
first. API-side use cases also take the ``actor`` (``{"user_id": ..., "role": ...}``
or ``{"system": name}``); they return a :class:`Payment` (``to_json()`` for the API)
or raise an :class:`~shared.errors.AppError`.

Each state change reads the payment, checks the state machine
(:mod:`shared.payments.domain`), and commits the new version in one atomic batch
with its events in the outbox: a ``payment.*`` event on ``payment-events`` (ordered
by payment) and an ``audit.recorded`` event on ``audit-events``. Events are
published after the commit; a failed publish is left to the outbox relay. The
batch carries a precondition on the version read (its update time) instead of a
transaction's locks, so two concurrent changes of one payment serialize without
waiting on each other: the one that commits second fails at once and is decided
again on the new state (see ``_change``). A capture and a cancel requested at once
cannot both be accepted, concurrent refunds never exceed the capture, and the
processor's ``record_*`` calls cannot both move the same payment.

Ids are chosen before the first attempt (refund and action ids from the request's
``Idempotency-Key`` when there is one), and an attempt that finds its own earlier
commit (an ambiguous failure, or a client's retry after a lost answer) returns it
instead of applying it twice.
The processor-side ``record_*`` use cases are idempotent: recording an outcome
that is already recorded changes nothing and returns ``changed=False``.

``expected_version`` (from an ``If-Match`` header: GET answers ``ETag: "v3"``) makes
an API change conditional on the version the client read: a mismatch is 412
``payment_version_mismatch`` with the current ``ETag``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from shared.errors import (
    AppError,
    BadPreconditionError,
    NotFoundError,
    PreconditionFailedError,
    ServiceUnavailableError,
    ValidationError,
)
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import StagedEvent, add_to_outbox, publish_committed
from shared.http.pagination import MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from shared.ledger.aggregate_locks import AggregateLocks
from shared.logger import get_logger
from shared.payments import domain
from shared.payments.domain import (
    ACTION_ID_PREFIX,
    PAYMENT_ID_PREFIX,
    REFUND_ID_PREFIX,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    new_id,
)
from shared.payments.repository import (
    payment_from_document,
    payment_ref,
    payment_to_document,
    payments_collection,
)
from shared.payments.requests import (
    PAYMENTS_CURSOR,
    CancelPaymentRequest,
    CapturePaymentRequest,
    CreatePaymentRequest,
    PaymentsPosition,
    RefundPaymentRequest,
)
from shared.payments.tax_link import check_tax_calculation
from shared.resilience import RetryPolicy, is_firestore_contention, retry_call

if TYPE_CHECKING:
    from google.cloud import firestore

PAYMENTS_TOPIC = "payment-events"
EVENT_SOURCE = "tributum/payments"
RESOURCE_TYPE = "payment"
PROCESSOR_ACTOR: Mapping[str, str] = {"system": "payments.processor"}
# Creating a payment is one transaction (nothing contends on a new id): its attempts,
# then whole-use-case retries with jitter.
TRANSACTION_ATTEMPTS = 3
# Brief Firestore failures (unavailable, deadline, an emulator lock wait running out)
# are retried with jitter, for reads, commits and the creating transaction alike.
CONTENTION_RETRY = RetryPolicy(max_attempts=8, base_delay_seconds=0.05, max_delay_seconds=1.0)
# Read-decide-commit rounds of one change (see ``_change``); each lost round means
# another writer of the payment committed, so this bounds concurrent writers, not time.
CHANGE_ROUNDS = 16
_ENTITY_TAG = re.compile(r'(?:W/)?"v([1-9][0-9]{0,9})"')

Actor = Mapping[str, Any]
Publisher = Callable[["firestore.Client", Sequence[StagedEvent]], None]
T = TypeVar("T")
# ``write(updated)``: stage the payment's new version, on the precondition of its read.
_Write = Callable[[Payment], None]
_log = get_logger("shared.payments")
_PAYMENT_LOCKS = AggregateLocks()


@dataclass(frozen=True, slots=True)
class Transition:
    """What a processor-side ``record_*`` did: ``changed`` is False for a repeat."""

    payment: Payment
    changed: bool


@dataclass(frozen=True, slots=True)
class RefundRequested:
    payment: Payment
    refund: Refund

    def to_json(self) -> dict[str, Any]:
        return {
            "payment": self.payment.to_json(),
            "refund": self.refund.to_json(self.payment.currency),
        }


# -- API side -----------------------------------------------------------------------------


def create_payment(
    db: firestore.Client,
    tenant_id: str,
    request: CreatePaymentRequest,
    *,
    actor: Actor,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Payment:
    """Create a payment in ``requested`` and emit ``payment.requested`` for the processor."""
    actor = _checked_actor(actor)
    payment = domain.new_payment(
        payment_id=new_id(PAYMENT_ID_PREFIX),
        tenant_id=tenant_id,
        amount=request.amount,
        currency=request.currency,
        payer_ref=request.payer_ref,
        payee_ref=request.payee_ref,
        method_token=request.method_token,
        description=request.description,
        tax_calculation_id=request.tax_calculation_id,
        capture_mode=request.capture_mode,
        created_by=actor,
        now=_now(),
    )
    # Calculations never change once stored, so checking before the transaction is enough.
    check_tax_calculation(db, tenant_id, payment)
    ref = payment_ref(db, tenant_id, payment.id)

    def attempt(transaction: Any) -> tuple[Payment, list[StagedEvent]]:
        existing = ref.get(transaction=transaction)
        if existing.exists:
            return payment_from_document(existing.to_dict() or {}), []
        transaction.create(ref, payment_to_document(payment))
        staged = _stage(
            transaction,
            db,
            payment,
            "payment.requested",
            actor=actor,
            action="payment.created",
            details={"amount": str(payment.amount), "currency": payment.currency},
            correlation_id=correlation_id,
        )
        return payment, staged

    return _run(db, "create_payment", attempt, publisher)


def get_payment(db: firestore.Client, tenant_id: str, payment_id: str) -> Payment:
    """The payment, or 404 ``payment_not_found`` (also for another tenant's payment)."""
    snapshot = payment_ref(db, tenant_id, payment_id).get()
    if not snapshot.exists:
        raise _not_found(payment_id)
    return payment_from_document(snapshot.to_dict() or {})


def list_payments(
    db: firestore.Client,
    tenant_id: str,
    *,
    status: PaymentStatus | None = None,
    payer_ref: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The tenant's payments, newest first, optionally filtered; ``created_to`` is exclusive.

    With a status or payer filter the query needs the composite indexes
    ``payments (status ASC, created_at DESC)`` and ``payments (payer_ref ASC,
    created_at DESC)`` (both filters together are served by merging them).
    """
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath
    from google.cloud.firestore_v1.query import Query

    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError.for_field(
            "query.limit", f"must be between 1 and {MAX_PAGE_SIZE}", "out_of_range"
        )
    for name, moment in (("created_from", created_from), ("created_to", created_to)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationError.for_field(
                f"query.{name}", "must carry a timezone (e.g. 2030-01-01T00:00:00Z)", "naive_time"
            )
    if created_from and created_to and created_from >= created_to:
        raise ValidationError.for_field(
            "query.created_to", "must be after created_from", "invalid_time_range"
        )
    filters = {
        "status": status.value if status else None,
        "payer_ref": payer_ref,
        "created_from": created_from.isoformat() if created_from else None,
        "created_to": created_to.isoformat() if created_to else None,
    }
    query = payments_collection(db, tenant_id)
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status.value))
    if payer_ref is not None:
        query = query.where(filter=FieldFilter("payer_ref", "==", payer_ref))
    if created_from is not None:
        query = query.where(filter=FieldFilter("created_at", ">=", created_from))
    if created_to is not None:
        query = query.where(filter=FieldFilter("created_at", "<", created_to))
    query = query.order_by("created_at", direction=Query.DESCENDING).order_by(
        FieldPath.document_id(), direction=Query.DESCENDING
    )
    if cursor:
        position = decode_cursor(cursor, PaymentsPosition, scope=PAYMENTS_CURSOR)
        if position.filters != filters:
            raise ValidationError.for_field(
                "query.cursor", "belongs to a list with other filters", "cursor_mismatch"
            )
        query = query.start_after(
            {
                "created_at": position.created_at,
                FieldPath.document_id(): payment_ref(db, tenant_id, position.after),
            }
        )
    snapshots = list(query.limit(limit + 1).stream())
    payments = [payment_from_document(s.to_dict() or {}) for s in snapshots[:limit]]
    next_cursor = None
    if len(snapshots) > limit:
        last = payments[-1]
        next_cursor = encode_cursor(
            PaymentsPosition(created_at=last.created_at, after=last.id, filters=filters),
            scope=PAYMENTS_CURSOR,
        )
    return Page(payments, next_cursor)


def request_capture(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    request: CapturePaymentRequest | None = None,
    *,
    actor: Actor,
    expected_version: int | None = None,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
    idempotency_key: str | None = None,
) -> Payment:
    """Accept a capture of an authorized payment (all of it, or ``request.amount``)."""
    actor = _checked_actor(actor)
    request = request or CapturePaymentRequest()
    action_id = _id_for(ACTION_ID_PREFIX, "capture", payment_id, idempotency_key)

    def decide(writer: Any, payment: Payment, write: _Write) -> tuple[Payment, list[StagedEvent]]:
        if payment.pending_action is not None and payment.pending_action.id == action_id:
            return payment, []
        _check_version(payment, expected_version)
        amount = (
            domain.parse_positive_amount(request.amount, payment.currency, "amount")
            if request.amount is not None
            else None
        )
        updated = domain.request_capture(payment, amount, action_id=action_id, now=_now())
        write(updated)
        wanted = domain.capture_amount(updated)
        staged = _stage(
            writer,
            db,
            updated,
            "payment.capture_requested",
            actor=actor,
            action="payment.capture_requested",
            details={"action_id": action_id, "amount": str(wanted)},
            correlation_id=correlation_id,
            extra={"action_id": action_id, "amount": str(wanted)},
        )
        return updated, staged

    return _change(db, "request_capture", tenant_id, payment_id, decide, publisher)


def request_cancel(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    request: CancelPaymentRequest | None = None,
    *,
    actor: Actor,
    expected_version: int | None = None,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
    idempotency_key: str | None = None,
) -> Payment:
    """Accept the cancellation of an authorized payment (its authorization is released)."""
    actor = _checked_actor(actor)
    request = request or CancelPaymentRequest()
    action_id = _id_for(ACTION_ID_PREFIX, "cancel", payment_id, idempotency_key)

    def decide(writer: Any, payment: Payment, write: _Write) -> tuple[Payment, list[StagedEvent]]:
        if payment.pending_action is not None and payment.pending_action.id == action_id:
            return payment, []
        _check_version(payment, expected_version)
        updated = domain.request_cancel(payment, request.reason, action_id=action_id, now=_now())
        write(updated)
        staged = _stage(
            writer,
            db,
            updated,
            "payment.cancel_requested",
            actor=actor,
            action="payment.cancel_requested",
            details={"action_id": action_id, "reason": request.reason},
            correlation_id=correlation_id,
            extra={"action_id": action_id},
        )
        return updated, staged

    return _change(db, "request_cancel", tenant_id, payment_id, decide, publisher)


def request_refund(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    request: RefundPaymentRequest | None = None,
    *,
    actor: Actor,
    expected_version: int | None = None,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
    idempotency_key: str | None = None,
) -> RefundRequested:
    """Accept a refund (all that is still refundable, or ``request.amount``).

    More than captured minus refunded (and minus refunds in progress) is 422
    ``refund_exceeds_captured``, and nothing is written. Concurrent refunds are
    decided one after the other on the payment as the previous one left it, so
    together they never exceed what was captured.
    """
    actor = _checked_actor(actor)
    request = request or RefundPaymentRequest()
    refund_id = _id_for(REFUND_ID_PREFIX, "refund", payment_id, idempotency_key)

    def decide(
        writer: Any, payment: Payment, write: _Write
    ) -> tuple[RefundRequested, list[StagedEvent]]:
        mine = payment.refund(refund_id)
        if mine is not None:
            return RefundRequested(payment, mine), []
        _check_version(payment, expected_version)
        amount = (
            domain.parse_positive_amount(request.amount, payment.currency, "amount")
            if request.amount is not None
            else None
        )
        updated, refund = domain.request_refund(
            payment, amount, request.reason, refund_id=refund_id, now=_now()
        )
        write(updated)
        staged = _stage(
            writer,
            db,
            updated,
            "payment.refund_requested",
            actor=actor,
            action="payment.refund_requested",
            details={"refund_id": refund_id, "amount": str(refund.amount)},
            correlation_id=correlation_id,
            extra={"refund_id": refund_id, "amount": str(refund.amount)},
        )
        return RefundRequested(updated, refund), staged

    return _change(db, "request_refund", tenant_id, payment_id, decide, publisher)


# -- processor side -----------------------------------------------------------------------


def record_authorized(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    provider_reference: str,
    amount: Decimal,
    ledger_hold_id: str,
    expires_at: datetime,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``requested -> authorized`` with the provider's reference and the ledger hold."""

    def apply(payment: Payment) -> Payment | None:
        if payment.status is not PaymentStatus.REQUESTED and (
            payment.ledger_hold_id == ledger_hold_id
        ):
            return None
        return domain.authorize(
            payment,
            provider_reference=provider_reference,
            amount=amount,
            ledger_hold_id=ledger_hold_id,
            expires_at=expires_at,
            now=_now(),
        )

    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=[("payment.authorized", {"provider_reference": provider_reference})],
        correlation_id=correlation_id,
        publisher=publisher,
    )


def record_captured(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    amount: Decimal,
    ledger_entry_id: str,
    capture_reference: str,
    settled: bool,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``authorized -> captured`` (and ``-> settled`` in the same commit when ``settled``)."""

    def apply(payment: Payment) -> Payment | None:
        if payment.ledger_capture_entry_id == ledger_entry_id:
            return None
        now = _now()
        updated = domain.capture(payment, amount=amount, ledger_entry_id=ledger_entry_id, now=now)
        return domain.settle(updated, now=now) if settled else updated

    events: list[tuple[str, dict[str, Any]]] = [
        ("payment.captured", {"capture_reference": capture_reference, "amount": str(amount)})
    ]
    if settled:
        events.append(("payment.settled", {}))
    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=events,
        correlation_id=correlation_id,
        publisher=publisher,
    )


def record_settled(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``captured -> settled``, for providers that settle after the capture."""

    def apply(payment: Payment) -> Payment | None:
        if payment.settled_at is not None:
            return None
        return domain.settle(payment, now=_now())

    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=[("payment.settled", {})],
        correlation_id=correlation_id,
        publisher=publisher,
    )


def record_failed(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    code: str,
    reason: str,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``requested|authorized -> failed`` (declined, hold expired, capture refused...)."""

    def apply(payment: Payment) -> Payment | None:
        if payment.status is PaymentStatus.FAILED:
            return None
        return domain.fail(payment, code=code, reason=reason, now=_now())

    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=[("payment.failed", {"failure_code": code})],
        correlation_id=correlation_id,
        publisher=publisher,
        outcome="failure",
    )


def record_cancelled(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """``authorized -> cancelled``: the authorization and the ledger hold are released."""

    def apply(payment: Payment) -> Payment | None:
        if payment.status is PaymentStatus.CANCELLED:
            return None
        return domain.cancel(payment, now=_now())

    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=[("payment.cancelled", {})],
        correlation_id=correlation_id,
        publisher=publisher,
    )


def record_refunded(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    refund_id: str,
    provider_reference: str,
    ledger_entry_id: str,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """A pending refund succeeded: ``-> partially_refunded`` or ``-> refunded``."""

    def apply(payment: Payment) -> Payment | None:
        refund = payment.refund(refund_id)
        if refund is not None and refund.status is RefundStatus.SUCCEEDED:
            return None
        return domain.complete_refund(
            payment,
            refund_id,
            provider_reference=provider_reference,
            ledger_entry_id=ledger_entry_id,
            now=_now(),
        )

    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=[("payment.refunded", {"refund_id": refund_id})],
        correlation_id=correlation_id,
        publisher=publisher,
    )


def record_refund_failed(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    *,
    refund_id: str,
    code: str,
    reason: str,
    correlation_id: str | None = None,
    publisher: Publisher | None = publish_committed,
) -> Transition:
    """The provider refused a refund: the refund fails, the payment keeps its state."""

    def apply(payment: Payment) -> Payment | None:
        refund = payment.refund(refund_id)
        if refund is not None and refund.status is RefundStatus.FAILED:
            return None
        return domain.fail_refund(payment, refund_id, code=code, reason=reason, now=_now())

    return _record(
        db,
        tenant_id,
        payment_id,
        apply,
        events=[("payment.refund_failed", {"refund_id": refund_id, "failure_code": code})],
        correlation_id=correlation_id,
        publisher=publisher,
        outcome="failure",
    )


# -- internals ----------------------------------------------------------------------------


def _record(
    db: firestore.Client,
    tenant_id: str,
    payment_id: str,
    apply: Callable[[Payment], Payment | None],
    *,
    events: Sequence[tuple[str, dict[str, Any]]],
    correlation_id: str | None,
    publisher: Publisher | None,
    outcome: Literal["success", "failure"] = "success",
) -> Transition:
    """One processor-side transition: ``apply`` returns None when it is already recorded."""

    def decide(
        writer: Any, payment: Payment, write: _Write
    ) -> tuple[Transition, list[StagedEvent]]:
        updated = apply(payment)
        if updated is None:
            return Transition(payment, changed=False), []
        write(updated)
        staged: list[StagedEvent] = []
        for event_type, extra in events:
            staged.extend(
                _stage(
                    writer,
                    db,
                    updated,
                    event_type,
                    actor=PROCESSOR_ACTOR,
                    action=event_type,
                    details={"from_status": payment.status.value, **extra},
                    correlation_id=correlation_id,
                    extra=extra,
                    outcome=outcome,
                )
            )
        return Transition(updated, changed=True), staged

    return _change(db, events[0][0], tenant_id, payment_id, decide, publisher)


def _stage(
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
        actor=dict(actor),
        resource_type=RESOURCE_TYPE,
        resource_id=payment.id,
        outcome=outcome,
        details={"status": payment.status.value, "version": payment.version, **details},
        source=EVENT_SOURCE,
        correlation_id=event.correlation_id,
    )
    staged.append(add_to_outbox(transaction, db, AUDIT_TOPIC, audit))
    return staged


def _change(
    db: firestore.Client,
    name: str,
    tenant_id: str,
    payment_id: str,
    decide: Callable[[Any, Payment, _Write], tuple[T, list[StagedEvent]]],
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
            snapshot = _transient_retry(ref.get, f"payments.{name}.read")
            if not snapshot.exists:
                raise _not_found(payment_id)
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
                _transient_retry(batch.commit, f"payments.{name}.commit")
            except FailedPrecondition:
                _log.info("payments.changed_meanwhile", payment_id=payment_id, use_case=name)
                continue
            break
        else:
            raise ServiceUnavailableError(
                "the payment kept changing while this request was decided; retry",
                code="payment_contention",
                headers={"Retry-After": "1"},
            )
    # Published once the payment's lock is let go: the next writer need not wait for it.
    _publish(db, staged, publisher)
    return result


def _transient_retry(call: Callable[[], T], name: str) -> T:
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
        raise ServiceUnavailableError(
            "the payments database is briefly unavailable; retry",
            code="payment_contention",
            headers={"Retry-After": "1"},
        ) from exc


def _run(
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
        raise ServiceUnavailableError(
            "the payment is busy with concurrent changes; retry",
            code="payment_contention",
            headers={"Retry-After": "1"},
        ) from exc
    _publish(db, staged, publisher)
    return result


def _publish(
    db: firestore.Client, staged: Sequence[StagedEvent], publisher: Publisher | None
) -> None:
    if not staged or publisher is None:
        return
    try:
        publisher(db, staged)
    except Exception as exc:
        # Committed is committed: the outbox records stay pending for the relay.
        _log.warning("payments.publish_deferred", events=len(staged), error=type(exc).__name__)


def _check_version(payment: Payment, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != payment.version:
        raise PreconditionFailedError(
            f"the payment is at version {payment.version}, not {expected_version}",
            code="payment_version_mismatch",
            extra={"current_version": payment.version},
            headers={"ETag": entity_tag(payment.version)},
        )


def entity_tag(version: int) -> str:
    """The strong ETag of a payment version, as GET answers it and If-Match takes it."""
    return f'"v{version}"'


def version_from_if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header asks for; None without one ("*" included)."""
    if header is None or header.strip() == "*":
        return None
    match = _ENTITY_TAG.fullmatch(header.strip())
    if match is None:
        raise BadPreconditionError(
            'If-Match must be one entity tag as GET returned it, e.g. "v3"',
            code="bad_if_match",
        )
    return int(match.group(1))


def _id_for(prefix: str, kind: str, payment_id: str, idempotency_key: str | None) -> str:
    """A refund or action id: from the Idempotency-Key when there is one, else random.

    From the key, a client's retry after a lost answer (the change committed, the
    response did not arrive, the key's record was released by a 5xx) reaches the same
    id and gets its change back instead of making a second one. The payment id and the
    kind of change are part of it, so one key never names two changes.
    """
    if idempotency_key is None:
        return new_id(prefix)
    digest = hashlib.sha256(f"{kind}\x00{payment_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"{prefix}_{digest[:32]}"


def _not_found(payment_id: str) -> NotFoundError:
    return NotFoundError(f"no payment {payment_id!r}", code="payment_not_found")


def _checked_actor(actor: Actor) -> dict[str, Any]:
    """The adapters pass who acts; a missing actor is a programming error, not a 4xx."""
    if not isinstance(actor, Mapping) or not (
        isinstance(actor.get("user_id"), str) or isinstance(actor.get("system"), str)
    ):
        raise TypeError('actor must be {"user_id": ..., "role": ...} or {"system": name}')
    return dict(actor)


def _now() -> datetime:
    return datetime.now(UTC)
