"""A payment carrying a tax calculation posts tax payable per jurisdiction.

CA-QC in 2025 on a 100.00 CAD price: GST 5 % = 5.00 (jurisdiction CA), QST 9.975 %
= 9.975 -> 9.98 (CA-QC), gross 114.98. Refunds reverse the tax in proportion to
the amount refunded, cumulatively, so all refunds together reverse it exactly.
"""

from __future__ import annotations

from decimal import Decimal

from shared.ledger.instance import ledger_service
from shared.payments.ledger_adapter import tax_payable_code, withheld_code
from tests.integration.payments.conftest import (
    CLEARING_CAD,
    CLEARING_EUR,
    GST_CAD,
    PAYEE_CAD,
    PAYEE_EUR,
    QST_CAD,
    Stack,
    dump_without_idempotency,
    quebec_invoice,
)

D = Decimal


def _tax_posted(stack: Stack) -> tuple[Decimal, Decimal]:
    return stack.posted(GST_CAD), stack.posted(QST_CAD)


def test_capture_posts_tax_per_jurisdiction_and_two_refunds_reverse_it_exactly(
    stack: Stack,
) -> None:
    calculation_id = stack.tax_calculation(quebec_invoice("100.00"))
    created = stack.create(amount="114.98", currency="CAD", tax_calculation_id=calculation_id)
    assert created.status == 202, created.json
    payment_id = created.data["id"]

    stack.process()

    assert stack.get(payment_id)["status"] == "settled"
    assert stack.posted(CLEARING_CAD) == D("114.98")
    assert stack.posted(PAYEE_CAD) == D("100.00")
    assert _tax_posted(stack) == (D("5.00"), D("9.98"))
    gst = stack.balances(GST_CAD)
    assert gst["normal_side"] == "credit"  # a liability

    # 40.00 of 114.98: tax 14.98 * 40 / 114.98 = 5.2113 -> 5.21, split 5.00 : 9.98 as
    # 1.7390 : 3.4710 -> 1.73 + 3.47 = 5.20, the last cent to the larger remainder (GST).
    assert stack.refund(payment_id, amount="40.00").status == 202
    stack.process()
    assert _tax_posted(stack) == (D("5.00") - D("1.74"), D("9.98") - D("3.47"))
    assert stack.posted(PAYEE_CAD) == D("100.00") - (D("40.00") - D("5.21"))
    assert stack.posted(CLEARING_CAD) == D("74.98")

    # The rest, 74.98: what is left of each tax (3.26 and 6.51), not a fresh rounding.
    assert stack.refund(payment_id, amount="74.98").status == 202
    stack.process()

    assert stack.get(payment_id)["status"] == "refunded"
    assert _tax_posted(stack) == (D("0.00"), D("0.00"))
    assert stack.posted(PAYEE_CAD) == D("0.00")
    assert stack.posted(CLEARING_CAD) == D("0.00")
    ledger = ledger_service()
    refund_entries = [
        ledger.get_entry("tenant-pay", r["ledger_entry_id"])
        for r in stack.get(payment_id)["refunds"]
    ]
    gst_id, qst_id = stack.account_id(GST_CAD), stack.account_id(QST_CAD)
    assert gst_id is not None and qst_id is not None
    reversed_tax = [
        {line.account_id: line.amount_minor for line in entry.lines if line.side.value == "debit"}
        for entry in refund_entries
    ]
    assert [(r[gst_id], r[qst_id]) for r in reversed_tax] == [(174, 347), (326, 651)]
    assert sum(r[gst_id] for r in reversed_tax) == 500
    assert sum(r[qst_id] for r in reversed_tax) == 998
    assert stack.trial_balance_is_zero()


def test_partial_capture_takes_tax_in_proportion(stack: Stack) -> None:
    calculation_id = stack.tax_calculation(quebec_invoice("100.00"))
    payment_id = stack.create(
        amount="114.98",
        currency="CAD",
        tax_calculation_id=calculation_id,
        capture_mode="manual",
    ).data["id"]
    stack.process()
    assert stack.balances(GST_CAD)["pending_credits"] == "5.00"
    assert stack.balances(QST_CAD)["pending_credits"] == "9.98"

    capture = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={"amount": "57.49"},
        token="clerk",
        headers=stack.key(),
    )
    assert capture.status == 202, capture.json
    stack.process()

    # Half of the gross: tax 7.49, GST 2.50, QST 4.99; the net is the rest, 50.00.
    assert _tax_posted(stack) == (D("2.50"), D("4.99"))
    assert stack.posted(PAYEE_CAD) == D("50.00")
    assert stack.posted(CLEARING_CAD) == D("57.49")
    assert stack.balances(GST_CAD)["pending_credits"] == "0.00"

    assert stack.refund(payment_id).status == 202
    stack.process()
    assert _tax_posted(stack) == (D("0.00"), D("0.00"))
    assert stack.trial_balance_is_zero()


def _refused(stack: Stack, field: str, code: str, **body: str) -> None:
    before = dump_without_idempotency(stack.db)
    answer = stack.create(**body)
    assert answer.status == 422, answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]
    assert dump_without_idempotency(stack.db) == before


def test_a_payment_must_match_its_tax_calculation(stack: Stack) -> None:
    calculation_id = stack.tax_calculation(quebec_invoice("100.00"))

    _refused(
        stack,
        "tax_calculation_id",
        "tax_calculation_not_found",
        amount="114.98",
        currency="CAD",
        tax_calculation_id="0123456789abcdef0123456789abcdef",
    )
    _refused(
        stack,
        "currency",
        "currency_mismatch",
        amount="114.98",
        currency="EUR",
        tax_calculation_id=calculation_id,
    )
    _refused(
        stack,
        "amount",
        "amount_mismatch",
        amount="114.97",
        currency="CAD",
        tax_calculation_id=calculation_id,
    )


def test_another_tenants_tax_calculation_is_not_found(stack: Stack) -> None:
    calculation_id = stack.tax_calculation(quebec_invoice("100.00"))
    before = dump_without_idempotency(stack.db)

    answer = stack.create(
        as_user="other-admin", amount="114.98", currency="CAD", tax_calculation_id=calculation_id
    )

    assert answer.status == 422, answer.json
    assert answer.json["errors"][0]["field"] == "tax_calculation_id"
    assert dump_without_idempotency(stack.db) == before


# -- invoices the buyer withholds from -----------------------------------------------------
# Spain: 1,000.00 + IVA 21 % = 1,210.00 gross; the buyer withholds IRPF 15 % of the net
# (150.00) for the tax office and pays 1,060.00.

WITHHELD_ES = withheld_code("ES", "EUR")
IVA_ES = tax_payable_code("ES", "EUR")


def _spanish_invoice() -> dict[str, object]:
    return {
        "document_date": "2025-06-01",
        "currency": "EUR",
        "place_of_supply": "ES",
        "seller": {"country": "ES"},
        "lines": [
            {
                "quantity": "1",
                "unit_price": {"amount": "1000.00", "currency": "EUR"},
                "withholding_category": "professional",
            }
        ],
    }


def _figures(stack: Stack) -> tuple[Decimal, ...]:
    return (
        stack.posted(CLEARING_EUR),
        stack.posted(WITHHELD_ES),
        stack.posted(PAYEE_EUR),
        stack.posted(IVA_ES),
    )


def test_a_withheld_invoice_is_paid_its_payable_amount_and_books_the_withholding(
    stack: Stack,
) -> None:
    calculation_id = stack.tax_calculation(_spanish_invoice())
    # The gross is not what the buyer pays: refused, naming the payable amount.
    before = dump_without_idempotency(stack.db)
    gross = stack.create(amount="1210.00", currency="EUR", tax_calculation_id=calculation_id)
    assert gross.status == 422, gross.json
    assert [(e["field"], e["code"]) for e in gross.json["errors"]] == [
        ("amount", "amount_mismatch")
    ]
    assert "1060.00" in gross.json["errors"][0]["message"]
    assert dump_without_idempotency(stack.db) == before

    created = stack.create(amount="1060.00", currency="EUR", tax_calculation_id=calculation_id)
    assert created.status == 202, created.json
    payment_id = created.data["id"]
    stack.process()

    assert stack.get(payment_id)["status"] == "settled"
    # Dr clearing 1,060.00 + Dr withheld 150.00 = Cr revenue 1,000.00 + Cr IVA 210.00
    assert _figures(stack) == (D("1060.00"), D("150.00"), D("1000.00"), D("210.00"))
    assert stack.balances(WITHHELD_ES)["normal_side"] == "debit"  # recoverable: an asset
    assert stack.trial_balance_is_zero()

    # Half refunded: half of each figure goes back.
    assert stack.refund(payment_id, amount="530.00").status == 202
    stack.process()
    assert _figures(stack) == (D("530.00"), D("75.00"), D("500.00"), D("105.00"))

    assert stack.refund(payment_id, amount="530.00").status == 202
    stack.process()
    assert stack.get(payment_id)["status"] == "refunded"
    assert _figures(stack) == (D("0.00"), D("0.00"), D("0.00"), D("0.00"))
    assert stack.trial_balance_is_zero()


def test_a_partial_capture_of_a_withheld_invoice_takes_every_figure_in_proportion(
    stack: Stack,
) -> None:
    calculation_id = stack.tax_calculation(_spanish_invoice())
    payment_id = stack.create(
        amount="1060.00",
        currency="EUR",
        tax_calculation_id=calculation_id,
        capture_mode="manual",
    ).data["id"]
    stack.process()
    assert stack.balances(WITHHELD_ES)["pending_debits"] == "150.00"

    capture = stack.api.post(
        f"/v1/payments/{payment_id}/capture",
        json={"amount": "265.00"},
        token="clerk",
        headers=stack.key(),
    )
    assert capture.status == 202, capture.json
    stack.process()

    # A quarter: 37.50 withheld, 52.50 IVA, and the net 265.00 + 37.50 - 52.50 = 250.00.
    assert _figures(stack) == (D("265.00"), D("37.50"), D("250.00"), D("52.50"))
    assert stack.balances(WITHHELD_ES)["pending_debits"] == "0.00"
    assert stack.trial_balance_is_zero()
