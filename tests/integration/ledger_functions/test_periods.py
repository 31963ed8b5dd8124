"""Accounting periods and reconciliation on demand, through the accounts and journal
functions against the emulators: a closed period refuses entries dated into it and
changes nothing; only owners and admins reopen it, with a reason, on the audit trail."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.identity.roles import permissions_for
from tests.integration.ledger.conftest import outbox_types
from tests.integration.ledger_functions.conftest import PRINCIPALS, TENANT, Api
from tests.support.http import Principal, RouterClient, StaticAuthenticator, load_function

State = Callable[[], dict[str, dict[str, Any]]]
TODAY = datetime.now(UTC).date()
LAST_MONTH = TODAY - timedelta(days=30)
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture
def admin_accounts(platform: Any) -> RouterClient:
    principals = {
        **PRINCIPALS,
        "admin": Principal("u-admin", TENANT, "admin", permissions_for("admin")),
    }
    module = load_function("accounts")
    module.router._authenticator = StaticAuthenticator(principals)
    return RouterClient(module.router)


@pytest.fixture
def books(api: Api) -> dict[str, str]:
    return {
        "cash": api.create_account("1000-cash"),
        "equity": api.create_account("3000-equity", "equity"),
    }


def _entry(api: Api, books: dict[str, str], day: Any, amount: str = "10.00") -> Any:
    return api.post(
        (books["cash"], "debit", amount),
        (books["equity"], "credit", amount),
        effective_date=day.isoformat(),
    )


def _close(api: Api, through: Any, who: str = "accountant") -> Any:
    return api.accounts.post(
        "/v1/ledger/period/close", json={"through": through.isoformat()}, token=who
    )


def test_a_closed_period_refuses_entries_dated_into_it_and_writes_nothing(
    api: Api, books: dict[str, str], state: State, platform: Any
) -> None:
    old = _entry(api, books, LAST_MONTH - timedelta(days=1))
    assert old.status == 201
    closed = _close(api, LAST_MONTH)
    assert closed.status == 200, closed.json
    assert closed.data["closed_through"] == LAST_MONTH.isoformat()
    assert closed.data["changed_by"]["user_id"] == "u-accountant"
    before = state()

    refused = _entry(api, books, LAST_MONTH)
    reversal = api.action(old.data["id"], "reverse", {"effective_date": LAST_MONTH.isoformat()})

    for answer in (refused, reversal):
        assert answer.status == 422, answer.json
        assert answer.json["code"] == "period_closed"
        assert [e["field"] for e in answer.json["errors"]] == ["effective_date"]
        assert LAST_MONTH.isoformat() in answer.json["detail"]
    # (The rejected posting's idempotency record aside, nothing changed.)
    assert state() == before
    # After the period, and a reversal dated today of an entry inside it, are fine.
    assert _entry(api, books, YESTERDAY).status == 201
    assert api.action(old.data["id"], "reverse").status == 201
    assert api.balances(books["cash"])["posted"] == "10.00"
    assert ("ledger-events", "ledger.period_closed") in outbox_types(platform)


def test_a_hold_cannot_be_posted_into_the_closed_period(
    api: Api, books: dict[str, str], state: State
) -> None:
    hold = api.post(
        (books["cash"], "debit", "5.00"), (books["equity"], "credit", "5.00"), pending=True
    )
    assert hold.status == 201, hold.json
    assert _close(api, YESTERDAY).status == 200
    before = state()

    posted = api.action(hold.data["id"], "post", {"effective_date": YESTERDAY.isoformat()})

    assert posted.status == 422
    assert posted.json["code"] == "period_closed"
    assert state() == before
    assert api.action(hold.data["id"], "post").status in (200, 201)


def test_closing_moves_forward_only_and_not_into_today(api: Api, state: State) -> None:
    assert _close(api, YESTERDAY).status == 200
    before = state()
    for through, code in ((TODAY, "period_not_over"), (LAST_MONTH, "period_already_closed")):
        answer = _close(api, through)
        assert answer.status == 422
        assert (answer.json["code"], answer.json["errors"][0]["field"]) == (code, "through")
    assert state() == before


def test_only_owners_and_admins_reopen_with_a_reason_on_the_audit_trail(
    api: Api, books: dict[str, str], admin_accounts: RouterClient, state: State, platform: Any
) -> None:
    assert _close(api, YESTERDAY).status == 200
    before = state()
    body = {"through": LAST_MONTH.isoformat(), "reason": "late supplier invoice"}

    by_accountant = api.accounts.post("/v1/ledger/period/reopen", json=body, token="accountant")
    without_reason = admin_accounts.post(
        "/v1/ledger/period/reopen", json={"through": None}, token="admin"
    )
    assert by_accountant.status == 403
    assert without_reason.status == 422
    assert "reason" in {e["field"].removeprefix("body.") for e in without_reason.json["errors"]}
    assert state() == before

    reopened = admin_accounts.post("/v1/ledger/period/reopen", json=body, token="admin")

    assert reopened.status == 200, reopened.json
    assert reopened.data["closed_through"] == LAST_MONTH.isoformat()
    assert _entry(api, books, YESTERDAY).status == 201
    period = api.accounts.get("/v1/ledger/period", token="viewer")
    assert period.data["closed_through"] == LAST_MONTH.isoformat()
    assert ("audit-events", "audit.recorded") in outbox_types(platform)
    assert ("ledger-events", "ledger.period_reopened") in outbox_types(platform)


def test_a_period_closed_between_a_posting_and_its_commit_still_holds(
    api: Api, books: dict[str, str]
) -> None:
    # Postings read the period in their own transaction: whichever commits first wins,
    # and a posting dated into the period never lands after the close.
    results: list[int] = []

    def post() -> None:
        results.append(_entry(api, books, YESTERDAY, "1.00").status)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    closed = _close(api, YESTERDAY)
    for thread in threads:
        thread.join(timeout=120)
    assert closed.status == 200
    assert set(results) <= {201, 422}
    entries = api.journal.get(
        f"/v1/accounts/{books['cash']}/entries?limit=100", token="accountant"
    ).data
    assert len(entries) == results.count(201)
    assert api.balances(books["cash"])["posted"] == f"{results.count(201)}.00"


def test_reconciliation_runs_on_demand_for_the_callers_tenant(
    api: Api, books: dict[str, str]
) -> None:
    assert _entry(api, books, YESTERDAY).status == 201

    report = api.accounts.post("/v1/ledger/reconciliations", token="accountant")

    assert report.status == 201, report.json
    assert (report.data["status"], report.data["tenant_id"]) == ("clean", TENANT)
    assert report.data["entries_checked"] == 1
    latest = api.accounts.get("/v1/ledger/reconciliations/latest", token="accountant")
    assert latest.data["id"] == report.data["id"]
    assert api.accounts.post("/v1/ledger/reconciliations", token="viewer").status == 403


def test_period_routes_refuse_bad_bodies(api: Api, state: State) -> None:
    before = state()
    for body in ({}, {"through": "2026-13-01"}, {"through": 20261130}, {"through": "x", "y": 1}):
        answer = api.accounts.post(
            "/v1/ledger/period/close",
            json=body,
            token="accountant",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert answer.status == 422, body
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert state() == before
