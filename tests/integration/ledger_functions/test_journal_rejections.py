"""POST /v1/journal-entries refuses invalid entries with a 4xx naming the field, writing nothing.

"Nothing" is checked on a dump of the whole database before and after: the only
new document a rejection leaves is its idempotency record, which stores the
rejection itself so that a retry with the same key gets the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.ledger.conftest import dump
from tests.integration.ledger_functions.conftest import Api, idempotency_records


@dataclass
class Chart:
    cash: str
    revenue: str
    wallet: str  # liability that must never go below zero
    usd: str
    jpy_cash: str
    jpy_revenue: str
    frozen: str
    closed: str
    foreign: str  # another tenant's account


@pytest.fixture
def chart(api: Api) -> Chart:
    chart = Chart(
        cash=api.create_account("1000-cash"),
        revenue=api.create_account("4000-revenue", "revenue"),
        wallet=api.create_account(
            "2100-wallet", "liability", balance_constraint="debits_must_not_exceed_credits"
        ),
        usd=api.create_account("1010-cash-usd", currency="USD"),
        jpy_cash=api.create_account("1020-cash-jpy", currency="JPY"),
        jpy_revenue=api.create_account("4020-revenue-jpy", "revenue", currency="JPY"),
        frozen=api.create_account("1030-frozen"),
        closed=api.create_account("1040-closed"),
        foreign=api.create_account("1000-cash", who="other"),
    )
    # Money in the wallet, so the constraint case is about the amount, not an empty account.
    assert api.post((chart.cash, "debit", "10.00"), (chart.wallet, "credit", "10.00")).status == 201
    for account_id, status in ((chart.frozen, "frozen"), (chart.closed, "closed")):
        answer = api.accounts.patch(
            f"/v1/accounts/{account_id}", json={"status": status}, token="accountant"
        )
        assert answer.status == 200, answer.json
    return chart


def _lines(chart: Chart, case: str) -> tuple[list[dict[str, Any]], int, str, str]:
    """(lines, status, code, field) of each rejection the issue names."""

    def line(account: str, side: str, amount: Any, **extra: Any) -> dict[str, Any]:
        return {"account_id": account, "side": side, "amount": amount, **extra}

    c = chart
    cases: dict[str, tuple[list[dict[str, Any]], int, str, str]] = {
        "one_line": ([line(c.cash, "debit", "5.00")], 422, "too_few_lines", "lines"),
        "no_lines": ([], 422, "too_few_lines", "lines"),
        "zero_amount": (
            [line(c.cash, "debit", "0.00"), line(c.revenue, "credit", "0.00")],
            422,
            "amount_not_positive",
            "lines.0.amount",
        ),
        "negative_amount": (
            [line(c.cash, "debit", "5.00"), line(c.revenue, "credit", "-5.00")],
            422,
            "amount_not_positive",
            "lines.1.amount",
        ),
        "too_many_decimals": (
            [line(c.cash, "debit", "5.001"), line(c.revenue, "credit", "5.001")],
            422,
            "too_many_decimals",
            "lines.0.amount",
        ),
        "decimals_in_a_currency_without_minor_unit": (
            [line(c.jpy_cash, "debit", "100.5"), line(c.jpy_revenue, "credit", "100.5")],
            422,
            "too_many_decimals",
            "lines.0.amount",
        ),
        "amount_as_json_number": (
            [line(c.cash, "debit", 5.0), line(c.revenue, "credit", "5.00")],
            422,
            "wrong_type",
            "lines.0.amount",
        ),
        "missing_account": (
            [line(c.cash, "debit", "5.00"), line("acc_does_not_exist", "credit", "5.00")],
            422,
            "account_not_found",
            "lines.1.account_id",
        ),
        "other_tenants_account": (
            [line(c.foreign, "debit", "5.00"), line(c.revenue, "credit", "5.00")],
            422,
            "account_not_found",
            "lines.0.account_id",
        ),
        "closed_account": (
            [line(c.cash, "debit", "5.00"), line(c.closed, "credit", "5.00")],
            422,
            "account_closed",
            "lines.1.account_id",
        ),
        "frozen_account": (
            [line(c.frozen, "debit", "5.00"), line(c.revenue, "credit", "5.00")],
            422,
            "account_frozen",
            "lines.0.account_id",
        ),
        "line_in_another_currency_than_its_account": (
            [line(c.cash, "debit", "5.00", currency="USD"), line(c.usd, "credit", "5.00")],
            422,
            "currency_mismatch",
            "lines.0.currency",
        ),
        "unbalanced": (
            [line(c.cash, "debit", "5.00"), line(c.revenue, "credit", "4.99")],
            422,
            "entry_unbalanced",
            "lines",
        ),
        "balanced_only_across_currencies": (
            [line(c.cash, "debit", "5.00"), line(c.usd, "credit", "5.00")],
            422,
            "entry_unbalanced",
            "lines",
        ),
        "balance_constraint": (
            [line(c.wallet, "debit", "10.01"), line(c.cash, "credit", "10.01")],
            422,
            "balance_constraint_violated",
            "lines.0.account_id",
        ),
    }
    return cases[case]


SHAPE_CASES = {"amount_as_json_number"}
CASES = [
    "one_line",
    "no_lines",
    "zero_amount",
    "negative_amount",
    "too_many_decimals",
    "decimals_in_a_currency_without_minor_unit",
    "amount_as_json_number",
    "missing_account",
    "other_tenants_account",
    "closed_account",
    "frozen_account",
    "line_in_another_currency_than_its_account",
    "unbalanced",
    "balanced_only_across_currencies",
    "balance_constraint",
]


@pytest.mark.parametrize("case", CASES)
def test_an_invalid_entry_is_refused_naming_the_field_and_nothing_is_written(
    case: str,
    api: Api,
    chart: Chart,
    state: Callable[[], dict[str, Any]],
    platform: Any,
) -> None:
    lines, status, code, field = _lines(chart, case)
    before = state()
    records_before = len(idempotency_records(platform))

    answer = api.journal.post(
        "/v1/journal-entries",
        json={"lines": lines, "description": case},
        token="accountant",
        headers={"Idempotency-Key": f"reject-{case}"},
    )

    assert answer.status == status, answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.json
    # Shape errors found by the request model carry the generic code; ledger rules their own.
    assert problem["code"] == ("validation_error" if case in SHAPE_CASES else code)
    assert (field, code) in [(e["field"], e["code"]) for e in problem["errors"]]
    assert state() == before
    # The one new record is the key's: it replays this rejection to a retry.
    records = idempotency_records(platform)
    assert len(records) == records_before + 1
    replay = api.journal.post(
        "/v1/journal-entries",
        json={"lines": lines, "description": case},
        token="accountant",
        headers={"Idempotency-Key": f"reject-{case}"},
    )
    assert (replay.status, replay.headers["Idempotent-Replayed"]) == (status, "true")
    assert replay.json == {**problem, "correlation_id": replay.json["correlation_id"]}
    assert state() == before


def test_a_posting_without_an_idempotency_key_is_refused_and_writes_nothing(
    api: Api, chart: Chart, platform: Any
) -> None:
    before = dump(platform)

    answer = api.journal.post(
        "/v1/journal-entries",
        json={
            "lines": [
                {"account_id": chart.cash, "side": "debit", "amount": "1.00"},
                {"account_id": chart.revenue, "side": "credit", "amount": "1.00"},
            ]
        },
        token="accountant",
    )

    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == "Idempotency-Key"
    assert dump(platform) == before


def test_unknown_fields_and_a_viewer_are_refused_and_write_nothing(
    api: Api, chart: Chart, platform: Any
) -> None:
    before = dump(platform)
    lines = [
        {"account_id": chart.cash, "side": "debit", "amount": "1.00"},
        {"account_id": chart.revenue, "side": "credit", "amount": "1.00"},
    ]

    unknown = api.journal.post(
        "/v1/journal-entries",
        json={"lines": lines, "memo": "typo of description"},
        token="accountant",
        headers={"Idempotency-Key": "unknown-field"},
    )
    viewer = api.post(*[(x["account_id"], x["side"], x["amount"]) for x in lines], who="viewer")

    assert unknown.status == 422
    assert [(e["field"], e["code"]) for e in unknown.json["errors"]] == [("memo", "unknown_field")]
    assert viewer.status == 403
    # The unknown-field rejection is replayable under its key; nothing else changed.
    after = dump(platform)
    new = {path for path in after if path not in before}
    assert all(path.startswith("idempotency_keys/") for path in new)
    assert {p: d for p, d in after.items() if p in before} == before
