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
        pytest.param(
            payload(line("1", "10.00", supply_type="immovable_property")),
            ValidationError,
            "location_required",
            "lines.0.location",
            id="property_without_location",
        ),
        pytest.param(
            payload(line("1", "10.00", supply_type="event_admission", location="XX")),
            ValidationError,
            "unknown_jurisdiction",
            "lines.0.location",
            id="unknown_location",
        ),
        pytest.param(
            payload(line("1", "10.00"), buyer={"country": "FR", "tax_id": "FR4030\n3265045"}),
            ValidationError,
            "invalid_tax_id",
            "buyer.tax_id",
            id="tax_id_control_character",
        ),
        pytest.param(
            payload(line("1", "10.00"), buyer={"country": "FR", "tax_id": "FR\u200b40303265045"}),
            ValidationError,
            "invalid_tax_id",
            "buyer.tax_id",
            id="tax_id_zero_width_space",
        ),
        pytest.param(
            {
                **payload(line("1", "10.00")),
                "seller": {"country": "DE", "tax_id": "DE\x00136695976"},
            },
            ValidationError,
            "invalid_tax_id",
            "seller.tax_id",
            id="seller_tax_id_control_character",
        ),
        pytest.param(
            payload(line("1", "10"), currency="EUR", unit_price_decimals=1),
            ValidationError,
            "invalid_unit_price_decimals",
            "unit_price_decimals",
            id="fewer_price_decimals_than_the_currency",
        ),
        pytest.param(
            payload(line("1", "0.01255"), unit_price_decimals=4),
            ValidationError,
            "too_many_decimals",
            "lines.0.unit_price.amount",
            id="fine_price_too_fine",
        ),
        pytest.param(
            payload(line("1", "-0.0125"), unit_price_decimals=4),
            ValidationError,
            "negative_amount",
            "lines.0.unit_price.amount",
            id="fine_price_negative",
        ),
        pytest.param(
            payload(line("1", "1e-3"), unit_price_decimals=4),
            ValidationError,
            "invalid_amount",
            "lines.0.unit_price.amount",
            id="fine_price_exponent",
        ),
        pytest.param(
            # Canada as a whole spans six time zones: the catalog gives it none
            payload(
                line("1", "10.00", "CAD"),
                place="CA",
                currency="CAD",
                tax_point="2025-06-01T12:00:00Z",
            ),
            ValidationError,
            "time_zone_unknown",
            "tax_point",
            id="no_time_zone",
        ),
        pytest.param(
            payload(line("1", "10.00"), tax_point="0001-01-01T00:30:00+14:00"),
            ValidationError,
            "invalid_tax_point",
            "tax_point",
            id="tax_point_out_of_range",
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


def test_tax_point_needs_its_utc_offset() -> None:
    body = payload(line("1", "1.00"), tax_point="2020-07-01T00:30:00")
    assert _shape_errors(body) == [(("tax_point",), "timezone_aware")]


def test_absurd_tax_id_and_unknown_supply_type_are_refused() -> None:
    assert _shape_errors(payload(line("1", "1.00"), buyer={"country": "FR", "tax_id": "1" * 33}))[
        0
    ] == (("buyer", "tax_id"), "string_too_long")
    assert _shape_errors(payload(line("1", "1.00", supply_type="goods_and_stuff"))) == [
        (("lines", 0, "supply_type"), "enum")
    ]


def test_document_needs_lines() -> None:
    assert _shape_errors(payload()) == [(("lines",), "too_short")]
