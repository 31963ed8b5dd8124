"""Every rejection: its error class, stable code and dotted field path."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from shared.errors import AppError, BusinessRuleError, ValidationError
from shared.tax import TaxCalculationRequest

from .support import line, payload, run

EUR = {"currency": "EUR"}


def _rejected(body: dict[str, Any]) -> AppError:
    with pytest.raises(AppError) as caught:
        run(body)
    return caught.value


@pytest.mark.parametrize(
    ("body", "error_class", "code", "field"),
    [
        pytest.param(
            payload(line("1", "10.00"), place="US-WA"),
            ValidationError,
            "unknown_jurisdiction",
            "place_of_supply",
            id="unknown_jurisdiction",
        ),
        pytest.param(
            payload(line("1", "10.00"), line("1", "10.00", place_of_supply="CA-AB")),
            ValidationError,
            "unknown_jurisdiction",
            "lines.1.place_of_supply",
            id="unknown_line_jurisdiction",
        ),
        pytest.param(
            payload(line("1", "10.00", tax_category="luxury")),
            ValidationError,
            "unknown_tax_category",
            "lines.0.tax_category",
            id="unknown_category",
        ),
        pytest.param(
            # "reduced" exists nowhere in Canada's GST or BC's PST
            payload(
                line("1", "10.00", "CAD", tax_category="reduced"), place="CA-BC", currency="CAD"
            ),
            ValidationError,
            "unknown_tax_category",
            "lines.0.tax_category",
            id="category_unknown_to_one_tax",
        ),
        pytest.param(
            payload(line("1", "10.00"), on="2006-12-31"),
            BusinessRuleError,
            "no_rate_in_force",
            "lines.0.tax_category",
            id="no_rate_before_catalog",
        ),
        pytest.param(
            payload(line("1", "10.00", "CAD"), place="CA-NS", currency="CAD", on="2010-06-30"),
            BusinessRuleError,
            "no_rate_in_force",
            "lines.0.tax_category",
            id="no_rate_day_before_first",
        ),
        pytest.param(
            payload(line("1", "10.00", "USD")),
            ValidationError,
            "currency_mismatch",
            "lines.0.unit_price.currency",
            id="currency_mismatch_price",
        ),
        pytest.param(
            payload(line("1", "10.00", discount_amount={"amount": "1.00", "currency": "USD"})),
            ValidationError,
            "currency_mismatch",
            "lines.0.discount_amount.currency",
            id="currency_mismatch_discount",
        ),
        pytest.param(
            payload(line("1", "10.00"), line("-1", "10.00")),
            BusinessRuleError,
            "negative_quantity_not_allowed",
            "lines.1.quantity",
            id="negative_quantity_on_invoice",
        ),
        pytest.param(
            payload(line("1", "10.001")),
            ValidationError,
            "too_many_decimals",
            "lines.0.unit_price.amount",
            id="eur_three_decimals",
        ),
        pytest.param(
            payload(line("1", "100.5", "JPY"), place="JP", currency="JPY"),
            ValidationError,
            "too_many_decimals",
            "lines.0.unit_price.amount",
            id="jpy_decimals",
        ),
        pytest.param(
            payload(line("1", "1.2345", "KWD"), place="BH", currency="KWD"),
            ValidationError,
            "too_many_decimals",
            "lines.0.unit_price.amount",
            id="kwd_four_decimals",
        ),
        pytest.param(
            payload(line("1", "10.00", discount_amount={"amount": "0.0000001", **EUR})),
            ValidationError,
            "too_many_decimals",
            "lines.0.discount_amount.amount",
            id="discount_decimals",
        ),
        pytest.param(
            payload(line("1", "-10.00")),
            ValidationError,
            "negative_amount",
            "lines.0.unit_price.amount",
            id="negative_price",
        ),
        pytest.param(
            payload(line("1", "1e3")),
            ValidationError,
            "invalid_amount",
            "lines.0.unit_price.amount",
            id="exponent_price",
        ),
        pytest.param(
            payload(line("1", "10.00"), currency="EUE"),
            ValidationError,
            "unknown_currency",
            "currency",
            id="unknown_currency",
        ),
        pytest.param(
            payload(line("1.1234567", "10.00")),
            ValidationError,
            "invalid_quantity",
            "lines.0.quantity",
            id="quantity_decimals",
        ),
        pytest.param(
            payload(line("2e1", "10.00")),
            ValidationError,
            "invalid_quantity",
            "lines.0.quantity",
            id="quantity_exponent",
        ),
        pytest.param(
            payload(line("1", "10.00", discount_percent="100.5")),
            ValidationError,
            "invalid_discount_percent",
            "lines.0.discount_percent",
            id="discount_over_100",
        ),
        pytest.param(
            payload(
                line("1", "10.00", discount_percent="5", discount_amount={"amount": "1", **EUR})
            ),
            ValidationError,
            "conflicting_discounts",
            "lines.0.discount_percent",
            id="two_discounts",
        ),
        pytest.param(
            payload(line("2", "5.00", discount_amount={"amount": "10.01", **EUR})),
            BusinessRuleError,
            "discount_exceeds_line_amount",
            "lines.0.discount_amount.amount",
            id="discount_too_large",
        ),
        pytest.param(
            payload(
                line("1", "10.00"),
                buyer={
                    "country": "DE",
                    "exemption_certificates": [
                        {
                            "id": "C",
                            "jurisdiction": "DE",
                            "valid_from": "2025-01-01",
                            "valid_to": "2025-01-01",
                        }
                    ],
                },
            ),
            ValidationError,
            "invalid_interval",
            "buyer.exemption_certificates.0.valid_to",
            id="certificate_interval",
        ),
    ],
)
def test_rejection(
    body: dict[str, Any], error_class: type[AppError], code: str, field: str
) -> None:
    error = _rejected(body)
    assert type(error) is error_class
    assert error.status == 422
    assert error.code == code
    assert [(e.field, e.code) for e in error.errors] == [(field, code)]


def test_rejections_name_what_is_wrong() -> None:
    assert "US-WA" in _rejected(payload(line("1", "1.00"), place="US-WA")).detail
    assert "luxury" in _rejected(payload(line("1", "1.00", tax_category="luxury"))).detail
    no_rate = _rejected(payload(line("1", "1.00"), on="2006-12-31")).detail
    assert "DE" in no_rate
    assert "2006-12-31" in no_rate


def test_negative_quantity_is_fine_on_a_credit_note() -> None:
    result = run(payload(line("-1", "10.00"), document_type="credit_note"))
    assert str(result.gross) == "-11.90"


def _shape_errors(body: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        TaxCalculationRequest.model_validate_json(json.dumps(body), strict=True)
    return [(tuple(e["loc"]), e["type"]) for e in caught.value.errors()]


def test_unknown_field_is_refused() -> None:
    body = payload(line("1", "10.00"), discount="5")
    assert _shape_errors(body) == [(("discount",), "extra_forbidden")]


def test_float_amount_is_refused() -> None:
    body = payload({"quantity": "1", "unit_price": {"amount": 10.5, "currency": "EUR"}})
    assert _shape_errors(body) == [(("lines", 0, "unit_price", "amount"), "string_type")]


def test_numeric_quantity_is_refused() -> None:
    body = payload({"quantity": 2, "unit_price": {"amount": "10.00", "currency": "EUR"}})
    assert _shape_errors(body) == [(("lines", 0, "quantity"), "string_type")]


def test_bad_date_enum_and_code_shapes_are_refused() -> None:
    assert _shape_errors(payload(line("1", "1.00"), on="2025-02-30"))[0][0] == ("document_date",)
    assert _shape_errors(payload(line("1", "1.00"), rounding="bankers")) == [
        (("rounding",), "enum")
    ]
    assert _shape_errors(payload(line("1", "1.00"), place="de")) == [
        (("place_of_supply",), "string_pattern_mismatch")
    ]


def test_document_needs_lines() -> None:
    assert _shape_errors(payload()) == [(("lines",), "too_short")]
