"""A tax point given as a timestamp is a local date at the place of supply."""

from __future__ import annotations

from typing import Any

import pytest

from shared.tax import Reason

from .support import D, line, payload, run


def _de(tax_point: str, **document: Any) -> dict[str, Any]:
    # document_date says June; the tax point decides
    return payload(line("1", "100.00"), on="2020-06-30", tax_point=tax_point, **document)


@pytest.mark.parametrize(
    ("tax_point", "tax_date", "tax"),
    [
        # 00:30 in Berlin on 1 July 2020: a July supply, 16 % temporary rate
        pytest.param("2020-07-01T00:30:00+02:00", "2020-07-01", "16.00", id="berlin_july"),
        # 22:30 UTC on 30 June is 00:30 in Berlin the next day
        pytest.param("2020-06-30T22:30:00Z", "2020-07-01", "16.00", id="utc_evening"),
        # 21:59 UTC on 30 June is 23:59 in Berlin: still June, 19 %
        pytest.param("2020-06-30T21:59:00Z", "2020-06-30", "19.00", id="last_minute_of_june"),
        # 23:30 in New York on 30 June is 05:30 on 1 July in Berlin
        pytest.param("2020-06-30T23:30:00-04:00", "2020-07-01", "16.00", id="new_york_clock"),
        # 23:59 in Berlin on 31 December 2020: last minute of the temporary rate
        pytest.param("2020-12-31T23:59:59+01:00", "2020-12-31", "16.00", id="new_year_eve"),
        # 23:30 UTC on 31 December is 00:30 in Berlin on 1 January 2021: 19 % again
        pytest.param("2020-12-31T23:30:00Z", "2021-01-01", "19.00", id="new_year_utc"),
    ],
)
def test_tax_point_is_resolved_in_the_place_of_supply(
    tax_point: str, tax_date: str, tax: str
) -> None:
    result = run(_de(tax_point))
    assert result.lines[0].tax_date is not None
    assert result.lines[0].tax_date.isoformat() == tax_date
    assert result.tax == D(tax)
    document = result.to_json()
    assert document["lines"][0]["tax_date"] == tax_date
    assert document["document_date"] == "2020-06-30"


def test_each_line_uses_the_zone_of_its_own_place() -> None:
    # 2019-09-30T15:30Z is 00:30 on 1 October in Tokyo (JP 10 % from that day: 10)
    # and 17:30 on 30 September in Berlin.
    result = run(
        payload(
            line("1", "100", "JPY"),
            place="JP",
            currency="JPY",
            seller="JP",
            on="2019-09-30",
            tax_point="2019-09-30T15:30:00Z",
        )
    )
    assert result.lines[0].tax_date is not None
    assert result.lines[0].tax_date.isoformat() == "2019-10-01"
    assert result.tax == D("10")


def test_a_region_uses_its_own_zone() -> None:
    # Nova Scotia cut HST to 14 % on 2025-04-01. 03:30 UTC on 1 April is 00:30 in Halifax
    # (ADT, UTC-3): 14 %. At 02:30 UTC it is still 31 March 23:30 there: 15 %.
    def hst(tax_point: str) -> D:
        body = payload(
            line("1", "100.00", "CAD"),
            place="CA-NS",
            currency="CAD",
            seller="CA",
            on="2025-04-01",
            tax_point=tax_point,
        )
        return run(body).tax

    assert hst("2025-04-01T03:30:00Z") == D("14.00")
    assert hst("2025-04-01T02:30:00Z") == D("15.00")


def test_certificates_are_checked_on_the_tax_date() -> None:
    # Certificate valid until (excluding) 2025-06-01 in California. 2025-06-01T06:30Z is
    # 23:30 on 31 May in Los Angeles: still exempt.
    certificate = {
        "id": "C",
        "jurisdiction": "US-CA",
        "valid_from": "2024-01-01",
        "valid_to": "2025-06-01",
    }
    body = payload(
        line("1", "100.00", "USD"),
        place="US-CA",
        currency="USD",
        seller="US",
        on="2025-06-01",
        tax_point="2025-06-01T06:30:00Z",
        buyer={"country": "US", "exemption_certificates": [certificate]},
    )
    assert run(body).lines[0].taxes[0].reason is Reason.CUSTOMER_EXEMPT


def test_a_catalog_stored_before_time_zones_takes_the_seeds_zones() -> None:
    from shared.tax import store

    documents = [{**d, "time_zone": None} for d in store.seed_jurisdictions()]
    source = {"publication": "Test", "url": "https://example.org/tax-tests"}
    documents.append({"code": "XQ", "name": "A tenant's own place", "source": source})
    catalog = store.build_catalog(documents)
    berlin = catalog.time_zone_at("DE")
    assert berlin is not None and berlin.key == "Europe/Berlin"
    assert catalog.time_zone_at("XQ") is None
    assert run(_de("2020-06-30T22:30:00Z"), catalog).tax == D("16.00")
