"""Posting, reading and reversing entries against the Firestore emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from shared.errors import AppError, BusinessRuleError, ConflictError, NotFoundError, ValidationError
from shared.ledger import LedgerService, ReverseEntryRequest, UpdateAccountRequest, parse_request
from shared.ledger.model import EntryKind, EntryStatus
from tests.integration.ledger.conftest import (
    ADMIN,
    OTHER_TENANT,
    TENANT,
    Books,
    entry,
    outbox_types,
)

Dump = Callable[[], dict[str, dict[str, Any]]]


@pytest.fixture
def chart(books: Books) -> dict[str, str]:
    ids = {
        "cash": books.account("cash"),
        "sales": books.account("sales", "revenue", balance_shards=8),
        "usd": books.account("usd-cash", currency="USD"),
        "usd-sales": books.account("usd-sales", "revenue", currency="USD"),
        "wallet": books.account(
            "wallet", "liability", balance_constraint="debits_must_not_exceed_credits"
        ),
        "closed": books.account("closed"),
        "frozen": books.account("frozen"),
    }
    for name, status in (("closed", "closed"), ("frozen", "frozen")):
        books.service.update_account(
            TENANT,
            ids[name],
            parse_request(UpdateAccountRequest, {"status": status}),
            actor=ADMIN,
        )
    return ids


def test_a_posting_moves_exact_balances_and_stages_its_events(
    books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    posted = books.post((chart["cash"], "debit", "12.34"), (chart["sales"], "credit", "12.34"))
    assert posted.kind is EntryKind.STANDARD and posted.status is EntryStatus.POSTED
    assert books.balances(chart["cash"])["posted"] == "12.34"
    assert books.balances(chart["sales"])["posted"] == "12.34"  # credit-normal, positive
    assert books.service.get_entry(TENANT, posted.id) == posted
    assert outbox_types(firestore_client)[-2:] == [
        ("ledger-events", "ledger.entry_posted"),
        ("audit-events", "audit.recorded"),
    ]


def test_many_postings_on_a_sharded_account_sum_exactly(
    books: Books, chart: dict[str, str]
) -> None:
    for amount in ("0.01", "0.02", "999999.99", "0.10"):
        books.post((chart["cash"], "debit", amount), (chart["sales"], "credit", amount))
    assert books.balances(chart["sales"])["posted"] == "1000000.12"


def test_a_multi_currency_entry(books: Books, chart: dict[str, str]) -> None:
    books.post(
        (chart["cash"], "debit", "10.00"),
        (chart["sales"], "credit", "10.00"),
        (chart["usd"], "debit", "3.50"),
        (chart["usd-sales"], "credit", "3.50"),
    )
    trial = books.service.trial_balance(TENANT)
    assert trial.balanced
    by_currency = {c.currency: c.to_json() for c in trial.currencies}
    assert by_currency["EUR"]["total_debits"] == by_currency["EUR"]["total_credits"] == "10.00"
    assert by_currency["USD"]["net"] == "0.00"


REJECTIONS: list[tuple[str, Any, type[AppError], str, str]] = [
    ("too_few_lines", lambda c: [(c["cash"], "debit", "1.00")], ValidationError, "lines"),
    (
        "amount_not_positive",
        lambda c: [(c["cash"], "debit", "0"), (c["sales"], "credit", "0")],
        ValidationError,
        "lines.0.amount",
    ),
    (
        "too_many_decimals",
        lambda c: [(c["cash"], "debit", "1.005"), (c["sales"], "credit", "1.005")],
        ValidationError,
        "lines.0.amount",
    ),
    (
        "account_not_found",
        lambda c: [(c["cash"], "debit", "1.00"), ("acc_missing", "credit", "1.00")],
        BusinessRuleError,
        "lines.1.account_id",
    ),
    (
        "account_closed",
        lambda c: [(c["closed"], "debit", "1.00"), (c["sales"], "credit", "1.00")],
        BusinessRuleError,
        "lines.0.account_id",
    ),
    (
        "account_frozen",
        lambda c: [(c["cash"], "debit", "1.00"), (c["frozen"], "credit", "1.00")],
        BusinessRuleError,
        "lines.1.account_id",
    ),
    (
        "entry_unbalanced",
        lambda c: [(c["cash"], "debit", "1.00"), (c["sales"], "credit", "0.99")],
        BusinessRuleError,
        "lines",
    ),
    (
        "entry_unbalanced",
        lambda c: [(c["cash"], "debit", "1.00"), (c["usd-sales"], "credit", "1.00")],
        BusinessRuleError,
        "lines",
    ),
    (
        "balance_constraint_violated",
        lambda c: [(c["wallet"], "debit", "0.01"), (c["sales"], "credit", "0.01")],
        BusinessRuleError,
        "lines.0.account_id",
    ),
]


@pytest.mark.parametrize(
    ("code", "lines", "error_class", "field"),
    REJECTIONS,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(REJECTIONS)],
)
@pytest.mark.parametrize("pending", [False, True], ids=["posted", "pending"])
def test_a_rejected_entry_writes_nothing(
    books: Books,
    chart: dict[str, str],
    database_dump: Dump,
    code: str,
    lines: Any,
    error_class: type[AppError],
    field: str,
    pending: bool,
) -> None:
    books.post((chart["cash"], "debit", "5.00"), (chart["sales"], "credit", "5.00"))
    before = database_dump()
    with pytest.raises(AppError) as excinfo:
        books.post(*lines(chart), pending=pending)
    assert type(excinfo.value) is error_class
    assert excinfo.value.code == code
    assert excinfo.value.errors[0].field == field
    assert database_dump() == before


def test_a_currency_mismatch_writes_nothing(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    before = database_dump()
    with pytest.raises(BusinessRuleError) as excinfo:
        books.post(
            (chart["cash"], "debit", "1.00"), (chart["sales"], "credit", "1.00"), currency="USD"
        )
    assert (excinfo.value.code, excinfo.value.errors[0].field) == ("currency_mismatch", "currency")
    assert database_dump() == before


def test_a_chosen_entry_id_makes_a_retry_idempotent(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    lines = ((chart["cash"], "debit", "2.00"), (chart["sales"], "credit", "2.00"))
    first = books.post(*lines, entry_id="payment-42")
    after_first = database_dump()
    again = books.post(*lines, entry_id="payment-42")
    assert again == first
    assert database_dump() == after_first  # no second posting, no second event
    assert books.balances(chart["cash"])["posted"] == "2.00"
    with pytest.raises(ConflictError) as excinfo:
        books.post(
            (chart["cash"], "debit", "3.00"),
            (chart["sales"], "credit", "3.00"),
            entry_id="payment-42",
        )
    assert excinfo.value.code == "entry_id_conflict"
    assert database_dump() == after_first


def test_entries_of_an_account_by_date_with_a_cursor(books: Books, chart: dict[str, str]) -> None:
    days = [date(2025, 1, d) for d in (5, 1, 3, 3, 9)]
    for day in days:
        books.post(
            (chart["cash"], "debit", "1.00"),
            (chart["sales"], "credit", "1.00"),
            effective_date=day.isoformat(),
        )
    books.post((chart["usd"], "debit", "1.00"), (chart["usd-sales"], "credit", "1.00"))
    seen: list[date] = []
    cursor = None
    while True:
        page = books.service.list_account_entries(
            TENANT,
            chart["cash"],
            date_from=date(2025, 1, 2),
            date_to=date(2025, 1, 6),
            limit=2,
            cursor=cursor,
        )
        seen.extend(e.effective_date for e in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [date(2025, 1, 3), date(2025, 1, 3), date(2025, 1, 5)]
    everything = books.service.list_account_entries(TENANT, chart["cash"], limit=100)
    assert [e.effective_date for e in everything.items] == sorted(days)
    with pytest.raises(ValidationError) as excinfo:
        books.service.list_account_entries(TENANT, chart["sales"], cursor=page_cursor(books, chart))
    assert excinfo.value.code == "cursor_mismatch"


def page_cursor(books: Books, chart: dict[str, str]) -> str:
    page = books.service.list_account_entries(TENANT, chart["cash"], limit=1)
    assert page.next_cursor
    return page.next_cursor


def test_an_inverted_date_range_and_a_bad_limit(books: Books, chart: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as excinfo:
        books.service.list_account_entries(
            TENANT, chart["cash"], date_from=date(2025, 2, 1), date_to=date(2025, 1, 1)
        )
    assert (excinfo.value.code, excinfo.value.errors[0].field) == (
        "invalid_date_range",
        "query.date_to",
    )
    with pytest.raises(ValidationError):
        books.service.list_account_entries(TENANT, chart["cash"], limit=101)


def test_another_tenants_entries_and_accounts_do_not_exist(
    books: Books, chart: dict[str, str], ledger: LedgerService, database_dump: Dump
) -> None:
    posted = books.post((chart["cash"], "debit", "1.00"), (chart["sales"], "credit", "1.00"))
    with pytest.raises(NotFoundError) as excinfo:
        ledger.get_entry(OTHER_TENANT, posted.id)
    assert excinfo.value.code == "entry_not_found"
    with pytest.raises(NotFoundError):
        ledger.get_account(OTHER_TENANT, chart["cash"])
    with pytest.raises(NotFoundError):
        ledger.list_account_entries(OTHER_TENANT, chart["cash"])
    with pytest.raises(NotFoundError):
        ledger.reverse_entry(OTHER_TENANT, posted.id, actor=ADMIN)
    before = database_dump()
    with pytest.raises(BusinessRuleError) as rule:
        ledger.post_entry(
            OTHER_TENANT,
            entry((chart["cash"], "debit", "1.00"), (chart["sales"], "credit", "1.00")),
            actor=ADMIN,
        )
    assert rule.value.code == "account_not_found"
    assert database_dump() == before
    assert ledger.list_accounts(OTHER_TENANT).items == []


def test_a_reversal_nets_to_zero_and_links_both_entries(
    books: Books, chart: dict[str, str], firestore_client: Any
) -> None:
    original = books.post(
        (chart["cash"], "debit", "7.00"), (chart["sales"], "credit", "7.00"), description="sale"
    )
    result = books.service.reverse_entry(
        TENANT,
        original.id,
        parse_request(ReverseEntryRequest, {"description": "refund"}),
        actor=ADMIN,
    )
    assert result.reversal.kind is EntryKind.REVERSAL
    assert result.reversal.reverses_entry_id == original.id
    assert [(line.account_id, line.side.value) for line in result.reversal.lines] == [
        (chart["cash"], "credit"),
        (chart["sales"], "debit"),
    ]
    assert books.service.get_entry(TENANT, original.id).reversed_by_entry_id == result.reversal.id
    assert books.balances(chart["cash"])["posted"] == "0.00"
    assert books.balances(chart["cash"])["posted_debits"] == "7.00"
    assert books.balances(chart["sales"])["posted"] == "0.00"
    assert ("ledger-events", "ledger.entry_reversed") in outbox_types(firestore_client)


def test_a_second_reversal_and_a_reversal_of_a_reversal_write_nothing(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    original = books.post((chart["cash"], "debit", "7.00"), (chart["sales"], "credit", "7.00"))
    reversal = books.service.reverse_entry(TENANT, original.id, actor=ADMIN).reversal
    before = database_dump()
    with pytest.raises(ConflictError) as again:
        books.service.reverse_entry(TENANT, original.id, actor=ADMIN)
    assert (again.value.code, again.value.errors[0].field) == ("entry_already_reversed", "entry_id")
    with pytest.raises(BusinessRuleError) as twice:
        books.service.reverse_entry(TENANT, reversal.id, actor=ADMIN)
    assert (twice.value.code, twice.value.errors[0].field) == (
        "cannot_reverse_reversal",
        "entry_id",
    )
    with pytest.raises(NotFoundError):
        books.service.reverse_entry(TENANT, "ent_missing", actor=ADMIN)
    assert database_dump() == before


def test_a_reversal_that_would_break_a_constraint_writes_nothing(
    books: Books, chart: dict[str, str], database_dump: Dump
) -> None:
    top_up = books.post((chart["cash"], "debit", "5.00"), (chart["wallet"], "credit", "5.00"))
    books.post((chart["wallet"], "debit", "4.00"), (chart["sales"], "credit", "4.00"))
    before = database_dump()
    with pytest.raises(BusinessRuleError) as excinfo:
        books.service.reverse_entry(TENANT, top_up.id, actor=ADMIN)
    assert excinfo.value.code == "balance_constraint_violated"
    assert database_dump() == before
