"""Accounts against the Firestore emulator: uniqueness, isolation, updates, listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import (
    BadRequestError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from shared.ledger import (
    AccountStatus,
    AccountType,
    CreateAccountRequest,
    LedgerService,
    UpdateAccountRequest,
    parse_request,
)
from tests.integration.ledger.conftest import ADMIN, OTHER_TENANT, TENANT, Books, outbox_types

Dump = Callable[[], dict[str, dict[str, Any]]]


def change(service: LedgerService, account_id: str, **fields: Any) -> Any:
    return service.update_account(
        TENANT, account_id, parse_request(UpdateAccountRequest, fields), actor=ADMIN
    )


def test_an_account_is_created_with_its_events(books: Books, firestore_client: Any) -> None:
    account_id = books.account("1000-cash", metadata={"bank": "demo"})
    fetched = books.service.get_account(TENANT, account_id)
    assert fetched.account.code == "1000-cash"
    assert fetched.account.metadata == {"bank": "demo"}
    assert fetched.balances.to_json()["posted"] == "0.00"
    assert outbox_types(firestore_client) == [
        ("ledger-events", "ledger.account_created"),
        ("audit-events", "audit.recorded"),
    ]
    audit = next(
        s.to_dict()
        for s in firestore_client.collection("outbox").stream()
        if s.get("type") == "audit.recorded"
    )
    assert audit is not None and audit["tenant_id"] == TENANT


def test_a_code_is_unique_per_tenant_and_a_duplicate_writes_nothing(
    books: Books, ledger: LedgerService, database_dump: Dump
) -> None:
    books.account("2000")
    before = database_dump()
    with pytest.raises(ConflictError) as excinfo:
        books.account("2000", "revenue")
    assert (excinfo.value.code, excinfo.value.errors[0].field) == ("account_code_taken", "code")
    assert database_dump() == before
    # The same code in another tenant is another account.
    request = parse_request(
        CreateAccountRequest, {"code": "2000", "name": "x", "type": "asset", "currency": "EUR"}
    )
    assert ledger.create_account(OTHER_TENANT, request, actor=ADMIN).code == "2000"


def test_concurrent_creations_of_one_code_make_one_account(books: Books) -> None:
    import threading

    outcomes: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            books.account("dup")
            outcome = "created"
        except ConflictError:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    assert len(books.service.list_accounts(TENANT).items) == 1


def test_another_tenant_sees_nothing(books: Books, ledger: LedgerService) -> None:
    account_id = books.account("cash")
    with pytest.raises(NotFoundError) as excinfo:
        ledger.get_account(OTHER_TENANT, account_id)
    assert excinfo.value.code == "account_not_found"
    with pytest.raises(NotFoundError):
        ledger.update_account(
            OTHER_TENANT,
            account_id,
            parse_request(UpdateAccountRequest, {"status": "frozen"}),
            actor=ADMIN,
        )
    assert ledger.trial_balance(OTHER_TENANT).currencies == []


def test_listing_with_filters_and_an_opaque_cursor(books: Books) -> None:
    created = [books.account(f"a{i}", "asset" if i % 2 else "revenue") for i in range(7)]
    books.account("usd", currency="USD")
    seen: list[str] = []
    cursor = None
    while True:
        page = books.service.list_accounts(TENANT, currency="EUR", limit=3, cursor=cursor)
        seen.extend(account.id for account in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == created  # creation order
    revenue = books.service.list_accounts(TENANT, type=AccountType.REVENUE, limit=100)
    assert [a.code for a in revenue.items] == ["a0", "a2", "a4", "a6"]
    change(books.service, created[1], status="frozen")
    frozen = books.service.list_accounts(TENANT, status=AccountStatus.FROZEN)
    assert [a.id for a in frozen.items] == [created[1]]
    first = books.service.list_accounts(TENANT, limit=1)
    assert first.next_cursor is not None
    with pytest.raises(ValidationError) as excinfo:
        books.service.list_accounts(TENANT, currency="USD", cursor=first.next_cursor)
    assert excinfo.value.code == "cursor_mismatch"
    with pytest.raises(BadRequestError) as refused:
        books.service.list_accounts(TENANT, cursor="not a cursor")
    assert (refused.value.status, refused.value.code) == (400, "invalid_cursor")


def test_freeze_blocks_postings_and_unfreeze_restores_them(books: Books) -> None:
    cash, sales = books.account("cash"), books.account("sales", "revenue")
    books.post((cash, "debit", "1.00"), (sales, "credit", "1.00"))  # warms the account cache
    change(books.service, sales, status="frozen")
    with pytest.raises(BusinessRuleError) as excinfo:
        books.post((cash, "debit", "1.00"), (sales, "credit", "1.00"))
    assert excinfo.value.code == "account_frozen"
    change(books.service, sales, status="active")
    books.post((cash, "debit", "1.00"), (sales, "credit", "1.00"))
    assert books.balances(sales)["posted"] == "2.00"


def test_close_only_at_zero(books: Books, database_dump: Dump) -> None:
    cash, sales = books.account("cash"), books.account("sales", "revenue")
    books.post((cash, "debit", "3.00"), (sales, "credit", "3.00"))
    before = database_dump()
    with pytest.raises(BusinessRuleError) as excinfo:
        change(books.service, cash, status="closed")
    assert (excinfo.value.code, excinfo.value.errors[0].field) == (
        "account_balance_not_zero",
        "status",
    )
    assert excinfo.value.extra["balances"]["debits_posted"] == "3.00"
    assert database_dump() == before
    books.post((sales, "debit", "3.00"), (cash, "credit", "3.00"))
    closed = change(books.service, cash, status="closed")
    assert closed.account.status is AccountStatus.CLOSED
    with pytest.raises(BusinessRuleError) as posting:
        books.post((cash, "debit", "1.00"), (sales, "credit", "1.00"))
    assert posting.value.code == "account_closed"
    with pytest.raises(BusinessRuleError) as reopen:
        change(books.service, cash, status="active")
    assert reopen.value.code == "account_closed"


def test_a_hold_keeps_an_account_open(books: Books) -> None:
    cash, sales = books.account("cash"), books.account("sales", "revenue")
    books.post((cash, "debit", "1.00"), (sales, "credit", "1.00"), pending=True)
    with pytest.raises(BusinessRuleError) as excinfo:
        change(books.service, cash, status="closed")
    assert excinfo.value.code == "account_balance_not_zero"


def test_type_and_currency_are_fixed_by_the_first_posting(
    books: Books, database_dump: Dump
) -> None:
    cash, sales = books.account("cash"), books.account("sales", "revenue")
    retyped = change(books.service, cash, type="expense", currency="EUR")
    assert retyped.account.type is AccountType.EXPENSE
    books.post((cash, "debit", "1.00"), (sales, "credit", "1.00"), pending=True)
    before = database_dump()
    for field, value in (("type", "asset"), ("currency", "USD")):
        with pytest.raises(BusinessRuleError) as excinfo:
            change(books.service, cash, **{field: value})
        assert (excinfo.value.code, excinfo.value.errors[0].field) == (
            "account_immutable_field",
            field,
        )
    assert database_dump() == before


def test_an_update_records_its_changes_and_a_no_op_writes_nothing(
    books: Books, firestore_client: Any, database_dump: Dump
) -> None:
    cash = books.account("cash")
    updated = change(books.service, cash, name="Bank", balance_shards=12)
    assert (updated.account.name, updated.account.balance_shards) == ("Bank", 12)
    events = [
        s.to_dict()
        for s in firestore_client.collection("outbox").stream()
        if s.get("type") == "ledger.account_updated"
    ]
    assert len(events) == 1
    before = database_dump()
    change(books.service, cash, name="Bank")
    assert database_dump() == before
