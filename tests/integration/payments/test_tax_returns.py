"""A jurisdiction's tax return from what settled payments booked, refunds netted.

Spain: two invoices of 1,000.00 + IVA 21 % with IRPF 15 % withheld (paid 1,060.00
each), one refunded by half; one Quebec invoice (another jurisdiction) beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.identity.roles import permissions_for
from tests.integration.payments.conftest import (
    OTHER_TENANT,
    TENANT,
    Stack,
    dump_without_idempotency,
    quebec_invoice,
)
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

# Payments book on the day they capture or refund: the period around today holds them.
TODAY = datetime.now(UTC).date()
PERIOD_FROM, PERIOD_TO = (TODAY - timedelta(days=30)).isoformat(), TODAY.isoformat()
SPAIN = {"jurisdiction": "ES", "currency": "EUR", "from": PERIOD_FROM, "to": PERIOD_TO}


def _spanish_invoice() -> dict[str, object]:
    return {
        "document_date": "2025-06-01",
        "currency": "EUR",
        "place_of_supply": "ES",
        "seller": {"country": "ES"},
        "lines": [
            {
                "quantity": "1",
                "unit_price": {"amount": "1000.00", "currency": "EUR"},
                "withholding_category": "professional",
            }
        ],
    }


@pytest.fixture
def tax_api(stack: Stack) -> Iterator[RouterClient]:
    module = load_function("tax")
    module.router._authenticator = StaticAuthenticator(
        {
            "accountant": Principal("u-acc", TENANT, "accountant", permissions_for("accountant")),
            "viewer": Principal("u-view", TENANT, "viewer", frozenset({"payments:read"})),
            "other": Principal(
                "u-other", OTHER_TENANT, "accountant", permissions_for("accountant")
            ),
        }
    )
    yield RouterClient(module.router)


def _settle(stack: Stack, invoice: dict[str, Any], amount: str, currency: str) -> str:
    calculation_id = stack.tax_calculation(invoice)
    created = stack.create(amount=amount, currency=currency, tax_calculation_id=calculation_id)
    assert created.status == 202, created.json
    stack.process()
    return str(created.data["id"])


def test_the_return_adds_up_the_periods_sales_and_nets_refunds(
    stack: Stack, tax_api: RouterClient
) -> None:
    first = _settle(stack, _spanish_invoice(), "1060.00", "EUR")
    _settle(stack, _spanish_invoice(), "1060.00", "EUR")
    _settle(stack, quebec_invoice("100.00"), "114.98", "CAD")
    assert stack.refund(first, amount="530.00").status == 202
    stack.process()

    answer = tax_api.get("/v1/tax/returns", token="accountant", query=SPAIN)
    assert answer.status == 200, answer.json
    assert answer.data == {
        "jurisdiction": "ES",
        "currency": "EUR",
        "from": PERIOD_FROM,
        "to": PERIOD_TO,
        "taxable_sales": "1500.00",
        "tax_collected": "420.00",
        "tax_refunded": "105.00",
        "net_tax": "315.00",
        "withheld_by_customers": "225.00",
        "entries": 3,
        "final": False,
    }
    exported = tax_api.get("/v1/tax/returns/export", token="accountant", query=SPAIN)
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    lines = exported.body.decode().splitlines()
    assert lines[0] == "box,description,amount,currency"
    assert "net_tax,Tax due for the period,315.00,EUR" in lines

    quebec = tax_api.get(
        "/v1/tax/returns",
        token="accountant",
        query={**SPAIN, "jurisdiction": "CA-QC", "currency": "CAD"},
    ).data
    assert (quebec["tax_collected"], quebec["taxable_sales"]) == ("9.98", "100.00")


def test_a_period_without_sales_and_another_tenant_see_zero(
    stack: Stack, tax_api: RouterClient
) -> None:
    _settle(stack, _spanish_invoice(), "1060.00", "EUR")
    earlier = tax_api.get(
        "/v1/tax/returns",
        token="accountant",
        query={**SPAIN, "from": "2025-01-01", "to": "2025-03-31"},
    ).data
    assert (earlier["net_tax"], earlier["entries"]) == ("0.00", 0)
    theirs = tax_api.get("/v1/tax/returns", token="other", query=SPAIN).data
    assert (theirs["net_tax"], theirs["entries"]) == ("0.00", 0)


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({**SPAIN, "to": "2025-03-31"}, "query.to", "invalid_date_range"),
        ({**SPAIN, "from": "2024-01-01", "to": "2025-03-31"}, "query.to", "date_range_too_long"),
        ({**SPAIN, "jurisdiction": "spain"}, "query.jurisdiction", None),
        ({**SPAIN, "currency": "eur"}, "query.currency", None),
        ({**SPAIN, "currency": "XXX"}, "query.currency", "unknown_currency"),
        ({**SPAIN, "from": "2025-02-30"}, "query.from", None),
        ({"jurisdiction": "ES", "currency": "EUR", "from": PERIOD_FROM}, "query.to", None),
    ],
)
def test_a_bad_query_is_refused_naming_the_field_and_nothing_is_written(
    stack: Stack, tax_api: RouterClient, query: dict[str, str], field: str, code: str | None
) -> None:
    before = dump_without_idempotency(stack.db)
    answer = tax_api.get("/v1/tax/returns", token="accountant", query=query)
    assert answer.status == 422, answer.json
    errors = {e["field"]: e["code"] for e in answer.json["errors"]}
    assert field in errors, answer.json
    if code:
        assert errors[field] == code
    assert dump_without_idempotency(stack.db) == before


def test_returns_need_the_tax_read_permission(stack: Stack, tax_api: RouterClient) -> None:
    assert tax_api.get("/v1/tax/returns", token="viewer", query=SPAIN).status == 403
