"""Payments in any state, built with the domain's own transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.payments import domain
from shared.payments.domain import CaptureMode, Payment, PaymentStatus

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
D = Decimal


def requested(
    amount: str = "100.00", currency: str = "EUR", mode: CaptureMode = CaptureMode.MANUAL
) -> Payment:
    return domain.new_payment(
        payment_id="pay_test",
        tenant_id="tenant-a",
        amount=amount,
        currency=currency,
        payer_ref="cust_1",
        payee_ref="merchant_1",
        method_token="tok_approve",
        description="order 42",
        tax_calculation_id=None,
        capture_mode=mode,
        created_by={"user_id": "u-1", "role": "clerk"},
        now=NOW,
    )


def authorized(amount: str = "100.00", currency: str = "EUR") -> Payment:
    payment = requested(amount, currency)
    return domain.authorize(
        payment,
        provider_reference="sbx_auth_1",
        amount=payment.amount,
        ledger_hold_id="pay_test-hold",
        expires_at=NOW + domain.AUTHORIZATION_VALIDITY,
        now=NOW,
    )


def captured(amount: str = "100.00", capture: str | None = None) -> Payment:
    payment = authorized(amount)
    return domain.capture(
        payment,
        amount=D(capture) if capture else payment.authorized_amount,
        ledger_entry_id="ent_capture",
        now=NOW + timedelta(minutes=1),
    )


def refunded_by(payment: Payment, *amounts: str) -> Payment:
    for amount in amounts:
        index = len(payment.refunds)
        payment, refund = domain.request_refund(
            payment, D(amount), "", refund_id=f"rfd_{index}", now=NOW
        )
        payment = domain.complete_refund(
            payment,
            refund.id,
            provider_reference=f"sbx_rfd_{index}",
            ledger_entry_id=f"ent_rfd_{index}",
            now=NOW,
        )
    return payment


def in_status(status: PaymentStatus) -> Payment:
    """A payment that reached ``status`` through valid transitions."""
    later = NOW + timedelta(minutes=5)
    if status is PaymentStatus.REQUESTED:
        return requested()
    if status is PaymentStatus.AUTHORIZED:
        return authorized()
    if status is PaymentStatus.CAPTURED:
        return captured()
    if status is PaymentStatus.SETTLED:
        return domain.settle(captured(), now=later)
    if status is PaymentStatus.PARTIALLY_REFUNDED:
        return refunded_by(captured(), "10.00")
    if status is PaymentStatus.REFUNDED:
        return refunded_by(captured(), "100.00")
    if status is PaymentStatus.FAILED:
        return domain.fail(requested(), code="card_declined", reason="declined", now=later)
    if status is PaymentStatus.CANCELLED:
        return domain.cancel(authorized(), now=later)
    raise AssertionError(status)
