"""The payment state machine: every (from, to) pair, and every transition function."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.errors import BusinessRuleError, ConflictError, ValidationError
from shared.payments import domain
from shared.payments.domain import (
    ActionType,
    CaptureMode,
    Payment,
    PaymentStatus,
    can_transition,
    check_transition,
)
from tests.unit.payments.support import NOW, authorized, captured, in_status, requested

S = PaymentStatus
# Written out by hand from the specification, so that the code's table is checked
# against it rather than against itself.
ALLOWED = {
    (S.REQUESTED, S.AUTHORIZED),
    (S.REQUESTED, S.FAILED),
    (S.AUTHORIZED, S.CAPTURED),
    (S.AUTHORIZED, S.CANCELLED),
    (S.AUTHORIZED, S.FAILED),
    (S.CAPTURED, S.SETTLED),
    (S.CAPTURED, S.PARTIALLY_REFUNDED),
    (S.CAPTURED, S.REFUNDED),
    (S.SETTLED, S.PARTIALLY_REFUNDED),
    (S.SETTLED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
}
ALL_PAIRS = list(itertools.product(PaymentStatus, PaymentStatus))


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_every_pair_of_states_is_allowed_exactly_as_specified(
    current: PaymentStatus, target: PaymentStatus
) -> None:
    assert can_transition(current, target) is ((current, target) in ALLOWED)
    if (current, target) in ALLOWED:
        check_transition(current, target)
        return
    with pytest.raises(ConflictError) as caught:
        check_transition(current, target)
    assert caught.value.code == "invalid_payment_transition"
    assert caught.value.extra == {"from_status": current.value, "to_status": target.value}
    assert current.value in caught.value.detail
    assert target.value in caught.value.detail


def test_final_states_have_no_way_out() -> None:
    assert {S.FAILED, S.CANCELLED, S.REFUNDED} == domain.FINAL_STATUSES


LATER = NOW + timedelta(minutes=10)
TRANSITION_FUNCTIONS: dict[PaymentStatus, Callable[[Payment], Payment]] = {
    S.AUTHORIZED: lambda p: domain.authorize(
        p,
        provider_reference="ref",
        amount=p.amount,
        ledger_hold_id="hold",
        expires_at=LATER + timedelta(days=7),
        now=LATER,
    ),
    S.CAPTURED: lambda p: domain.capture(
        p, amount=p.authorized_amount or Decimal("1.00"), ledger_entry_id="e", now=LATER
    ),
    S.SETTLED: lambda p: domain.settle(p, now=LATER),
    S.CANCELLED: lambda p: domain.cancel(p, now=LATER),
    S.FAILED: lambda p: domain.fail(p, code="x", reason="y", now=LATER),
}


@pytest.mark.parametrize(
    ("current", "target"),
    list(itertools.product(PaymentStatus, TRANSITION_FUNCTIONS)),
    ids=lambda s: s.value,
)
def test_each_transition_function_applies_the_table(
    current: PaymentStatus, target: PaymentStatus
) -> None:
    payment = in_status(current)
    move = TRANSITION_FUNCTIONS[target]
    if (current, target) in ALLOWED:
        moved = move(payment)
        assert moved.status is target
        assert moved.version == payment.version + 1
        assert moved.updated_at == LATER
    else:
        with pytest.raises(ConflictError) as caught:
            move(payment)
        assert caught.value.code == "invalid_payment_transition"


def test_a_new_payment_is_requested_with_exact_amounts() -> None:
    payment = requested("49.90", "EUR", CaptureMode.AUTOMATIC)
    assert payment.status is S.REQUESTED
    assert payment.amount == Decimal("49.90")
    assert payment.version == 1
    assert payment.captured_amount == Decimal("0.00")
    assert payment.to_json()["amount"] == "49.90"
    assert payment.to_json()["refundable_amount"] == "0.00"


@pytest.mark.parametrize(
    ("amount", "currency", "field", "code"),
    [
        ("12.345", "EUR", "amount", "invalid_amount"),
        ("12.5", "JPY", "amount", "invalid_amount"),
        ("0.00", "EUR", "amount", "not_positive"),
        ("-1.00", "EUR", "amount", "invalid_amount"),
        ("1e3", "EUR", "amount", "invalid_amount"),
        ("10.00", "EUE", "currency", "unknown_currency"),
    ],
)
def test_bad_amounts_and_currencies_are_422_on_their_field(
    amount: str, currency: str, field: str, code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        requested(amount, currency)
    assert caught.value.errors[0].field == field
    assert caught.value.errors[0].code == code


def test_payer_and_payee_must_differ() -> None:
    with pytest.raises(ValidationError) as caught:
        domain.new_payment(
            payment_id="p",
            tenant_id="t",
            amount="1.00",
            currency="EUR",
            payer_ref="same",
            payee_ref="same",
            method_token="tok_approve",
            description="",
            tax_calculation_id=None,
            capture_mode=CaptureMode.AUTOMATIC,
            created_by={"system": "test"},
            now=NOW,
        )
    assert caught.value.errors[0].code == "same_as_payer"


def test_three_decimal_currencies_keep_their_precision() -> None:
    payment = requested("10.125", "KWD")
    assert payment.amount == Decimal("10.125")
    assert payment.to_json()["captured_amount"] == "0.000"


def test_a_capture_request_sets_one_pending_action() -> None:
    payment = domain.request_capture(authorized(), Decimal("60.00"), action_id="act_1", now=NOW)
    assert payment.status is S.AUTHORIZED
    assert payment.pending_action is not None
    assert payment.pending_action.type is ActionType.CAPTURE
    assert domain.capture_amount(payment) == Decimal("60.00")
    with pytest.raises(ConflictError) as caught:
        domain.request_cancel(payment, "changed my mind", action_id="act_2", now=NOW)
    assert caught.value.code == "payment_action_pending"
    with pytest.raises(ConflictError):
        domain.request_capture(payment, None, action_id="act_3", now=NOW)


def test_a_cancel_request_blocks_a_capture_request() -> None:
    payment = domain.request_cancel(authorized(), "", action_id="act_1", now=NOW)
    with pytest.raises(ConflictError) as caught:
        domain.request_capture(payment, None, action_id="act_2", now=NOW)
    assert caught.value.code == "payment_action_pending"


def test_capture_is_at_most_the_authorized_amount() -> None:
    with pytest.raises(BusinessRuleError) as caught:
        domain.request_capture(authorized("50.00"), Decimal("50.01"), action_id="a", now=NOW)
    assert caught.value.code == "capture_exceeds_authorized"
    with pytest.raises(BusinessRuleError):
        domain.capture(authorized("50.00"), amount=Decimal("50.01"), ledger_entry_id="e", now=NOW)


def test_a_partial_capture_captures_less_and_clears_the_pending_action() -> None:
    pending = domain.request_capture(authorized("80.00"), Decimal("30.00"), action_id="a", now=NOW)
    done = domain.capture(
        pending, amount=domain.capture_amount(pending), ledger_entry_id="e", now=NOW
    )
    assert done.status is S.CAPTURED
    assert done.captured_amount == Decimal("30.00")
    assert done.authorized_amount == Decimal("80.00")
    assert done.pending_action is None
    assert done.refundable_amount == Decimal("30.00")


def test_an_expired_authorization_cannot_be_captured() -> None:
    payment = authorized()
    assert payment.authorization_expires_at is not None
    with pytest.raises(BusinessRuleError) as caught:
        domain.request_capture(payment, None, action_id="a", now=payment.authorization_expires_at)
    assert caught.value.code == "authorization_expired"
    assert domain.authorization_expired(payment, payment.authorization_expires_at)
    assert not domain.authorization_expired(
        payment, payment.authorization_expires_at - timedelta(seconds=1)
    )


def test_an_authorization_may_be_partial_but_never_more_than_asked() -> None:
    payment = requested("100.00")
    partial = domain.authorize(
        payment,
        provider_reference="r",
        amount=Decimal("70.00"),
        ledger_hold_id="h",
        expires_at=LATER,
        now=NOW,
    )
    assert partial.authorized_amount == Decimal("70.00")
    with pytest.raises(BusinessRuleError) as caught:
        domain.authorize(
            payment,
            provider_reference="r",
            amount=Decimal("100.01"),
            ledger_hold_id="h",
            expires_at=LATER,
            now=NOW,
        )
    assert caught.value.code == "authorized_amount_invalid"


def test_failing_and_cancelling_clear_the_pending_action() -> None:
    pending = domain.request_capture(authorized(), None, action_id="a", now=NOW)
    assert (
        domain.fail(pending, code="capture_declined", reason="no", now=NOW).pending_action is None
    )
    pending = domain.request_cancel(authorized(), "", action_id="a", now=NOW)
    assert domain.cancel(pending, now=NOW).pending_action is None


def test_failure_reason_is_bounded() -> None:
    failed = domain.fail(requested(), code="x", reason="r" * 2000, now=NOW)
    assert failed.failure_reason is not None
    assert len(failed.failure_reason) == domain.MAX_REASON_LENGTH


def test_settling_keeps_the_captured_amount() -> None:
    settled = domain.settle(captured("20.00"), now=LATER)
    assert settled.settled_at == LATER
    assert settled.captured_amount == Decimal("20.00")


def test_events_never_carry_the_method_token() -> None:
    payment = requested()
    assert "method_token" in payment.to_json()
    assert "method_token" not in payment.to_json(include_method_token=False)


@pytest.mark.parametrize(
    ("header", "version"),
    [(None, None), ("*", None), ('"v3"', 3), ('W/"v12"', 12), (' "v7" ', 7)],
)
def test_if_match_names_the_version_read(header: str | None, version: int | None) -> None:
    from shared.payments.service import entity_tag, version_from_if_match

    assert version_from_if_match(header) == version
    if version is not None:
        assert version_from_if_match(entity_tag(version)) == version


@pytest.mark.parametrize("header", ['"3"', "v3", '"v0"', '"v3", "v4"', '"vx"', ""])
def test_an_if_match_this_api_never_issued_is_a_400(header: str) -> None:
    from shared.errors import BadPreconditionError
    from shared.payments.service import version_from_if_match

    with pytest.raises(BadPreconditionError):
        version_from_if_match(header)
