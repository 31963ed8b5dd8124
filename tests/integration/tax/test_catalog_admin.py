"""The rate catalog's admin API: validated changes, audit events, per-tenant isolation, caching."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
import pytest

from shared.errors import NotFoundError
from shared.identity.actor import Actor
from shared.tax import catalog_admin, store
from shared.tax.requests_admin import NewRateRequest
from tests.integration.tax.conftest import SOURCE, invoice, line
from tests.support.http import RouterClient

DE_STANDARD_2021 = "VAT.standard.2021-01-01"


def _rate_of(answer: Any) -> str:
    assert answer.status == 201, answer.json
    [tax] = answer.data["result"]["lines"][0]["taxes"]
    return str(tax["rate"])


def _calculate_on(api: RouterClient, day: str, user: str = "clerk-a", **line_extra: Any) -> str:
    return _rate_of(
        api.post(
            "/v1/tax/calculations",
            json=invoice(line("1", "100.00", **line_extra), on=day),
            token=user,
        )
    )


def _version(db: Any, tenant_id: str) -> int:
    return int(store.meta_reference(db, tenant_id).get().get("version"))


def test_a_rate_overlapping_another_is_refused_and_changes_nothing(
    api: RouterClient, firestore_client: Any, outbox: Callable[[], list[Any]]
) -> None:
    before = api.get("/v1/tax/jurisdictions/DE", token="admin-a")
    assert before.status == 200
    body = {
        "tax": "VAT",
        "category": "standard",
        "rate": "21",
        "valid_from": "2030-01-01",
        "source": SOURCE,
    }

    answer = api.post("/v1/tax/jurisdictions/DE/rates", json=body, token="admin-a")

    assert answer.status == 422, answer.json
    assert answer.json["code"] == "rate_interval_overlap"
    [error] = answer.json["errors"]
    assert error["field"] == "valid_from"
    assert "overlaps the rate 19 %" in error["message"]
    assert api.get("/v1/tax/jurisdictions/DE", token="admin-a").data == before.data
    assert _version(firestore_client, "tenant-a") == 1
    assert outbox() == []
    assert _calculate_on(api, "2030-06-01") == "19"


def test_reopening_a_closed_rate_over_its_successor_is_refused_on_valid_to(
    api: RouterClient,
) -> None:
    answer = api.patch(
        "/v1/tax/jurisdictions/DE/rates/VAT.standard.2020-07-01",
        json={"valid_to": None},
        token="admin-a",
    )
    assert answer.status == 422, answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [
        ("valid_to", "rate_interval_overlap")
    ]
    assert _calculate_on(api, "2021-06-01") == "19"


def test_a_future_rate_applies_from_its_first_day_once_the_old_one_is_closed(
    api: RouterClient, firestore_client: Any
) -> None:
    assert _calculate_on(api, "2031-01-01") == "19"  # fills this instance's cache

    closed = api.patch(
        f"/v1/tax/jurisdictions/DE/rates/{DE_STANDARD_2021}",
        json={"valid_to": "2031-01-01"},
        token="admin-a",
    )
    assert closed.status == 200, closed.json
    assert closed.data["valid_to"] == "2031-01-01"
    assert closed.json["meta"]["catalog_version"] == 2
    added = api.post(
        "/v1/tax/jurisdictions/DE/rates",
        json={
            "tax": "VAT",
            "category": "standard",
            "rate": "21",
            "valid_from": "2031-01-01",
            "source": SOURCE,
        },
        token="admin-a",
    )
    assert added.status == 201, added.json
    assert added.data["id"] == "VAT.standard.2031-01-01"
    assert added.json["meta"]["catalog_version"] == 3

    assert _calculate_on(api, "2030-12-31") == "19"
    assert _calculate_on(api, "2031-01-01") == "21"
    assert _calculate_on(api, "2031-01-01", user="clerk-b") == "19"  # tenant-b is untouched
    assert _version(firestore_client, "tenant-a") == 3


def test_a_new_rate_can_supersede_the_open_one_in_one_change(api: RouterClient) -> None:
    body = {
        "tax": "VAT",
        "category": "reduced",
        "rate": "8",
        "valid_from": "2032-07-01",
        "source": SOURCE,
        "supersede_open_rate": True,
    }
    assert api.post("/v1/tax/jurisdictions/DE/rates", json=body, token="admin-a").status == 201

    rates = {
        r["id"]: r
        for tax in api.get("/v1/tax/jurisdictions/DE", token="admin-a").data["taxes"]
        for c in tax["categories"]
        if c["code"] == "reduced"
        for r in c["rates"]
    }
    assert rates["VAT.reduced.2021-01-01"]["valid_to"] == "2032-07-01"
    assert rates["VAT.reduced.2032-07-01"]["valid_to"] is None
    assert _calculate_on(api, "2032-06-30", tax_category="reduced") == "7"
    assert _calculate_on(api, "2032-07-01", tax_category="reduced") == "8"
    again = api.post(
        "/v1/tax/jurisdictions/DE/rates", json={**body, "valid_from": "2020-01-01"}, token="admin-a"
    )
    assert again.status == 422
    assert again.json["errors"][0]["field"] == "supersede_open_rate"


def test_another_instance_sees_a_change_once_its_cache_expires(
    api: RouterClient, firestore_client: Any
) -> None:
    now = [1000.0]
    other_instance = store.CatalogCache(ttl_seconds=60, clock=lambda: now[0])
    catalog = other_instance.get(firestore_client, "tenant-a").catalog
    assert catalog.rate("DE", "VAT", "standard", date(2031, 1, 1)).percent == 19

    api.patch(
        f"/v1/tax/jurisdictions/DE/rates/{DE_STANDARD_2021}",
        json={"valid_to": "2031-01-01"},
        token="admin-a",
    )
    api.post(
        "/v1/tax/jurisdictions/DE/rates",
        json={
            "tax": "VAT",
            "category": "standard",
            "rate": "21",
            "valid_from": "2031-01-01",
            "source": SOURCE,
        },
        token="admin-a",
    )

    now[0] += 59
    stale = other_instance.get(firestore_client, "tenant-a")
    assert stale.version == 1
    now[0] += 2
    fresh = other_instance.get(firestore_client, "tenant-a")
    assert fresh.version == 3
    assert fresh.catalog.rate("DE", "VAT", "standard", date(2031, 1, 1)).percent == 21


def test_a_tenants_custom_category_is_invisible_to_other_tenants(api: RouterClient) -> None:
    body = {
        "tax": "VAT",
        "code": "ebooks",
        "kind": "reduced",
        "description": "electronic publications",
        "rates": [{"rate": "7", "valid_from": "2021-01-01", "source": SOURCE}],
    }

    created = api.post("/v1/tax/jurisdictions/DE/categories", json=body, token="admin-a")

    assert created.status == 201, created.json
    assert created.data["rates"][0]["id"] == "VAT.ebooks.2021-01-01"
    assert _calculate_on(api, "2025-06-01", tax_category="ebooks") == "7"
    refused = api.post(
        "/v1/tax/calculations",
        json=invoice(line("1", "100.00", tax_category="ebooks")),
        token="clerk-b",
    )
    assert refused.status == 422
    assert refused.json["errors"][0]["code"] == "unknown_tax_category"
    assert refused.json["errors"][0]["field"] == "lines.0.tax_category"
    categories_b = [
        c["code"]
        for t in api.get("/v1/tax/jurisdictions/DE", token="admin-b").data["taxes"]
        for c in t["categories"]
    ]
    assert "ebooks" not in categories_b
    duplicate = api.post("/v1/tax/jurisdictions/DE/categories", json=body, token="admin-a")
    assert duplicate.status == 409
    assert duplicate.json["code"] == "tax_category_exists"


def test_a_new_jurisdiction_is_usable_and_addressed_with_a_tilde_for_its_locality(
    api: RouterClient,
) -> None:
    body = {
        "code": "US-CA/SF",
        "name": "San Francisco",
        "taxes": [
            {
                "code": "LOCAL",
                "name": "San Francisco local sales tax",
                "order": 20,
                "categories": [
                    {
                        "code": "standard",
                        "kind": "standard",
                        "rates": [{"rate": "1.375", "valid_from": "2024-01-01", "source": SOURCE}],
                    },
                    {"code": "exempt", "kind": "exempt"},
                ],
            }
        ],
    }

    created = api.post("/v1/tax/jurisdictions", json=body, token="admin-a")

    assert created.status == 201, created.json
    assert created.data["taxes"][0]["categories"][0]["rates"][0]["id"] == (
        "LOCAL.standard.2024-01-01"
    )
    read = api.get("/v1/tax/jurisdictions/US-CA~SF", token="admin-a")
    assert read.status == 200
    assert read.data == created.data
    answer = api.post(
        "/v1/tax/calculations",
        json={**invoice(line("1", "100.00", "USD"), currency="USD"), "place_of_supply": "US-CA/SF"},
        token="clerk-a",
    )
    assert answer.status == 201, answer.json
    assert answer.data["jurisdiction_totals"] == [
        {"jurisdiction": "US-CA", "tax_amount": "7.25"},
        {"jurisdiction": "US-CA/SF", "tax_amount": "1.38"},
    ]
    again = api.post("/v1/tax/jurisdictions", json=body, token="admin-a")
    assert again.status == 409
    assert api.get("/v1/tax/jurisdictions/US-CA~SF", token="admin-b").status == 404


def test_an_invalid_jurisdiction_is_refused_with_the_fields_of_the_request(
    api: RouterClient, firestore_client: Any
) -> None:
    rate = {"rate": "5", "valid_from": "2024-01-01", "source": SOURCE}
    body = {
        "code": "PT",
        "name": "Portugal",
        "taxes": [
            {
                "code": "VAT",
                "name": "IVA",
                "order": 10,
                "categories": [
                    {"code": "standard", "kind": "standard", "rates": [rate]},
                    {"code": "exempt", "kind": "exempt", "rates": [rate]},
                ],
            }
        ],
    }
    answer = api.post("/v1/tax/jurisdictions", json=body, token="admin-a")
    assert answer.status == 422, answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [
        ("taxes.0.categories.1.rates.0.category", "rate_not_allowed")
    ]
    no_tax_no_source = api.post(
        "/v1/tax/jurisdictions", json={"code": "PT", "name": "Portugal"}, token="admin-a"
    )
    assert no_tax_no_source.status == 422
    assert no_tax_no_source.json["errors"][0]["field"] == "source"
    standard_only = {
        **body["taxes"][0],
        "categories": [{"code": "standard", "kind": "standard", "rates": [{**rate, "rate": 5}]}],
    }
    bad_rate = api.post(
        "/v1/tax/jurisdictions", json={**body, "taxes": [standard_only]}, token="admin-a"
    )
    assert bad_rate.status == 422
    assert bad_rate.json["errors"][0]["field"] == "taxes.0.categories.0.rates.0.rate"
    assert api.get("/v1/tax/jurisdictions/PT", token="admin-a").status == 404
    assert _version(firestore_client, "tenant-a") == 1


def test_a_jurisdiction_with_a_time_zone_and_a_dated_tax(
    api: RouterClient, firestore_client: Any
) -> None:
    tax: dict[str, Any] = {
        "code": "VAT",
        "name": "Value added tax",
        "order": 10,
        "in_force_from": "2030-01-01",
        "categories": [
            {
                "code": "standard",
                "kind": "standard",
                "rates": [{"rate": "5", "valid_from": "2030-01-01", "source": SOURCE}],
            }
        ],
    }
    body = {"code": "XQ", "name": "Test land", "time_zone": "Asia/Dubai", "taxes": [tax]}
    bad_zone = api.post(
        "/v1/tax/jurisdictions", json={**body, "time_zone": "Asia/Atlantis"}, token="admin-a"
    )
    assert bad_zone.status == 422, bad_zone.json
    assert [(e["field"], e["code"]) for e in bad_zone.json["errors"]] == [
        ("time_zone", "unknown_time_zone")
    ]
    early_rate = {
        **tax["categories"][0],
        "rates": [{"rate": "5", "valid_from": "2029-01-01", "source": SOURCE}],
    }
    bad_rate = api.post(
        "/v1/tax/jurisdictions",
        json={**body, "taxes": [{**tax, "categories": [early_rate]}]},
        token="admin-a",
    )
    assert bad_rate.status == 422, bad_rate.json
    assert [(e["field"], e["code"]) for e in bad_rate.json["errors"]] == [
        ("taxes.0.categories.0.rates.0.valid_from", "rate_outside_tax_period")
    ]
    assert _version(firestore_client, "tenant-a") == 1

    created = api.post("/v1/tax/jurisdictions", json=body, token="admin-a")
    assert created.status == 201, created.json
    assert created.data["time_zone"] == "Asia/Dubai"
    assert created.data["taxes"][0]["in_force_from"] == "2030-01-01"

    def tax_at(tax_point: str) -> Any:
        calculation = {
            **invoice(line("1", "100.00", "USD"), currency="USD", on="2029-12-31"),
            "place_of_supply": "XQ",
            "tax_point": tax_point,
        }
        answer = api.post("/v1/tax/calculations", json=calculation, token="clerk-a")
        assert answer.status == 201, answer.json
        return answer.data["result"]["lines"][0]

    # 19:30 UTC on 31 December 2029 is 23:30 in Dubai: the VAT does not exist yet
    assert tax_at("2029-12-31T19:30:00Z")["reasons"] == ["not_yet_in_force"]
    # 20:30 UTC is 00:30 on 1 January 2030 there: 5 % of 100.00
    assert tax_at("2029-12-31T20:30:00Z")["tax"] == "5.00"


def test_admin_routes_need_the_admin_permission(api: RouterClient) -> None:
    rate = {
        "tax": "VAT",
        "category": "standard",
        "rate": "21",
        "valid_from": "2031-01-01",
        "source": SOURCE,
    }
    calls = [
        ("GET", "/v1/tax/jurisdictions", None),
        ("GET", "/v1/tax/jurisdictions/DE", None),
        ("POST", "/v1/tax/jurisdictions", {"code": "PT", "name": "Portugal"}),
        ("POST", "/v1/tax/jurisdictions/DE/rates", rate),
        ("PATCH", f"/v1/tax/jurisdictions/DE/rates/{DE_STANDARD_2021}", {"valid_to": None}),
        (
            "POST",
            "/v1/tax/jurisdictions/DE/categories",
            {"tax": "VAT", "code": "x", "kind": "exempt"},
        ),
    ]
    for method, path, body in calls:
        assert api.request(method, path, json=body, token="clerk-a").status == 403, path
        assert api.request(method, path, json=body).status == 401, path


def test_jurisdictions_are_listed_page_by_page(api: RouterClient) -> None:
    codes: list[str] = []
    cursor = None
    while True:
        query = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/tax/jurisdictions", token="admin-a", query=query)
        assert page.status == 200, page.json
        codes += [j["code"] for j in page.data]
        cursor = page.json["meta"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(codes) == sorted(j["code"] for j in store.seed_jurisdictions())
    germany = next(j for j in store.seed_jurisdictions() if j["code"] == "DE")
    assert germany["taxes"][0]["categories"][0]["rates"][-1]["id"] == DE_STANDARD_2021


def test_unknown_rates_taxes_and_categories_are_named(api: RouterClient) -> None:
    missing = api.patch(
        "/v1/tax/jurisdictions/DE/rates/VAT.standard.1999-01-01",
        json={"valid_to": "2031-01-01"},
        token="admin-a",
    )
    assert missing.status == 404
    assert missing.json["code"] == "tax_rate_not_found"
    assert api.get("/v1/tax/jurisdictions/ZZ", token="admin-a").status == 404
    rate = {"rate": "5", "valid_from": "2031-01-01", "source": SOURCE}
    unknown_tax = api.post(
        "/v1/tax/jurisdictions/DE/rates",
        json={"tax": "GST", "category": "standard", **rate},
        token="admin-a",
    )
    assert [(e["field"], e["code"]) for e in unknown_tax.json["errors"]] == [("tax", "unknown_tax")]
    unknown_category = api.post(
        "/v1/tax/jurisdictions/DE/rates",
        json={"tax": "VAT", "category": "luxury", **rate},
        token="admin-a",
    )
    assert [(e["field"], e["code"]) for e in unknown_category.json["errors"]] == [
        ("category", "unknown_tax_category")
    ]
    on_exempt = api.post(
        "/v1/tax/jurisdictions/DE/rates",
        json={"tax": "VAT", "category": "exempt", **rate},
        token="admin-a",
    )
    assert [(e["field"], e["code"]) for e in on_exempt.json["errors"]] == [
        ("category", "rate_not_allowed")
    ]
    empty_patch = api.patch(
        f"/v1/tax/jurisdictions/DE/rates/{DE_STANDARD_2021}", json={}, token="admin-a"
    )
    assert empty_patch.status == 422
    assert empty_patch.json["errors"][0]["code"] == "nothing_to_update"


def test_every_admin_change_commits_an_audit_event(
    api: RouterClient, outbox: Callable[[], list[Any]]
) -> None:
    api.post(
        "/v1/tax/jurisdictions/DE/categories",
        json={"tax": "VAT", "code": "medical", "kind": "exempt"},
        token="admin-a",
    )
    api.patch(
        f"/v1/tax/jurisdictions/DE/rates/{DE_STANDARD_2021}",
        json={"valid_to": "2031-01-01"},
        token="admin-a",
    )
    api.post(
        "/v1/tax/jurisdictions/DE/rates",
        json={
            "tax": "VAT",
            "category": "standard",
            "rate": "21",
            "valid_from": "2031-01-01",
            "source": SOURCE,
        },
        token="admin-a",
    )
    api.post(
        "/v1/tax/jurisdictions",
        json={"code": "US-OR/PDX", "name": "Portland", "source": SOURCE},
        token="admin-a",
    )
    api.post("/v1/tax/calculations", json=invoice(), token="admin-a")  # not an admin change

    records = sorted(outbox(), key=lambda r: r["created_at"])
    envelopes = [orjson.loads(r["data"]) for r in records]
    assert [e["data"]["action"] for e in envelopes] == [
        "tax.category.added",
        "tax.rate.updated",
        "tax.rate.added",
        "tax.jurisdiction.created",
    ]
    assert {r["topic"] for r in records} == {"audit-events"}
    assert {r["status"] for r in records} == {"published"}
    assert {e["tenant_id"] for e in envelopes} == {"tenant-a"}
    assert {e["type"] for e in envelopes} == {"audit.recorded"}
    assert envelopes[0]["data"]["actor"] == {"user_id": "u-admin-a", "role": "admin"}
    updated = envelopes[1]["data"]["details"]
    assert (updated["before"]["valid_to"], updated["after"]["valid_to"]) == (None, "2031-01-01")
    assert [e["data"]["details"]["catalog_version"] for e in envelopes] == [2, 3, 4, 5]


def test_concurrent_first_uses_seed_the_catalog_once(firestore_client: Any) -> None:
    results: list[bool] = []
    errors: list[BaseException] = []

    def seed() -> None:
        try:
            results.append(store.ensure_seeded(firestore_client, "tenant-race"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=seed) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results.count(True) == 1
    assert _version(firestore_client, "tenant-race") == 1


@pytest.mark.parametrize("segment", ["de", "DE~", "D%20E"])
def test_malformed_jurisdiction_paths_are_not_found(api: RouterClient, segment: str) -> None:
    assert api.get(f"/v1/tax/jurisdictions/{segment}", token="admin-a").status == 404


def test_the_service_refuses_changes_for_unknown_jurisdictions(firestore_client: Any) -> None:
    request = NewRateRequest.model_validate_json(
        orjson.dumps(
            {
                "tax": "VAT",
                "category": "standard",
                "rate": "1",
                "valid_from": "2031-01-01",
                "source": SOURCE,
            }
        )
    )
    with pytest.raises(NotFoundError, match="jurisdiction ZZ not found"):
        catalog_admin.add_rate(
            firestore_client,
            "tenant-a",
            "ZZ",
            request,
            actor=Actor.user("u-1", role="admin"),
            cache=store.CatalogCache(60),
        )


def test_concurrent_admin_changes_lose_nothing(api: RouterClient, firestore_client: Any) -> None:
    api.get("/v1/tax/jurisdictions/DE", token="admin-a")  # seeded before the race
    answers: dict[str, int] = {}

    def add(code: str) -> None:
        body = {"tax": "VAT", "code": code, "kind": "exempt"}
        answer = api.post("/v1/tax/jurisdictions/DE/categories", json=body, token="admin-a")
        assert answer.status == 201 or answer.json["code"] == "contention", answer.json
        answers[code] = answer.status

    threads = [threading.Thread(target=add, args=(f"custom_{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    added = {code for code, status in answers.items() if status == 201}
    assert len(answers) == 4 and added
    categories = {
        c["code"]
        for t in api.get("/v1/tax/jurisdictions/DE", token="admin-a").data["taxes"]
        for c in t["categories"]
    }
    assert {code for code in categories if code.startswith("custom_")} == added
    assert _version(firestore_client, "tenant-a") == 1 + len(added)
