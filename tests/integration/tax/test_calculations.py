"""Calculations through the tax function: stored, read back, listed, refused without a trace."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from shared.tax import service, store
from tests.integration.tax.conftest import invoice, line
from tests.support.http import RouterClient


def test_a_calculation_is_stored_and_read_back_equal(
    api: RouterClient, firestore_client: Any, stored_calculations: Callable[..., Any]
) -> None:
    body = invoice(line("2", "50.00", id="a"), line("1", "10.00", tax_category="reduced"))

    created = api.post("/v1/tax/calculations", json=body, token="clerk-a")

    assert created.status == 201, created.json
    data = created.data
    assert created.headers["Location"] == f"/v1/tax/calculations/{data['id']}"
    assert data["totals"] == {"net": "110.00", "tax": "19.70", "gross": "129.70"}
    assert data["jurisdiction_totals"] == [{"jurisdiction": "DE", "tax_amount": "19.70"}]
    assert data["created_by"] == "u-clerk-a"
    assert data["catalog_version"] == 1
    assert data["request"]["lines"][0]["id"] == "a"
    assert data["request"]["rounding"] == "half_up"  # defaults are stored as applied
    assert [r["rate"] for r in data["result"]["breakdown"]] == ["19", "7"]

    read = api.get(f"/v1/tax/calculations/{data['id']}", token="clerk-a")

    assert read.status == 200
    assert read.data == data
    [stored] = stored_calculations("tenant-a")
    assert stored["result"] == data["result"]
    calculation = service.get_calculation(firestore_client, "tenant-a", data["id"])
    assert calculation.currency == "EUR"
    assert calculation.jurisdiction_totals == {"DE": Decimal("19.70")}
    assert calculation.totals.gross == Decimal("129.70")


def test_the_first_calculation_seeds_the_tenants_catalog_once(
    api: RouterClient, firestore_client: Any
) -> None:
    for _ in range(2):
        assert api.post("/v1/tax/calculations", json=invoice(), token="clerk-a").status == 201
    meta = store.meta_reference(firestore_client, "tenant-a").get().to_dict()
    assert meta["version"] == 1
    jurisdictions = list(store.catalog_collection(firestore_client, "tenant-a").stream())
    assert len(jurisdictions) == len(store.seed_jurisdictions())
    assert not store.meta_reference(firestore_client, "tenant-b").get().exists


def test_another_tenants_calculation_is_not_found(api: RouterClient) -> None:
    created = api.post("/v1/tax/calculations", json=invoice(), token="clerk-a").data

    assert api.get(f"/v1/tax/calculations/{created['id']}", token="clerk-b").status == 404
    missing = api.get("/v1/tax/calculations/0123456789abcdef0123456789abcdef", token="clerk-a")
    assert missing.status == 404
    assert missing.json["code"] == "tax_calculation_not_found"
    assert api.get("/v1/tax/calculations/..", token="clerk-a").status == 404
    assert api.get("/v1/tax/calculations", token="clerk-b").data == []


def test_the_list_is_paginated_newest_first(api: RouterClient) -> None:
    created = [
        api.post("/v1/tax/calculations", json=invoice(line("1", f"{n}.00")), token="clerk-a").data
        for n in range(1, 6)
    ]
    api.post("/v1/tax/calculations", json=invoice(), token="clerk-b")
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/tax/calculations", token="clerk-a", query=query)
        assert page.status == 200, page.json
        assert len(page.data) <= 2
        seen += page.data
        pages += 1
        cursor = page.json["meta"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [item["id"] for item in seen] == [c["id"] for c in reversed(created)]
    assert "request" not in seen[0] and "result" not in seen[0]
    assert seen[0]["totals"] == created[-1]["totals"]
    bad = api.get("/v1/tax/calculations", token="clerk-a", query={"cursor": "not-a-cursor"})
    assert (bad.status, bad.json["code"]) == (400, "invalid_cursor")


REFUSALS = [
    pytest.param(
        invoice(place="XX"), 422, "unknown_jurisdiction", "place_of_supply", id="jurisdiction"
    ),
    pytest.param(
        invoice(line("1", "10.00", tax_category="luxury")),
        422,
        "unknown_tax_category",
        "lines.0.tax_category",
        id="category",
    ),
    pytest.param(
        invoice(line("1", "10.00", place_of_supply="US-ZZ"), place="DE"),
        422,
        "unknown_jurisdiction",
        "lines.0.place_of_supply",
        id="line-jurisdiction",
    ),
    pytest.param(
        invoice(on="1999-12-31"), 422, "no_rate_in_force", "lines.0.tax_category", id="no-rate"
    ),
    pytest.param(
        invoice(line("1", "10.00", "USD")),
        422,
        "currency_mismatch",
        "lines.0.unit_price.currency",
        id="currency",
    ),
    pytest.param(
        invoice(line("-1", "10.00")),
        422,
        "negative_quantity_not_allowed",
        "lines.0.quantity",
        id="negative-quantity",
    ),
    pytest.param(
        invoice(line("1", "10.001")),
        422,
        "too_many_decimals",
        "lines.0.unit_price.amount",
        id="decimals",
    ),
    pytest.param(
        {**invoice(), "discount": "5"}, 422, "unknown_field", "discount", id="unknown-field"
    ),
    pytest.param(
        invoice({"quantity": "1", "unit_price": {"amount": 10.5, "currency": "EUR"}}),
        422,
        "wrong_type",
        "lines.0.unit_price.amount",
        id="float-amount",
    ),
    pytest.param(
        invoice(buyer={"country": "FR", "tax_id": "FR403\u00003265045"}),
        422,
        "invalid_tax_id",
        "buyer.tax_id",
        id="tax-id-control-character",
    ),
    pytest.param(
        invoice(buyer={"country": "FR", "tax_id": "FR" + "4" * 200}),
        422,
        "too_long",
        "buyer.tax_id",
        id="tax-id-absurd-length",
    ),
    pytest.param(
        invoice(line("1", "100.00", supply_type="immovable_property")),
        422,
        "location_required",
        "lines.0.location",
        id="property-without-location",
    ),
    pytest.param(
        invoice(tax_point="2020-07-01T00:30:00"),
        422,
        "invalid",
        "tax_point",
        id="tax-point-without-offset",
    ),
    pytest.param(
        invoice(line("1", "100.00", withholding_category="professional")),
        422,
        "no_withholding_tax",
        "lines.0.withholding_category",
        id="no-withholding-tax",
    ),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), REFUSALS)
def test_refused_input_names_the_field_and_stores_nothing(
    api: RouterClient,
    stored_calculations: Callable[..., Any],
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")

    assert answer.status == status, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [(field, code)]
    assert stored_calculations("tenant-a") == []


def test_a_negative_quantity_is_accepted_on_a_credit_note(api: RouterClient) -> None:
    body = invoice(line("-1", "100.00"), document_type="credit_note")
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201
    assert answer.data["totals"]["gross"] == "-119.00"
    assert answer.data["jurisdiction_totals"] == [{"jurisdiction": "DE", "tax_amount": "-19.00"}]


def test_a_yen_invoice_with_decimals_is_refused(
    api: RouterClient, stored_calculations: Callable[..., Any]
) -> None:
    body = invoice(line("1", "100.5", "JPY"), currency="JPY", place="JP")
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 422
    assert answer.json["errors"][0]["code"] == "too_many_decimals"
    assert stored_calculations("tenant-a") == []


def test_malformed_json_is_a_400_and_stores_nothing(
    api: RouterClient, stored_calculations: Callable[..., Any]
) -> None:
    answer = api.post(
        "/v1/tax/calculations",
        data=b'{"document_date": "2025-06-01", ',
        headers={"Content-Type": "application/json"},
        token="clerk-a",
    )
    assert answer.status == 400
    assert answer.json["code"] == "malformed_json"
    assert stored_calculations("tenant-a") == []


def test_calculating_needs_the_permission(api: RouterClient) -> None:
    assert api.post("/v1/tax/calculations", json=invoice(), token="viewer-a").status == 403
    assert api.post("/v1/tax/calculations", json=invoice()).status == 401


def test_a_calculation_too_large_to_store_is_refused_before_writing(
    api: RouterClient, stored_calculations: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_STORED_CALCULATION_BYTES", 2_000)
    body = invoice(*[line("1", "1.00", description="x" * 100) for _ in range(10)])
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 413
    assert answer.json["code"] == "tax_calculation_too_large"
    assert stored_calculations("tenant-a") == []


def test_a_replayed_idempotency_key_returns_the_first_calculation(
    api: RouterClient, stored_calculations: Callable[..., Any]
) -> None:
    headers = {"Idempotency-Key": "invoice-2025-0001"}
    first = api.post("/v1/tax/calculations", json=invoice(), token="clerk-a", headers=headers)
    again = api.post("/v1/tax/calculations", json=invoice(), token="clerk-a", headers=headers)
    assert first.status == again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert len(stored_calculations("tenant-a")) == 1
    other = api.post(
        "/v1/tax/calculations", json=invoice(on="2025-06-02"), token="clerk-a", headers=headers
    )
    assert 400 <= other.status < 500  # the key is bound to the first body
    assert len(stored_calculations("tenant-a")) == 1


@pytest.mark.parametrize("tax_id", ["   ", "N/A", "", "FR00303265045"])
def test_an_unusable_vat_id_is_a_consumer_sale(api: RouterClient, tax_id: str) -> None:
    # Seller DE, buyer FR, one line of 100.00: FR 20 % = 20.00, no reverse charge
    body = invoice(place="FR", seller={"country": "DE"}, buyer={"country": "FR", "tax_id": tax_id})
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201, answer.json
    result = answer.data["result"]
    assert answer.data["totals"] == {"net": "100.00", "tax": "20.00", "gross": "120.00"}
    assert result["reverse_charge"] is None
    assert result["lines"][0]["reasons"] == ["standard_rated"]
    assert result["buyer_tax_id"]["valid"] is False
    assert result["buyer_tax_id"]["check"] == "offline_format_checksum"


def test_a_valid_vat_id_is_reverse_charged_and_recorded(
    api: RouterClient, stored_calculations: Callable[..., Any]
) -> None:
    body = invoice(
        place="FR", seller={"country": "DE"}, buyer={"country": "FR", "tax_id": "FR 40 303 265 045"}
    )
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201, answer.json
    assert answer.data["totals"]["tax"] == "0.00"
    assert answer.data["result"]["reverse_charge"]["buyer_tax_id"] == "FR40303265045"
    [stored] = stored_calculations("tenant-a")
    assert stored["result"]["buyer_tax_id"]["normalized"] == "FR40303265045"
    assert stored["result"]["buyer_tax_id"]["status"] == "valid"


def test_a_german_hotel_night_for_a_french_business_is_german_vat(api: RouterClient) -> None:
    # art. 47: taxed where the property is: DE reduced 7 % of 100.00 = 7.00, no reverse charge
    hotel = line(
        "1", "100.00", supply_type="immovable_property", location="DE", tax_category="reduced"
    )
    body = invoice(
        hotel,
        place="FR",
        seller={"country": "DE"},
        buyer={"country": "FR", "tax_id": "FR40303265045"},
    )
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201, answer.json
    assert answer.data["jurisdiction_totals"] == [{"jurisdiction": "DE", "tax_amount": "7.00"}]
    result = answer.data["result"]
    assert result["reverse_charge"] is None
    assert result["lines"][0]["place_of_supply_rule"] == "art. 47"


def test_new_capabilities_through_the_api(api: RouterClient) -> None:
    # A timestamped tax point in July 2020 (16 %), a fine unit price (1,000 * 0.0125 = 12.50)
    body = invoice(
        line("1000", "0.0125"),
        on="2020-06-30",
        tax_point="2020-06-30T22:30:00Z",
        unit_price_decimals=4,
    )
    answer = api.post("/v1/tax/calculations", json=body, token="clerk-a")
    assert answer.status == 201, answer.json
    assert answer.data["totals"] == {"net": "12.50", "tax": "2.00", "gross": "14.50"}
    assert answer.data["result"]["lines"][0]["tax_date"] == "2020-07-01"
    assert answer.data["request"]["tax_point"] == "2020-06-30T22:30:00Z"
    # Spain's IRPF: 15 % of 1,000.00 withheld; payable 1,060.00
    spain = invoice(line("1", "1000.00", withholding_category="professional"), place="ES")
    withheld = api.post("/v1/tax/calculations", json=spain, token="clerk-a")
    assert withheld.status == 201, withheld.json
    assert withheld.data["result"]["withholding"]["payable"] == "1060.00"
    assert withheld.data["totals"]["gross"] == "1210.00"
