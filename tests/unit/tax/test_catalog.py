"""RateCatalog: validation on construction and lookups by jurisdiction, category and date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from shared.errors import BusinessRuleError, ValidationError
from shared.tax import (
    CategoryKind,
    Jurisdiction,
    RateCatalog,
    Source,
    TaxCategory,
    TaxDefinition,
    TaxRate,
)

from .support import D, rate

PLACES = [Jurisdiction("XA", "Test land"), Jurisdiction("XA-N", "North")]
TAXES = [TaxDefinition("XA", "VAT", "VAT", 10)]
CATEGORIES = [
    TaxCategory("XA", "VAT", "standard", CategoryKind.STANDARD),
    TaxCategory("XA", "VAT", "food", CategoryKind.REDUCED, "a custom code"),
    TaxCategory("XA", "VAT", "exempt", CategoryKind.EXEMPT),
]
JAN_2020, JUL_2020, JAN_2021 = date(2020, 1, 1), date(2020, 7, 1), date(2021, 1, 1)


def _catalog(
    *rates: TaxRate,
    jurisdictions: Sequence[Jurisdiction] = PLACES,
    taxes: Sequence[TaxDefinition] = TAXES,
    categories: Sequence[TaxCategory] = CATEGORIES,
) -> RateCatalog:
    return RateCatalog(jurisdictions, taxes, categories, rates)


def _invalid(code: str, field: str, *rates: TaxRate, **parts: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _catalog(*rates, **parts)
    assert caught.value.code == code
    assert [e.field for e in caught.value.errors] == [field]
    return caught.value


def test_lookup_switches_rate_on_its_first_day() -> None:
    catalog = _catalog(
        rate("XA", "VAT", "20", JAN_2020, JUL_2020), rate("XA", "VAT", "21", JUL_2020)
    )
    assert catalog.rate("XA", "VAT", "standard", date(2020, 6, 30)).percent == D("20")
    assert catalog.rate("XA", "VAT", "standard", JUL_2020).percent == D("21")
    assert catalog.rate("XA", "VAT", "standard", date(2099, 1, 1)).percent == D("21")


def test_rates_listed_in_any_order() -> None:
    catalog = _catalog(
        rate("XA", "VAT", "21", JUL_2020), rate("XA", "VAT", "20", JAN_2020, JUL_2020)
    )
    assert catalog.rate("XA", "VAT", "standard", JAN_2020).percent == D("20")


def test_gap_between_rates_has_no_rate() -> None:
    catalog = _catalog(
        rate("XA", "VAT", "20", JAN_2020, JUL_2020), rate("XA", "VAT", "21", JAN_2021)
    )
    with pytest.raises(BusinessRuleError) as caught:
        catalog.rate("XA", "VAT", "standard", date(2020, 9, 1), field="lines.2.tax_category")
    assert caught.value.code == "no_rate_in_force"
    assert caught.value.errors[0].field == "lines.2.tax_category"
    assert "2020-09-01" in caught.value.detail


def test_before_first_rate_has_no_rate() -> None:
    catalog = _catalog(rate("XA", "VAT", "20", JAN_2020))
    with pytest.raises(BusinessRuleError):
        catalog.rate("XA", "VAT", "standard", date(2019, 12, 31))


def test_overlapping_rates_are_refused() -> None:
    error = _invalid(
        "rate_interval_overlap",
        "rates.1.valid_from",
        rate("XA", "VAT", "20", JAN_2020, JAN_2021),
        rate("XA", "VAT", "21", JUL_2020),
    )
    assert "XA/VAT/standard" in error.detail
    assert "2020-07-01" in error.detail


def test_open_ended_rate_followed_by_another_overlaps() -> None:
    _invalid(
        "rate_interval_overlap",
        "rates.0.valid_from",
        rate("XA", "VAT", "21", JUL_2020),
        rate("XA", "VAT", "20", JAN_2020),
    )


def test_identical_start_overlaps() -> None:
    _invalid(
        "rate_interval_overlap",
        "rates.1.valid_from",
        rate("XA", "VAT", "20", JAN_2020, JUL_2020),
        rate("XA", "VAT", "21", JAN_2020, JUL_2020),
    )


def test_adjacent_rates_and_other_categories_do_not_overlap() -> None:
    catalog = _catalog(
        rate("XA", "VAT", "20", JAN_2020, JUL_2020),
        rate("XA", "VAT", "21", JUL_2020),
        rate("XA", "VAT", "7", JAN_2020, category="food"),
    )
    assert catalog.rate("XA", "VAT", "food", JAN_2021).percent == D("7")


@pytest.mark.parametrize(
    ("bad_rate", "code", "field"),
    [
        (rate("XA", "VAT", "5", category="exempt"), "rate_not_allowed", "rates.0.category"),
        (rate("XA", "VAT", "5", category="luxury"), "unknown_tax_category", "rates.0.category"),
        (rate("XA", "VAT", "101"), "invalid_rate", "rates.0.percent"),
        (rate("XA", "VAT", "-1"), "invalid_rate", "rates.0.percent"),
        (rate("XA", "VAT", "20", JUL_2020, JUL_2020), "invalid_interval", "rates.0.valid_to"),
        (
            TaxRate("XA", "VAT", "standard", D("20"), JAN_2020, None, Source("", "https://x.org")),
            "missing_source",
            "rates.0.source",
        ),
        (
            TaxRate("XA", "VAT", "standard", D("20"), JAN_2020, None, Source("Law", "x.org")),
            "missing_source",
            "rates.0.source",
        ),
    ],
)
def test_bad_rates_are_refused(bad_rate: TaxRate, code: str, field: str) -> None:
    _invalid(code, field, bad_rate)


def test_bad_references_are_refused() -> None:
    _invalid(
        "unknown_jurisdiction",
        "taxes.0.jurisdiction",
        taxes=[TaxDefinition("XZ", "VAT", "VAT", 10)],
        categories=[],
    )
    _invalid(
        "invalid_jurisdiction_code", "jurisdictions.0.code", jurisdictions=[Jurisdiction("xa", "")]
    )
    _invalid("duplicate_jurisdiction", "jurisdictions.1.code", jurisdictions=PLACES[:1] * 2)
    _invalid(
        "unknown_replaced_tax",
        "taxes.1.replaces",
        taxes=[*TAXES, TaxDefinition("XA-N", "HST", "HST", 10, ("XA:GST",))],
    )
    _invalid(
        "unknown_tax",
        "categories.0.tax",
        categories=[TaxCategory("XA", "GST", "standard", CategoryKind.STANDARD)],
    )
    _invalid(
        "duplicate_category",
        "categories.1.code",
        categories=[CATEGORIES[0], CATEGORIES[0]],
    )


def test_unknown_lookups_name_the_field() -> None:
    catalog = _catalog(rate("XA", "VAT", "20", JAN_2020))
    with pytest.raises(ValidationError) as caught:
        catalog.jurisdiction("YY", field="place_of_supply")
    assert (caught.value.code, caught.value.errors[0].field) == (
        "unknown_jurisdiction",
        "place_of_supply",
    )
    with pytest.raises(ValidationError) as caught:
        catalog.category("XA", "VAT", "luxury", field="lines.0.tax_category")
    assert caught.value.code == "unknown_tax_category"
    assert "known: exempt, food, standard" in caught.value.detail


def test_taxes_of_a_place_include_enclosing_jurisdictions_and_replacements() -> None:
    taxes = [
        TaxDefinition("XA", "GST", "federal", 10),
        TaxDefinition("XA-N", "PST", "provincial", 20),
        TaxDefinition("XA-S", "HST", "harmonized", 10, ("XA:GST",)),
    ]
    catalog = RateCatalog(
        [*PLACES, Jurisdiction("XA-S", "South")],
        taxes,
        [TaxCategory(t.jurisdiction, t.code, "standard", CategoryKind.STANDARD) for t in taxes],
        [],
    )
    assert [t.key for t in catalog.taxes_at("XA-N")] == ["XA:GST", "XA-N:PST"]
    assert [t.key for t in catalog.taxes_at("XA-S")] == ["XA-S:HST"]
    assert [t.key for t in catalog.taxes_at("XA")] == ["XA:GST"]
    assert [j.code for j in catalog.chain("XA-N")] == ["XA", "XA-N"]


def test_jurisdiction_code_parts() -> None:
    city = Jurisdiction("US-CA/SF", "San Francisco")
    assert (city.country, city.region, city.locality) == ("US", "US-CA", "SF")
    assert city.parent_codes == ("US", "US-CA")
    assert Jurisdiction("DE", "Germany").parent_codes == ()
