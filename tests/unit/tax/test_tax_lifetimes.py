"""Taxes that start, end and replace each other on dates: Oman's VAT, BC's HST."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.errors import ValidationError
from shared.tax import (
    CategoryKind,
    Jurisdiction,
    RateCatalog,
    Reason,
    TaxCategory,
    TaxDefinition,
)

from .support import D, line, payload, rate, run


def _oman(on: str, **extra: Any) -> dict[str, Any]:
    return payload(
        line("2", "10.500", "OMR", **extra), place="OM", currency="OMR", seller="OM", on=on
    )


def test_before_a_tax_existed_the_supply_is_not_subject_to_it() -> None:
    # Oman's VAT starts 2021-04-16; the day before: 2 * 10.500 = 21.000, no tax
    result = run(_oman("2021-04-15"))
    [tax] = result.lines[0].taxes
    assert (tax.jurisdiction, tax.tax, tax.reason, tax.tax_amount) == (
        "OM",
        "VAT",
        Reason.NOT_YET_IN_FORCE,
        D("0.000"),
    )
    assert str(result.gross) == "21.000"
    assert result.to_json()["lines"][0]["reasons"] == ["not_yet_in_force"]


def test_from_its_first_day_the_tax_is_charged() -> None:
    # 2021-04-16: 21.000 * 5 % = 1.050
    result = run(_oman("2021-04-16"))
    assert result.lines[0].taxes[0].reason is Reason.STANDARD_RATED
    assert [str(x) for x in (result.net, result.tax, result.gross)] == ["21.000", "1.050", "22.050"]


def test_an_unknown_category_is_refused_even_before_the_tax_existed() -> None:
    with pytest.raises(ValidationError) as caught:
        run(_oman("2020-01-01", tax_category="luxury"))
    assert caught.value.code == "unknown_tax_category"


def test_a_tax_point_just_before_midnight_in_muscat() -> None:
    # 2021-04-15T20:30Z is 00:30 on 16 April in Muscat (UTC+4): VAT applies
    body = {**_oman("2021-04-15"), "tax_point": "2021-04-15T20:30:00Z"}
    assert run(body).tax == D("1.050")


def _bc(on: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return payload(
        *(lines or [line("1", "100.00", "CAD")]), place="CA-BC", currency="CAD", seller="CA", on=on
    )


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        # GST 5 % + PST 7 %
        pytest.param("2010-06-30", [("CA", "GST", "5.00"), ("CA-BC", "PST", "7.00")], id="before"),
        # HST 12 % replaces both from 1 July 2010
        pytest.param("2010-07-01", [("CA-BC", "HST", "12.00")], id="hst_first_day"),
        pytest.param("2013-03-31", [("CA-BC", "HST", "12.00")], id="hst_last_day"),
        # GST + PST again from 1 April 2013
        pytest.param("2013-04-01", [("CA", "GST", "5.00"), ("CA-BC", "PST", "7.00")], id="after"),
    ],
)
def test_british_columbia_hst_period(on: str, expected: list[tuple[str, str, str]]) -> None:
    result = run(_bc(on))
    assert [(t.jurisdiction, t.tax, str(t.tax_amount)) for t in result.lines[0].taxes] == expected
    assert result.tax == D("12.00")


def test_british_columbia_childrens_clothing_across_the_periods() -> None:
    # 2009: GST 5 % = 2.00, PST exempt. 2012: HST with the provincial part rebated, 5 % = 2.00.
    clothes = line("1", "40.00", "CAD", tax_category="childrens_clothing")
    before, during = run(_bc("2009-05-01", clothes)), run(_bc("2012-05-01", clothes))
    assert [t.reason for t in before.lines[0].taxes] == [
        Reason.STANDARD_RATED,
        Reason.PRODUCT_EXEMPT,
    ]
    assert [(t.tax, str(t.rate)) for t in during.lines[0].taxes] == [("HST", "5")]
    assert before.tax == during.tax == D("2.00")


# -- the catalog's rules for dated taxes ---------------------------------------------------

PLACES = [Jurisdiction("XA", "Test land"), Jurisdiction("XA-N", "North")]


def _categories(*taxes: TaxDefinition) -> list[TaxCategory]:
    return [TaxCategory(t.jurisdiction, t.code, "standard", CategoryKind.STANDARD) for t in taxes]


def test_a_tax_may_replace_another_of_its_own_jurisdiction_while_in_force() -> None:
    gst = TaxDefinition("XA", "GST", "federal", 10)
    pst = TaxDefinition("XA-N", "PST", "provincial", 20)
    hst = TaxDefinition(
        "XA-N",
        "HST",
        "harmonized",
        10,
        ("XA:GST", "XA-N:PST"),
        in_force_from=date(2010, 7, 1),
        in_force_to=date(2013, 4, 1),
    )
    catalog = RateCatalog(PLACES, [gst, pst, hst], _categories(gst, pst, hst), [])
    assert [t.key for t in catalog.taxes_at("XA-N", on=date(2010, 6, 30))] == [
        "XA:GST",
        "XA-N:PST",
    ]
    assert [t.key for t in catalog.taxes_at("XA-N", on=date(2010, 7, 1))] == ["XA-N:HST"]
    assert [t.key for t in catalog.taxes_at("XA-N", on=date(2013, 4, 1))] == [
        "XA:GST",
        "XA-N:PST",
    ]


@pytest.mark.parametrize(
    ("taxes", "rates", "code", "field"),
    [
        pytest.param(
            [
                TaxDefinition(
                    "XA",
                    "VAT",
                    "VAT",
                    10,
                    in_force_from=date(2021, 1, 1),
                    in_force_to=date(2021, 1, 1),
                )
            ],
            [],
            "invalid_interval",
            "taxes.0.in_force_to",
            id="empty_period",
        ),
        pytest.param(
            [TaxDefinition("XA", "VAT", "VAT", 10, in_force_from=date(2021, 4, 16))],
            [rate("XA", "VAT", "5", date(2021, 1, 1))],
            "rate_outside_tax_period",
            "rates.0.valid_from",
            id="rate_before_the_tax",
        ),
        pytest.param(
            [TaxDefinition("XA", "VAT", "VAT", 10, in_force_to=date(2013, 4, 1))],
            [rate("XA", "VAT", "12", date(2010, 7, 1))],
            "rate_outside_tax_period",
            "rates.0.valid_to",
            id="open_rate_after_the_tax",
        ),
        pytest.param(
            [TaxDefinition("XA", "VAT", "VAT", 10, ("XA:VAT",))],
            [],
            "unknown_replaced_tax",
            "taxes.0.replaces",
            id="replaces_itself",
        ),
        pytest.param(
            [
                TaxDefinition("XA", "VAT", "VAT", 10),
                TaxDefinition("XA", "WHT", "withholding", 90, ("XA:VAT",), withholding=True),
            ],
            [],
            "unknown_replaced_tax",
            "taxes.1.replaces",
            id="withholding_replaces",
        ),
    ],
)
def test_dated_taxes_are_checked(
    taxes: list[TaxDefinition], rates: list[Any], code: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        RateCatalog(PLACES, taxes, _categories(*taxes), rates)
    assert (caught.value.code, [e.field for e in caught.value.errors]) == (code, [field])


def test_an_unknown_time_zone_is_refused() -> None:
    for zone in ("Mars/Olympus", "../etc/passwd", "", "Europe"):
        with pytest.raises(ValidationError) as caught:
            RateCatalog([Jurisdiction("XA", "Test land", zone)], [], [], [])
        assert caught.value.code == "unknown_time_zone"
        assert caught.value.errors[0].field == "jurisdictions.0.time_zone"
