"""Payments: the pure rules. No I/O; every function returns a new value or raises.

The lifecycle (every transition is checked against :data:`TRANSITIONS`)::

    requested --> authorized --> captured --> settled
        |             |  \\           \\          |
        v             v   v           v         v
      failed       failed cancelled   partially_refunded --> refunded
                (hold expired,        (captured/settled --> refunded for a
                 capture declined)     refund of everything at once)

``failed``, ``cancelled`` and ``refunded`` are final. An invalid transition is a
409 ``invalid_payment_transition`` naming both states.

Requests from the API do not move the state themselves: capture and cancel set a
*pending action* (one at a time, so a capture and a cancel cannot both be
accepted), a refund adds a *pending refund*; the processor then talks to the
provider and the ledger and records the outcome (``authorize``, ``capture``,
``cancel``, ``fail``, ``complete_refund``...).

Amounts are ``Decimal`` in the payment's currency (see :mod:`shared.money`). A
capture may take less than the authorized amount (the rest is released) but never
more; refunds, full or partial, never exceed what was captured minus what is
already refunded or being refunded.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.errors import BusinessRuleError, ConflictError, ValidationError
from shared.money import MoneyError, format_amount, normalize_currency, parse_amount, quantum

PAYMENT_ID_PREFIX = "pay"
REFUND_ID_PREFIX = "rfd"
ACTION_ID_PREFIX = "act"
# How long an authorization (and its ledger hold) stays capturable.
AUTHORIZATION_VALIDITY = timedelta(days=7)
# A payment document holds its refunds; this keeps it far below Firestore's 1 MiB.
MAX_REFUNDS = 50
MAX_REASON_LENGTH = 500


class PaymentStatus(StrEnum):
    REQUESTED = "requested"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    SETTLED = "settled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CaptureMode(StrEnum):
    AUTOMATIC = "automatic"  # captured right after the authorization
    MANUAL = "manual"  # authorized; captured or cancelled later through the API


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ActionType(StrEnum):
    CAPTURE = "capture"
    CANCEL = "cancel"


S = PaymentStatus
TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    S.REQUESTED: frozenset({S.AUTHORIZED, S.FAILED}),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.CANCELLED, S.FAILED}),
    S.CAPTURED: frozenset({S.SETTLED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.SETTLED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    # Another partial refund keeps the state: a transition to itself, allowed here only.
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
FINAL_STATUSES = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
# States in which money was captured (and so may be refunded).
CAPTURED_STATUSES = frozenset({S.CAPTURED, S.SETTLED, S.PARTIALLY_REFUNDED, S.REFUNDED})


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: PaymentStatus, target: PaymentStatus) -> None:
    """Raise 409 ``invalid_payment_transition`` unless ``current -> target`` is allowed."""
    if not can_transition(current, target):
        raise ConflictError(
            f"a payment cannot go from {current.value} to {target.value}",
            code="invalid_payment_transition",
            extra={"from_status": current.value, "to_status": target.value},
        )


def new_id(prefix: str) -> str:
    """``prefix_<32 hex>``: safe as a Firestore document id and as a ledger entry id."""
    return f"{prefix}_{uuid.uuid4().hex}"


# -- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: Decimal
    status: RefundStatus
    reason: str
    requested_at: datetime
    completed_at: datetime | None = None
    provider_reference: str | None = None
    ledger_entry_id: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None

    def to_json(self, currency: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": format_amount(self.amount, currency),
            "status": self.status.value,
            "reason": self.reason,
            "requested_at": _iso(self.requested_at),
            "completed_at": _iso(self.completed_at),
            "provider_reference": self.provider_reference,
            "ledger_entry_id": self.ledger_entry_id,
            "failure_code": self.failure_code,
            "failure_reason": self.failure_reason,
        }


@dataclass(frozen=True, slots=True)
class PendingAction:
    """A capture or cancel accepted by the API and not yet done by the processor."""

    id: str
    type: ActionType
    requested_at: datetime
    amount: Decimal | None = None  # capture only; None: the whole authorized amount
    reason: str = ""

    def to_json(self, currency: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type.value,
            "amount": format_amount(self.amount, currency) if self.amount is not None else None,
            "reason": self.reason,
            "requested_at": _iso(self.requested_at),
        }


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    tenant_id: str
    amount: Decimal
    currency: str
    payer_ref: str
    payee_ref: str
    method_token: str
    description: str
    tax_calculation_id: str | None
    capture_mode: CaptureMode
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    created_by: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    provider_reference: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    authorized_amount: Decimal = Decimal(0)
    captured_amount: Decimal = Decimal(0)
    refunded_amount: Decimal = Decimal(0)
    refunds: tuple[Refund, ...] = ()
    pending_action: PendingAction | None = None
    ledger_hold_id: str | None = None
    ledger_capture_entry_id: str | None = None
    authorization_expires_at: datetime | None = None
    authorized_at: datetime | None = None
    captured_at: datetime | None = None
    settled_at: datetime | None = None
    cancelled_at: datetime | None = None
    failed_at: datetime | None = None

    @property
    def pending_refund_amount(self) -> Decimal:
        return sum((r.amount for r in self.refunds if r.status is RefundStatus.PENDING), Decimal(0))

    @property
    def refundable_amount(self) -> Decimal:
        """What a new refund may still take: captured - refunded - refunds in flight."""
        if self.status not in CAPTURED_STATUSES:
            return Decimal(0).quantize(quantum(self.currency))
        return self.captured_amount - self.refunded_amount - self.pending_refund_amount

    def refund(self, refund_id: str) -> Refund | None:
        return next((r for r in self.refunds if r.id == refund_id), None)

    def to_json(self, *, include_method_token: bool = True) -> dict[str, Any]:
        """The API shape: amounts as decimal strings in ``currency``, times in ISO 8601."""
        money = self.currency
        document: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "amount": format_amount(self.amount, money),
            "currency": money,
            "authorized_amount": format_amount(self.authorized_amount, money),
            "captured_amount": format_amount(self.captured_amount, money),
            "refunded_amount": format_amount(self.refunded_amount, money),
            "refundable_amount": format_amount(self.refundable_amount, money),
            "payer_ref": self.payer_ref,
            "payee_ref": self.payee_ref,
            "description": self.description,
            "tax_calculation_id": self.tax_calculation_id,
            "capture_mode": self.capture_mode.value,
            "provider_reference": self.provider_reference,
            "failure_code": self.failure_code,
            "failure_reason": self.failure_reason,
            "refunds": [r.to_json(money) for r in self.refunds],
            "pending_action": (self.pending_action.to_json(money) if self.pending_action else None),
            "ledger_hold_id": self.ledger_hold_id,
            "ledger_capture_entry_id": self.ledger_capture_entry_id,
            "authorization_expires_at": _iso(self.authorization_expires_at),
            "version": self.version,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "authorized_at": _iso(self.authorized_at),
            "captured_at": _iso(self.captured_at),
            "settled_at": _iso(self.settled_at),
            "cancelled_at": _iso(self.cancelled_at),
            "failed_at": _iso(self.failed_at),
            "created_by": dict(self.created_by),
        }
        if include_method_token:
            document["method_token"] = self.method_token
        return document


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- amounts ------------------------------------------------------------------------------


def parse_positive_amount(value: str, currency: str, field_name: str) -> Decimal:
    """A strictly positive amount with at most the currency's decimals, else a 422 on it."""
    try:
        amount = parse_amount(value, currency)
    except MoneyError as exc:
        raise ValidationError.for_field(field_name, str(exc), "invalid_amount") from None
    if amount <= 0:
        raise ValidationError.for_field(field_name, "must be greater than zero", "not_positive")
    return amount


# -- creation -----------------------------------------------------------------------------


def new_payment(
    *,
    payment_id: str,
    tenant_id: str,
    amount: str,
    currency: str,
    payer_ref: str,
    payee_ref: str,
    method_token: str,
    description: str,
    tax_calculation_id: str | None,
    capture_mode: CaptureMode,
    created_by: Mapping[str, Any],
    now: datetime,
) -> Payment:
    """A payment in ``requested``; the amount is parsed for its currency."""
    try:
        normalize_currency(currency)
    except MoneyError as exc:
        raise ValidationError.for_field("currency", str(exc), "unknown_currency") from None
    if payer_ref == payee_ref:
        raise ValidationError.for_field("payee_ref", "must differ from payer_ref", "same_as_payer")
    zero = Decimal(0).quantize(quantum(currency))
    return Payment(
        id=payment_id,
        tenant_id=tenant_id,
        amount=parse_positive_amount(amount, currency, "amount"),
        currency=currency,
        payer_ref=payer_ref,
        payee_ref=payee_ref,
        method_token=method_token,
        description=description,
        tax_calculation_id=tax_calculation_id,
        capture_mode=capture_mode,
        status=PaymentStatus.REQUESTED,
        created_at=now,
        updated_at=now,
        created_by=dict(created_by),
        authorized_amount=zero,
        captured_amount=zero,
        refunded_amount=zero,
    )


def _changed(payment: Payment, now: datetime, **changes: Any) -> Payment:
    return replace(payment, version=payment.version + 1, updated_at=now, **changes)


def _moved(payment: Payment, target: PaymentStatus, now: datetime, **changes: Any) -> Payment:
    check_transition(payment.status, target)
    return _changed(payment, now, status=target, **changes)


def _no_pending_action(payment: Payment) -> None:
    if payment.pending_action is not None:
        action = payment.pending_action
        raise ConflictError(
            f"a {action.type.value} of this payment is already in progress",
            code="payment_action_pending",
            extra={"pending_action": action.type.value, "pending_action_id": action.id},
        )


def authorization_expired(payment: Payment, now: datetime) -> bool:
    return payment.authorization_expires_at is not None and now >= payment.authorization_expires_at


# -- what the API asks for ----------------------------------------------------------------


def request_capture(
    payment: Payment, amount: Decimal | None, *, action_id: str, now: datetime
) -> Payment:
    """Accept a capture of ``amount`` (None: everything authorized) for the processor."""
    check_transition(payment.status, PaymentStatus.CAPTURED)
    _no_pending_action(payment)
    if authorization_expired(payment, now):
        raise BusinessRuleError(
            "the authorization has expired and can no longer be captured",
            code="authorization_expired",
        )
    if amount is not None and amount > payment.authorized_amount:
        raise BusinessRuleError(
            f"capture amount {format_amount(amount, payment.currency)} exceeds the authorized "
            f"{format_amount(payment.authorized_amount, payment.currency)}",
            code="capture_exceeds_authorized",
            extra={"authorized_amount": format_amount(payment.authorized_amount, payment.currency)},
        )
    action = PendingAction(action_id, ActionType.CAPTURE, now, amount=amount)
    return _changed(payment, now, pending_action=action)


def request_cancel(payment: Payment, reason: str, *, action_id: str, now: datetime) -> Payment:
    """Accept a cancellation (release of the authorization) for the processor."""
    check_transition(payment.status, PaymentStatus.CANCELLED)
    _no_pending_action(payment)
    action = PendingAction(action_id, ActionType.CANCEL, now, reason=reason)
    return _changed(payment, now, pending_action=action)


def request_refund(
    payment: Payment, amount: Decimal | None, reason: str, *, refund_id: str, now: datetime
) -> tuple[Payment, Refund]:
    """Accept a refund of ``amount`` (None: everything still refundable) for the processor."""
    if not (
        can_transition(payment.status, PaymentStatus.PARTIALLY_REFUNDED)
        or can_transition(payment.status, PaymentStatus.REFUNDED)
    ):
        check_transition(payment.status, PaymentStatus.REFUNDED)
    if payment.refund(refund_id) is not None:
        raise ConflictError(f"refund id {refund_id} is already used", code="refund_id_taken")
    if len(payment.refunds) >= MAX_REFUNDS:
        raise BusinessRuleError(
            f"a payment takes at most {MAX_REFUNDS} refunds", code="too_many_refunds"
        )
    refundable = payment.refundable_amount
    wanted = refundable if amount is None else amount
    if refundable <= 0 or wanted > refundable:
        currency = payment.currency
        raise BusinessRuleError(
            f"refund of {format_amount(wanted, currency)} exceeds the refundable "
            f"{format_amount(refundable, currency)} (captured "
            f"{format_amount(payment.captured_amount, currency)}, refunded "
            f"{format_amount(payment.refunded_amount, currency)}, in progress "
            f"{format_amount(payment.pending_refund_amount, currency)})",
            code="refund_exceeds_captured",
            extra={"refundable_amount": format_amount(refundable, currency)},
        )
    refund = Refund(refund_id, wanted, RefundStatus.PENDING, reason, requested_at=now)
    return _changed(payment, now, refunds=(*payment.refunds, refund)), refund


# -- what the processor records -----------------------------------------------------------


def authorize(
    payment: Payment,
    *,
    provider_reference: str,
    amount: Decimal,
    ledger_hold_id: str,
    expires_at: datetime,
    now: datetime,
) -> Payment:
    check_transition(payment.status, PaymentStatus.AUTHORIZED)
    # A provider may authorize less than asked (partial authorization), never more.
    if not 0 < amount <= payment.amount:
        raise BusinessRuleError(
            f"the provider authorized {format_amount(amount, payment.currency)} of "
            f"{format_amount(payment.amount, payment.currency)}",
            code="authorized_amount_invalid",
        )
    return _moved(
        payment,
        PaymentStatus.AUTHORIZED,
        now,
        provider_reference=provider_reference,
        authorized_amount=amount,
        ledger_hold_id=ledger_hold_id,
        authorization_expires_at=expires_at,
        authorized_at=now,
    )


def capture_amount(payment: Payment) -> Decimal:
    """What the processor captures: the pending capture's amount, or all authorized."""
    action = payment.pending_action
    if action is not None and action.type is ActionType.CAPTURE and action.amount is not None:
        return action.amount
    return payment.authorized_amount


def capture(
    payment: Payment,
    *,
    amount: Decimal,
    ledger_entry_id: str,
    now: datetime,
) -> Payment:
    check_transition(payment.status, PaymentStatus.CAPTURED)
    if amount <= 0:
        raise BusinessRuleError("a capture must be greater than zero", code="capture_not_positive")
    if amount > payment.authorized_amount:
        raise BusinessRuleError(
            f"capture amount {format_amount(amount, payment.currency)} exceeds the authorized "
            f"{format_amount(payment.authorized_amount, payment.currency)}",
            code="capture_exceeds_authorized",
        )
    return _moved(
        payment,
        PaymentStatus.CAPTURED,
        now,
        captured_amount=amount,
        ledger_capture_entry_id=ledger_entry_id,
        pending_action=None,
        captured_at=now,
    )


def settle(payment: Payment, *, now: datetime) -> Payment:
    return _moved(payment, PaymentStatus.SETTLED, now, settled_at=now)


def cancel(payment: Payment, *, now: datetime) -> Payment:
    return _moved(payment, PaymentStatus.CANCELLED, now, pending_action=None, cancelled_at=now)


def fail(payment: Payment, *, code: str, reason: str, now: datetime) -> Payment:
    return _moved(
        payment,
        PaymentStatus.FAILED,
        now,
        failure_code=code,
        failure_reason=reason[:MAX_REASON_LENGTH],
        pending_action=None,
        failed_at=now,
    )


def _pending_refund(payment: Payment, refund_id: str) -> Refund:
    refund = payment.refund(refund_id)
    if refund is None:
        raise ConflictError(f"payment has no refund {refund_id!r}", code="refund_not_found")
    if refund.status is not RefundStatus.PENDING:
        raise ConflictError(
            f"refund {refund_id} is already {refund.status.value}",
            code="refund_already_completed",
            extra={"refund_status": refund.status.value},
        )
    return refund


def _with_refund(payment: Payment, updated: Refund) -> tuple[Refund, ...]:
    return tuple(updated if r.id == updated.id else r for r in payment.refunds)


def complete_refund(
    payment: Payment,
    refund_id: str,
    *,
    provider_reference: str,
    ledger_entry_id: str,
    now: datetime,
) -> Payment:
    """The refund succeeded: ``partially_refunded``, or ``refunded`` once all is returned."""
    refund = _pending_refund(payment, refund_id)
    refunded = payment.refunded_amount + refund.amount
    if refunded > payment.captured_amount:
        raise BusinessRuleError(
            "refunds would exceed the captured amount", code="refund_exceeds_captured"
        )
    target = (
        PaymentStatus.REFUNDED
        if refunded == payment.captured_amount
        else PaymentStatus.PARTIALLY_REFUNDED
    )
    done = replace(
        refund,
        status=RefundStatus.SUCCEEDED,
        completed_at=now,
        provider_reference=provider_reference,
        ledger_entry_id=ledger_entry_id,
    )
    return _moved(
        payment, target, now, refunded_amount=refunded, refunds=_with_refund(payment, done)
    )


def fail_refund(
    payment: Payment, refund_id: str, *, code: str, reason: str, now: datetime
) -> Payment:
    """The provider refused the refund: the refund fails, the payment keeps its state."""
    refund = _pending_refund(payment, refund_id)
    failed = replace(
        refund,
        status=RefundStatus.FAILED,
        completed_at=now,
        failure_code=code,
        failure_reason=reason[:MAX_REASON_LENGTH],
    )
    return _changed(payment, now, refunds=_with_refund(payment, failed))
