"""Per-unit (excise) rates: exact amounts per unit, compounding into VAT, units and currencies."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.errors import BusinessRuleError, ValidationError
from shared.tax import RateCatalog, Reason, catalog_from_seed
from shared.tax.levy import unrounded_taxes

from .support import D, line, payload, run, totals

SOURCE = {"publication": "Synthetic rate for tests", "url": "https://example.org/tax-tests"}


def _rate(**fields: Any) -> dict[str, Any]:
    return {"valid_from": "2000-01-01", "source": SOURCE, **fields}


def excise_catalog(
    currency: str = "EUR",
    per_litre: str = "0.6545",
    per_item: str = "0.10",
    vat: str = "19",
    *,
    compound: bool = True,
) -> RateCatalog:
    """XE levies an excise duty on fuel (per litre) and tobacco (per item), then VAT on
    price plus excise for fuel (compound) and on the price alone for everything else."""
    seed = {
        "schema_version": 1,
        "jurisdictions": [
            {
                "code": "XE",
                "name": "Excise land",
                "taxes": [
                    {
                        "code": "EXCISE",
                        "name": "Excise duty",
                        "order": 5,
                        "selective": True,
                        "categories": [
                            {
                                "code": "fuel",
                                "kind": "standard",
                                "rates": [
                                    _rate(
                                        per_unit={
                                            "amount": per_litre,
                                            "currency": currency,
                                            "unit": "l",
                                        }
                                    )
                                ],
                            },
                            {
                                "code": "tobacco",
                                "kind": "standard",
                                "rates": [
                                    _rate(
                                        per_unit={
                                            "amount": per_item,
                                            "currency": currency,
                                            "unit": "item",
                                        }
                                    )
                                ],
                            },
                        ],
                    },
                    {
                        "code": "VAT",
                        "name": "Value added tax",
                        "order": 10,
                        "categories": [
                            {"code": "standard", "kind": "standard", "rates": [_rate(rate=vat)]},
                            {
                                "code": "fuel",
                                "kind": "standard",
                                "rates": [_rate(rate=vat, compound=compound)],
                            },
                            {"code": "tobacco", "kind": "standard", "rates": [_rate(rate=vat)]},
                        ],
                    },
                ],
            }
        ],
    }
    return catalog_from_seed(json.dumps(seed))


def fuel(quantity: str, price: str, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return line(quantity, price, currency, tax_category="fuel", unit="l", **extra)


def doc(*lines: dict[str, Any], currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    return payload(*lines, place="XE", currency=currency, seller="XE", **extra)


def test_fuel_excise_is_quantity_times_amount_and_vat_is_levied_on_price_plus_excise() -> None:
    result = run(doc(fuel("50", "1.50")), excise_catalog())
    [row] = result.lines
    excise, vat = row.taxes
    # excise: 50 l * 0.6545 = 32.725 -> 32.73 (half_up)
    assert (excise.tax, excise.tax_amount, excise.rate) == ("EXCISE", D("32.73"), D(0))
    assert excise.per_unit is not None and excise.per_unit.unit == "l"
    assert excise.reason is Reason.STANDARD_RATED
    # VAT compound: 19 % * (75.00 + 32.73) = 20.4687 -> 20.47, on a base of 107.73
    assert (vat.compound, vat.taxable_amount, vat.tax_amount) == (True, D("107.73"), D("20.47"))
    assert totals(result) == (D("75.00"), D("53.20"), D("128.20"))


def test_half_even_rounds_the_excise_tie_to_even() -> None:
    result = run(doc(fuel("50", "1.50"), rounding="half_even"), excise_catalog())
    # 32.725 -> 32.72; VAT 19 % * 107.72 = 20.4668 -> 20.47
    assert [t.tax_amount for t in result.lines[0].taxes] == [D("32.72"), D("20.47")]


def test_document_rounding_levies_vat_on_the_unrounded_excise() -> None:
    body = doc(fuel("50", "1.50"), fuel("1", "1.50"), rounding_scope="document")
    result = run(body, excise_catalog())
    # excise: 32.725 + 0.6545 = 33.3795 -> 33.38, allocated 32.73 / 0.65
    # VAT: 0.19 * (75 + 32.725) = 20.46775 and 0.19 * (1.50 + 0.6545) = 0.409355;
    # together 20.877105 -> 20.88, allocated 20.47 / 0.41
    assert [[t.tax_amount for t in row.taxes] for row in result.lines] == [
        [D("32.73"), D("20.47")],
        [D("0.65"), D("0.41")],
    ]
    assert result.tax == D("54.26")


def test_inclusive_prices_extract_net_after_the_fixed_excise() -> None:
    result = run(doc(fuel("50", "2.50"), price_mode="inclusive"), excise_catalog())
    # gross 125.00; fixed: excise 32.725, VAT on it 6.21775; factor 0.19
    # net = (125 - 38.94275) / 1.19 = 72.3170...; VAT = 6.21775 + 13.7402... = 19.9579... -> 19.96
    assert [t.tax_amount for t in result.lines[0].taxes] == [D("32.73"), D("19.96")]
    assert totals(result) == (D("72.31"), D("52.69"), D("125.00"))


def test_a_non_compound_vat_ignores_the_excise() -> None:
    result = run(doc(fuel("50", "1.50")), excise_catalog(compound=False))
    # VAT 19 % * 75.00 = 14.25; excise as before
    assert [t.tax_amount for t in result.lines[0].taxes] == [D("32.73"), D("14.25")]


def test_a_selective_tax_skips_categories_it_does_not_list() -> None:
    result = run(doc(line("1", "10.00")), excise_catalog())
    assert [t.tax for t in result.lines[0].taxes] == ["VAT"]
    assert result.tax == D("1.90")


def test_a_rate_per_item_needs_no_unit() -> None:
    result = run(doc(line("20", "0.40", tax_category="tobacco")), excise_catalog())
    # 20 * 0.10 = 2.00 excise; VAT 19 % * 8.00 = 1.52
    assert [t.tax_amount for t in result.lines[0].taxes] == [D("2.00"), D("1.52")]


def test_a_credit_note_mirrors_its_invoice() -> None:
    invoice = run(doc(fuel("50", "1.50")), excise_catalog())
    credit = run(doc(fuel("-50", "1.50"), document_type="credit_note"), excise_catalog())
    assert totals(credit) == tuple(-x for x in totals(invoice))
    assert [t.tax_amount for t in credit.lines[0].taxes] == [D("-32.73"), D("-20.47")]


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [("half_up", "1792"), ("half_even", "1792"), ("down", "1791")],
)
def test_yen_excise_rounds_to_whole_yen(rounding: str, expected: str) -> None:
    # Japan's gasoline tax, 53.8 JPY per litre: 33.3 l * 53.8 = 1791.54
    catalog = excise_catalog("JPY", per_litre="53.8", per_item="1", vat="10", compound=False)
    body = doc(fuel("33.3", "170", "JPY"), currency="JPY", rounding=rounding)
    assert run(body, catalog).lines[0].taxes[0].tax_amount == D(expected)


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [("half_up", "0.038"), ("half_even", "0.038"), ("down", "0.037")],
)
def test_three_decimal_excise(rounding: str, expected: str) -> None:
    # 3 items * 0.0125 BHD = 0.0375, a tie at the third decimal
    catalog = excise_catalog("BHD", per_item="0.0125", vat="10")
    body = doc(line("3", "1.000", "BHD", tax_category="tobacco"), currency="BHD", rounding=rounding)
    assert run(body, catalog).lines[0].taxes[0].tax_amount == D(expected)


def test_an_inclusive_price_below_its_excise_is_refused_and_at_it_is_not() -> None:
    catalog = excise_catalog("JPY", per_litre="53.8", per_item="1", vat="10")
    # 10 l: excise 538, VAT on it 53.8: 591.8 of fixed taxes
    kept = run(
        doc(
            fuel("10", "59.2", "JPY"), currency="JPY", price_mode="inclusive", unit_price_decimals=1
        ),
        catalog,
    )
    assert kept.lines[0].gross == D("592")
    assert kept.lines[0].net >= 0
    with pytest.raises(BusinessRuleError) as refused:
        run(
            doc(
                fuel("10", "59.1", "JPY"),
                currency="JPY",
                price_mode="inclusive",
                unit_price_decimals=1,
            ),
            catalog,
        )
    assert refused.value.code == "price_below_per_unit_tax"
    assert refused.value.errors[0].field == "lines.0.unit_price.amount"


def test_a_rate_in_another_currency_is_refused_on_the_currency() -> None:
    with pytest.raises(ValidationError) as refused:
        run(doc(fuel("1", "1.50", "USD"), currency="USD"), excise_catalog())
    assert refused.value.code == "catalog_currency_mismatch"
    assert refused.value.errors[0].field == "currency"


@pytest.mark.parametrize(("unit", "code"), [(None, "unit_required"), ("kg", "unit_mismatch")])
def test_a_rate_per_litre_needs_litres(unit: str | None, code: str) -> None:
    fuel_line = line("1", "1.50", tax_category="fuel", **({"unit": unit} if unit else {}))
    with pytest.raises(ValidationError) as refused:
        run(doc(fuel_line), excise_catalog())
    assert refused.value.code == code
    assert refused.value.errors[0].field == "lines.0.unit"


def test_the_result_shows_the_amount_per_unit() -> None:
    document = run(doc(fuel("50", "1.50")), excise_catalog()).to_json()
    excise = document["lines"][0]["taxes"][0]
    assert excise["per_unit"] == {"amount": "0.6545", "currency": "EUR", "unit": "l"}
    assert document["lines"][0]["unit"] == "l"
    assert document["breakdown"][0]["per_unit"]["amount"] == "0.6545"
    assert document["lines"][0]["taxes"][1]["per_unit"] is None


def test_the_affine_extraction_matches_the_closed_form() -> None:
    catalog = excise_catalog()
    fuel_rate = catalog.rate("XE", "EXCISE", "fuel", date(2020, 1, 1))
    vat_rate = catalog.rate("XE", "VAT", "fuel", date(2020, 1, 1))
    excise, vat = unrounded_taxes(
        [fuel_rate, vat_rate], D("125"), D("50"), inclusive=True, price_field="p"
    )
    net = D("125") - excise - vat
    assert excise == D("32.725")
    assert vat == (net + excise) * D("0.19")


@pytest.mark.parametrize(
    ("rate", "field", "code"),
    [
        (
            {"rate": "5", "per_unit": {"amount": "1", "currency": "EUR", "unit": "l"}},
            "rate",
            "invalid_rate",
        ),
        ({}, "rate", "invalid_rate"),
        (
            {"per_unit": {"amount": "0", "currency": "EUR", "unit": "l"}},
            "per_unit.amount",
            "invalid_amount",
        ),
        (
            {"per_unit": {"amount": "1", "currency": "ZZZ", "unit": "l"}},
            "per_unit.currency",
            "unknown_currency",
        ),
        (
            {"per_unit": {"amount": "1", "currency": "EUR", "unit": "l"}, "compound": True},
            "compound",
            "invalid_rate",
        ),
        ({"rate": "5", "cap": {"currency": "EUR"}}, "cap", "invalid_rate_cap"),
    ],
)
def test_the_catalog_refuses_malformed_rate_terms(
    rate: dict[str, Any], field: str, code: str
) -> None:
    seed = {
        "schema_version": 1,
        "jurisdictions": [
            {
                "code": "XE",
                "name": "Excise land",
                "taxes": [
                    {
                        "code": "EXCISE",
                        "name": "Excise",
                        "order": 1,
                        "categories": [
                            {"code": "fuel", "kind": "standard", "rates": [_rate(**rate)]}
                        ],
                    }
                ],
            }
        ],
    }
    with pytest.raises(ValidationError) as refused:
        catalog_from_seed(json.dumps(seed))
    assert refused.value.code == code
    assert refused.value.errors[0].field == (
        f"jurisdictions.0.taxes.0.categories.0.rates.0.{field}"
    )


def test_per_unit_arithmetic_is_exact() -> None:
    # 0.6545 * 3 = 1.9635 exactly: no binary float anywhere
    result = run(doc(fuel("3", "1.00")), excise_catalog())
    assert isinstance(result.lines[0].taxes[0].tax_amount, Decimal)
    assert result.lines[0].taxes[0].tax_amount == D("1.96")


@pytest.mark.parametrize(
    ("category", "on", "reason", "tax"),
    [
        ("standard", "2025-06-01", Reason.NOT_SUBJECT_TO_TAX, "0.00"),
        ("fuel", "2025-06-01", Reason.NOT_YET_IN_FORCE, "0.00"),
        ("fuel", "2030-01-01", Reason.STANDARD_RATED, "6.55"),  # 10 * 0.6545 = 6.545
    ],
)
def test_a_place_whose_only_tax_is_selective(
    category: str, on: str, reason: Reason, tax: str
) -> None:
    seed = {
        "schema_version": 1,
        "jurisdictions": [
            {
                "code": "XS",
                "name": "Duty-only land",
                "taxes": [
                    {
                        "code": "EXCISE",
                        "name": "Excise",
                        "order": 1,
                        "selective": True,
                        "in_force_from": "2030-01-01",
                        "categories": [
                            {
                                "code": "fuel",
                                "kind": "standard",
                                "rates": [
                                    {
                                        "per_unit": {
                                            "amount": "0.6545",
                                            "currency": "EUR",
                                            "unit": "l",
                                        },
                                        "valid_from": "2030-01-01",
                                        "source": SOURCE,
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    catalog = catalog_from_seed(json.dumps(seed))
    body = payload(
        line("10", "1.00", tax_category=category, unit="l"), place="XS", seller="XS", on=on
    )
    [row] = run(body, catalog).lines
    assert row.reasons == (reason,)
    assert row.tax == D(tax)
