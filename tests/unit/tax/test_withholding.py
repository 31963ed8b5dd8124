"""Withholding taxes: kept back by the buyer, shown apart, never part of tax or gross."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import AppError

from .support import D, line, payload, run, totals


def _spain(*lines: dict[str, Any], **document: Any) -> dict[str, Any]:
    return payload(*lines, place="ES", seller="ES", buyer={"country": "ES"}, **document)


def test_irpf_reduces_what_is_payable() -> None:
    # A Spanish professional's invoice of 1,000.00: IVA 21 % = 210.00, gross 1,210.00;
    # IRPF 15 % of the net = 150.00 withheld; payable 1,060.00
    result = run(_spain(line("1", "1000.00", withholding_category="professional")))
    assert totals(result) == (D("1000.00"), D("210.00"), D("1210.00"))
    assert (result.withheld, result.payable) == (D("150.00"), D("1060.00"))
    [withholding] = result.lines[0].withholdings
    assert (withholding.tax, str(withholding.rate), withholding.amount) == (
        "IRPF",
        "15",
        D("150.00"),
    )
    document = result.to_json()
    assert document["totals"] == {"net": "1000.00", "tax": "210.00", "gross": "1210.00"}
    assert document["withholding"] == {
        "withheld": "150.00",
        "payable": "1060.00",
        "breakdown": [
            {
                "jurisdiction": "ES",
                "tax": "IRPF",
                "rate": "15",
                "taxable_amount": "1000.00",
                "amount": "150.00",
            }
        ],
    }
    # The tax per jurisdiction (what payments and the ledger book) is IVA only.
    assert [(j.jurisdiction, j.tax_amount) for j in result.jurisdictions] == [("ES", D("210.00"))]
    assert [row.tax for row in result.breakdown] == ["VAT"]


def test_document_default_with_a_line_override() -> None:
    # Document default "professional" (15 %); the second line is a new professional's (7 %):
    # 200.00 * 15 % = 30.00 + 100.00 * 7 % = 7.00 = 37.00 withheld
    result = run(
        _spain(
            line("1", "200.00"),
            line("1", "100.00", withholding_category="new_professional"),
            withholding_category="professional",
        )
    )
    assert [ln.withheld for ln in result.lines] == [D("30.00"), D("7.00")]
    assert result.withheld == D("37.00")
    assert result.payable == D("363.00") - D("37.00")


def test_inclusive_prices_withhold_on_the_extracted_net() -> None:
    # 121.00 gross: net 100.00, IVA 21.00; IRPF 15 % of 100.00 = 15.00; payable 106.00
    result = run(
        _spain(line("1", "121.00", withholding_category="professional"), price_mode="inclusive")
    )
    assert (result.net, result.withheld, result.payable) == (D("100.00"), D("15.00"), D("106.00"))


def test_document_scope_rounds_the_withholding_once() -> None:
    # Three lines of 0.10: 15 % = 0.015 each -> 0.02 per line (0.06); once: 0.045 -> 0.05
    lines = [line("1", "0.10", withholding_category="professional")] * 3
    assert run(_spain(*lines)).withheld == D("0.06")
    result = run(_spain(*lines, rounding_scope="document"))
    assert result.withheld == D("0.05")
    assert sum(ln.withheld for ln in result.lines) == D("0.05")


def test_a_credit_note_gives_the_withholding_back() -> None:
    result = run(
        _spain(
            line("-1", "1000.00", withholding_category="professional"),
            document_type="credit_note",
        )
    )
    assert (result.gross, result.withheld, result.payable) == (
        D("-1210.00"),
        D("-150.00"),
        D("-1060.00"),
    )


def test_no_withholding_without_asking() -> None:
    result = run(_spain(line("1", "1000.00")))
    assert result.withheld == D("0.00")
    assert result.payable == result.gross
    assert result.to_json()["withholding"] is None


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        # Germany has no withholding tax in the catalog
        pytest.param(
            payload(line("1", "100.00", withholding_category="professional")),
            "no_withholding_tax",
            "lines.0.withholding_category",
            id="no_withholding_tax",
        ),
        pytest.param(
            _spain(line("1", "100.00"), withholding_category="artist"),
            "unknown_tax_category",
            "withholding_category",
            id="unknown_category",
        ),
        # The catalog's IRPF rates start on 2015-07-12
        pytest.param(
            _spain(line("1", "100.00", withholding_category="professional"), on="2015-01-01"),
            "no_rate_in_force",
            "lines.0.withholding_category",
            id="no_rate",
        ),
    ],
)
def test_refusals(body: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(AppError) as caught:
        run(body)
    assert caught.value.status == 422
    assert (caught.value.code, [e.field for e in caught.value.errors]) == (code, [field])
