"""The payments ledger mapping's pure parts: account codes and the tax each refund reverses."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ValidationError
from shared.payments import domain
from shared.payments.domain import RefundStatus
from shared.payments.ledger_adapter import (
    clearing_code,
    payee_code,
    refund_taxes,
    tax_payable_code,
    withheld_code,
)
from shared.payments.tax_link import (
    check_payment_against_calculation,
    payable_amount,
    withheld_by_jurisdiction,
)
from shared.tax.model import CalculationTotals, StoredCalculation
from tests.unit.payments.support import NOW, captured

D = Decimal
ACCOUNT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")  # the ledger's rule
TAXES = {"gst": D("5.00"), "qst": D("9.98")}


def test_account_codes_are_valid_ledger_codes_whatever_the_references() -> None:
    codes = [
        clearing_code("EUR"),
        payee_code("shop@example.org/branch 7", "EUR"),
        tax_payable_code("US-CA", "USD"),
        tax_payable_code("US-CA~SF/" + "x" * 100, "USD"),
    ]
    assert all(ACCOUNT_CODE.match(code) for code in codes), codes
    assert tax_payable_code("CA-QC", "CAD") == "payments:tax:CA-QC:CAD"
    assert payee_code("a", "EUR") != payee_code("b", "EUR")


def _with_refunds(amounts: list[str], *, failed: frozenset[int] = frozenset()) -> domain.Payment:
    payment = captured("114.98")
    for index, amount in enumerate(amounts):
        payment, _ = domain.request_refund(
            payment, D(amount), "", refund_id=f"rfd_{index}", now=NOW
        )
        if index in failed:
            payment = domain.fail_refund(
                payment, f"rfd_{index}", code="refund_declined", reason="", now=NOW
            )
    return payment


def test_two_partial_refunds_reverse_the_captured_tax_exactly() -> None:
    payment = _with_refunds(["40.00", "74.98"])
    first = refund_taxes(payment, payment.refunds[0], TAXES)
    second = refund_taxes(payment, payment.refunds[1], TAXES)
    # 14.98 * 40 / 114.98 = 5.2113 -> 5.21, split 1.74 / 3.47; the rest is what is left.
    assert first == {"gst": D("1.74"), "qst": D("3.47")}
    assert second == {"gst": D("3.26"), "qst": D("6.51")}


def test_a_failed_refund_does_not_count_towards_later_shares() -> None:
    payment = _with_refunds(["40.00", "40.00", "74.98"], failed=frozenset({1}))
    shares = [refund_taxes(payment, r, TAXES) for r in payment.refunds]
    assert payment.refunds[1].status is RefundStatus.FAILED
    assert shares[0]["gst"] + shares[2]["gst"] == D("5.00")
    assert shares[0]["qst"] + shares[2]["qst"] == D("9.98")


def test_no_tax_means_nothing_to_reverse() -> None:
    payment = _with_refunds(["10.00"])
    assert refund_taxes(payment, payment.refunds[0], {}) == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=8))
def test_refunds_of_everything_in_any_steps_reverse_each_tax_exactly(cuts: list[int]) -> None:
    total = 11498
    steps, left = [], total
    for cut in cuts:
        if left <= 1:
            break
        step = min(cut, left - 1)
        steps.append(step)
        left -= step
    steps.append(left)
    payment = _with_refunds([str(D(step) / 100) for step in steps])
    shares = [refund_taxes(payment, r, TAXES) for r in payment.refunds]
    assert sum(s["gst"] for s in shares) == D("5.00")
    assert sum(s["qst"] for s in shares) == D("9.98")
    assert all(v >= 0 for s in shares for v in s.values())


def _calculation(**changes: object) -> StoredCalculation:
    calculation = StoredCalculation(
        id="c1",
        document_type="invoice",
        document_date=NOW.date(),
        currency="EUR",
        totals=CalculationTotals(net=D("100.00"), tax=D("19.00"), gross=D("119.00")),
        jurisdiction_totals={"DE": D("19.00")},
        catalog_version=1,
        created_at=NOW,
        created_by="u-1",
        request=None,
        result=None,
    )
    return replace(calculation, **changes)  # type: ignore[arg-type]


def test_a_payment_must_carry_the_calculations_gross_in_its_currency() -> None:
    payment = replace(captured("119.00"), tax_calculation_id="c1")
    check_payment_against_calculation(payment, _calculation())
    for calculation, field in (
        (_calculation(document_type="credit_note"), "tax_calculation_id"),
        (_calculation(currency="USD"), "currency"),
        (_calculation(totals=CalculationTotals(D("100"), D("19"), D("119.01"))), "amount"),
    ):
        with pytest.raises(ValidationError) as refused:
            check_payment_against_calculation(payment, calculation)
        assert refused.value.errors[0].field == field


def _withheld(*rows: tuple[str, str]) -> dict[str, object]:
    breakdown = [{"jurisdiction": j, "tax": "IRPF", "amount": a} for j, a in rows]
    return {"withholding": {"breakdown": breakdown}}


def test_a_withheld_invoice_is_paid_its_gross_less_what_the_buyer_withholds() -> None:
    spanish = _calculation(
        totals=CalculationTotals(D("1000.00"), D("210.00"), D("1210.00")),
        jurisdiction_totals={"ES": D("210.00")},
        result=_withheld(("ES", "150.00")),
    )
    assert withheld_by_jurisdiction(spanish) == {"ES": D("150.00")}
    assert payable_amount(spanish) == D("1060.00")
    check_payment_against_calculation(
        replace(captured("1060.00"), tax_calculation_id="c1"), spanish
    )
    with pytest.raises(ValidationError) as refused:
        check_payment_against_calculation(
            replace(captured("1210.00"), tax_calculation_id="c1"), spanish
        )
    assert refused.value.errors[0].field == "amount"
    assert "1060.00" in refused.value.errors[0].message


def test_withholdings_add_up_per_jurisdiction_and_none_means_the_gross() -> None:
    two = _calculation(result=_withheld(("ES", "10.00"), ("ES", "5.00"), ("PT", "0.00")))
    assert withheld_by_jurisdiction(two) == {"ES": D("15.00")}
    assert payable_amount(_calculation()) == D("119.00")
    assert withheld_by_jurisdiction(_calculation(result={"withholding": None})) == {}


def test_withheld_accounts_are_codes_apart_from_tax_payable() -> None:
    assert withheld_code("ES", "EUR") == "payments:withheld:ES:EUR"
    assert withheld_code("ES", "EUR") != tax_payable_code("ES", "EUR")
    assert withheld_code("weird jurisdiction!", "EUR").startswith("payments:withheld:h")
