"""POST /v1/journal-entry-batches: linked entries post all or none, against the emulators.

Every refusal is checked on a dump of the whole database before and after: a refused
batch leaves no entry, no balance change and no outbox record (only the idempotency
record of its answer, which ``state`` leaves out).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.ledger.conftest import outbox_types
from tests.integration.ledger_functions.conftest import Api, idempotency_records
from tests.support.http import Answer

State = Callable[[], dict[str, dict[str, Any]]]
PATH = "/v1/journal-entry-batches"
TODAY = datetime.now(UTC).date()
LAST_MONTH = TODAY - timedelta(days=30)


@dataclass
class Chart:
    cash: str
    sales: str
    fees: str
    wallet: str  # a liability that must never go below zero
    usd: str
    frozen: str


@pytest.fixture
def chart(api: Api) -> Chart:
    chart = Chart(
        cash=api.create_account("1000-cash"),
        sales=api.create_account("4000-sales", "revenue", balance_shards=4),
        fees=api.create_account("6000-fees", "expense"),
        wallet=api.create_account(
            "2100-wallet", "liability", balance_constraint="debits_must_not_exceed_credits"
        ),
        usd=api.create_account("1010-cash-usd", currency="USD"),
        frozen=api.create_account("1030-frozen"),
    )
    assert api.post((chart.cash, "debit", "10.00"), (chart.wallet, "credit", "10.00")).status == 201
    answer = api.accounts.patch(
        f"/v1/accounts/{chart.frozen}", json={"status": "frozen"}, token="accountant"
    )
    assert answer.status == 200, answer.json
    return chart


def _entry(debit: str, credit: str, amount: Any, **fields: Any) -> dict[str, Any]:
    return {
        "lines": [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": amount},
        ],
        **fields,
    }


def _batch(
    api: Api, *entries: dict[str, Any], key: str | None = None, who: str = "accountant"
) -> Answer:
    return api.journal.post(
        PATH,
        json={"entries": list(entries)},
        token=who,
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


def _entry_documents(db: Any) -> dict[str, dict[str, Any]]:
    return {
        s.id: s.to_dict() or {}
        for s in db.collection("tenants").document("tenant-a").collection("entries").stream()
    }


def test_every_entry_posts_in_order_with_the_batch_id(
    api: Api, chart: Chart, platform: Any
) -> None:
    before_outbox = len(outbox_types(platform))
    answer = _batch(
        api,
        _entry(chart.cash, chart.sales, "120.00", description="Sale"),
        _entry(chart.fees, chart.cash, "3.60", description="Card fee"),
        _entry(chart.wallet, chart.sales, "4.00", description="Paid from the wallet"),
        _entry(chart.cash, chart.sales, "20.00", pending=True, timeout_seconds=600),
    )
    assert answer.status == 201, answer.json
    batch_id = answer.data["batch_id"]
    entries = answer.data["entries"]
    assert [e["description"] for e in entries[:3]] == ["Sale", "Card fee", "Paid from the wallet"]
    assert [e["kind"] for e in entries] == ["standard", "standard", "standard", "pending"]
    assert len({e["id"] for e in entries}) == 4
    for entry in entries:
        assert entry["batch_id"] == batch_id
        shown = api.journal.get(f"/v1/journal-entries/{entry['id']}", token="accountant")
        assert shown.status == 200 and shown.data == entry
    assert api.balances(chart.cash)["posted"] == "126.40"  # 10.00 + 120.00 - 3.60
    assert api.balances(chart.cash)["pending_debits"] == "20.00"
    assert api.balances(chart.sales)["posted"] == "124.00"
    assert api.balances(chart.wallet)["posted"] == "6.00"
    # Each entry its own event and audit record, as single postings have.
    assert outbox_types(platform)[before_outbox:] == [
        ("ledger-events", "ledger.entry_posted"),
        ("audit-events", "audit.recorded"),
    ] * 3 + [("ledger-events", "ledger.entry_pending"), ("audit-events", "audit.recorded")]
    # The hold of a batch is a hold like any other.
    posted = api.action(entries[3]["id"], "post", {"amount": "15.00"})
    assert posted.status == 200, posted.json
    assert api.balances(chart.sales)["posted"] == "139.00"


def test_a_single_posting_shows_no_batch(api: Api, chart: Chart) -> None:
    # "batch" is an entry id like any other: the batches have their own collection.
    answer = api.post(
        (chart.cash, "debit", "1.00"), (chart.sales, "credit", "1.00"), entry_id="batch"
    )
    assert answer.status == 201 and answer.data["batch_id"] is None
    shown = api.journal.get("/v1/journal-entries/batch", token="accountant")
    assert shown.status == 200 and shown.data == answer.data


def _refusals(c: Chart) -> dict[str, tuple[list[dict[str, Any]], int, str, str]]:
    """(entries, status, code, first field) of each refusal; the bad entry is never first."""
    good = _entry(c.cash, c.sales, "5.00")
    return {
        "unknown_account": (
            [good, good, _entry(c.cash, "acc_missing", "1.00")],
            422,
            "account_not_found",
            "entries.2.lines.1.account_id",
        ),
        "currency_mismatch": (
            [good, _entry(c.usd, c.sales, "1.00", currency="EUR")],
            422,
            "currency_mismatch",
            "entries.1.currency",
        ),
        "unbalanced": (
            [
                good,
                {
                    "lines": [
                        {"account_id": c.cash, "side": "debit", "amount": "1.00"},
                        {"account_id": c.sales, "side": "credit", "amount": "0.99"},
                    ]
                },
            ],
            422,
            "entry_unbalanced",
            "entries.1.lines",
        ),
        "frozen_account": (
            [good, _entry(c.frozen, c.sales, "1.00")],
            422,
            "account_frozen",
            "entries.1.lines.0.account_id",
        ),
        "insufficient_funds": (
            [good, _entry(c.wallet, c.sales, "10.01")],
            422,
            "balance_constraint_violated",
            "entries.1.lines.0.account_id",
        ),
        "amount_not_positive": (
            [good, _entry(c.cash, c.sales, "0.00")],
            422,
            "amount_not_positive",
            "entries.1.lines.0.amount",
        ),
        "amount_as_json_number": (
            [good, _entry(c.cash, c.sales, 1.5)],
            422,
            "wrong_type",
            "entries.1.lines.0.amount",
        ),
        "duplicate_entry_id": (
            [{**good, "entry_id": "inv-7"}, {**good, "entry_id": "inv-7"}],
            422,
            "duplicate_entry_id",
            "entries.1.entry_id",
        ),
        "no_entries": ([], 422, "too_short", "entries"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown_account",
        "currency_mismatch",
        "unbalanced",
        "frozen_account",
        "insufficient_funds",
        "amount_not_positive",
        "amount_as_json_number",
        "duplicate_entry_id",
        "no_entries",
    ],
)
def test_one_refused_entry_refuses_the_batch_and_writes_nothing(
    api: Api, chart: Chart, state: State, case: str
) -> None:
    entries, status, code, field = _refusals(chart)[case]
    before = state()
    answer = _batch(api, *entries)
    assert answer.status == status, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["code"] == code
    assert problem["code"] in {code, "validation_error"}
    # No entry, no balance change, no outbox record.
    assert state() == before


def test_balance_constraints_count_the_batchs_earlier_entries(
    api: Api, chart: Chart, state: State
) -> None:
    spend = _entry(chart.wallet, chart.sales, "6.00")
    before = state()
    answer = _batch(api, spend, spend)
    assert answer.status == 422, answer.json
    assert answer.json["code"] == "balance_constraint_violated"
    assert answer.json["entry_index"] == 1
    assert [e["field"] for e in answer.json["errors"]] == ["entries.1.lines.0.account_id"]
    assert state() == before
    # Each spend alone fits the wallet's 10.00.
    assert _batch(api, spend).status == 201
    assert api.balances(chart.wallet)["posted"] == "4.00"
    # Money put in by an earlier entry of the batch is there for a later one.
    top_up = _entry(chart.cash, chart.wallet, "2.00")
    assert _batch(api, top_up, spend).status == 201
    assert api.balances(chart.wallet)["posted"] == "0.00"


def test_an_entry_dated_into_the_closed_period_refuses_the_batch(
    api: Api, chart: Chart, state: State
) -> None:
    closed = api.accounts.post(
        "/v1/ledger/period/close", json={"through": LAST_MONTH.isoformat()}, token="accountant"
    )
    assert closed.status == 200, closed.json
    before = state()
    answer = _batch(
        api,
        _entry(chart.cash, chart.sales, "1.00"),
        _entry(chart.cash, chart.sales, "1.00", effective_date=LAST_MONTH.isoformat()),
    )
    assert answer.status == 422, answer.json
    assert answer.json["code"] == "period_closed"
    assert [e["field"] for e in answer.json["errors"]] == ["entries.1.effective_date"]
    assert state() == before
    later = (LAST_MONTH + timedelta(days=1)).isoformat()
    assert _batch(api, _entry(chart.cash, chart.sales, "1.00", effective_date=later)).status == 201


def test_a_replay_with_the_same_key_answers_the_same_and_posts_once(
    api: Api, chart: Chart, platform: Any
) -> None:
    entries = [_entry(chart.cash, chart.sales, "7.00"), _entry(chart.fees, chart.cash, "0.70")]
    before = len(_entry_documents(platform))
    first = _batch(api, *entries, key="batch-key-1")
    again = _batch(api, *entries, key="batch-key-1")
    assert first.status == again.status == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.data == first.data
    assert len(_entry_documents(platform)) == before + 2
    assert api.balances(chart.cash)["posted"] == "16.30"
    # The same key with another body is refused by the key's record, not posted.
    other = _batch(api, entries[0], key="batch-key-1")
    assert 400 <= other.status < 500
    assert len(_entry_documents(platform)) == before + 2


def test_a_lost_answer_is_replayed_from_the_committed_batch(
    api: Api, chart: Chart, platform: Any
) -> None:
    entries = [_entry(chart.cash, chart.sales, "7.00"), _entry(chart.fees, chart.cash, "0.70")]
    first = _batch(api, *entries, key="batch-key-2")
    assert first.status == 201
    # The key's record is gone (its answer lost after the commit): the entry ids derive
    # from the key, so the retry finds the batch it committed.
    for snapshot in platform.collection("idempotency_keys").stream():
        snapshot.reference.delete()
    assert idempotency_records(platform) == []
    retried = _batch(api, *entries, key="batch-key-2")
    assert retried.status == 201, retried.json
    assert retried.data["batch_id"] == first.data["batch_id"]
    assert [e["id"] for e in retried.data["entries"]] == [e["id"] for e in first.data["entries"]]
    assert api.balances(chart.cash)["posted"] == "16.30"


def test_an_entry_id_already_taken_refuses_the_batch(api: Api, chart: Chart, state: State) -> None:
    taken = api.post((chart.cash, "debit", "1.00"), (chart.sales, "credit", "1.00"), entry_id="e-9")
    assert taken.status == 201
    before = state()
    answer = _batch(
        api,
        _entry(chart.cash, chart.sales, "2.00"),
        _entry(chart.cash, chart.sales, "1.00", entry_id="e-9"),
    )
    assert answer.status == 409, answer.json
    assert answer.json["code"] == "entry_id_conflict"
    assert [e["field"] for e in answer.json["errors"]] == ["entries.1.entry_id"]
    assert state() == before


def test_posting_a_batch_needs_the_permission_to_post(api: Api, chart: Chart, state: State) -> None:
    before = state()
    answer = _batch(api, _entry(chart.cash, chart.sales, "1.00"), who="viewer")
    assert answer.status == 403
    assert state() == before


def test_a_batch_needs_an_idempotency_key(api: Api, chart: Chart, state: State) -> None:
    before = state()
    answer = api.journal.post(
        PATH, json={"entries": [_entry(chart.cash, chart.sales, "1.00")]}, token="accountant"
    )
    assert answer.status == 422, answer.json
    assert [e["field"] for e in answer.json["errors"]] == ["Idempotency-Key"]
    assert state() == before
