"""The journal function: postings, idempotency, hot accounts, reversals and two-phase holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.events.envelope import SCHEDULE_TICK_TYPE, new_event
from shared.identity.actor import Actor
from shared.ledger import LedgerService, parse_request
from shared.ledger.idempotency import entry_id_for_key
from shared.ledger.requests import PostEntryRequest
from tests.integration.events.conftest import push_envelope
from tests.integration.ledger_functions.conftest import TENANT, Api
from tests.support.http import Answer, RouterClient, load_function


@pytest.fixture
def accounts(api: Api) -> dict[str, str]:
    return {
        "cash": api.create_account("1000-cash"),
        "bank": api.create_account("1100-bank"),
        "revenue": api.create_account("4000-revenue", "revenue", balance_shards=8),
        "payable": api.create_account("2000-payable", "liability"),
    }


def _entries(db: Any) -> dict[str, dict[str, Any]]:
    return {
        s.id: s.to_dict() or {}
        for s in db.collection("tenants").document(TENANT).collection("entries").stream()
    }


def test_an_entry_is_posted_read_back_and_moves_balances(
    api: Api, accounts: dict[str, str]
) -> None:
    answer = api.post(
        (accounts["cash"], "debit", "12.34"),
        (accounts["revenue"], "credit", "12.34"),
        key="sale-1",
        description="Sale",
        effective_date="2026-11-01",
        metadata={"invoice": "INV-1"},
    )

    assert answer.status == 201, answer.json
    entry = answer.data
    assert entry["id"] == entry_id_for_key("sale-1")
    assert answer.headers["Location"] == f"/v1/journal-entries/{entry['id']}"
    assert (entry["kind"], entry["status"], entry["effective_date"]) == (
        "standard",
        "posted",
        "2026-11-01",
    )
    assert [(x["side"], x["amount"], x["currency"]) for x in entry["lines"]] == [
        ("debit", "12.34", "EUR"),
        ("credit", "12.34", "EUR"),
    ]
    assert entry["created_by"] == {"user_id": "u-accountant", "role": "accountant"}
    read = api.journal.get(f"/v1/journal-entries/{entry['id']}", token="viewer")
    assert read.status == 200 and read.data == entry
    assert api.balances(accounts["cash"])["posted"] == "12.34"
    assert api.balances(accounts["revenue"])["posted"] == "12.34"
    assert api.journal.get(f"/v1/journal-entries/{entry['id']}", token="other").status == 404


def test_a_replayed_key_returns_the_first_entry_and_a_changed_body_is_refused(
    api: Api, accounts: dict[str, str], platform: Any
) -> None:
    lines = ((accounts["cash"], "debit", "5.00"), (accounts["revenue"], "credit", "5.00"))
    first = api.post(*lines, key="k-1")
    again = api.post(*lines, key="k-1")
    changed = api.post(
        (accounts["cash"], "debit", "6.00"), (accounts["revenue"], "credit", "6.00"), key="k-1"
    )

    assert first.status == again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert changed.status == 422
    assert changed.json["code"] == "idempotency_key_reused"
    assert list(_entries(platform)) == [first.data["id"]]
    assert api.balances(accounts["cash"])["posted"] == "5.00"


def test_a_retry_after_a_commit_whose_answer_was_lost_finds_its_entry(
    api: Api, accounts: dict[str, str], platform: Any
) -> None:
    """The instance died after the commit, before storing the key's response."""
    body = {
        "lines": [
            {"account_id": accounts["cash"], "side": "debit", "amount": "7.00"},
            {"account_id": accounts["revenue"], "side": "credit", "amount": "7.00"},
        ]
    }
    committed = LedgerService(platform, publisher=None).post_entry(
        TENANT,
        parse_request(PostEntryRequest, {**body, "entry_id": entry_id_for_key("lost-answer")}),
        actor=Actor.user("u-accountant", role="accountant"),
    )

    retry = api.journal.post(
        "/v1/journal-entries",
        json=body,
        token="accountant",
        headers={"Idempotency-Key": "lost-answer"},
    )

    assert retry.status == 201
    assert retry.data["id"] == committed.id
    assert list(_entries(platform)) == [committed.id]
    assert api.balances(accounts["cash"])["posted"] == "7.00"


def _concurrently(count: int, call: Callable[[int], Answer]) -> list[Answer]:
    barrier = threading.Barrier(count)
    answers: list[Answer | None] = [None] * count
    failures: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = call(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def test_fifty_concurrent_requests_with_one_key_post_one_entry(
    api: Api, accounts: dict[str, str], platform: Any
) -> None:
    journal = load_function("journal").router
    lines = ((accounts["cash"], "debit", "1.00"), (accounts["revenue"], "credit", "1.00"))
    body = {"lines": [{"account_id": a, "side": s, "amount": m} for a, s, m in lines]}

    def post(_: int) -> Answer:
        return RouterClient(journal).post(
            "/v1/journal-entries",
            json=body,
            token="accountant",
            headers={"Idempotency-Key": "one-key-fifty-clients"},
        )

    answers = _concurrently(50, post)

    assert {a.status for a in answers} == {201}, [a.json for a in answers if a.status != 201]
    assert len({a.body for a in answers}) == 1, "every client gets the identical response"
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 49
    assert list(_entries(platform)) == [entry_id_for_key("one-key-fifty-clients")]
    assert api.balances(accounts["cash"])["posted"] == "1.00"


def test_sixteen_clients_on_one_hot_account_all_succeed_with_exact_balances(
    api: Api, accounts: dict[str, str], platform: Any
) -> None:
    journal = load_function("journal").router
    clients, per_client = 16, 5
    debit_side = [accounts["cash"], accounts["bank"]]

    def client(index: int) -> Answer:
        http = RouterClient(journal)
        last: Answer | None = None
        for n in range(per_client):
            cents = 100 + index * per_client + n  # every posting a distinct amount
            amount = f"{cents // 100}.{cents % 100:02d}"
            last = http.post(
                "/v1/journal-entries",
                json={
                    "lines": [
                        {"account_id": debit_side[index % 2], "side": "debit", "amount": amount},
                        {"account_id": accounts["revenue"], "side": "credit", "amount": amount},
                    ]
                },
                token="accountant",
                headers={"Idempotency-Key": f"hot-{index}-{n}"},
            )
            assert last.status == 201, last.json
        assert last is not None
        return last

    answers = _concurrently(clients, client)

    assert len(answers) == clients
    expected = [100 + i for i in range(clients * per_client)]
    by_client = [sum(expected[i * per_client : (i + 1) * per_client]) for i in range(clients)]
    cash = sum(by_client[0::2])
    bank = sum(by_client[1::2])
    assert len(_entries(platform)) == clients * per_client
    assert api.balances(accounts["revenue"])["posted"] == f"{sum(expected) / 100:.2f}"
    assert api.balances(accounts["cash"])["posted"] == f"{cash / 100:.2f}"
    assert api.balances(accounts["bank"])["posted"] == f"{bank / 100:.2f}"
    trial = api.accounts.get("/v1/ledger/trial-balance", token="viewer").data
    assert trial["balanced"] is True
    report = LedgerService(platform, publisher=None).reconcile_tenant(TENANT)
    assert report.discrepancies == []


def test_an_accounts_entries_are_listed_by_date_within_a_range_page_by_page(
    api: Api, accounts: dict[str, str]
) -> None:
    posted = {}
    for day in (5, 1, 3, 2, 4):
        answer = api.post(
            (accounts["cash"], "debit", f"{day}.00"),
            (accounts["revenue"], "credit", f"{day}.00"),
            effective_date=f"2026-10-0{day}",
        )
        posted[day] = answer.data["id"]
    api.post((accounts["bank"], "debit", "9.00"), (accounts["revenue"], "credit", "9.00"))

    seen: list[str] = []
    cursor = None
    while True:
        query: dict[str, Any] = {"date_from": "2026-10-02", "date_to": "2026-10-04", "limit": 2}
        if cursor:
            query["cursor"] = cursor
        page = api.journal.get(
            f"/v1/accounts/{accounts['cash']}/entries", token="viewer", query=query
        )
        assert page.status == 200, page.json
        seen.extend(entry["id"] for entry in page.data)
        cursor = page.json["meta"]["next_cursor"]
        if cursor is None:
            break

    assert seen == [posted[2], posted[3], posted[4]]
    everything = api.journal.get(f"/v1/accounts/{accounts['cash']}/entries", token="viewer")
    assert [e["effective_date"] for e in everything.data] == [f"2026-10-0{d}" for d in range(1, 6)]
    backwards = api.journal.get(
        f"/v1/accounts/{accounts['cash']}/entries",
        token="viewer",
        query={"date_from": "2026-10-04", "date_to": "2026-10-02"},
    )
    assert backwards.status == 422
    assert backwards.json["errors"][0]["field"] == "query.date_to"
    unknown = api.journal.get("/v1/accounts/acc_missing/entries", token="viewer")
    assert unknown.status == 404


def test_an_entry_reverses_once_and_balances_return_to_zero(
    api: Api, accounts: dict[str, str], platform: Any
) -> None:
    original = api.post(
        (accounts["cash"], "debit", "40.00"), (accounts["revenue"], "credit", "40.00")
    ).data

    reversal = api.action(original["id"], "reverse", {"description": "Wrong customer"})
    second = api.action(original["id"], "reverse")
    of_reversal = api.action(reversal.data["reversal"]["id"], "reverse")

    assert reversal.status == 201, reversal.json
    assert reversal.data["original"]["reversed_by_entry_id"] == reversal.data["reversal"]["id"]
    assert reversal.data["reversal"]["reverses_entry_id"] == original["id"]
    assert [x["side"] for x in reversal.data["reversal"]["lines"]] == ["credit", "debit"]
    assert (second.status, second.json["code"]) == (409, "entry_already_reversed")
    assert second.json["errors"][0]["field"] == "entry_id"
    assert (of_reversal.status, of_reversal.json["code"]) == (422, "cannot_reverse_reversal")
    assert api.balances(accounts["cash"])["posted"] == "0.00"
    assert api.balances(accounts["revenue"])["posted"] == "0.00"
    assert len(_entries(platform)) == 2


def _hold(api: Api, accounts: dict[str, str], amount: str, **fields: Any) -> dict[str, Any]:
    answer = api.post(
        (accounts["cash"], "debit", amount),
        (accounts["payable"], "credit", amount),
        pending=True,
        **fields,
    )
    assert answer.status == 201, answer.json
    assert (answer.data["kind"], answer.data["status"]) == ("pending", "pending")
    return dict(answer.data)


def test_a_hold_reserves_then_posts_partially_releasing_the_rest(
    api: Api, accounts: dict[str, str]
) -> None:
    hold = _hold(api, accounts, "100.00")
    reserved = api.balances(accounts["payable"])
    assert (reserved["posted"], reserved["available"], reserved["pending_credits"]) == (
        "0.00",
        "0.00",
        "100.00",
    )
    assert api.balances(accounts["cash"])["available"] == "0.00"
    assert api.balances(accounts["cash"])["pending_debits"] == "100.00"

    too_much = api.action(hold["id"], "post", {"amount": "100.01"})
    posted = api.action(hold["id"], "post", {"amount": "60.00"})
    again = api.action(hold["id"], "post", {"amount": "10.00"})
    void_after = api.action(hold["id"], "void", {"reason": "late"})

    assert (too_much.status, too_much.json["code"]) == (422, "amount_exceeds_pending")
    assert too_much.json["errors"][0]["field"] == "amount"
    assert posted.status == 200, posted.json
    assert posted.data["hold"]["status"] == "posted"
    posting = posted.data["posting"]
    assert (posting["kind"], posting["pending_entry_id"]) == ("hold_posting", hold["id"])
    assert [x["amount"] for x in posting["lines"]] == ["60.00", "60.00"]
    assert (again.status, again.json["code"]) == (409, "hold_already_posted")
    assert (void_after.status, void_after.json["code"]) == (409, "hold_already_posted")
    cash = api.balances(accounts["cash"])
    payable = api.balances(accounts["payable"])
    assert (cash["posted"], cash["available"], cash["pending_debits"]) == ("60.00", "60.00", "0.00")
    assert (payable["posted"], payable["pending_credits"]) == ("60.00", "0.00")


def test_a_voided_hold_releases_everything_and_posts_nothing(
    api: Api, accounts: dict[str, str]
) -> None:
    hold = _hold(api, accounts, "25.00")

    voided = api.action(hold["id"], "void", {"reason": "customer cancelled"})
    post_after = api.action(hold["id"], "post")

    assert voided.status == 200, voided.json
    assert (voided.data["hold"]["status"], voided.data["posting"]) == ("voided", None)
    assert (post_after.status, post_after.json["code"]) == (409, "hold_already_voided")
    for account in ("cash", "payable"):
        balances = api.balances(accounts[account])
        assert (balances["posted"], balances["pending_debits"], balances["pending_credits"]) == (
            "0.00",
            "0.00",
            "0.00",
        )


def test_the_expire_holds_consumer_expires_holds_past_their_timeout(
    api: Api, accounts: dict[str, str], emulators: Any
) -> None:
    short = _hold(api, accounts, "30.00", timeout_seconds=1)
    long = _hold(api, accounts, "5.00", timeout_seconds=3600)
    time.sleep(1.5)
    post_late = api.action(short["id"], "post")
    tick = new_event(
        SCHEDULE_TICK_TYPE,
        source="scheduler",
        subject="expire-holds-schedule",
        tenant_id="*",
        data={"topic": "expire-holds-schedule"},
    )

    load_function("expire_holds").handle(
        push_envelope(emulators.project_id, "expire-holds-schedule", tick)
    )

    assert (post_late.status, post_late.json["code"]) == (422, "hold_expired")
    expired = api.journal.get(f"/v1/journal-entries/{short['id']}", token="viewer").data
    still = api.journal.get(f"/v1/journal-entries/{long['id']}", token="viewer").data
    assert (expired["status"], still["status"]) == ("expired", "pending")
    cash = api.balances(accounts["cash"])
    assert (cash["posted"], cash["pending_debits"]) == ("0.00", "5.00")
    # The tick was processed once: a redelivery of it expires nothing more.
    load_function("expire_holds").handle(
        push_envelope(emulators.project_id, "expire-holds-schedule", tick)
    )
    assert api.balances(accounts["cash"])["pending_debits"] == "5.00"


def test_expiry_in_the_past_and_expiry_on_a_posted_entry_are_refused(
    api: Api, accounts: dict[str, str], platform: Any
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    in_past = api.post(
        (accounts["cash"], "debit", "1.00"),
        (accounts["payable"], "credit", "1.00"),
        pending=True,
        expires_at=past,
    )
    not_pending = api.post(
        (accounts["cash"], "debit", "1.00"),
        (accounts["payable"], "credit", "1.00"),
        timeout_seconds=60,
    )

    assert (in_past.status, in_past.json["code"]) == (422, "expires_at_in_past")
    assert (not_pending.status, not_pending.json["code"]) == (422, "expiry_without_pending")
    assert _entries(platform) == {}


def test_effective_date_defaults_to_today_in_utc(api: Api, accounts: dict[str, str]) -> None:
    entry = api.post(
        (accounts["cash"], "debit", "1.00"), (accounts["revenue"], "credit", "1.00")
    ).data
    assert entry["effective_date"] == datetime.now(UTC).date().isoformat()
