"""Exports against the emulators: an account's lines streamed as CSV and JSON Lines
through the journal function, and the statements as CSV through the accounts function.
The content is checked byte for byte; refused queries write nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from shared.ledger import history_store
from shared.ledger.export import ACCOUNT_LINE_COLUMNS
from tests.integration.ledger_functions.conftest import Api

State = Callable[[], dict[str, dict[str, Any]]]
HEADER = ",".join(ACCOUNT_LINE_COLUMNS)


@pytest.fixture
def books(api: Api) -> dict[str, Any]:
    ids = {
        "cash": api.create_account("1000-cash"),
        "equity": api.create_account("3000-equity", "equity"),
        "sales": api.create_account("4000-sales", "revenue"),
        "rent": api.create_account("6000-rent", "expense"),
    }

    def post(debit: str, credit: str, amount: str, day: str, **fields: Any) -> dict[str, Any]:
        answer = api.post(
            (ids[debit], "debit", amount), (ids[credit], "credit", amount),
            effective_date=day, **fields,
        )  # fmt: skip
        assert answer.status == 201, answer.json
        return dict(answer.data)

    entries = {
        "before": post("cash", "equity", "10.00", "2025-12-15"),
        "capital": post("cash", "equity", "100.00", "2026-01-05", description='Capital, "seed"'),
        "hold": post("rent", "cash", "5.00", "2026-01-10", pending=True),
        "sale": post("cash", "sales", "30.00", "2026-01-12", description="=HYPERLINK(x)"),
        "after": post("cash", "equity", "1.00", "2026-02-01"),
    }
    reversal = api.action(entries["sale"]["id"], "reverse", {"effective_date": "2026-01-20"})
    assert reversal.status == 201, reversal.json
    entries["reversal"] = reversal.data["reversal"]
    return {"ids": ids, "entries": entries}


def _expected_rows(books: dict[str, Any]) -> list[list[str]]:
    e = books["entries"]

    def row(name: str, index: int, kind: str, status: str, counts: str, side: str,
            amount: str, balance: str, description: str, reverses: str = "",
            ) -> list[str]:  # fmt: skip
        entry = e[name]
        return [
            entry["effective_date"], entry["id"], str(index), kind, status, counts, side,
            amount, "EUR", balance, description, entry["created_at"], reverses, "",
        ]  # fmt: skip

    return [
        row("capital", 0, "standard", "posted", "posted", "debit", "100.00", "110.00",
            'Capital, "seed"'),
        row("hold", 1, "pending", "pending", "pending", "credit", "5.00", "110.00", ""),
        row("sale", 0, "standard", "posted", "posted", "debit", "30.00", "140.00",
            "=HYPERLINK(x)"),
        row("reversal", 0, "reversal", "posted", "posted", "credit", "30.00", "110.00",
            e["reversal"]["description"], reverses=e["sale"]["id"]),
    ]  # fmt: skip


def _csv_line(cells: list[str]) -> str:
    quoted = []
    for cell in cells:
        if cell.startswith("="):
            cell = "'" + cell
        if any(c in cell for c in ',"\r\n'):
            cell = '"' + cell.replace('"', '""') + '"'
        quoted.append(cell)
    return ",".join(quoted) + "\r\n"


def _export(api: Api, account_id: str, query: str, who: str = "viewer") -> Any:
    return api.journal.get(f"/v1/accounts/{account_id}/entries/export?{query}", token=who)


def test_the_csv_export_has_a_header_and_one_row_per_line_with_a_running_balance(
    api: Api, books: dict[str, Any]
) -> None:
    answer = _export(api, books["ids"]["cash"], "from=2026-01-01&to=2026-01-31")

    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="{books["ids"]["cash"]}-2026-01-01-2026-01-31.csv"'
    )
    expected = HEADER + "\r\n" + "".join(_csv_line(row) for row in _expected_rows(books))
    assert answer.body.decode("utf-8") == expected


def test_the_jsonl_export_has_the_same_rows_as_objects_across_pages(
    api: Api, books: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_store, "EXPORT_PAGE_SIZE", 1)  # one entry per query

    answer = _export(api, books["ids"]["cash"], "from=2026-01-01&to=2026-01-31&format=jsonl")

    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/x-ndjson"
    lines = answer.body.decode("utf-8").splitlines()
    objects = [orjson.loads(line) for line in lines]
    assert all(list(o) == list(ACCOUNT_LINE_COLUMNS) for o in objects)
    expected: list[dict[str, Any]] = [
        dict(zip(ACCOUNT_LINE_COLUMNS, row, strict=True)) for row in _expected_rows(books)
    ]
    for item in expected:
        item["line_index"] = int(item["line_index"])
    assert objects == expected


def test_an_empty_range_exports_the_header_alone(api: Api, books: dict[str, Any]) -> None:
    answer = _export(api, books["ids"]["cash"], "from=2024-01-01&to=2024-12-31")
    assert (answer.status, answer.body.decode()) == (200, HEADER + "\r\n")
    jsonl = _export(api, books["ids"]["cash"], "from=2024-01-01&to=2024-12-31&format=jsonl")
    assert (jsonl.status, jsonl.body) == (200, b"")


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("from=2026-01-01&to=2026-01-31&format=xml", "query.format", "not_allowed"),
        ("from=2026-02-01&to=2026-01-31", "query.to", "invalid_date_range"),
        ("from=2026-13-01&to=2026-01-31", "query.from", None),
        ("from=2026-01-01", "query.to", "missing"),
    ],
)
def test_a_bad_export_query_names_the_parameter_and_writes_nothing(
    api: Api, books: dict[str, Any], state: State, query: str, field: str, code: str | None
) -> None:
    before = state()

    answer = _export(api, books["ids"]["cash"], query)

    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json["errors"]] == [field]
    if code is not None:
        assert answer.json["errors"][0]["code"] == code
    assert state() == before


def test_another_tenants_account_is_not_exported_and_nothing_is_written(
    api: Api, books: dict[str, Any], state: State
) -> None:
    before = state()

    answer = _export(api, books["ids"]["cash"], "from=2026-01-01&to=2026-01-31", who="other")

    assert answer.status == 404, answer.body
    assert answer.json["code"] == "account_not_found"
    assert state() == before


def test_the_statements_export_as_csv(api: Api, books: dict[str, Any]) -> None:
    income = api.accounts.get(
        "/v1/ledger/statements/income/export?from=2026-01-01&to=2026-01-31", token="viewer"
    )
    sheet = api.accounts.get(
        "/v1/ledger/statements/balance-sheet/export?as_of=2026-01-31", token="viewer"
    )

    ids = books["ids"]
    assert income.status == 200, income.body
    assert income.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert income.body.decode() == (
        "currency,from,to,section,account_id,code,name,amount\r\n"
        f"EUR,2026-01-01,2026-01-31,revenue,{ids['sales']},4000-sales,4000-Sales,0.00\r\n"
        "EUR,2026-01-01,2026-01-31,revenue_total,,,,0.00\r\n"
        f"EUR,2026-01-01,2026-01-31,expenses,{ids['rent']},6000-rent,6000-Rent,0.00\r\n"
        "EUR,2026-01-01,2026-01-31,expenses_total,,,,0.00\r\n"
        "EUR,2026-01-01,2026-01-31,net_income,,,,0.00\r\n"
    )
    assert sheet.status == 200, sheet.body
    assert sheet.body.decode() == (
        "currency,as_of,section,account_id,code,name,amount\r\n"
        f"EUR,2026-01-31,assets,{ids['cash']},1000-cash,1000-Cash,110.00\r\n"
        "EUR,2026-01-31,assets_total,,,,110.00\r\n"
        "EUR,2026-01-31,liabilities_total,,,,0.00\r\n"
        f"EUR,2026-01-31,equity,{ids['equity']},3000-equity,3000-Equity,110.00\r\n"
        "EUR,2026-01-31,equity_total,,,,110.00\r\n"
        "EUR,2026-01-31,retained_earnings,,,,0.00\r\n"
        "EUR,2026-01-31,equity_total_with_retained_earnings,,,,110.00\r\n"
    )
    refused = api.accounts.get(
        "/v1/ledger/statements/income/export?from=2026-02-01&to=2026-01-01", token="viewer"
    )
    assert refused.status == 422
    assert [e["code"] for e in refused.json["errors"]] == ["invalid_date_range"]
