"""The payments use cases over Firestore: what the HTTP and background adapters call.

Every use case takes the Firestore client and the (already authenticated) tenant
first. API-side use cases (here) also take the ``actor``
(:class:`shared.identity.actor.Actor`); they return a :class:`Payment` (``to_json()``
for the API) or raise an :class:`~shared.errors.AppError`. The processor-side ``record_*`` use
cases are in :mod:`shared.payments.recording`, the Firestore I/O in
:mod:`shared.payments.store`.

Each state change reads the payment, checks the state machine
(:mod:`shared.payments.domain`), and commits the new version in one write-only transaction
with its events in the outbox: a ``payment.*`` event on ``payment-events`` (ordered
by payment) and an ``audit.recorded`` event on ``audit-events``. Events are
published after the commit; a failed publish is left to the outbox relay. The
commit carries a precondition on the version read (its update time) instead of a
transaction's read locks, so two concurrent changes of one payment serialize without
waiting on each other: the one that commits second fails at once and is decided
again on the new state (see ``store.change_payment``). A capture and a cancel requested at once
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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import BadPreconditionError, PreconditionFailedError, ValidationError
from shared.events.outbox import publish_committed
from shared.events.transact import Publisher, transact
from shared.identity.actor import Actor
from shared.pagination import DEFAULT_PAGE_SIZE, DOCUMENT_ID, MAX_PAGE_SIZE, Page, keyset_page
from shared.payments import domain
from shared.payments.domain import (
    ACTION_ID_PREFIX,
    PAYMENT_ID_PREFIX,
    REFUND_ID_PREFIX,
    Payment,
    PaymentStatus,
    Refund,
    new_id,
)
from shared.payments.recording import Transition as Transition
from shared.payments.recording import record_authorized as record_authorized
from shared.payments.recording import record_cancelled as record_cancelled
from shared.payments.recording import record_captured as record_captured
from shared.payments.recording import record_failed as record_failed
from shared.payments.recording import record_refund_failed as record_refund_failed
from shared.payments.recording import record_refunded as record_refunded
from shared.payments.recording import record_settled as record_settled
from shared.payments.repository import payment_from_document, payment_ref, payment_to_document
from shared.payments.requests import (
    PAYMENTS_CURSOR,
    CancelPaymentRequest,
    CapturePaymentRequest,
    CreatePaymentRequest,
    PaymentsPosition,
    RefundPaymentRequest,
)
from shared.payments.store import PAYMENTS_TOPIC as PAYMENTS_TOPIC
from shared.payments.store import (
    Changed,
    Decision,
    PaymentEvent,
    Unchanged,
    change_payment,
    payments_query,
    read_payment,
    stage_events,
)
from shared.payments.tax_link import check_tax_calculation

if TYPE_CHECKING:
    from google.cloud import firestore

_ENTITY_TAG = re.compile(r'(?:W/)?"v([1-9][0-9]{0,9})"')


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
        created_by=actor.to_audit(),
        now=_now(),
    )
    # Calculations never change once stored, so checking before the transaction is enough.
    check_tax_calculation(db, tenant_id, payment)
    ref = payment_ref(db, tenant_id, payment.id)

    def attempt(transaction: Any) -> Payment:
        existing = ref.get(transaction=transaction)
        if existing.exists:
            return payment_from_document(existing.to_dict() or {})
        transaction.create(ref, payment_to_document(payment))
        stage_events(
            transaction,
            db,
            payment,
            "payment.requested",
            actor=actor,
            action="payment.created",
            details={"amount": str(payment.amount), "currency": payment.currency},
            correlation_id=correlation_id,
        )
        return payment

    return transact(
        db,
        attempt,
        name="payments.create_payment",
        publisher=publisher,
        busy="the payment is busy with concurrent changes; retry",
    )


def get_payment(db: firestore.Client, tenant_id: str, payment_id: str) -> Payment:
    """The payment, or 404 ``payment_not_found`` (also for another tenant's payment)."""
    return read_payment(db, tenant_id, payment_id)


def list_payments(
    db: firestore.Client,
    tenant_id: str,
    *,
    status: PaymentStatus | None = None,
    payer_ref: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Payment]:
    """The tenant's payments, newest first, optionally filtered; ``created_to`` is exclusive.

    With a status or payer filter the query needs the composite indexes
    ``payments (status ASC, created_at DESC)`` and ``payments (payer_ref ASC,
    created_at DESC)`` (both filters together are served by merging them).
    """

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
    return keyset_page(
        payments_query(
            db,
            tenant_id,
            status=status,
            payer_ref=payer_ref,
            created_from=created_from,
            created_to=created_to,
        ),
        order=("created_at", DOCUMENT_ID),
        descending=True,
        position=PaymentsPosition,
        scope=PAYMENTS_CURSOR,
        cursor=cursor,
        limit=limit,
        bound={"filters": filters},
        to_item=lambda s: payment_from_document(s.to_dict() or {}),
        start_after=lambda p: (p.created_at, payment_ref(db, tenant_id, p.after)),
        position_of=lambda payment: PaymentsPosition(
            created_at=payment.created_at, after=payment.id, filters=filters
        ),
    )


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
    request = request or CapturePaymentRequest()
    action_id = _id_for(ACTION_ID_PREFIX, "capture", payment_id, idempotency_key)

    def decide(payment: Payment) -> Decision[Payment]:
        if payment.pending_action is not None and payment.pending_action.id == action_id:
            return Unchanged(payment)
        _check_version(payment, expected_version)
        amount = (
            domain.parse_positive_amount(request.amount, payment.currency, "amount")
            if request.amount is not None
            else None
        )
        updated = domain.request_capture(payment, amount, action_id=action_id, now=_now())
        wanted = {"action_id": action_id, "amount": str(domain.capture_amount(updated))}
        event = PaymentEvent("payment.capture_requested", wanted, wanted)
        return Changed(updated, updated, [event])

    return change_payment(
        db,
        "request_capture",
        tenant_id,
        payment_id,
        decide,
        actor=actor,
        correlation_id=correlation_id,
        publisher=publisher,
    )


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
    request = request or CancelPaymentRequest()
    action_id = _id_for(ACTION_ID_PREFIX, "cancel", payment_id, idempotency_key)

    def decide(payment: Payment) -> Decision[Payment]:
        if payment.pending_action is not None and payment.pending_action.id == action_id:
            return Unchanged(payment)
        _check_version(payment, expected_version)
        updated = domain.request_cancel(payment, request.reason, action_id=action_id, now=_now())
        event = PaymentEvent(
            "payment.cancel_requested",
            details={"action_id": action_id, "reason": request.reason},
            extra={"action_id": action_id},
        )
        return Changed(updated, updated, [event])

    return change_payment(
        db,
        "request_cancel",
        tenant_id,
        payment_id,
        decide,
        actor=actor,
        correlation_id=correlation_id,
        publisher=publisher,
    )


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
    request = request or RefundPaymentRequest()
    refund_id = _id_for(REFUND_ID_PREFIX, "refund", payment_id, idempotency_key)

    def decide(payment: Payment) -> Decision[RefundRequested]:
        mine = payment.refund(refund_id)
        if mine is not None:
            return Unchanged(RefundRequested(payment, mine))
        _check_version(payment, expected_version)
        amount = (
            domain.parse_positive_amount(request.amount, payment.currency, "amount")
            if request.amount is not None
            else None
        )
        updated, refund = domain.request_refund(
            payment, amount, request.reason, refund_id=refund_id, now=_now()
        )
        requested = {"refund_id": refund_id, "amount": str(refund.amount)}
        event = PaymentEvent("payment.refund_requested", requested, requested)
        return Changed(RefundRequested(updated, refund), updated, [event])

    return change_payment(
        db,
        "request_refund",
        tenant_id,
        payment_id,
        decide,
        actor=actor,
        correlation_id=correlation_id,
        publisher=publisher,
    )


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


def _now() -> datetime:
    return datetime.now(UTC)
