"""Linked entries through LedgerService against the Firestore emulator: all or none,
also when batches race each other and single postings on the same accounts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.errors import AppError, BusinessRuleError
from shared.ledger import LedgerService, parse_request
from shared.ledger.requests import PostLinkedEntriesRequest
from tests.integration.ledger.conftest import ADMIN, TENANT, Books, entry, outbox_types


def _linked(*entries: dict[str, Any]) -> PostLinkedEntriesRequest:
    return parse_request(PostLinkedEntriesRequest, {"entries": list(entries)})


def _body(debit: str, credit: str, amount: str, **fields: Any) -> dict[str, Any]:
    return {
        "lines": [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": amount},
        ],
        **fields,
    }


@pytest.fixture
def chart(books: Books) -> dict[str, str]:
    ids = {
        "cash": books.account("cash"),
        "sales": books.account("sales", "revenue", balance_shards=8),
        "wallet": books.account(
            "wallet", "liability", balance_constraint="debits_must_not_exceed_credits"
        ),
    }
    books.post((ids["cash"], "debit", "10.00"), (ids["wallet"], "credit", "10.00"))
    return ids


def test_a_batch_without_a_key_gets_its_own_ids(
    ledger: LedgerService, chart: dict[str, str], firestore_client: Any
) -> None:
    request = _linked(
        _body(chart["cash"], chart["sales"], "1.00"),
        _body(chart["cash"], chart["sales"], "2.00", entry_id="inv-1"),
    )
    first = ledger.post_linked_entries(TENANT, request, actor=ADMIN)
    second = ledger.post_linked_entries(
        TENANT, _linked(_body(chart["cash"], chart["sales"], "1.00")), actor=ADMIN
    )
    assert first.batch_id != second.batch_id
    assert first.entries[0].id.startswith("ent_link.")
    assert first.entries[1].id == "inv-1"
    for posted in (*first.entries, *second.entries):
        stored = ledger.get_entry(TENANT, posted.id)
        assert stored == posted and stored.batch_id in {first.batch_id, second.batch_id}
    assert ledger.reconcile_tenant(TENANT).clean
    audit = [
        r.to_dict()
        for r in firestore_client.collection("outbox").stream()
        if (r.to_dict() or {}).get("topic") == "audit-events"
    ]
    assert sum(1 for r in audit if "batch_id" in str(r)) == 3


def test_racing_batches_on_one_wallet_post_whole_or_not_at_all(
    ledger: LedgerService, books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    """Six batches of two 3.00 spends race for a wallet holding 10.00, with single
    postings to the same accounts: exactly one batch fits, and it posts both entries."""
    spend = _body(chart["wallet"], chart["sales"], "3.00")
    outcomes: list[Any] = [None] * 6
    barrier = threading.Barrier(8)

    def batch(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = ledger.post_linked_entries(
                TENANT, _linked(spend, spend), actor=ADMIN, idempotency_key=f"race-{index}"
            )
        except AppError as exc:
            outcomes[index] = exc

    def single() -> None:
        barrier.wait()
        books.post((chart["cash"], "debit", "1.00"), (chart["sales"], "credit", "1.00"))

    threads = [threading.Thread(target=batch, args=(i,)) for i in range(6)]
    threads += [threading.Thread(target=single) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    posted = [o for o in outcomes if not isinstance(o, AppError)]
    refused = [o for o in outcomes if isinstance(o, AppError)]
    assert len(posted) == 1 and len(posted[0].entries) == 2
    assert all(isinstance(e, BusinessRuleError) for e in refused), refused
    assert {e.code for e in refused} == {"balance_constraint_violated"}
    assert books.posted(chart["wallet"]) == "4.00"
    assert books.posted(chart["sales"]) == "8.00"
    assert ledger.reconcile_tenant(TENANT).clean
    entries = list(
        firestore_client.collection("tenants").document(TENANT).collection("entries").stream()
    )
    assert len(entries) == 1 + 2 + 2  # the top-up, the batch, the single postings
    assert outbox_types(firestore_client).count(("ledger-events", "ledger.entry_posted")) == 5


def test_a_refused_batch_leaves_the_service_usable(
    ledger: LedgerService, books: Books, chart: dict[str, str]
) -> None:
    with pytest.raises(BusinessRuleError):
        ledger.post_linked_entries(
            TENANT,
            _linked(
                _body(chart["cash"], chart["sales"], "1.00"),
                _body(chart["wallet"], chart["sales"], "99.00"),
            ),
            actor=ADMIN,
        )
    assert books.posted(chart["cash"]) == "10.00"
    books.service.post_entry(
        TENANT,
        entry((chart["cash"], "debit", "1.00"), (chart["sales"], "credit", "1.00")),
        actor=ADMIN,
    )
    assert books.posted(chart["cash"]) == "11.00"
