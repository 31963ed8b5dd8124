"""Whatever a well-formed request holds, the answer is a calculation or a 422 naming a field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import AppError
from shared.money import minor_unit
from shared.tax import TaxCalculationRequest, calculate

from .support import seed_catalog

KNOWN_PLACES = ["DE", "FR", "ES", "OM", "CA-BC", "CA-NS", "JP", "US-OR", "US-CA"]
# Mostly known places; now and then one the catalog lacks or one without a time zone.
PLACES = st.sampled_from(KNOWN_PLACES * 4 + ["CA", "XX", "DE-BY"])
CATEGORIES = st.sampled_from(
    ["standard"] * 8 + ["reduced", "exempt", "zero_rated", "childrens_clothing", "luxury"]
)
SUPPLY_TYPES = [
    "general",
    "electronic_services",
    "immovable_property",
    "passenger_transport",
    "event_admission",
    "restaurant_catering",
]
_PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
TAX_IDS = st.one_of(
    st.none(),
    st.text(_PRINTABLE, max_size=32),
    st.text(max_size=32),  # control and invisible characters included: refused
    st.sampled_from(["FR40303265045", "DE136695976", "EL094259216", "N/A", " ", "XI123456789"]),
)
_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
TAX_POINTS = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).flatmap(
        lambda moment: _OFFSETS.map(lambda zone: moment.replace(tzinfo=zone).isoformat())
    ),
    st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda moment: moment.replace(tzinfo=UTC).isoformat()
    ),
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.none(), strategy)


@st.composite
def lines(draw: st.DrawFn, currency: str, price_places: int) -> dict[str, Any]:
    price = draw(st.decimals(min_value=0, max_value=10**9, places=price_places, allow_nan=False))
    body: dict[str, Any] = {
        "quantity": str(draw(st.decimals(min_value=0, max_value=1000, places=3))),
        "unit_price": {"amount": format(price, "f"), "currency": currency},
        "tax_category": draw(CATEGORIES),
    }
    for key, strategy in (
        ("supply_type", _optional(st.sampled_from(SUPPLY_TYPES))),
        ("location", _optional(PLACES)),
        ("place_of_supply", _optional(PLACES)),
        ("withholding_category", _optional(st.sampled_from(["professional", "artist"]))),
        ("discount_percent", _optional(st.sampled_from(["0", "12.5", "100"]))),
    ):
        value = draw(strategy)
        if value is not None:
            body[key] = value
    return body


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(["EUR", "JPY", "OMR", "CAD"]))
    unit_price_decimals = draw(st.sampled_from([None, None, None, 0, 4, 8]))
    # Prices mostly as fine as allowed; sometimes finer, to be refused.
    allowed = minor_unit(currency) if unit_price_decimals is None else unit_price_decimals
    price_places = draw(st.sampled_from([allowed, allowed, allowed + 1]))
    buyer: dict[str, Any] = {"country": draw(st.sampled_from(["FR", "DE", "GR", "US", "OM"]))}
    tax_id = draw(TAX_IDS)
    if tax_id is not None:
        buyer["tax_id"] = tax_id
    body: dict[str, Any] = {
        "document_type": draw(st.sampled_from(["invoice", "credit_note"])),
        "document_date": draw(st.dates(date(1990, 1, 1), date(2100, 1, 1))).isoformat(),
        "currency": currency,
        "place_of_supply": draw(PLACES),
        "seller": {"country": draw(st.sampled_from(["DE", "FR", "US", "ES"]))},
        "buyer": buyer,
        "price_mode": draw(st.sampled_from(["exclusive", "inclusive"])),
        "rounding": draw(st.sampled_from(["half_up", "half_even", "down"])),
        "rounding_scope": draw(st.sampled_from(["line", "document"])),
        "line_amount_rounding": draw(st.sampled_from(["line", "document"])),
        "supply_type": draw(st.sampled_from(["general"] * 5 + SUPPLY_TYPES)),
        "lines": draw(st.lists(lines(currency, price_places), min_size=1, max_size=4)),
    }
    if body["document_type"] == "credit_note" and draw(st.booleans()):
        for line in body["lines"]:
            line["quantity"] = f"-{line['quantity']}"
    for key, value in (
        ("unit_price_decimals", unit_price_decimals),
        ("tax_point", draw(TAX_POINTS)),
        ("withholding_category", draw(_optional(st.just("professional")))),
    ):
        if value is not None:
            body[key] = value
    return body


@settings(max_examples=400, deadline=None)
@given(requests())
def test_every_request_is_answered_or_refused_on_a_field(body: dict[str, Any]) -> None:
    try:
        request = TaxCalculationRequest.model_validate_json(json.dumps(body), strict=True)
    except pydantic.ValidationError:
        return  # a shape error: the HTTP layer answers 422 with the field
    try:
        result = calculate(request.to_document(), seed_catalog())
    except AppError as error:
        assert error.status == 422
        assert error.errors and all(e.field for e in error.errors)
        return
    document = result.to_json()
    assert Decimal(document["totals"]["gross"]) == result.gross
    assert result.net + result.tax == result.gross
    assert result.payable == result.gross - result.withheld
