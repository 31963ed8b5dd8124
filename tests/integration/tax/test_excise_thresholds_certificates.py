"""Per-unit rates, price thresholds and stored exemption certificates through the tax function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.tax.exemption_certificates import certificates_collection
from tests.integration.tax.conftest import SOURCE, invoice, line
from tests.support.http import RouterClient

CERTIFICATE = {
    "number": "ST-120-2026-0042",
    "buyer_name": "Hudson Valley Schools Cooperative",
    "jurisdictions": ["US-NY"],
    "categories": ["standard"],
    "valid_from": "2026-01-01",
    "valid_to": "2027-01-01",
}


@pytest.fixture
def stored_certificates(firestore_client: Any) -> Callable[[str], list[dict[str, Any]]]:
    def read(tenant_id: str) -> list[dict[str, Any]]:
        collection = certificates_collection(firestore_client, tenant_id)
        return [snapshot.to_dict() or {} for snapshot in collection.stream()]

    return read


def ny_invoice(*lines: dict[str, Any], certificates: list[str], on: str = "2026-06-01") -> Any:
    return invoice(
        *lines,
        place="US-NY",
        currency="USD",
        on=on,
        seller={"country": "US"},
        buyer={"country": "US", "exemption_certificate_ids": certificates},
    )


def _certificate(api: RouterClient, user: str = "clerk-a", **fields: Any) -> dict[str, Any]:
    answer = api.post("/v1/tax/exemption-certificates", json={**CERTIFICATE, **fields}, token=user)
    assert answer.status == 201, answer.json
    return dict(answer.data)


# -- exemption certificates -------------------------------------------------------------------


def test_a_certificate_is_recorded_read_back_and_listed(
    api: RouterClient, outbox: Callable[[], list[Any]]
) -> None:
    created = api.post("/v1/tax/exemption-certificates", json=CERTIFICATE, token="clerk-a")

    assert created.status == 201, created.json
    data = created.data
    assert created.headers["Location"] == f"/v1/tax/exemption-certificates/{data['id']}"
    assert data["jurisdictions"] == ["US-NY"]
    assert data["categories"] == ["standard"]
    assert data["taxes"] == []
    assert data["valid_to"] == "2027-01-01"
    assert data["created_by"] == "u-clerk-a"
    read = api.get(f"/v1/tax/exemption-certificates/{data['id']}", token="clerk-a")
    assert read.status == 200
    assert read.data == data
    assert api.get("/v1/tax/exemption-certificates", token="clerk-a").data == [data]
    assert any(b"tax.exemption_certificate.created" in bytes(record["data"]) for record in outbox())


def test_the_list_is_paginated(api: RouterClient) -> None:
    ids = sorted(_certificate(api, number=f"N-{n}")["id"] for n in range(3))
    first = api.get("/v1/tax/exemption-certificates", token="clerk-a", query={"limit": 2})
    assert [c["id"] for c in first.data] == ids[:2]
    cursor = first.json["meta"]["next_cursor"]
    second = api.get(
        "/v1/tax/exemption-certificates", token="clerk-a", query={"limit": 2, "cursor": cursor}
    )
    assert [c["id"] for c in second.data] == ids[2:]
    assert second.json["meta"]["next_cursor"] is None


def test_another_tenants_certificate_is_not_found(api: RouterClient) -> None:
    created = _certificate(api)
    answer = api.get(f"/v1/tax/exemption-certificates/{created['id']}", token="clerk-b")
    assert answer.status == 404
    assert answer.json["code"] == "exemption_certificate_not_found"
    assert api.get("/v1/tax/exemption-certificates", token="clerk-b").data == []


def test_certificates_need_the_calculate_permission(
    api: RouterClient, stored_certificates: Callable[..., Any]
) -> None:
    answer = api.post("/v1/tax/exemption-certificates", json=CERTIFICATE, token="viewer-a")
    assert answer.status == 403
    assert api.get("/v1/tax/exemption-certificates", token="viewer-a").status == 403
    assert stored_certificates("tenant-a") == []


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"jurisdictions": ["US-NY", "US-ZZ"]}, "jurisdictions.1", "unknown_jurisdiction"),
        ({"categories": ["petrol"]}, "categories.0", "unknown_tax_category"),
        ({"taxes": ["VAT"]}, "taxes.0", "unknown_tax"),
        ({"valid_to": "2025-12-31"}, "valid_to", "invalid_interval"),
        ({"jurisdictions": []}, "jurisdictions", "too_short"),
    ],
)
def test_a_refused_certificate_names_the_field_and_writes_nothing(
    api: RouterClient,
    stored_certificates: Callable[..., Any],
    outbox: Callable[[], list[Any]],
    fields: dict[str, Any],
    field: str,
    code: str,
) -> None:
    before = len(outbox())
    answer = api.post(
        "/v1/tax/exemption-certificates", json={**CERTIFICATE, **fields}, token="clerk-a"
    )
    assert answer.status == 422, answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]
    assert stored_certificates("tenant-a") == []
    assert len(outbox()) == before


def test_a_cited_certificate_exempts_only_the_lines_it_covers(api: RouterClient) -> None:
    certificate = _certificate(api)
    body = ny_invoice(
        line("1", "100.00", "USD"),
        line("1", "200.00", "USD", tax_category="clothing"),
        certificates=[certificate["id"]],
    )

    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")

    assert answer.status == 201, answer.json
    exempt, taxed = answer.data["result"]["lines"]
    assert exempt["taxes"][0]["reason"] == "exemption_certificate"
    assert exempt["taxes"][0]["certificate_id"] == certificate["id"]
    assert exempt["tax"] == "0.00"
    assert taxed["taxes"][0]["reason"] == "standard_rated"
    assert taxed["taxes"][0]["certificate_id"] is None
    assert taxed["tax"] == "8.00"
    assert answer.data["request"]["buyer"]["exemption_certificate_ids"] == [certificate["id"]]


def test_refused_citations_name_the_field_and_store_nothing(
    api: RouterClient, stored_calculations: Callable[..., Any]
) -> None:
    valid = _certificate(api)["id"]
    others = _certificate(api, user="clerk-b")["id"]
    cases = [
        (
            [valid, "0123456789abcdef0123456789abcdef"],
            "2026-06-01",
            "unknown_exemption_certificate",
        ),
        ([valid, others], "2026-06-01", "unknown_exemption_certificate"),
        ([valid], "2027-01-01", "exemption_certificate_expired"),
        ([valid], "2025-12-31", "exemption_certificate_not_yet_valid"),
    ]
    for cited, on, code in cases:
        body = ny_invoice(line("1", "100.00", "USD"), certificates=cited, on=on)
        answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
        assert answer.status == 422, answer.json
        field = f"buyer.exemption_certificate_ids.{len(cited) - 1}"
        assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]
    assert stored_calculations("tenant-a") == []


# -- New York's clothing threshold, seeded ----------------------------------------------------


def test_new_york_clothing_under_110_is_exempt_from_the_state_tax(api: RouterClient) -> None:
    body = invoice(
        line("1", "109.99", "USD", tax_category="clothing"),
        line("1", "110.00", "USD", tax_category="clothing"),
        place="US-NY",
        currency="USD",
    )
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201, answer.json
    below, at = answer.data["result"]["lines"]
    assert (below["reasons"], below["tax"]) == (["price_threshold"], "0.00")
    assert (at["reasons"], at["tax"]) == (["standard_rated"], "4.40")


# -- an excise duty added through the admin API -----------------------------------------------


EXCISE_LAND = {
    "code": "XE",
    "name": "Excise land",
    "taxes": [
        {
            "code": "EXCISE",
            "name": "Energy duty",
            "order": 5,
            "selective": True,
            "categories": [
                {
                    "code": "fuel",
                    "kind": "standard",
                    "rates": [
                        {
                            "per_unit": {"amount": "0.6545", "currency": "EUR", "unit": "l"},
                            "valid_from": "2020-01-01",
                            "source": SOURCE,
                        }
                    ],
                }
            ],
        },
        {
            "code": "VAT",
            "name": "Value added tax",
            "order": 10,
            "categories": [
                {
                    "code": "standard",
                    "kind": "standard",
                    "rates": [{"rate": "19", "valid_from": "2020-01-01", "source": SOURCE}],
                },
                {
                    "code": "fuel",
                    "kind": "standard",
                    "rates": [
                        {
                            "rate": "19",
                            "valid_from": "2020-01-01",
                            "compound": True,
                            "source": SOURCE,
                        }
                    ],
                },
            ],
        },
    ],
}


def test_an_excise_duty_compounds_into_vat(api: RouterClient) -> None:
    created = api.post("/v1/tax/jurisdictions", json=EXCISE_LAND, token="admin-a")
    assert created.status == 201, created.json
    body = invoice(
        line("50", "1.50", tax_category="fuel", unit="l"),
        line("1", "10.00"),
        place="XE",
    )
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201, answer.json
    fuel, other = answer.data["result"]["lines"]
    assert [(t["tax"], t["tax_amount"]) for t in fuel["taxes"]] == [
        ("EXCISE", "32.73"),
        ("VAT", "20.47"),
    ]
    assert fuel["taxes"][0]["per_unit"] == {"amount": "0.6545", "currency": "EUR", "unit": "l"}
    assert [t["tax"] for t in other["taxes"]] == ["VAT"]
    assert answer.data["totals"] == {"net": "85.00", "tax": "55.10", "gross": "140.10"}


def test_excise_refusals_name_the_field_and_store_nothing(
    api: RouterClient, stored_calculations: Callable[..., Any]
) -> None:
    assert api.post("/v1/tax/jurisdictions", json=EXCISE_LAND, token="admin-a").status == 201
    cases = [
        (
            invoice(line("1", "1.50", tax_category="fuel"), place="XE"),
            "lines.0.unit",
            "unit_required",
        ),
        (
            invoice(line("1", "1.50", tax_category="fuel", unit="kg"), place="XE"),
            "lines.0.unit",
            "unit_mismatch",
        ),
        (
            invoice(
                line("1", "1.50", "USD", tax_category="fuel", unit="l"), place="XE", currency="USD"
            ),
            "currency",
            "catalog_currency_mismatch",
        ),
        (
            invoice(
                line("10", "0.60", tax_category="fuel", unit="l"),
                place="XE",
                price_mode="inclusive",
            ),
            "lines.0.unit_price.amount",
            "price_below_per_unit_tax",
        ),
    ]
    for body, field, code in cases:
        answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
        assert answer.status == 422, answer.json
        assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]
    assert stored_calculations("tenant-a") == []


def test_a_rate_with_neither_percentage_nor_amount_is_refused(
    api: RouterClient, firestore_client: Any
) -> None:
    before = api.get("/v1/tax/jurisdictions/DE", token="admin-a").data
    body = {"tax": "VAT", "category": "standard", "valid_from": "2031-01-01", "source": SOURCE}
    answer = api.post("/v1/tax/jurisdictions/DE/rates", json=body, token="admin-a")
    assert answer.status == 422, answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [("rate", "invalid_rate")]
    assert api.get("/v1/tax/jurisdictions/DE", token="admin-a").data == before


def test_a_per_unit_rate_is_added_through_the_api(api: RouterClient) -> None:
    assert api.post("/v1/tax/jurisdictions", json=EXCISE_LAND, token="admin-a").status == 201
    body = {
        "tax": "EXCISE",
        "category": "fuel",
        "per_unit": {"amount": "0.7000", "currency": "EUR", "unit": "l"},
        "valid_from": "2030-01-01",
        "source": SOURCE,
        "supersede_open_rate": True,
    }
    answer = api.post("/v1/tax/jurisdictions/XE/rates", json=body, token="admin-a")
    assert answer.status == 201, answer.json
    assert answer.data["per_unit"] == {"amount": "0.7000", "currency": "EUR", "unit": "l"}
    assert answer.data["rate"] is None
    calculation = api.post(
        "/v1/tax/calculations",
        json=invoice(
            line("10", "1.50", tax_category="fuel", unit="l"), place="XE", on="2030-01-01"
        ),
        token="clerk-a",
    )
    assert calculation.data["result"]["lines"][0]["taxes"][0]["tax_amount"] == "7.00"


def test_a_replayed_idempotency_key_records_one_certificate(
    api: RouterClient, stored_certificates: Callable[..., Any]
) -> None:
    headers = {"Idempotency-Key": "certificate-0042"}
    first = api.post(
        "/v1/tax/exemption-certificates", json=CERTIFICATE, token="clerk-a", headers=headers
    )
    again = api.post(
        "/v1/tax/exemption-certificates", json=CERTIFICATE, token="clerk-a", headers=headers
    )
    assert first.status == again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert len(stored_certificates("tenant-a")) == 1
