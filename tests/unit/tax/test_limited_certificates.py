"""Stored exemption certificates limited to categories and jurisdictions: the lines they exempt."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.errors import BusinessRuleError, ValidationError
from shared.tax import Reason, calculate
from shared.tax.certificates import LimitedCertificate, check_cited, covering
from shared.tax.exemption_certificates import check_against_catalog
from shared.tax.requests_certificates import NewExemptionCertificateRequest

from .support import D, line, payload, request_of, seed_catalog

NY_STANDARD = LimitedCertificate(
    "a" * 32, ("US-NY",), ("standard",), date(2026, 1, 1), date(2027, 1, 1)
)


def run_with(body: dict[str, Any], *certificates: LimitedCertificate) -> Any:
    document = request_of(body).to_document().with_certificates(certificates)
    return calculate(document, seed_catalog())


def ny(*lines: dict[str, Any], on: str = "2026-06-01", **extra: Any) -> dict[str, Any]:
    return payload(
        *lines, place="US-NY", currency="USD", seller="US", on=on, buyer={"country": "US"}, **extra
    )


def test_only_lines_of_a_covered_category_are_exempt() -> None:
    body = ny(line("1", "100.00", "USD"), line("1", "200.00", "USD", tax_category="clothing"))
    result = run_with(body, NY_STANDARD)
    exempt, taxed = result.lines
    assert exempt.taxes[0].reason is Reason.EXEMPTION_CERTIFICATE
    assert exempt.taxes[0].certificate_id == "a" * 32
    assert exempt.tax == D("0.00")
    assert taxed.taxes[0].reason is Reason.STANDARD_RATED
    assert taxed.taxes[0].certificate_id is None
    assert taxed.tax == D("8.00")
    json_line = result.to_json()["lines"][0]
    assert json_line["taxes"][0]["certificate_id"] == "a" * 32
    assert json_line["reasons"] == ["exemption_certificate"]


def test_another_jurisdiction_is_taxed_normally() -> None:
    body = payload(
        line("1", "100.00", "USD"),
        place="US-CA",
        currency="USD",
        seller="US",
        on="2026-06-01",
        buyer={"country": "US"},
    )
    assert run_with(body, NY_STANDARD).tax == D("7.25")


def test_a_certificate_covers_its_own_jurisdiction_only() -> None:
    # A British Columbia certificate exempts BC's PST, not Canada's GST on the same line.
    bc = LimitedCertificate("b" * 32, ("CA-BC",), ("standard",), date(2020, 1, 1))
    body = payload(
        line("1", "100.00", "CAD"),
        place="CA-BC",
        currency="CAD",
        seller="CA",
        on="2026-06-01",
        buyer={"country": "CA"},
    )
    result = run_with(body, bc)
    reasons = {t.tax: t.reason for t in result.lines[0].taxes}
    assert reasons == {"GST": Reason.STANDARD_RATED, "PST": Reason.EXEMPTION_CERTIFICATE}
    assert result.tax == D("5.00")


def test_a_certificate_limited_to_one_tax() -> None:
    gst_only = LimitedCertificate(
        "c" * 32, ("CA",), ("standard",), date(2020, 1, 1), taxes=("GST",)
    )
    assert gst_only.covers("CA", "GST", "standard", date(2026, 1, 1))
    assert not gst_only.covers("CA", "HST", "standard", date(2026, 1, 1))


@pytest.mark.parametrize(
    ("day", "covered"),
    [
        (date(2025, 12, 31), False),  # before valid_from
        (date(2026, 1, 1), True),  # valid_from is included
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),  # on valid_to it has expired
    ],
)
def test_validity_boundaries(day: date, covered: bool) -> None:
    assert NY_STANDARD.covers("US-NY", "SALES", "standard", day) is covered
    assert (covering([NY_STANDARD], "US-NY", "SALES", "standard", day) is not None) is covered


def test_a_tax_point_on_another_local_day_is_judged_on_that_day() -> None:
    # 2027-01-01T03:00Z is still 2026-12-31 in New York: covered
    body = ny(line("1", "100.00", "USD"), on="2026-12-31", tax_point="2027-01-01T03:00:00Z")
    assert run_with(body, NY_STANDARD).tax == D("0.00")
    # 2027-01-01T06:00Z is 2027-01-01 in New York: expired, taxed
    body = ny(line("1", "100.00", "USD"), on="2026-12-31", tax_point="2027-01-01T06:00:00Z")
    assert run_with(body, NY_STANDARD).tax == D("4.00")


@pytest.mark.parametrize(
    ("day", "code"),
    [
        (date(2025, 12, 31), "exemption_certificate_not_yet_valid"),
        (date(2027, 1, 1), "exemption_certificate_expired"),
    ],
)
def test_a_cited_certificate_out_of_force_is_refused(day: date, code: str) -> None:
    with pytest.raises(BusinessRuleError) as refused:
        check_cited(NY_STANDARD, day, "buyer.exemption_certificate_ids.0")
    assert refused.value.code == code
    assert refused.value.errors[0].field == "buyer.exemption_certificate_ids.0"
    check_cited(NY_STANDARD, date(2026, 1, 1), "buyer.exemption_certificate_ids.0")


def test_product_exemption_comes_before_the_certificate() -> None:
    body = ny(line("1", "100.00", "USD", tax_category="exempt"))
    certificate = LimitedCertificate("d" * 32, ("US-NY",), ("exempt",), date(2020, 1, 1))
    assert run_with(body, certificate).lines[0].taxes[0].reason is Reason.PRODUCT_EXEMPT


def new_certificate(**fields: Any) -> NewExemptionCertificateRequest:
    body = {
        "number": "ST-120-1",
        "buyer_name": "Buyer Inc.",
        "jurisdictions": ["US-NY"],
        "categories": ["standard"],
        "valid_from": "2026-01-01",
        **fields,
    }
    return NewExemptionCertificateRequest.model_validate(body, strict=False)


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"jurisdictions": ["US-NY", "XX"]}, "jurisdictions.1", "unknown_jurisdiction"),
        ({"categories": ["standard", "petrol"]}, "categories.1", "unknown_tax_category"),
        ({"taxes": ["VAT"]}, "taxes.0", "unknown_tax"),
        ({"valid_to": "2026-01-01"}, "valid_to", "invalid_interval"),
    ],
)
def test_a_certificate_must_match_the_catalog(
    fields: dict[str, Any], field: str, code: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        check_against_catalog(new_certificate(**fields), seed_catalog())
    assert refused.value.code == code
    assert refused.value.errors[0].field == field


def test_a_certificate_for_several_jurisdictions_and_categories_is_accepted() -> None:
    request = new_certificate(
        jurisdictions=["US-NY", "CA-BC"], categories=["clothing", "childrens_clothing"]
    )
    check_against_catalog(request, seed_catalog())


def test_a_certificate_may_name_a_tax_replaced_at_some_date() -> None:
    # BC's PST was replaced by the HST from 2010 to 2013; it is still a tax of BC.
    request = new_certificate(jurisdictions=["CA-BC"], taxes=["PST"])
    check_against_catalog(request, seed_catalog())


def test_the_request_example_is_valid() -> None:
    [example] = NewExemptionCertificateRequest.model_json_schema()["examples"]
    request = NewExemptionCertificateRequest.model_validate(example, strict=False)
    check_against_catalog(request, seed_catalog())
