"""Helpers for the tax tests: request payloads as the HTTP layer receives them."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from shared.tax import (
    CategoryKind,
    Jurisdiction,
    RateCatalog,
    Source,
    TaxCalculation,
    TaxCalculationRequest,
    TaxCategory,
    TaxDefinition,
    TaxRate,
    calculate,
    load_seed_catalog,
)

D = Decimal
TEST_SOURCE = Source("Synthetic rate for tests", "https://example.org/tax-tests")


@cache
def seed_catalog() -> RateCatalog:
    return load_seed_catalog()


def line(quantity: str, price: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return {"quantity": quantity, "unit_price": {"amount": price, "currency": currency}, **extra}


def payload(
    *lines: dict[str, Any],
    place: str = "DE",
    on: str = "2025-06-01",
    currency: str = "EUR",
    seller: str = "DE",
    **document: Any,
) -> dict[str, Any]:
    return {
        "document_date": on,
        "currency": currency,
        "place_of_supply": place,
        "seller": {"country": seller},
        "lines": list(lines),
        **document,
    }


def request_of(body: dict[str, Any]) -> TaxCalculationRequest:
    """Validate as the HTTP layer does: JSON text, strict mode."""
    return TaxCalculationRequest.model_validate_json(json.dumps(body), strict=True)


def run(body: dict[str, Any], catalog: RateCatalog | None = None) -> TaxCalculation:
    return calculate(request_of(body).to_document(), catalog or seed_catalog())


def totals(result: TaxCalculation) -> tuple[Decimal, Decimal, Decimal]:
    return result.net, result.tax, result.gross


def rate(
    jurisdiction: str,
    tax: str,
    percent: str,
    valid_from: date = date(2000, 1, 1),
    valid_to: date | None = None,
    *,
    category: str = "standard",
    compound: bool = False,
) -> TaxRate:
    return TaxRate(
        jurisdiction, tax, category, D(percent), valid_from, valid_to, TEST_SOURCE, compound
    )


def two_tax_catalog(*, first_order: int, second_order: int, second_compound: bool) -> RateCatalog:
    """XA levies A (10 %) and B (10 %, maybe compound); the orders say which comes first."""
    taxes = [
        TaxDefinition("XA", "A", "Tax A", first_order),
        TaxDefinition("XA", "B", "Tax B", second_order),
    ]
    return RateCatalog(
        [Jurisdiction("XA", "Test land")],
        taxes,
        [TaxCategory("XA", t.code, "standard", CategoryKind.STANDARD) for t in taxes],
        [rate("XA", "A", "10"), rate("XA", "B", "10", compound=second_compound)],
    )


def locality_catalog() -> RateCatalog:
    """A country tax, a regional tax and a city tax stacking on one line."""
    places = [
        Jurisdiction("XB", "Test country"),
        Jurisdiction("XB-R1", "Test region"),
        Jurisdiction("XB-R1/CITY", "Test city"),
    ]
    taxes = [
        TaxDefinition("XB", "FED", "Federal", 10),
        TaxDefinition("XB-R1", "REG", "Regional", 20),
        TaxDefinition("XB-R1/CITY", "CITY", "City", 30),
    ]
    return RateCatalog(
        places,
        taxes,
        [TaxCategory(t.jurisdiction, t.code, "standard", CategoryKind.STANDARD) for t in taxes],
        [rate("XB", "FED", "5"), rate("XB-R1", "REG", "2.5"), rate("XB-R1/CITY", "CITY", "1.375")],
    )
