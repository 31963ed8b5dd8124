"""A payment's whole life through the payments API and the process_payment consumer.

Ledger figures are checked exactly, account by account: clearing (asset) against
the payee's revenue (see shared/payments/README.md for the mapping).
"""

from __future__ import annotations

from decimal import Decimal

from tests.integration.payments.conftest import (
    CLEARING_EUR,
    PAYEE_EUR,
    Stack,
    dump_without_idempotency,
)

D = Decimal


def test_automatic_payment_is_authorized_captured_and_settled_with_exact_postings(
    stack: Stack,
) -> None:
    created = stack.create(amount="100.00")
    assert created.status == 202, created.json
    payment = created.data
    assert payment["status"] == "requested"
    assert created.headers["Location"] == f"/v1/payments/{payment['id']}"
    assert "method_token" not in payment

    delivered = stack.process()

    assert [e.type for e in delivered] == ["payment.requested"]
    settled = stack.get(payment["id"])
    assert settled["status"] == "settled"
    assert settled["captured_amount"] == "100.00"
    assert settled["ledger_hold_id"] == f"{payment['id']}-hold"
    assert stack.balances(CLEARING_EUR)["posted"] == "100.00"
    assert stack.balances(CLEARING_EUR)["pending_debits"] == "0.00"
    assert stack.balances(PAYEE_EUR)["posted"] == "100.00"
    assert stack.trial_balance_is_zero()
    actions = stack.write_audit()
    for action in (
        "payment.created",
        "ledger.account.created",
        "ledger.entry.pending",
        "payment.authorized",
        "ledger.hold.posted",
        "payment.captured",
        "payment.settled",
    ):
        assert action in actions, actions
    assert actions[0] == "payment.created"


def test_partial_refunds_up_to_the_captured_amount_then_refunded(stack: Stack) -> None:
    payment_id = stack.create(amount="100.00").data["id"]
    stack.process()

    first = stack.refund(payment_id, amount="30.00", reason="damaged")
    assert first.status == 202, first.json
    assert first.data["refund"]["status"] == "pending"
    assert first.data["payment"]["refundable_amount"] == "70.00"
    stack.process()
    assert stack.get(payment_id)["status"] == "partially_refunded"
    assert stack.posted(CLEARING_EUR) == D("70.00")
    assert stack.posted(PAYEE_EUR) == D("70.00")

    rest = stack.refund(payment_id)  # no amount: everything still refundable
    assert rest.status == 202, rest.json
    assert rest.data["refund"]["amount"] == "70.00"
    stack.process()

    refunded = stack.get(payment_id)
    assert refunded["status"] == "refunded"
    assert refunded["refunded_amount"] == "100.00"
    assert [r["status"] for r in refunded["refunds"]] == ["succeeded", "succeeded"]
    assert [r["ledger_entry_id"] for r in refunded["refunds"]] == [
        f"{payment_id}-{r['id']}" for r in refunded["refunds"]
    ]
    assert stack.posted(CLEARING_EUR) == D("0.00")
    assert stack.posted(PAYEE_EUR) == D("0.00")
    assert stack.trial_balance_is_zero()

    before = dump_without_idempotency(stack.db)
    beyond = stack.refund(payment_id, amount="0.01")
    assert beyond.status == 409, beyond.json
    assert beyond.json["code"] == "invalid_payment_transition"
    assert dump_without_idempotency(stack.db) == before


def test_a_refund_beyond_what_is_refundable_is_refused_and_writes_nothing(stack: Stack) -> None:
    payment_id = stack.create(amount="100.00").data["id"]
    stack.process()
    assert stack.refund(payment_id, amount="60.00").status == 202
    # The 60.00 is still in flight: it counts against what may be refunded.
    before = dump_without_idempotency(stack.db)

    over = stack.refund(payment_id, amount="40.01")

    assert over.status == 422, over.json
    assert over.json["code"] == "refund_exceeds_captured"
    assert over.json["refundable_amount"] == "40.00"
    assert dump_without_idempotency(stack.db) == before


def test_manual_capture_of_part_releases_the_rest_of_the_hold(stack: Stack) -> None:
    payment_id = stack.create(amount="100.00", capture_mode="manual").data["id"]
    stack.process()
    authorized = stack.get(payment_id)
    assert authorized["status"] == "authorized"
    held = stack.balances(CLEARING_EUR)
    assert (held["posted"], held["pending_debits"]) == ("0.00", "100.00")
    assert stack.balances(PAYEE_EUR)["pending_credits"] == "100.00"

    capture = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={"amount": "60.00"},
        token="clerk",
        headers=stack.key(),
    )
    assert capture.status == 202, capture.json
    assert capture.data["pending_action"]["type"] == "capture"
    stack.process()

    captured = stack.get(payment_id)
    assert captured["status"] == "settled"
    assert captured["captured_amount"] == "60.00"
    clearing = stack.balances(CLEARING_EUR)
    assert (clearing["posted"], clearing["pending_debits"]) == ("60.00", "0.00")
    assert stack.posted(PAYEE_EUR) == D("60.00")
    over = stack.refund(payment_id, amount="60.01")
    assert over.status == 422
    assert over.json["code"] == "refund_exceeds_captured"
    assert stack.trial_balance_is_zero()


def test_cancel_voids_the_hold(stack: Stack) -> None:
    payment_id = stack.create(amount="25.00", capture_mode="manual").data["id"]
    stack.process()

    cancel = stack.api.post(
        f"/v1/payments/{payment_id}/cancel",
        json={"reason": "customer changed their mind"},
        token="clerk",
        headers=stack.key(),
    )
    assert cancel.status == 202, cancel.json
    stack.process()

    assert stack.get(payment_id)["status"] == "cancelled"
    clearing = stack.balances(CLEARING_EUR)
    assert (clearing["posted"], clearing["pending_debits"]) == ("0.00", "0.00")
    hold = stack.db.document(f"tenants/tenant-pay/entries/{payment_id}-hold").get()
    assert hold.get("status") == "voided"
    # A capture after the cancellation is a state-machine conflict, and writes nothing.
    before = dump_without_idempotency(stack.db)
    late = stack.api.post(
        f"/v1/payments/{payment_id}/capture", json={}, token="clerk", headers=stack.key()
    )
    assert late.status == 409
    assert late.json["code"] == "invalid_payment_transition"
    assert dump_without_idempotency(stack.db) == before


def test_a_declined_authorization_fails_the_payment_and_posts_nothing(stack: Stack) -> None:
    payment_id = stack.create(method_token="tok_decline").data["id"]

    stack.process()

    failed = stack.get(payment_id)
    assert (failed["status"], failed["failure_code"]) == ("failed", "card_declined")
    assert stack.entry_ids() == []


def test_a_declined_capture_voids_the_hold_and_fails_the_payment(stack: Stack) -> None:
    payment_id = stack.create(method_token="tok_capture_decline").data["id"]

    stack.process()

    failed = stack.get(payment_id)
    assert (failed["status"], failed["failure_code"]) == ("failed", "capture_declined")
    assert stack.entry_ids() == [f"{payment_id}-hold"]
    clearing = stack.balances(CLEARING_EUR)
    assert (clearing["posted"], clearing["pending_debits"]) == ("0.00", "0.00")


def test_a_declined_refund_is_recorded_and_reverses_nothing(stack: Stack) -> None:
    payment_id = stack.create(method_token="tok_refund_decline").data["id"]
    stack.process()
    entries = stack.entry_ids()

    assert stack.refund(payment_id, amount="10.00").status == 202
    stack.process()

    payment = stack.get(payment_id)
    assert payment["status"] == "settled"
    assert payment["refunds"][0]["status"] == "failed"
    assert payment["refunds"][0]["failure_code"] == "refund_declined"
    assert payment["refundable_amount"] == "100.00"
    assert stack.entry_ids() == entries
    assert stack.posted(CLEARING_EUR) == D("100.00")
