"""Many requests on one entry at once: one wins, the others are told at once, retries replay.

Each concurrent caller gets its own ``LedgerService`` where the test says "instances":
separate instances share nothing in memory, so only the commit preconditions keep them
apart. The tests assert outcomes, never timings (a busy machine must not fail them);
``tests/benchmarks/bench_contention.py`` measures the times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest

from shared.errors import AppError
from shared.ledger import LedgerService, PostPendingRequest, VoidPendingRequest, parse_request
from shared.ledger.idempotency import hold_posting_entry_id, reversal_entry_id
from shared.ledger.model import EntryStatus
from tests.integration.ledger.conftest import ADMIN, OTHER_TENANT, TENANT, Books, outbox_types

CONTENDERS = 8
Dump = Callable[[], dict[str, dict[str, Any]]]


def race(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every call at once (released together); each one's result or AppError."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)
    unexpected: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = calls[index]()
        except AppError as exc:
            outcomes[index] = exc
        except BaseException as exc:
            unexpected.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert unexpected == []
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def codes(outcomes: Sequence[Any]) -> list[str]:
    return sorted(o.code for o in outcomes if isinstance(o, AppError))


def successes(outcomes: Sequence[Any]) -> list[Any]:
    return [o for o in outcomes if not isinstance(o, AppError)]


@pytest.fixture
def chart(books: Books) -> dict[str, str]:
    return {
        "cash": books.account("cash"),
        "sales": books.account("sales", "revenue", balance_shards=8),
        "wallet": books.account(
            "wallet", "liability", balance_constraint="debits_must_not_exceed_credits"
        ),
    }


def instances(firestore_client: Any, count: int = CONTENDERS) -> list[LedgerService]:
    return [LedgerService(firestore_client, publisher=None) for _ in range(count)]


@pytest.mark.parametrize("separate_instances", [False, True], ids=["one-instance", "instances"])
def test_concurrent_reversals_of_one_entry_reverse_it_once(
    books: Books, chart: dict[str, str], firestore_client: Any, separate_instances: bool
) -> None:
    original = books.post((chart["cash"], "debit", "7.00"), (chart["sales"], "credit", "7.00"))
    services = instances(firestore_client) if separate_instances else [books.service] * CONTENDERS

    outcomes = race(
        [partial(service.reverse_entry, TENANT, original.id, actor=ADMIN) for service in services]
    )

    won = successes(outcomes)
    assert len(won) == 1
    assert won[0].reversal.id == reversal_entry_id(original.id)
    assert codes(outcomes) == ["entry_already_reversed"] * (CONTENDERS - 1)
    assert books.service.get_entry(TENANT, original.id).reversed_by_entry_id == won[0].reversal.id
    assert books.posted(chart["cash"]) == "0.00"
    assert books.posted(chart["sales"]) == "0.00"
    assert books.balances(chart["cash"])["posted_credits"] == "7.00"
    assert outbox_types(firestore_client).count(("ledger-events", "ledger.entry_reversed")) == 1
    assert books.service.reconcile_tenant(TENANT).clean


def test_concurrent_reversals_against_one_wallet_never_overdraw_it(
    books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    """Reversing either top-up fits the wallet's limit, reversing both does not."""
    first = books.post((chart["cash"], "debit", "5.00"), (chart["wallet"], "credit", "5.00"))
    second = books.post((chart["cash"], "debit", "5.00"), (chart["wallet"], "credit", "5.00"))
    books.post((chart["wallet"], "debit", "3.00"), (chart["sales"], "credit", "3.00"))
    services = instances(firestore_client)
    calls: list[Callable[[], Any]] = [
        partial(service.reverse_entry, TENANT, top_up.id, actor=ADMIN)
        for service, top_up in zip(services, [first, second] * (CONTENDERS // 2), strict=True)
    ]

    outcomes = race(calls)

    won = successes(outcomes)
    assert len(won) == 1
    refused = codes(outcomes)
    assert len(refused) == CONTENDERS - 1
    # The other top-up's reversals all overdraw; a twin of the winner learns either that
    # its entry was reversed or, when it read the new balance first, that it would overdraw:
    # both are true of the state it met, and the timing decides which it meets first.
    assert set(refused) <= {"entry_already_reversed", "balance_constraint_violated"}
    assert refused.count("balance_constraint_violated") >= CONTENDERS // 2
    assert books.posted(chart["wallet"]) == "2.00"
    assert books.service.reconcile_tenant(TENANT).clean


def test_concurrent_posts_and_voids_of_one_hold_resolve_it_once(
    books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    hold = books.post(
        (chart["cash"], "debit", "50.00"), (chart["sales"], "credit", "50.00"), pending=True
    )
    services = instances(firestore_client)
    post = parse_request(PostPendingRequest, {"amount": "30.00"})
    void = parse_request(VoidPendingRequest, {"reason": "changed mind"})
    calls: list[Callable[[], Any]] = []
    for index, service in enumerate(services):
        if index % 2:
            calls.append(partial(service.void_pending, TENANT, hold.id, void, actor=ADMIN))
        else:
            calls.append(partial(service.post_pending, TENANT, hold.id, post, actor=ADMIN))

    outcomes = race(calls)

    won = successes(outcomes)
    assert len(won) == 1
    resolved = books.service.get_entry(TENANT, hold.id)
    status = resolved.status.value
    assert won[0].hold.status is resolved.status
    assert codes(outcomes) == [f"hold_already_{status}"] * (CONTENDERS - 1)
    cash = books.balances(chart["cash"])
    assert (cash["pending_debits"], cash["posted"]) == (
        "0.00",
        "30.00" if resolved.status is EntryStatus.POSTED else "0.00",
    )
    if resolved.status is EntryStatus.POSTED:
        assert resolved.posting_entry_id == hold_posting_entry_id(hold.id)
    assert books.service.reconcile_tenant(TENANT).clean


def test_concurrent_posts_of_one_hold_post_it_once(
    books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    hold = books.post(
        (chart["cash"], "debit", "20.00"), (chart["sales"], "credit", "20.00"), pending=True
    )

    outcomes = race(
        [
            partial(service.post_pending, TENANT, hold.id, actor=ADMIN)
            for service in instances(firestore_client)
        ]
    )

    assert [o.posting.id for o in successes(outcomes)] == [hold_posting_entry_id(hold.id)]
    assert codes(outcomes) == ["hold_already_posted"] * (CONTENDERS - 1)
    assert books.posted(chart["cash"]) == "20.00"
    assert books.balances(chart["cash"])["pending_debits"] == "0.00"
    assert outbox_types(firestore_client).count(("ledger-events", "ledger.hold_posted")) == 1


def test_a_retried_hold_post_with_its_key_replays_and_another_key_is_refused(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    """The answer to the first post was lost after its commit; the client retries."""
    hold = books.post(
        (chart["cash"], "debit", "12.00"), (chart["sales"], "credit", "12.00"), pending=True
    )
    request = parse_request(PostPendingRequest, {"amount": "5.00"})
    first = books.service.post_pending(
        TENANT, hold.id, request, actor=ADMIN, idempotency_key="capture-1"
    )
    after_first = database_dump()

    retry = books.service.post_pending(
        TENANT, hold.id, request, actor=ADMIN, idempotency_key="capture-1"
    )
    with pytest.raises(AppError) as other:
        books.service.post_pending(TENANT, hold.id, request, actor=ADMIN, idempotency_key="x")
    with pytest.raises(AppError) as void:
        books.service.void_pending(TENANT, hold.id, actor=ADMIN, idempotency_key="capture-1")

    assert retry.to_json() == first.to_json()
    assert retry.posting is not None and retry.posting.id == hold_posting_entry_id(hold.id)
    assert (other.value.status, other.value.code) == (409, "hold_already_posted")
    assert (void.value.status, void.value.code) == (409, "hold_already_posted")
    assert database_dump() == after_first
    assert books.posted(chart["cash"]) == "5.00"


def test_a_retried_void_and_a_retried_reversal_with_their_keys_replay(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    hold = books.post(
        (chart["cash"], "debit", "3.00"), (chart["sales"], "credit", "3.00"), pending=True
    )
    original = books.post((chart["cash"], "debit", "8.00"), (chart["sales"], "credit", "8.00"))
    voided = books.service.void_pending(TENANT, hold.id, actor=ADMIN, idempotency_key="void-1")
    reversed_ = books.service.reverse_entry(
        TENANT, original.id, actor=ADMIN, idempotency_key="reverse-1"
    )
    after_first = database_dump()

    assert (
        books.service.void_pending(TENANT, hold.id, actor=ADMIN, idempotency_key="void-1")
    ).to_json() == voided.to_json()
    assert (
        books.service.reverse_entry(TENANT, original.id, actor=ADMIN, idempotency_key="reverse-1")
    ).to_json() == reversed_.to_json()
    with pytest.raises(AppError) as void_again:
        books.service.void_pending(TENANT, hold.id, actor=ADMIN, idempotency_key="void-2")
    with pytest.raises(AppError) as reverse_again:
        books.service.reverse_entry(TENANT, original.id, actor=ADMIN, idempotency_key="reverse-2")
    assert void_again.value.code == "hold_already_voided"
    assert reverse_again.value.code == "entry_already_reversed"
    assert database_dump() == after_first


def test_an_account_frozen_before_the_reversal_commits_refuses_it(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    """Accounts are checked in the reversal's own transaction, not from an older read."""
    from shared.ledger import UpdateAccountRequest

    original = books.post((chart["cash"], "debit", "6.00"), (chart["sales"], "credit", "6.00"))
    books.service.get_account(TENANT, chart["sales"])  # an instance that has seen it active
    books.service.update_account(
        TENANT,
        chart["sales"],
        parse_request(UpdateAccountRequest, {"status": "frozen"}),
        actor=ADMIN,
    )
    before = database_dump()

    with pytest.raises(AppError) as refused:
        books.service.reverse_entry(TENANT, original.id, actor=ADMIN)

    assert refused.value.code == "account_frozen"
    assert database_dump() == before


def test_a_reversal_race_leaves_other_tenants_untouched(
    books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    other = Books(LedgerService(firestore_client, publisher=None), tenant=OTHER_TENANT)
    other_cash, other_sales = other.account("cash"), other.account("sales", "revenue")
    original = books.post((chart["cash"], "debit", "2.00"), (chart["sales"], "credit", "2.00"))
    reversals: list[Callable[[], Any]] = [
        partial(service.reverse_entry, TENANT, original.id, actor=ADMIN)
        for service in instances(firestore_client)
    ]
    bystander: list[Callable[[], Any]] = [
        lambda: other.post((other_cash, "debit", "1.00"), (other_sales, "credit", "1.00"))
        for _ in range(4)
    ]

    outcomes = race(reversals + bystander)

    assert len(successes(outcomes[:CONTENDERS])) == 1
    assert all(not isinstance(o, AppError) for o in outcomes[CONTENDERS:])
    assert other.posted(other_cash) == "4.00"
    assert other.service.reconcile_tenant(OTHER_TENANT).clean
