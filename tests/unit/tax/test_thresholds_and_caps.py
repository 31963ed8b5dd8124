"""Price thresholds (New York clothing under 110.00 USD) and caps (Tennessee's single article)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from shared.errors import ValidationError
from shared.tax import RateCatalog, Reason, catalog_from_seed
from shared.tax.rate_kinds import Comparison

from .support import D, line, payload, run, totals

SOURCE = {"publication": "Synthetic rate for tests", "url": "https://example.org/tax-tests"}


def ny(*lines: dict[str, Any], on: str = "2025-06-01", **extra: Any) -> dict[str, Any]:
    return payload(*lines, place="US-NY", currency="USD", seller="US", on=on, **extra)


def clothing(quantity: str, price: str, **extra: Any) -> dict[str, Any]:
    return line(quantity, price, "USD", tax_category="clothing", **extra)


# -- New York: clothing under 110.00 USD per item is exempt from the 4 % state tax ------------


@pytest.mark.parametrize(
    ("price", "reason", "tax"),
    [
        ("109.99", Reason.PRICE_THRESHOLD, "0.00"),  # below: exempt
        ("110.00", Reason.STANDARD_RATED, "4.40"),  # at the threshold: taxed (strictly below)
        ("110.01", Reason.STANDARD_RATED, "4.40"),  # 110.01 * 0.04 = 4.4004 -> 4.40
    ],
)
def test_new_york_clothing_threshold_boundary(price: str, reason: Reason, tax: str) -> None:
    [row] = run(ny(clothing("1", price))).lines
    assert row.reasons == (reason,)
    assert row.tax == D(tax)


def test_the_threshold_is_per_item_not_per_line() -> None:
    # 3 * 100.00 = 300.00 on one line: 100.00 per item, exempt
    assert run(ny(clothing("3", "100.00"))).tax == D("0.00")


def test_a_discount_lowers_the_price_per_item() -> None:
    # 2 * 120.00 = 240.00 less 30.00 = 210.00: 105.00 per item, exempt
    result = run(
        ny(clothing("2", "120.00", discount_amount={"amount": "30.00", "currency": "USD"}))
    )
    assert result.lines[0].reasons == (Reason.PRICE_THRESHOLD,)
    # 3 * 110.00 less 10 % = 297.00: 99.00 per item, exempt
    assert run(ny(clothing("3", "110.00", discount_percent="10"))).tax == D("0.00")


def test_other_categories_and_other_lines_are_taxed_as_usual() -> None:
    result = run(ny(clothing("1", "50.00"), line("1", "50.00", "USD"), clothing("1", "200.00")))
    # 50.00 clothing exempt; 50.00 standard 2.00; 200.00 clothing 8.00
    assert [row.tax for row in result.lines] == [D("0.00"), D("2.00"), D("8.00")]
    assert result.lines[0].taxes[0].reason is Reason.PRICE_THRESHOLD
    assert totals(result) == (D("300.00"), D("10.00"), D("310.00"))


def test_the_threshold_applies_from_its_first_day() -> None:
    # In force from 2012-04-01: the day before, a 50.00 item is taxed.
    assert run(ny(clothing("1", "50.00"), on="2012-03-31")).tax == D("2.00")
    assert run(ny(clothing("1", "50.00"), on="2012-04-01")).tax == D("0.00")


def test_a_credit_note_is_judged_by_the_magnitude_of_its_price() -> None:
    body = ny(clothing("-1", "109.99"), clothing("-1", "110.00"), document_type="credit_note")
    assert [row.tax for row in run(body).lines] == [D("0.00"), D("-4.40")]


def test_inclusive_prices_compare_the_gross_price() -> None:
    # 114.40 inclusive is 110.00 + 4.40: at or above the threshold, taxed
    result = run(ny(clothing("1", "114.40"), price_mode="inclusive"))
    assert totals(result) == (D("110.00"), D("4.40"), D("114.40"))
    assert run(ny(clothing("1", "109.99"), price_mode="inclusive")).tax == D("0.00")


def test_a_threshold_in_another_currency_is_refused() -> None:
    body = payload(
        clothing("1", "50.00") | {"unit_price": {"amount": "50.00", "currency": "EUR"}},
        place="US-NY",
        currency="EUR",
        seller="US",
    )
    with pytest.raises(ValidationError) as refused:
        run(body)
    assert refused.value.code == "catalog_currency_mismatch"
    assert refused.value.errors[0].field == "currency"


@pytest.mark.parametrize(
    ("comparison", "below", "at", "above"),
    [
        (Comparison.BELOW, True, False, False),
        (Comparison.AT_OR_BELOW, True, True, False),
        (Comparison.ABOVE, False, False, True),
        (Comparison.AT_OR_ABOVE, False, True, True),
    ],
)
def test_each_comparison_names_its_boundary(
    comparison: Comparison, below: bool, at: bool, above: bool
) -> None:
    threshold = D("110.00")
    assert comparison.holds(D("109.99"), threshold) is below
    assert comparison.holds(D("110.00"), threshold) is at
    assert comparison.holds(D("110.01"), threshold) is above


def threshold_catalog(currency: str, amount: str, exempt_when: str) -> RateCatalog:
    seed = {
        "schema_version": 1,
        "jurisdictions": [
            {
                "code": "XT",
                "name": "Threshold land",
                "taxes": [
                    {
                        "code": "SALES",
                        "name": "Sales tax",
                        "order": 1,
                        "categories": [
                            {
                                "code": "goods",
                                "kind": "standard",
                                "price_threshold": {
                                    "exempt_when": exempt_when,
                                    "amount": amount,
                                    "currency": currency,
                                    "valid_from": "2000-01-01",
                                },
                                "rates": [
                                    {"rate": "10", "valid_from": "2000-01-01", "source": SOURCE}
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    return catalog_from_seed(json.dumps(seed))


@pytest.mark.parametrize(("price", "tax"), [("9999", "0"), ("10000", "0"), ("10001", "1000")])
def test_a_yen_threshold_at_or_below(price: str, tax: str) -> None:
    # exempt at or below 10000 JPY; 10 % * 10001 = 1000.1 -> 1000
    catalog = threshold_catalog("JPY", "10000", "at_or_below")
    body = payload(
        line("1", price, "JPY", tax_category="goods"), place="XT", currency="JPY", seller="XT"
    )
    assert run(body, catalog).tax == D(tax)


@pytest.mark.parametrize(
    ("price", "tax"), [("0.499", "0.050"), ("0.500", "0.050"), ("0.501", "0.000")]
)
def test_a_three_decimal_threshold_above(price: str, tax: str) -> None:
    # exempt above 0.500 BHD (strictly): 0.500 is taxed, 10 % * 0.500 = 0.050
    catalog = threshold_catalog("BHD", "0.500", "above")
    body = payload(
        line("1", price, "BHD", tax_category="goods"), place="XT", currency="BHD", seller="XT"
    )
    assert run(body, catalog).tax == D(tax)


# -- caps: Tennessee-style single-article cap, and a maximum tax per unit -----------------------


def cap_catalog(currency: str = "USD", **cap: str) -> RateCatalog:
    """XC levies a state tax of 7 %; XC/CITY a local 2.25 % capped per article."""
    seed = {
        "schema_version": 1,
        "jurisdictions": [
            {
                "code": "XC",
                "name": "Capped state",
                "taxes": [
                    {
                        "code": "STATE",
                        "name": "State tax",
                        "order": 1,
                        "categories": [
                            {
                                "code": "standard",
                                "kind": "standard",
                                "rates": [
                                    {"rate": "7", "valid_from": "2000-01-01", "source": SOURCE}
                                ],
                            }
                        ],
                    }
                ],
            },
            {
                "code": "XC/CITY",
                "name": "Capped city",
                "taxes": [
                    {
                        "code": "LOCAL",
                        "name": "Local tax",
                        "order": 2,
                        "categories": [
                            {
                                "code": "standard",
                                "kind": "standard",
                                "rates": [
                                    {
                                        "rate": "2.25",
                                        "valid_from": "2000-01-01",
                                        "source": SOURCE,
                                        "cap": {"currency": currency, **cap},
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
        ],
    }
    return catalog_from_seed(json.dumps(seed))


def city(*lines: dict[str, Any], currency: str = "USD", **extra: Any) -> dict[str, Any]:
    return payload(*lines, place="XC/CITY", currency=currency, seller="XC", **extra)


@pytest.mark.parametrize(
    ("quantity", "price", "local_base", "local_tax", "state_tax"),
    [
        ("1", "1600.00", "1600.00", "36.00", "112.00"),  # at the cap: 1600 * 2.25 % = 36.00
        ("1", "1600.01", "1600.00", "36.00", "112.00"),  # 7 % * 1600.01 = 112.0007 -> 112.00
        ("1", "1599.99", "1599.99", "36.00", "112.00"),  # 35.999775 -> 36.00; 111.9993 -> 112.00
        ("1", "2000.00", "1600.00", "36.00", "140.00"),
        ("2", "2000.00", "3200.00", "72.00", "280.00"),  # the cap is per article
    ],
)
def test_single_article_cap_on_the_taxable_amount(
    quantity: str, price: str, local_base: str, local_tax: str, state_tax: str
) -> None:
    [row] = run(city(line(quantity, price, "USD")), cap_catalog(taxable_per_unit="1600.00")).lines
    state, local = row.taxes
    assert (state.tax_amount, local.taxable_amount, local.tax_amount) == (
        D(state_tax),
        D(local_base),
        D(local_tax),
    )


def test_a_capped_credit_note_mirrors_its_invoice() -> None:
    catalog = cap_catalog(taxable_per_unit="1600.00")
    credit = run(city(line("-1", "2000.00", "USD"), document_type="credit_note"), catalog)
    assert [t.tax_amount for t in credit.lines[0].taxes] == [D("-140.00"), D("-36.00")]
    assert credit.lines[0].taxes[1].taxable_amount == D("-1600.00")


def test_a_cap_with_inclusive_prices_extracts_the_capped_tax_first() -> None:
    result = run(
        city(line("1", "2148.00", "USD"), price_mode="inclusive"),
        cap_catalog(taxable_per_unit="1600.00"),
    )
    # uncapped net 2148 / 1.0925 = 1966.13 > 1600: local is 36.00 fixed;
    # net = (2148 - 36) / 1.07 = 1973.83177...; state 138.168... -> 138.17
    assert [t.tax_amount for t in result.lines[0].taxes] == [D("138.17"), D("36.00")]
    assert totals(result) == (D("1973.83"), D("174.17"), D("2148.00"))


def test_a_cap_with_inclusive_prices_below_it_is_not_applied() -> None:
    result = run(
        city(line("1", "109.25", "USD"), price_mode="inclusive"),
        cap_catalog(taxable_per_unit="1600.00"),
    )
    # 109.25 / 1.0925 = 100.00: state 7.00, local 2.25
    assert totals(result) == (D("100.00"), D("9.25"), D("109.25"))


@pytest.mark.parametrize(
    ("price", "tax"),
    [("100.00", "2.25"), ("133.33", "3.00"), ("133.34", "3.00"), ("500.00", "3.00")],
)
def test_a_maximum_tax_per_unit(price: str, tax: str) -> None:
    # at most 3.00 of local tax per article: 2.25 % * 133.33 = 2.999925 -> 3.00
    result = run(city(line("1", price, "USD")), cap_catalog(tax_per_unit="3.00"))
    assert result.lines[0].taxes[1].tax_amount == D(tax)


def test_document_rounding_with_a_cap() -> None:
    body = city(line("1", "2000.00", "USD"), line("1", "100.00", "USD"), rounding_scope="document")
    result = run(body, cap_catalog(taxable_per_unit="1600.00"))
    # local: 36 + 2.25 = 38.25; state: 140 + 7 = 147
    assert [[t.tax_amount for t in row.taxes] for row in result.lines] == [
        [D("140.00"), D("36.00")],
        [D("7.00"), D("2.25")],
    ]


@pytest.mark.parametrize(
    ("currency", "price", "local"),
    [("JPY", "200000", "1800"), ("BHD", "100.000", "1.800")],
)
def test_caps_in_zero_and_three_decimal_currencies(currency: str, price: str, local: str) -> None:
    cap = "80000" if currency == "JPY" else "80.000"
    catalog = cap_catalog(currency, taxable_per_unit=cap)
    # 2.25 % of the capped base: 80000 -> 1800 JPY; 80.000 -> 1.800 BHD
    result = run(city(line("1", price, currency), currency=currency), catalog)
    assert result.lines[0].taxes[1].tax_amount == D(local)


def test_a_cap_in_another_currency_is_refused() -> None:
    catalog = cap_catalog("EUR", taxable_per_unit="1600.00")
    with pytest.raises(ValidationError) as refused:
        run(city(line("1", "10.00", "USD")), catalog)
    assert refused.value.code == "catalog_currency_mismatch"


def test_amounts_stay_decimal() -> None:
    result = run(city(line("3", "999.99", "USD")), cap_catalog(taxable_per_unit="1600.00"))
    assert all(isinstance(t.tax_amount, Decimal) for t in result.lines[0].taxes)


@pytest.mark.parametrize("price", ["100.00", "1600.00", "2000.00", "12345.67"])
def test_an_inclusive_price_gives_back_its_exclusive_net(price: str) -> None:
    catalog = cap_catalog(taxable_per_unit="1600.00")
    exclusive = run(city(line("1", price, "USD")), catalog)
    gross = str(exclusive.gross)
    inclusive = run(city(line("1", gross, "USD"), price_mode="inclusive"), catalog)
    assert totals(inclusive) == totals(exclusive)


def test_a_compound_tax_is_levied_on_the_capped_tax() -> None:
    def rate(**fields: Any) -> dict[str, Any]:
        return {"valid_from": "2000-01-01", "source": SOURCE, **fields}

    taxes = [
        ("A", 1, rate(rate="10", cap={"currency": "USD", "tax_per_unit": "5.00"})),
        ("B", 2, rate(rate="10", compound=True)),
    ]
    seed = {
        "schema_version": 1,
        "jurisdictions": [
            {
                "code": "XK",
                "name": "Compound land",
                "taxes": [
                    {
                        "code": code,
                        "name": code,
                        "order": order,
                        "categories": [{"code": "standard", "kind": "standard", "rates": [r]}],
                    }
                    for code, order, r in taxes
                ],
            }
        ],
    }
    catalog = catalog_from_seed(json.dumps(seed))
    # A: 10 % * 100.00 = 10.00, capped at 5.00; B: 10 % * (100.00 + 5.00) = 10.50
    body = payload(line("1", "100.00", "USD"), place="XK", currency="USD", seller="XK")
    exclusive = run(body, catalog)
    assert [t.tax_amount for t in exclusive.lines[0].taxes] == [D("5.00"), D("10.50")]
    assert exclusive.lines[0].taxes[1].taxable_amount == D("105.00")
    inclusive = run(
        payload(
            line("1", "115.50", "USD"),
            place="XK",
            currency="USD",
            seller="XK",
            price_mode="inclusive",
        ),
        catalog,
    )
    assert totals(inclusive) == (D("100.00"), D("15.50"), D("115.50"))
    by_document = run(body | {"rounding_scope": "document"}, catalog)
    assert totals(by_document) == totals(exclusive)
