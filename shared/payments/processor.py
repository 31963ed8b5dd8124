"""The payments processor: drives a payment through the provider and the ledger.

:func:`process_payment_event` handles the four events the API side emits:

* ``payment.requested``: authorize with the provider, place the ledger hold,
  record ``authorized``; in ``automatic`` capture mode, capture right away.
  A decline records ``failed`` with the provider's code.
* ``payment.capture_requested``: capture with the provider (the pending amount),
  post the hold, record ``captured`` (and ``settled`` when the provider settled).
  A refused capture, or an authorization past its validity, voids the hold and
  records ``failed``.
* ``payment.cancel_requested``: void at the provider, void the hold, record
  ``cancelled``.
* ``payment.refund_requested``: refund with the provider, post the refund in the
  ledger, record the refund (a refused refund is recorded as a failed refund).

Every step is safe to repeat, so the handler is idempotent for redeliveries and
for a crash half-way: each event is checked against the payment's current state
(an event whose work is done is skipped), provider calls carry the payment or
refund id as idempotency key, ledger calls use fixed ids (see ``ledger_port.py``)
and ``record_*`` no-ops when the outcome is already recorded.

Failures:

* the provider unavailable or timing out (after the resilience layer's retries),
  or the circuit open: the exception propagates, so the delivery fails and
  Pub/Sub redelivers later; the payment waits in its state meanwhile and
  completes once the provider is back;
* a malformed event, an unknown type or a payment that does not exist:
  :class:`~shared.events.consumer.PermanentEventError` (recorded as a dead letter);
* anything else (Firestore, the ledger) propagates and is redelivered.

Do not call it inside a Firestore transaction or an events consumer's ``run_once``
effect: it talks to the provider and runs its own transactions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shared.errors import AppError, ConflictError
from shared.events.consumer import PermanentEventError
from shared.events.envelope import EventEnvelope
from shared.events.outbox import publish_committed
from shared.events.transact import Publisher
from shared.logger import get_logger
from shared.payments import domain, service
from shared.payments.domain import ActionType, Payment, PaymentStatus, RefundStatus
from shared.payments.ledger_port import LedgerPort, hold_entry_id, refund_entry_id
from shared.payments.provider import (
    AuthorizationRequest,
    CaptureRequest,
    PaymentProvider,
    ProviderDeclined,
    RefundRequest,
    VoidRequest,
)
from shared.payments.service import Transition

if TYPE_CHECKING:
    from google.cloud import firestore

PAYMENT_REQUESTED = "payment.requested"
CAPTURE_REQUESTED = "payment.capture_requested"
CANCEL_REQUESTED = "payment.cancel_requested"
REFUND_REQUESTED = "payment.refund_requested"
# What the process_payment consumer accepts (schema version 1); other payment-events
# types (authorized, captured...) are the processor's own output and are ignored.
PROCESSED_EVENT_TYPES: frozenset[str] = frozenset(
    {PAYMENT_REQUESTED, CAPTURE_REQUESTED, CANCEL_REQUESTED, REFUND_REQUESTED}
)

_log = get_logger("shared.payments.processor")


class _EventData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    payment_id: str = Field(min_length=1, max_length=200)
    action_id: str | None = None
    refund_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessingOutcome:
    """What one event did: ``result`` names the last step taken, or ``skipped``."""

    event_type: str
    payment_id: str
    result: str
    status: PaymentStatus
    detail: str = ""


@dataclass(frozen=True)
class _Run:
    envelope: EventEnvelope
    provider: PaymentProvider
    ledger: LedgerPort
    db: firestore.Client
    publisher: Publisher | None
    clock: Callable[[], datetime]

    @property
    def tenant_id(self) -> str:
        return self.envelope.tenant_id

    def outcome(self, payment: Payment, result: str, detail: str = "") -> ProcessingOutcome:
        return ProcessingOutcome(self.envelope.type, payment.id, result, payment.status, detail)

    def record(
        self, use_case: Callable[..., Transition], payment: Payment, **kwargs: Any
    ) -> Payment:
        return use_case(
            self.db,
            self.tenant_id,
            payment.id,
            correlation_id=self.envelope.correlation_id,
            publisher=self.publisher,
            **kwargs,
        ).payment


def process_payment_event(
    envelope: EventEnvelope,
    provider: PaymentProvider,
    ledger_port: LedgerPort,
    db: firestore.Client,
    *,
    publisher: Publisher | None = publish_committed,
    clock: Callable[[], datetime] | None = None,
) -> ProcessingOutcome:
    """Handle one payment event (see the module docstring); returns what it did.

    ``provider`` should be the instance's
    :class:`~shared.payments.provider.ResilientProvider` (see
    :func:`~shared.payments.sandbox.default_payment_provider`), so calls have a
    deadline, transient failures are retried and an outage opens the circuit.
    """
    if envelope.type not in PROCESSED_EVENT_TYPES:
        raise PermanentEventError(f"the payments processor does not handle {envelope.type}")
    try:
        data = _EventData.model_validate(envelope.data)
    except PydanticValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "data"
        raise PermanentEventError(
            f"data of {envelope.type} is invalid: {where}: {problem['msg']}"
        ) from None
    run = _Run(envelope, provider, ledger_port, db, publisher, clock or (lambda: datetime.now(UTC)))
    try:
        payment = service.get_payment(db, envelope.tenant_id, data.payment_id)
    except AppError as exc:
        if exc.status == 404:
            raise PermanentEventError(
                f"{envelope.type} names payment {data.payment_id}, which does not exist"
            ) from None
        raise
    try:
        if envelope.type == PAYMENT_REQUESTED:
            return _on_requested(run, payment)
        if envelope.type == CAPTURE_REQUESTED:
            return _on_capture_requested(run, payment, data.action_id)
        if envelope.type == CANCEL_REQUESTED:
            return _on_cancel_requested(run, payment, data.action_id)
        return _on_refund_requested(run, payment, data.refund_id)
    except ConflictError as exc:
        # The payment moved meanwhile (another delivery or use case won the race):
        # this event's outcome no longer applies.
        current = service.get_payment(db, envelope.tenant_id, data.payment_id)
        _log.warning(
            "payments.processor_superseded",
            payment_id=current.id,
            status=current.status.value,
            code=exc.code,
            detail=exc.detail,
        )
        return run.outcome(current, "superseded", exc.detail)


# -- per event ----------------------------------------------------------------------------


def _on_requested(run: _Run, payment: Payment) -> ProcessingOutcome:
    result = "skipped"
    if payment.status is PaymentStatus.REQUESTED:
        payment = _authorize(run, payment)
        result = "authorized" if payment.status is PaymentStatus.AUTHORIZED else "failed"
    if (
        payment.status is PaymentStatus.AUTHORIZED
        and payment.capture_mode is domain.CaptureMode.AUTOMATIC
        and payment.pending_action is None
    ):
        return _capture(run, payment)
    return run.outcome(payment, result)


def _on_capture_requested(run: _Run, payment: Payment, action_id: str | None) -> ProcessingOutcome:
    action = payment.pending_action
    if (
        payment.status is not PaymentStatus.AUTHORIZED
        or action is None
        or action.type is not ActionType.CAPTURE
        or action.id != action_id
    ):
        return run.outcome(payment, "skipped", "no matching capture is pending")
    return _capture(run, payment)


def _on_cancel_requested(run: _Run, payment: Payment, action_id: str | None) -> ProcessingOutcome:
    action = payment.pending_action
    if (
        payment.status is not PaymentStatus.AUTHORIZED
        or action is None
        or action.type is not ActionType.CANCEL
        or action.id != action_id
    ):
        return run.outcome(payment, "skipped", "no matching cancellation is pending")
    _void_at_provider(run, payment)
    run.ledger.void_hold(payment, hold_id=_hold_id(payment), reason=action.reason or "cancelled")
    payment = run.record(service.record_cancelled, payment)
    return run.outcome(payment, "cancelled")


def _on_refund_requested(run: _Run, payment: Payment, refund_id: str | None) -> ProcessingOutcome:
    refund = payment.refund(refund_id) if refund_id else None
    if refund is None:
        raise PermanentEventError(f"payment {payment.id} has no refund {refund_id!r}")
    if refund.status is not RefundStatus.PENDING:
        return run.outcome(payment, "skipped", f"refund {refund.id} is already {refund.status}")
    try:
        result = run.provider.refund(
            RefundRequest(
                payment_id=payment.id,
                refund_id=refund.id,
                tenant_id=payment.tenant_id,
                provider_reference=payment.provider_reference or "",
                amount=refund.amount,
                currency=payment.currency,
                method_token=payment.method_token,
            )
        )
    except ProviderDeclined as declined:
        payment = run.record(
            service.record_refund_failed,
            payment,
            refund_id=refund.id,
            code=declined.code,
            reason=declined.message,
        )
        return run.outcome(payment, "refund_failed", declined.code)
    entry_id = run.ledger.post_refund(
        payment, refund, entry_id=refund_entry_id(payment.id, refund.id)
    )
    payment = run.record(
        service.record_refunded,
        payment,
        refund_id=refund.id,
        provider_reference=result.provider_reference,
        ledger_entry_id=entry_id,
    )
    return run.outcome(payment, "refunded")


# -- steps --------------------------------------------------------------------------------


def _authorize(run: _Run, payment: Payment) -> Payment:
    """Authorize, hold in the ledger, record; a decline or a ledger refusal fails it."""
    try:
        authorization = run.provider.authorize(
            AuthorizationRequest(
                payment_id=payment.id,
                tenant_id=payment.tenant_id,
                amount=payment.amount,
                currency=payment.currency,
                method_token=payment.method_token,
            )
        )
    except ProviderDeclined as declined:
        return run.record(
            service.record_failed, payment, code=declined.code, reason=declined.message
        )
    # From the creation time, not now: a repeated delivery must compute the same expiry.
    expires_at = payment.created_at + domain.AUTHORIZATION_VALIDITY
    hold_id = hold_entry_id(payment.id)
    try:
        run.ledger.place_hold(
            payment, hold_id=hold_id, amount=authorization.amount, expires_at=expires_at
        )
    except AppError as exc:
        if not 400 <= exc.status < 500:
            raise
        # The ledger will never accept this hold: release the money the provider holds.
        _void_at_provider(run, payment, authorization.provider_reference)
        return run.record(
            service.record_failed,
            payment,
            code="ledger_rejected",
            reason=f"{exc.code}: {exc.detail}",
        )
    return run.record(
        service.record_authorized,
        payment,
        provider_reference=authorization.provider_reference,
        amount=authorization.amount,
        ledger_hold_id=hold_id,
        expires_at=expires_at,
    )


def _capture(run: _Run, payment: Payment) -> ProcessingOutcome:
    hold_id = _hold_id(payment)
    if domain.authorization_expired(payment, run.clock()):
        run.ledger.void_hold(payment, hold_id=hold_id, reason="authorization_expired")
        payment = run.record(
            service.record_failed,
            payment,
            code="authorization_expired",
            reason="the authorization expired before it was captured",
        )
        return run.outcome(payment, "failed", "authorization_expired")
    try:
        captured = run.provider.capture(
            CaptureRequest(
                payment_id=payment.id,
                tenant_id=payment.tenant_id,
                provider_reference=payment.provider_reference or "",
                amount=domain.capture_amount(payment),
                currency=payment.currency,
                method_token=payment.method_token,
            )
        )
    except ProviderDeclined as declined:
        run.ledger.void_hold(payment, hold_id=hold_id, reason=declined.code)
        payment = run.record(
            service.record_failed, payment, code=declined.code, reason=declined.message
        )
        return run.outcome(payment, "failed", declined.code)
    entry_id = run.ledger.capture_hold(payment, hold_id=hold_id, amount=captured.amount)
    payment = run.record(
        service.record_captured,
        payment,
        amount=captured.amount,
        ledger_entry_id=entry_id,
        capture_reference=captured.provider_reference,
        settled=captured.settled,
    )
    return run.outcome(payment, "settled" if captured.settled else "captured")


def _void_at_provider(run: _Run, payment: Payment, reference: str | None = None) -> None:
    """Release the authorization; a refusal means it is already gone there (expired)."""
    try:
        run.provider.void(
            VoidRequest(
                payment_id=payment.id,
                tenant_id=payment.tenant_id,
                provider_reference=reference or payment.provider_reference or "",
                method_token=payment.method_token,
            )
        )
    except ProviderDeclined as declined:
        _log.info("payments.void_declined", payment_id=payment.id, code=declined.code)


def _hold_id(payment: Payment) -> str:
    return payment.ledger_hold_id or hold_entry_id(payment.id)
