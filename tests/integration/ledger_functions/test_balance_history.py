"""Point-in-time balances and balance histories through the accounts function against the
emulators: each as-of balance equals the sum of the lines dated up to its day, around a
period close (snapshots taken) and a reopen (snapshots made stale), and a refused query
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.identity.roles import permissions_for
from tests.integration.ledger_functions.conftest import PRINCIPALS, TENANT, Api
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

State = Callable[[], dict[str, dict[str, Any]]]
JAN_1 = date(2026, 1, 1)


@dataclass
class Books:
    """Cash against equity, with every posted cash movement remembered by day."""

    api: Api
    cash: str
    equity: str
    moves: list[tuple[date, Decimal]] = field(default_factory=list)

    def post(self, day: date, amount: str, *, pending: bool = False) -> dict[str, Any]:
        side, other = ("debit", "credit") if not amount.startswith("-") else ("credit", "debit")
        value = amount.lstrip("-")
        extra: dict[str, Any] = {"pending": True} if pending else {}
        answer = self.api.post(
            (self.cash, side, value),
            (self.equity, other, value),
            effective_date=day.isoformat(),
            **extra,
        )
        assert answer.status == 201, answer.json
        if not pending:
            self.moves.append((day, Decimal(amount)))
        return dict(answer.data)

    def expected(self, day: date) -> str:
        return f"{sum((m for d, m in self.moves if d <= day), Decimal('0.00')):.2f}"

    def as_of(self, day: date, who: str = "viewer") -> dict[str, Any]:
        answer = self.api.accounts.get(
            f"/v1/accounts/{self.cash}/balance?as_of={day.isoformat()}", token=who
        )
        assert answer.status == 200, answer.json
        return dict(answer.data)


@pytest.fixture
def admin(platform: Any) -> RouterClient:
    principals = {
        **PRINCIPALS,
        "admin": Principal("u-admin", TENANT, "admin", permissions_for("admin")),
    }
    module = load_function("accounts")
    module.router._authenticator = StaticAuthenticator(principals)
    return RouterClient(module.router)


@pytest.fixture
def books(api: Api) -> Books:
    books = Books(api, api.create_account("1000-cash"), api.create_account("3000-eq", "equity"))
    books.post(JAN_1 + timedelta(days=4), "100.00")
    books.post(JAN_1 + timedelta(days=19), "50.25")
    books.post(JAN_1 + timedelta(days=30), "-20.00")  # Jan 31
    books.post(JAN_1 + timedelta(days=33), "30.00")  # Feb 3
    books.post(JAN_1 + timedelta(days=45), "7.50")  # Feb 15
    return books


def _days(books: Books) -> list[date]:
    """Days around every movement and the month ends."""
    days = {date(2025, 12, 31), date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1)}
    for day, _ in books.moves:
        days |= {day - timedelta(days=1), day, day + timedelta(days=1)}
    return sorted(days)


def _snapshots(db: Any, account_id: str) -> dict[str, dict[str, Any]]:
    collection = (
        db.collection("tenants")
        .document(TENANT)
        .collection("accounts")
        .document(account_id)
        .collection("balance_snapshots")
    )
    return {s.id: s.to_dict() or {} for s in collection.stream()}


def test_the_balance_as_of_a_day_is_the_sum_of_the_lines_dated_up_to_it(books: Books) -> None:
    for day in _days(books):
        answer = books.as_of(day)
        assert answer["balances"]["posted"] == books.expected(day), day
        assert answer["as_of"] == day.isoformat()
        assert answer["posted_final"] is False
    # As of a day after the last entry, it is the account's current balance.
    assert books.as_of(date(2026, 12, 1))["balances"] == books.api.balances(books.cash)


def test_around_a_close_and_a_reopen_every_as_of_balance_stays_the_sum_of_its_lines(
    api: Api, books: Books, admin: RouterClient, platform: Any
) -> None:
    books.post(date(2026, 6, 1), "1.00")  # dated after every day asked below
    closed = api.accounts.post(
        "/v1/ledger/period/close", json={"through": "2026-01-31"}, token="accountant"
    )
    assert closed.status == 200, closed.json

    # The first read after the close computes from the entries and keeps a snapshot
    # of the closed day; later reads start from it.
    first = books.as_of(date(2026, 2, 10))
    assert first["balances"]["posted"] == books.expected(date(2026, 2, 10)) == "160.25"
    assert first["snapshot_through"] is None
    assert set(_snapshots(platform, books.cash)) == {"2026-01-31"}
    assert _snapshots(platform, books.cash)["2026-01-31"]["debits_posted"] == "15025"
    for day in _days(books):
        answer = books.as_of(day)
        assert answer["balances"]["posted"] == books.expected(day), day
        assert answer["posted_final"] is (day <= date(2026, 1, 31))
        if day >= date(2026, 1, 31):
            assert answer["snapshot_through"] == "2026-01-31", day

    # Reopening to Jan 10 makes the Jan 31 snapshot stale; an entry dated into the
    # reopened days counts at once, and the stale snapshot is gone after the next read.
    reopened = admin.post(
        "/v1/ledger/period/reopen",
        json={"through": "2026-01-10", "reason": "late invoice"},
        token="admin",
    )
    assert reopened.status == 200, reopened.json
    books.post(date(2026, 1, 25), "4.75")
    for day in _days(books):
        answer = books.as_of(day)
        assert answer["balances"]["posted"] == books.expected(day), day
        # Only snapshots of days still closed (on or before Jan 10) are used.
        assert answer["snapshot_through"] is None or answer["snapshot_through"] <= "2026-01-10"
    assert "2026-01-31" not in _snapshots(platform, books.cash)

    # Closed again, the books give the same answers from a fresh snapshot.
    again = api.accounts.post(
        "/v1/ledger/period/close", json={"through": "2026-02-28"}, token="accountant"
    )
    assert again.status == 200, again.json
    for day in _days(books):
        assert books.as_of(day)["balances"]["posted"] == books.expected(day), day
    assert books.as_of(date(2026, 3, 1))["balances"]["posted"] == "172.50"
    assert books.as_of(date(2026, 3, 1))["snapshot_through"] == "2026-02-28"


def test_pending_amounts_are_the_open_holds_dated_up_to_the_day(api: Api, books: Books) -> None:
    hold = books.post(date(2026, 2, 5), "-12.00", pending=True)

    before = books.as_of(date(2026, 2, 4))["balances"]
    after = books.as_of(date(2026, 2, 5))["balances"]
    assert (before["pending_credits"], before["available"]) == ("0.00", "160.25")
    assert (after["pending_credits"], after["available"]) == ("12.00", "148.25")

    voided = api.action(hold["id"], "void")
    assert voided.status == 200, voided.json
    assert books.as_of(date(2026, 2, 5))["balances"]["pending_credits"] == "0.00"


def test_the_history_has_each_days_closing_balance(api: Api, books: Books) -> None:
    books.post(date(2026, 1, 20), "-3.00", pending=True)

    answer = api.accounts.get(
        f"/v1/accounts/{books.cash}/balance-history?from=2026-01-03&to=2026-02-16", token="viewer"
    )

    assert answer.status == 200, answer.json
    days = answer.data["days"]
    assert (answer.data["from"], answer.data["to"]) == ("2026-01-03", "2026-02-16")
    assert [d["date"] for d in days][:3] == ["2026-01-03", "2026-01-04", "2026-01-05"]
    assert len(days) == 45
    for item in days:
        day = date.fromisoformat(item["date"])
        assert item["balances"]["posted"] == books.expected(day), day
        assert item["balances"] == books.as_of(day)["balances"], day


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("balance?as_of=2026-02-30", "query.as_of", None),
        ("balance", "query.as_of", "missing"),
        ("balance?as_of=2026-01-01&currency=EUR", "query.currency", "unknown_field"),
        ("balance-history?from=2026-02-01&to=2026-01-31", "query.to", "invalid_date_range"),
        ("balance-history?from=2026-01-01&to=2027-01-02", "query.to", "date_range_too_long"),
        ("balance-history?from=yesterday&to=2026-01-31", "query.from", None),
    ],
)
def test_a_bad_query_is_a_problem_naming_the_parameter_and_writes_nothing(
    api: Api, books: Books, state: State, query: str, field: str, code: str | None
) -> None:
    before = state()

    answer = api.accounts.get(f"/v1/accounts/{books.cash}/{query}", token="viewer")

    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json["errors"]] == [field]
    if code is not None:
        assert answer.json["errors"][0]["code"] == code
    assert state() == before


@pytest.mark.parametrize(
    "path", ["balance?as_of=2026-01-31", "balance-history?from=2026-01-01&to=2026-01-31"]
)
def test_another_tenants_account_is_not_found_and_nothing_is_written(
    api: Api, books: Books, state: State, path: str
) -> None:
    closed = api.accounts.post(
        "/v1/ledger/period/close", json={"through": "2026-01-31"}, token="accountant"
    )
    assert closed.status == 200
    before = state()

    answer = api.accounts.get(f"/v1/accounts/{books.cash}/{path}", token="other")
    missing = api.accounts.get(f"/v1/accounts/acc_missing/{path}", token="viewer")

    for refused in (answer, missing):
        assert refused.status == 404, refused.json
        assert refused.json["code"] == "account_not_found"
    assert state() == before
