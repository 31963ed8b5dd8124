"""Properties of the engine over generated documents (hypothesis)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.money import minor_unit, quantum
from shared.tax import RoundingScope, TaxCalculation

from .support import line, payload, run

# Places with the categories valid there; QC in 2012 has a compound QST.
PLACES: list[tuple[str, str, list[str]]] = [
    ("DE", "2025-06-01", ["standard", "reduced", "exempt"]),
    ("FR", "2025-06-01", ["standard", "intermediate", "reduced", "super_reduced"]),
    ("IE", "2025-06-01", ["standard", "reduced", "zero_rated"]),
    ("CA-BC", "2025-06-01", ["standard", "childrens_clothing", "zero_rated"]),
    ("CA-QC", "2025-06-01", ["standard", "zero_rated"]),
    ("CA-QC", "2012-06-01", ["standard", "zero_rated"]),
    ("US-CA", "2025-06-01", ["standard", "exempt"]),
    ("JP", "2025-06-01", ["standard", "reduced"]),
    ("BH", "2025-06-01", ["standard", "zero_rated"]),
    ("US-OR", "2025-06-01", ["standard"]),
]
NON_COMPOUND_PLACES = [p for p in PLACES if p[:2] != ("CA-QC", "2012-06-01")]
CURRENCIES = ["EUR", "JPY", "BHD", "CAD"]


def _price(currency: str) -> st.SearchStrategy[str]:
    unit = quantum(currency)
    return st.integers(min_value=0, max_value=10**7).map(lambda n: str(Decimal(n) * unit))


@st.composite
def documents(
    draw: st.DrawFn,
    places: list[tuple[str, str, list[str]]] = PLACES,
    price_mode: str | None = None,
) -> dict[str, Any]:
    place, on, categories = draw(st.sampled_from(places))
    currency = draw(st.sampled_from(CURRENCIES))
    credit_note = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        quantity = draw(st.decimals(min_value=0, max_value=1000, places=3))
        if credit_note and draw(st.booleans()):
            quantity = -quantity
        extra: dict[str, Any] = {"tax_category": draw(st.sampled_from(categories))}
        if draw(st.booleans()):
            extra["discount_percent"] = str(draw(st.decimals(min_value=0, max_value=100, places=2)))
        lines.append(line(str(quantity), draw(_price(currency)), currency, **extra))
    return payload(
        *lines,
        place=place,
        on=on,
        currency=currency,
        document_type="credit_note" if credit_note else "invoice",
        price_mode=price_mode or draw(st.sampled_from(["exclusive", "inclusive"])),
        rounding=draw(st.sampled_from(["half_up", "half_even", "down"])),
        rounding_scope=draw(st.sampled_from(["line", "document"])),
    )


def _assert_exponent(result: TaxCalculation) -> None:
    places = minor_unit(result.currency)
    amounts = [result.net, result.tax, result.gross]
    for line_ in result.lines:
        amounts += [line_.net, line_.tax, line_.gross]
        amounts += [t.tax_amount for t in line_.taxes] + [t.taxable_amount for t in line_.taxes]
    assert all(-a.as_tuple().exponent == places for a in amounts)  # type: ignore[operator]


@given(documents(price_mode="exclusive"))
def test_exclusive_gross_is_net_plus_tax(body: dict[str, Any]) -> None:
    result = run(body)
    assert result.gross == result.net + result.tax
    for line_ in result.lines:
        assert line_.net == line_.extension - line_.discount
        assert line_.gross == line_.net + line_.tax
        assert line_.tax == sum((t.tax_amount for t in line_.taxes), Decimal(0))
    assert result.tax == sum((row.tax_amount for row in result.breakdown), Decimal(0))
    _assert_exponent(result)


@given(documents(price_mode="inclusive"))
def test_inclusive_net_plus_tax_is_gross_exactly(body: dict[str, Any]) -> None:
    result = run(body)
    assert result.net + result.tax == result.gross
    assert result.gross == sum((ln.extension - ln.discount for ln in result.lines), Decimal(0))
    for line_ in result.lines:
        assert line_.net + line_.tax == line_.gross == line_.extension - line_.discount
    assert result.tax == sum((j.tax_amount for j in result.jurisdictions), Decimal(0))
    _assert_exponent(result)


@given(documents(places=NON_COMPOUND_PLACES))
def test_document_and_line_rounding_differ_by_half_a_unit_per_line_and_group(
    body: dict[str, Any],
) -> None:
    per_line = run({**body, "rounding_scope": RoundingScope.LINE.value})
    per_document = run({**body, "rounding_scope": RoundingScope.DOCUMENT.value})
    unit = quantum(body["currency"])
    charged = [t for ln in per_line.lines for t in ln.taxes if t.reason.charges_tax]
    groups = {(t.jurisdiction, t.tax, t.rate) for t in charged}
    # Per line and tax, rounding moves a tax by at most half a unit; per group, the single
    # rounding adds at most half a unit more. Truncation moves each by up to a whole unit.
    bound = unit * (len(charged) + len(groups)) / (1 if body["rounding"] == "down" else 2)
    if body["price_mode"] == "exclusive":
        assert per_line.net == per_document.net
        # One tax per line: exactly the brief's bound, half a unit per line (+ the group's).
        assert abs(per_document.tax - per_line.tax) <= bound
    else:
        # Inclusive: gross is fixed, tax moves between net and tax.
        assert per_line.gross == per_document.gross
        assert abs(per_document.tax - per_line.tax) <= bound
    for line_ in per_document.lines:
        for tax in line_.taxes:
            exact = tax.taxable_amount * tax.rate / 100
            if body["price_mode"] == "exclusive":
                assert abs(tax.tax_amount - exact) <= unit


@given(documents())
def test_calculation_is_deterministic(body: dict[str, Any]) -> None:
    first = run(body).to_json()
    assert run(body).to_json() == first
    # A caller's decimal context does not leak into the result.
    with decimal.localcontext() as context:
        context.prec = 6
        context.rounding = decimal.ROUND_DOWN
        assert run(body).to_json() == first


@settings(max_examples=50)
@given(documents())
def test_credit_note_is_the_mirror_of_its_invoice(body: dict[str, Any]) -> None:
    invoice_lines = [{**ln, "quantity": ln["quantity"].lstrip("-")} for ln in body["lines"]]
    invoice = run({**body, "document_type": "invoice", "lines": invoice_lines})
    credit_lines = [{**ln, "quantity": f"-{ln['quantity']}"} for ln in invoice_lines]
    credit = run({**body, "document_type": "credit_note", "lines": credit_lines})
    assert (credit.net, credit.tax, credit.gross) == (-invoice.net, -invoice.tax, -invoice.gross)
    assert [ln.tax for ln in credit.lines] == [-ln.tax for ln in invoice.lines]
