"""The ``down`` rounding mode: the fraction of a minor unit is dropped (端数切捨て)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import quantum

from .support import D, line, payload, run, totals


def _jp(*lines: dict[str, Any], **document: Any) -> dict[str, Any]:
    return payload(*lines, place="JP", currency="JPY", seller="JP", rounding="down", **document)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # JP 10 %: 999 * 0.10 = 99.9 -> 99 (half_up would give 100); 1098
        pytest.param(_jp(line("1", "999", "JPY")), ("999", "99", "1098"), id="jpy_standard"),
        # JP reduced 8 %: 1299 * 0.08 = 103.92 -> 103
        pytest.param(
            _jp(line("1", "1299", "JPY", tax_category="reduced")),
            ("1299", "103", "1402"),
            id="jpy_reduced",
        ),
        # Inclusive 10 %: 1000 / 1.1 = 909.09...; tax 90.909... -> 90; net 910
        pytest.param(
            _jp(line("1", "1000", "JPY"), price_mode="inclusive"),
            ("910", "90", "1000"),
            id="jpy_inclusive",
        ),
        # Credit note: -99.9 truncates toward zero -> -99, the mirror of the invoice
        pytest.param(
            _jp(line("-1", "999", "JPY"), document_type="credit_note"),
            ("-999", "-99", "-1098"),
            id="jpy_credit_note",
        ),
        # EUR, DE 19 %: 0.99 * 0.19 = 0.1881 -> 0.18 (half_up 0.19)
        pytest.param(
            payload(line("1", "0.99"), rounding="down"), ("0.99", "0.18", "1.17"), id="eur"
        ),
        # The extension is truncated too: 1.5 * 0.99 = 1.485 -> 1.48; * 0.19 = 0.2812 -> 0.28
        pytest.param(
            payload(line("1.5", "0.99"), rounding="down"),
            ("1.48", "0.28", "1.76"),
            id="fractional_quantity",
        ),
    ],
)
def test_truncation_vector(body: dict[str, Any], expected: tuple[str, str, str]) -> None:
    result = run(body)
    assert [str(x) for x in totals(result)] == list(expected)
    assert result.to_json()["rounding"] == "down"


def test_qualified_invoice_truncates_once_per_rate() -> None:
    # Japan's qualified invoice: one truncation per rate and invoice. Three lines of 333 at 10 %:
    # per line 33.3 -> 33 each (99); per document 999 * 0.10 = 99.9 -> 99 as well; with
    # 8 % reduced lines 3 * 155 * 0.08 = 37.2 -> 37 (per line 12.4 -> 12 each, 36)
    lines = [line("1", "333", "JPY")] * 3 + [line("1", "155", "JPY", tax_category="reduced")] * 3
    per_line = run(_jp(*lines))
    per_document = run(_jp(*lines, rounding_scope="document"))
    assert per_line.tax == D("135")
    assert per_document.tax == D("136")
    assert [(str(r.rate), r.tax_amount) for r in per_document.breakdown] == [
        ("10", D("99")),
        ("8", D("37")),
    ]


_prices = st.integers(min_value=0, max_value=10**6)


@given(
    st.lists(st.tuples(st.integers(min_value=1, max_value=50), _prices), min_size=1, max_size=6),
    st.sampled_from(["line", "document"]),
)
def test_truncated_tax_never_exceeds_the_exact_tax(
    lines: list[tuple[int, int]], scope: str
) -> None:
    body = payload(
        *[line(str(q), str(D(p) * quantum("EUR"))) for q, p in lines],
        rounding="down",
        rounding_scope=scope,
    )
    result = run(body)
    exact = sum((ln.net * D("0.19") for ln in result.lines), D(0))
    assert exact - len(result.lines) * quantum("EUR") < result.tax <= exact
    assert result.gross == result.net + result.tax
