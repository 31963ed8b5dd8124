"""Unit prices finer than the currency, and where quantity * unit price is rounded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import quantum

from .support import D, line, payload, run, totals


def _fine(*lines: dict[str, Any], **document: Any) -> dict[str, Any]:
    return payload(*lines, unit_price_decimals=4, **document)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # 1,000 * 0.0125 = 12.50 exactly; DE 19 %: 2.375 -> 2.38; 14.88
        pytest.param(_fine(line("1000", "0.0125")), ("12.50", "2.38", "14.88"), id="exact"),
        # 3 * 0.0125 = 0.0375 -> 0.04 per line (half_up); 0.0076 -> 0.01
        pytest.param(_fine(line("3", "0.0125")), ("0.04", "0.01", "0.05"), id="rounded_on_line"),
        # Truncated: 0.0375 -> 0.03; tax 0.0057 -> 0.00
        pytest.param(
            _fine(line("3", "0.0125"), rounding="down"), ("0.03", "0.00", "0.03"), id="truncated"
        ),
        # A percentage discount of the rounded extension: 1,000 * 0.0125 = 12.50, 10 % = 1.25
        pytest.param(
            _fine(line("1000", "0.0125", discount_percent="10")),
            ("11.25", "2.14", "13.39"),
            id="discount",
        ),
        # Inclusive, JPY with 2-decimal unit prices: 150 * 10.55 = 1582.5 -> 1583;
        # tax 1583 / 1.1 * 0.1 = 143.909 -> 144; net 1439
        pytest.param(
            payload(
                line("150", "10.55", "JPY"),
                place="JP",
                currency="JPY",
                price_mode="inclusive",
                unit_price_decimals=2,
            ),
            ("1439", "144", "1583"),
            id="jpy_inclusive",
        ),
    ],
)
def test_line_rounding_vector(body: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert [str(x) for x in totals(run(body))] == list(expected)


def test_the_unit_price_is_printed_with_its_own_decimals() -> None:
    document = run(_fine(line("1000", "0.0125"), line("1", "2"))).to_json()
    assert [ln["unit_price"] for ln in document["lines"]] == ["0.0125", "2.00"]
    assert document["lines"][0]["extension"] == "12.50"


def test_document_level_rounding_of_line_amounts() -> None:
    # Three lines of 3 * 0.0125 = 0.0375 each. Per line: 0.04 * 3 = 0.12.
    # Per document: 0.1125 -> 0.11 once, allocated 0.03 / 0.04 / 0.04 (each 0.0375 rounds to
    # 0.04, one unit too many, taken from the first of the equal gainers).
    # Tax (19 %) on the exact amounts, per line: 0.007125 -> 0.01 each; 0.03.
    lines = [line("3", "0.0125")] * 3
    per_line = run(_fine(*lines))
    per_document = run(_fine(*lines, line_amount_rounding="document"))
    assert per_line.net == D("0.12")
    assert per_document.net == D("0.11")
    assert [ln.net for ln in per_document.lines] == [D("0.03"), D("0.04"), D("0.04")]
    assert [ln.tax for ln in per_document.lines] == [D("0.01")] * 3
    assert totals(per_document) == (D("0.11"), D("0.03"), D("0.14"))


def test_document_level_rounding_with_document_level_tax() -> None:
    # 10 lines of 1 * 0.0049: each rounds to 0.00 on its line (net 0.00, tax 0.00).
    # Per document: 0.049 -> 0.05 net; tax 0.049 * 19 % = 0.00931 -> 0.01 once.
    lines = [line("1", "0.0049")] * 10
    assert totals(run(_fine(*lines))) == (D("0.00"), D("0.00"), D("0.00"))
    result = run(_fine(*lines, line_amount_rounding="document", rounding_scope="document"))
    assert totals(result) == (D("0.05"), D("0.01"), D("0.06"))
    assert sum(ln.net for ln in result.lines) == D("0.05")
    assert all(ln.extension - ln.discount == ln.net for ln in result.lines)


def test_without_the_opt_in_unit_prices_keep_the_currency_decimals() -> None:
    from shared.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        run(payload(line("1000", "0.0125")))
    assert caught.value.errors[0].field == "lines.0.unit_price.amount"
    assert caught.value.code == "too_many_decimals"


_fine_price = st.integers(min_value=0, max_value=10**8).map(lambda n: str(Decimal(n) / 10**6))


@given(
    st.lists(
        st.tuples(st.decimals(min_value=0, max_value=1000, places=3), _fine_price),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["exclusive", "inclusive"]),
    st.sampled_from(["half_up", "half_even", "down"]),
    st.sampled_from(["line", "document"]),
    st.sampled_from(["line", "document"]),
)
def test_document_level_line_amounts_add_up(
    lines: list[tuple[Decimal, str]],
    price_mode: str,
    rounding: str,
    tax_scope: str,
    amount_scope: str,
) -> None:
    body = payload(
        *[line(str(q), p) for q, p in lines],
        unit_price_decimals=6,
        price_mode=price_mode,
        rounding=rounding,
        rounding_scope=tax_scope,
        line_amount_rounding=amount_scope,
    )
    result = run(body)
    unit = quantum("EUR")
    exact = sum((q * D(p) for q, p in lines), D(0))
    printed = result.net if price_mode == "exclusive" else result.gross
    if amount_scope == "document":
        assert abs(printed - exact) < unit  # rounded once, whatever the mode
    else:
        assert abs(printed - exact) < unit * len(lines)
    assert result.net + result.tax == result.gross
    for ln in result.lines:
        assert ln.net + ln.tax == ln.gross
        assert ln.extension - ln.discount == (ln.net if price_mode == "exclusive" else ln.gross)
        assert all(-x.as_tuple().exponent == 2 for x in (ln.net, ln.tax, ln.gross))  # type: ignore[operator]
