"""The income statement and the balance sheet through the accounts function, from
entries posted through the journal against the emulators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.ledger_functions.conftest import Api


@pytest.fixture
def books(api: Api) -> dict[str, str]:
    ids = {
        "cash": api.create_account("1000-cash"),
        "loan": api.create_account("2100-loan", "liability"),
        "capital": api.create_account("3000-capital", "equity"),
        "sales": api.create_account("4000-sales", "revenue"),
        "rent": api.create_account("6000-rent", "expense"),
        "usd": api.create_account("1010-usd", currency="USD"),
        "usd-sales": api.create_account("4010-usd-sales", "revenue", currency="USD"),
    }

    def post(debit: str, credit: str, amount: str, day: str, **fields: Any) -> str:
        answer = api.post(
            (ids[debit], "debit", amount), (ids[credit], "credit", amount),
            effective_date=day, **fields,
        )  # fmt: skip
        assert answer.status == 201, answer.json
        return str(answer.data["id"])

    post("cash", "capital", "1000.00", "2026-01-01")
    post("cash", "loan", "500.00", "2026-01-05")
    sale = post("cash", "sales", "300.00", "2026-01-10")
    post("rent", "cash", "100.00", "2026-02-01")
    post("usd", "usd-sales", "42.00", "2026-01-20")
    post("rent", "cash", "999.00", "2026-01-15", pending=True)  # a hold: not posted
    reversed_ = api.action(sale, "reverse", {"effective_date": "2026-02-10"})
    assert reversed_.status == 201, reversed_.json
    return ids


def _statement(api: Api, path: str, currency: str = "EUR") -> dict[str, Any]:
    answer = api.accounts.get(path, token="viewer")
    assert answer.status == 200, answer.json
    [statement] = [s for s in answer.data if s["currency"] == currency]
    return dict(statement)


def test_the_income_statement_covers_the_entries_dated_in_the_range(
    api: Api, books: dict[str, str]
) -> None:
    january = _statement(api, "/v1/ledger/statements/income?from=2026-01-01&to=2026-01-31")
    assert (january["revenue"]["total"], january["expenses"]["total"]) == ("300.00", "0.00")
    assert january["net_income"] == "300.00"
    assert [a["code"] for a in january["revenue"]["accounts"]] == ["4000-sales"]
    # February holds the rent and the sale's reversal.
    both = _statement(api, "/v1/ledger/statements/income?from=2026-01-01&to=2026-02-28")
    assert (both["revenue"]["total"], both["expenses"]["total"]) == ("0.00", "100.00")
    assert both["net_income"] == "-100.00"
    dollars = _statement(
        api, "/v1/ledger/statements/income?from=2026-01-01&to=2026-12-31", currency="USD"
    )
    assert dollars["net_income"] == "42.00"


def test_the_balance_sheet_balances_with_retained_earnings(api: Api, books: dict[str, str]) -> None:
    end_of_january = _statement(api, "/v1/ledger/statements/balance-sheet?as_of=2026-01-31")
    assert end_of_january["assets"]["total"] == "1800.00"
    assert end_of_january["liabilities"]["total"] == "500.00"
    assert end_of_january["equity"]["total"] == "1000.00"
    assert end_of_january["equity"]["retained_earnings"] == "300.00"
    assert end_of_january["balanced"] is True
    end_of_february = _statement(api, "/v1/ledger/statements/balance-sheet?as_of=2026-02-28")
    assert end_of_february["assets"]["total"] == "1400.00"
    assert end_of_february["equity"]["retained_earnings"] == "-100.00"
    assert end_of_february["balanced"] is True
    before_anything = _statement(api, "/v1/ledger/statements/balance-sheet?as_of=2025-12-31")
    assert before_anything["assets"]["total"] == "0.00"


@pytest.mark.parametrize(
    "query",
    [
        "/v1/ledger/statements/income?from=2026-02-01&to=2026-01-01",
        "/v1/ledger/statements/income?from=2026-01-01",
        "/v1/ledger/statements/income?from=yesterday&to=2026-01-01",
        "/v1/ledger/statements/balance-sheet",
        "/v1/ledger/statements/balance-sheet?as_of=2026-02-30",
        "/v1/ledger/statements/balance-sheet?as_of=2026-01-01&currency=EUR",
    ],
)
def test_a_bad_query_is_a_problem_naming_the_parameter(api: Api, query: str) -> None:
    answer = api.accounts.get(query, token="viewer")
    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert all(e["field"].startswith("query") for e in answer.json["errors"])


def test_the_account_list_can_carry_balances(api: Api, books: dict[str, str]) -> None:
    plain = api.accounts.get("/v1/accounts?currency=EUR", token="viewer")
    assert plain.status == 200
    assert all("balances" not in account for account in plain.data)

    listed = api.accounts.get("/v1/accounts?currency=EUR&with_balances=true", token="viewer")

    assert listed.status == 200, listed.json
    by_code = {account["code"]: account["balances"] for account in listed.data}
    assert by_code["1000-cash"]["posted"] == "1400.00"
    assert by_code["1000-cash"]["available"] == "401.00"  # the 999.00 rent hold is pending
    assert by_code["2100-loan"]["posted"] == "500.00"
    bad = api.accounts.get("/v1/accounts?with_balances=perhaps", token="viewer")
    assert bad.status == 422


def test_a_period_that_ends_before_it_starts_names_its_rule(api: Api) -> None:
    answer = api.accounts.get(
        "/v1/ledger/statements/income?from=2026-02-01&to=2026-01-01", token="viewer"
    )
    assert answer.status == 422, answer.json
    assert [e["code"] for e in answer.json["errors"]] == ["invalid_date_range"]
