"""The accounts function: chart of accounts, balances, filters, changes, trial balance."""

from __future__ import annotations

from typing import Any

from tests.integration.ledger.conftest import dump, outbox_types
from tests.integration.ledger_functions.conftest import Api


def test_an_account_is_created_and_read_with_its_balances(api: Api, platform: Any) -> None:
    created = api.accounts.post(
        "/v1/accounts",
        json={
            "code": "1000-cash",
            "name": "Cash",
            "type": "asset",
            "currency": "EUR",
            "metadata": {"branch": "north"},
        },
        token="accountant",
    )

    assert created.status == 201, created.json
    account = created.data
    assert created.headers["Location"] == f"/v1/accounts/{account['id']}"
    assert (account["type"], account["normal_side"], account["status"]) == (
        "asset",
        "debit",
        "active",
    )
    read = api.accounts.get(f"/v1/accounts/{account['id']}", token="viewer")
    assert read.status == 200
    assert read.data["balances"] == {
        "currency": "EUR",
        "normal_side": "debit",
        "posted": "0.00",
        "available": "0.00",
        "posted_debits": "0.00",
        "posted_credits": "0.00",
        "pending_debits": "0.00",
        "pending_credits": "0.00",
    }
    assert ("ledger-events", "ledger.account_created") in outbox_types(platform)
    # Another tenant's account does not exist for it.
    assert api.accounts.get(f"/v1/accounts/{account['id']}", token="other").status == 404


def test_refused_account_changes_write_nothing(api: Api, platform: Any) -> None:
    api.create_account("1000-cash")
    before = dump(platform)

    taken = api.accounts.post(
        "/v1/accounts",
        json={"code": "1000-cash", "name": "Again", "type": "asset", "currency": "EUR"},
        token="accountant",
    )
    bad_currency = api.accounts.post(
        "/v1/accounts",
        json={"code": "1001-x", "name": "X", "type": "asset", "currency": "XXZ"},
        token="accountant",
    )
    bad_type = api.accounts.post(
        "/v1/accounts",
        json={"code": "1002-x", "name": "X", "type": "cash", "currency": "EUR"},
        token="accountant",
    )
    sharded_constrained = api.accounts.post(
        "/v1/accounts",
        json={
            "code": "1003-x",
            "name": "X",
            "type": "liability",
            "currency": "EUR",
            "balance_constraint": "debits_must_not_exceed_credits",
            "balance_shards": 4,
        },
        token="accountant",
    )
    viewer = api.accounts.post(
        "/v1/accounts",
        json={"code": "1004-x", "name": "X", "type": "asset", "currency": "EUR"},
        token="viewer",
    )

    assert (taken.status, taken.json["code"]) == (409, "account_code_taken")
    assert taken.json["errors"][0]["field"] == "code"
    assert (bad_currency.status, bad_currency.json["errors"][0]["field"]) == (422, "currency")
    assert (bad_type.status, bad_type.json["errors"][0]["field"]) == (422, "type")
    assert sharded_constrained.status == 422
    assert sharded_constrained.json["errors"][0]["field"] == "balance_shards"
    assert viewer.status == 403
    assert dump(platform) == before


def test_accounts_are_listed_by_filter_page_by_page_and_per_tenant(api: Api) -> None:
    cash = api.create_account("1000-cash")
    usd = api.create_account("1010-usd", currency="USD")
    revenue = api.create_account("4000-revenue", "revenue")
    fees = api.create_account("4100-fees", "revenue")
    api.create_account("1000-cash", who="other")

    def listed(**query: Any) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            page = api.accounts.get(
                "/v1/accounts",
                token="viewer",
                query={**query, "limit": 1, **({"cursor": cursor} if cursor else {})},
            )
            assert page.status == 200, page.json
            ids.extend(account["id"] for account in page.data)
            cursor = page.json["meta"]["next_cursor"]
            if cursor is None:
                return ids

    assert listed() == [cash, usd, revenue, fees]
    assert listed(type="revenue") == [revenue, fees]
    assert listed(currency="USD") == [usd]
    assert listed(type="asset", currency="EUR") == [cash]
    bad = api.accounts.get("/v1/accounts", token="viewer", query={"type": "cash"})
    assert (bad.status, bad.json["errors"][0]["field"]) == (422, "query.type")
    first = api.accounts.get("/v1/accounts", token="viewer", query={"limit": 1})
    mismatched = api.accounts.get(
        "/v1/accounts",
        token="viewer",
        query={"type": "revenue", "cursor": first.json["meta"]["next_cursor"]},
    )
    assert (mismatched.status, mismatched.json["code"]) == (422, "cursor_mismatch")


def test_an_account_is_renamed_frozen_and_closed_only_at_zero(api: Api) -> None:
    cash = api.create_account("1000-cash")
    revenue = api.create_account("4000-revenue", "revenue")
    assert api.post((cash, "debit", "3.00"), (revenue, "credit", "3.00")).status == 201

    renamed = api.accounts.patch(f"/v1/accounts/{cash}", json={"name": "Till"}, token="accountant")
    retyped = api.accounts.patch(
        f"/v1/accounts/{cash}", json={"type": "expense"}, token="accountant"
    )
    close_with_money = api.accounts.patch(
        f"/v1/accounts/{cash}", json={"status": "closed"}, token="accountant"
    )
    frozen = api.accounts.patch(
        f"/v1/accounts/{cash}", json={"status": "frozen"}, token="accountant"
    )
    empty = api.accounts.patch(f"/v1/accounts/{cash}", json={}, token="accountant")
    other_tenant = api.accounts.patch(f"/v1/accounts/{cash}", json={"name": "X"}, token="other")

    assert (renamed.status, renamed.data["name"]) == (200, "Till")
    assert renamed.data["balances"]["posted"] == "3.00"
    assert (retyped.status, retyped.json["code"]) == (422, "account_immutable_field")
    assert (close_with_money.status, close_with_money.json["code"]) == (
        422,
        "account_balance_not_zero",
    )
    assert (frozen.status, frozen.data["status"]) == (200, "frozen")
    assert (empty.status, empty.json["code"]) == (422, "empty_update")
    assert other_tenant.status == 404
    unused = api.create_account("5000-unused", "expense")
    closed = api.accounts.patch(
        f"/v1/accounts/{unused}", json={"status": "closed"}, token="accountant"
    )
    reopened = api.accounts.patch(
        f"/v1/accounts/{unused}", json={"status": "active"}, token="accountant"
    )
    assert closed.data["status"] == "closed"
    assert (reopened.status, reopened.json["code"]) == (422, "account_closed")


def test_the_trial_balance_sums_to_zero_per_currency(api: Api) -> None:
    cash = api.create_account("1000-cash")
    revenue = api.create_account("4000-revenue", "revenue")
    usd = api.create_account("1010-usd", currency="USD")
    equity = api.create_account("3000-equity-usd", "equity", currency="USD")
    api.post((cash, "debit", "10.50"), (revenue, "credit", "10.50"))
    api.post((usd, "debit", "99.99"), (equity, "credit", "99.99"))

    answer = api.accounts.get("/v1/ledger/trial-balance", token="viewer")

    assert answer.status == 200
    trial = answer.data
    assert trial["balanced"] is True
    by_currency = {c["currency"]: c for c in trial["currencies"]}
    assert set(by_currency) == {"EUR", "USD"}
    eur = by_currency["EUR"]
    assert (eur["total_debits"], eur["total_credits"], eur["net"]) == ("10.50", "10.50", "0.00")
    assert [(r["code"], r["debit"], r["credit"]) for r in eur["accounts"]] == [
        ("1000-cash", "10.50", "0.00"),
        ("4000-revenue", "0.00", "10.50"),
    ]
    assert by_currency["USD"]["net"] == "0.00"
    other = api.accounts.get("/v1/ledger/trial-balance", token="other").data
    assert other["currencies"] == []


def test_the_latest_reconciliation_is_404_before_any_run(api: Api) -> None:
    answer = api.accounts.get("/v1/ledger/reconciliations/latest", token="accountant")
    viewer = api.accounts.get("/v1/ledger/reconciliations/latest", token="viewer")

    assert (answer.status, answer.json["code"]) == (404, "reconciliation_not_found")
    assert viewer.status == 403
