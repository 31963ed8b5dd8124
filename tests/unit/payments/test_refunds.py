"""Refunds: full or partial, never more than captured minus refunded (or in progress)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.errors import BusinessRuleError, ConflictError
from shared.payments import domain
from shared.payments.domain import PaymentStatus, RefundStatus
from tests.unit.payments.support import NOW, authorized, captured, in_status, refunded_by

D = Decimal


def request(payment: domain.Payment, amount: str | None, refund_id: str = "rfd_x") -> tuple:
    return domain.request_refund(
        payment, D(amount) if amount is not None else None, "", refund_id=refund_id, now=NOW
    )


def complete(payment: domain.Payment, refund_id: str) -> domain.Payment:
    return domain.complete_refund(
        payment, refund_id, provider_reference="r", ledger_entry_id="e", now=NOW
    )


def test_a_full_refund_at_once_makes_the_payment_refunded() -> None:
    payment, refund = request(captured("100.00"), None)
    assert refund.amount == D("100.00")
    assert refund.status is RefundStatus.PENDING
    assert payment.status is PaymentStatus.CAPTURED
    assert payment.refundable_amount == D("0.00")
    done = complete(payment, refund.id)
    assert done.status is PaymentStatus.REFUNDED
    assert done.refunded_amount == D("100.00")
    assert done.refund(refund.id).status is RefundStatus.SUCCEEDED


def test_partial_refunds_add_up_to_refunded() -> None:
    payment = refunded_by(captured("100.00"), "30.00")
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
    payment = refunded_by(payment, "30.00")
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refundable_amount == D("40.00")
    payment, refund = request(payment, "40.00", "rfd_last")
    payment = complete(payment, refund.id)
    assert payment.status is PaymentStatus.REFUNDED
    assert payment.refunded_amount == payment.captured_amount == D("100.00")


def test_a_settled_payment_can_be_refunded() -> None:
    settled = in_status(PaymentStatus.SETTLED)
    refunded = refunded_by(settled, "1.00")
    assert refunded.status is PaymentStatus.PARTIALLY_REFUNDED
    assert refunded.settled_at == settled.settled_at


@pytest.mark.parametrize(
    ("captured_amount", "already", "asked", "refundable"),
    [
        ("100.00", [], "100.01", "100.00"),
        ("100.00", ["60.00"], "40.01", "40.00"),
        ("100.00", ["60.00", "39.99"], "0.02", "0.01"),
    ],
)
def test_more_than_captured_minus_refunded_is_refused(
    captured_amount: str, already: list[str], asked: str, refundable: str
) -> None:
    payment = refunded_by(captured(captured_amount), *already)
    with pytest.raises(BusinessRuleError) as caught:
        request(payment, asked)
    assert caught.value.code == "refund_exceeds_captured"
    assert caught.value.extra == {"refundable_amount": refundable}


def test_the_bound_is_the_captured_not_the_authorized_amount() -> None:
    payment = captured("100.00", capture="30.00")
    with pytest.raises(BusinessRuleError) as caught:
        request(payment, "30.01")
    assert caught.value.code == "refund_exceeds_captured"
    payment, refund = request(payment, "30.00")
    assert complete(payment, refund.id).status is PaymentStatus.REFUNDED


def test_refunds_in_progress_count_against_the_bound() -> None:
    payment, _ = request(captured("100.00"), "70.00", "rfd_1")
    assert payment.refundable_amount == D("30.00")
    with pytest.raises(BusinessRuleError) as caught:
        request(payment, "30.01", "rfd_2")
    assert caught.value.code == "refund_exceeds_captured"
    payment, _ = request(payment, "30.00", "rfd_2")
    assert payment.refundable_amount == D("0.00")
    with pytest.raises(BusinessRuleError):
        request(payment, None, "rfd_3")


def test_a_failed_refund_frees_its_amount_and_keeps_the_state() -> None:
    payment, refund = request(captured("100.00"), "100.00")
    failed = domain.fail_refund(payment, refund.id, code="refund_declined", reason="no", now=NOW)
    assert failed.status is PaymentStatus.CAPTURED
    assert failed.refund(refund.id).status is RefundStatus.FAILED
    assert failed.refund(refund.id).failure_code == "refund_declined"
    assert failed.refundable_amount == D("100.00")
    assert failed.refunded_amount == D("0.00")


def test_a_refund_completes_or_fails_once() -> None:
    payment, refund = request(captured("100.00"), "10.00")
    done = complete(payment, refund.id)
    with pytest.raises(ConflictError) as caught:
        complete(done, refund.id)
    assert caught.value.code == "refund_already_completed"
    with pytest.raises(ConflictError):
        domain.fail_refund(done, refund.id, code="x", reason="y", now=NOW)
    with pytest.raises(ConflictError) as unknown:
        complete(done, "rfd_unknown")
    assert unknown.value.code == "refund_not_found"


@pytest.mark.parametrize(
    "status",
    [
        PaymentStatus.REQUESTED,
        PaymentStatus.AUTHORIZED,
        PaymentStatus.FAILED,
        PaymentStatus.CANCELLED,
        PaymentStatus.REFUNDED,
    ],
)
def test_only_captured_money_can_be_refunded(status: PaymentStatus) -> None:
    with pytest.raises(ConflictError) as caught:
        request(in_status(status), "1.00")
    assert caught.value.code == "invalid_payment_transition"
    assert caught.value.extra["from_status"] == status.value


def test_a_refund_id_is_used_once() -> None:
    payment, _ = request(captured("100.00"), "1.00", "rfd_same")
    with pytest.raises(ConflictError) as caught:
        request(payment, "1.00", "rfd_same")
    assert caught.value.code == "refund_id_taken"


def test_refunds_per_payment_are_bounded() -> None:
    payment = captured("100.00")
    for index in range(domain.MAX_REFUNDS):
        payment, _ = request(payment, "0.01", f"rfd_{index}")
    with pytest.raises(BusinessRuleError) as caught:
        request(payment, "0.01", "rfd_more")
    assert caught.value.code == "too_many_refunds"


def test_an_authorized_payment_has_nothing_refundable() -> None:
    assert authorized().refundable_amount == D("0.00")


def test_refunds_serialize_with_the_payment_currency() -> None:
    payment, refund = request(captured("100.00"), "12.5")
    assert refund.to_json("EUR")["amount"] == "12.50"
    assert payment.to_json()["refunds"][0]["status"] == "pending"
