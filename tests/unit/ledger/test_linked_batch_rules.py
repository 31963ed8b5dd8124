"""The rules of linked batches (shared.ledger.batches): pure, no I/O."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from shared.errors import AppError, BusinessRuleError, ConflictError, ValidationError
from shared.ledger import batches, domain, rejections
from shared.ledger.group_commit import GroupCommitter
from shared.ledger.model import (
    AccountType,
    BalanceConstraint,
    BalanceTotals,
    LineEffect,
)
from shared.ledger.requests import MAX_LINKED_ENTRIES, PostLinkedEntriesRequest, parse_request
from tests.unit.ledger.support import NOW, account, assert_rejected, lines
from tests.unit.ledger.test_group_commit_and_retry import Recorder, submit_all

ACCOUNTS = {
    a.id: a
    for a in (
        account("cash"),
        account("sales", type=AccountType.REVENUE),
        account(
            "wallet",
            type=AccountType.LIABILITY,
            constraint=BalanceConstraint.DEBITS_MUST_NOT_EXCEED_CREDITS,
        ),
    )
}


def _entry(debit: str = "cash", credit: str = "sales", amount: Any = "1.00", **extra: Any) -> Any:
    return {
        "lines": [
            {"account_id": debit, "side": "debit", "amount": amount},
            {"account_id": credit, "side": "credit", "amount": amount},
        ],
        **extra,
    }


def _batch(*entries: dict[str, Any]) -> PostLinkedEntriesRequest:
    return parse_request(PostLinkedEntriesRequest, {"entries": list(entries)})


# -- ids and fingerprints ----------------------------------------------------------------


def test_a_key_names_one_batch_and_each_index_one_entry() -> None:
    batch_id = batches.batch_id_for_key("key-1")
    assert batch_id == batches.batch_id_for_key("key-1") != batches.batch_id_for_key("key-2")
    assert batch_id.startswith("bat_key_")
    first, second = (batches.linked_entry_id(batch_id, i) for i in (0, 1))
    assert first != second and first == batches.linked_entry_id(batch_id, 0)
    # A dot: no client-chosen entry id (letters, digits, '_' and '-') can take it.
    assert "." in first


def test_the_fingerprint_covers_the_batch_id_the_index_and_the_whole_body() -> None:
    body = _batch(_entry(), _entry(amount="2.00"))
    fingerprint = batches.linked_fingerprint("bat_1", body, 0)
    assert fingerprint == batches.linked_fingerprint("bat_1", body, 0)
    assert fingerprint != batches.linked_fingerprint("bat_2", body, 0)
    assert fingerprint != batches.linked_fingerprint("bat_1", body, 1)
    # Entry 0 unchanged, entry 1 changed: entry 0's fingerprint changes too.
    other = _batch(_entry(), _entry(amount="3.00"))
    assert fingerprint != batches.linked_fingerprint("bat_1", other, 0)


# -- the batch's shape ---------------------------------------------------------------------


def test_every_entrys_shape_problems_are_reported_under_its_index() -> None:
    request = _batch(
        _entry(),
        _entry(amount="0"),
        {"lines": [{"account_id": "cash", "side": "debit", "amount": "1.00"}]},
        _entry(amount="1,00"),
    )
    with pytest.raises(ValidationError) as excinfo:
        batches.parse_linked_entries(request, now=NOW)
    assert_rejected(excinfo, ValidationError, "amount_not_positive", "entries.1.lines.0.amount")
    fields = [(e.field, e.code) for e in excinfo.value.errors]
    assert fields == [
        ("entries.1.lines.0.amount", "amount_not_positive"),
        ("entries.1.lines.1.amount", "amount_not_positive"),
        ("entries.2.lines", "too_few_lines"),
        ("entries.3.lines.0.amount", "invalid_amount"),
        ("entries.3.lines.1.amount", "invalid_amount"),
    ]


def test_a_hold_in_a_batch_gets_its_expiry_and_an_entry_its_date() -> None:
    request = _batch(_entry(effective_date="2025-02-27"), _entry(pending=True, timeout_seconds=60))
    first, second = batches.parse_linked_entries(request, now=NOW)
    assert (first.effective_date, first.expires_at, first.effect) == (
        date(2025, 2, 27),
        None,
        LineEffect.POSTED,
    )
    assert (second.effective_date, second.effect) == (NOW.date(), LineEffect.PENDING)
    assert second.expires_at == NOW + timedelta(seconds=60)


def test_an_expiry_without_a_hold_names_its_entry() -> None:
    request = _batch(_entry(), _entry(timeout_seconds=60))
    with pytest.raises(ValidationError) as excinfo:
        batches.parse_linked_entries(request, now=NOW)
    assert_rejected(excinfo, ValidationError, "expiry_without_pending", "entries.1.timeout_seconds")


def test_one_entry_id_twice_is_refused_at_the_second() -> None:
    with pytest.raises(ValidationError) as excinfo:
        batches.check_linked_batch(["e-1", None, "e-2", "e-1"], [7, 7, 7, 7], max_writes=450)
    assert_rejected(excinfo, ValidationError, "duplicate_entry_id", "entries.3.entry_id")


def test_a_batch_beyond_one_transactions_writes_is_refused() -> None:
    batches.check_linked_batch([None] * 4, [103, 103, 103, 103], max_writes=450)
    with pytest.raises(ValidationError) as excinfo:
        batches.check_linked_batch([None] * 5, [103] * 5, max_writes=450)
    assert_rejected(excinfo, ValidationError, "batch_too_large", "entries")
    assert excinfo.value.extra == {"writes": 515, "max_writes": 450}


def test_the_request_bounds_the_number_of_entries() -> None:
    for entries, code in (([], "too_short"), ([_entry()] * (MAX_LINKED_ENTRIES + 1), "too_long")):
        with pytest.raises(ValidationError) as excinfo:
            parse_request(PostLinkedEntriesRequest, {"entries": entries})
        assert [(e.field, e.code) for e in excinfo.value.errors] == [("entries", code)]
    assert len(_batch(*[_entry()] * MAX_LINKED_ENTRIES).entries) == MAX_LINKED_ENTRIES


def test_an_entry_field_error_of_the_body_names_its_index() -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_request(PostLinkedEntriesRequest, {"entries": [_entry(), _entry(amount=5)]})
    assert [e.field for e in excinfo.value.errors] == [
        "entries.1.lines.0.amount",
        "entries.1.lines.1.amount",
    ]


# -- all or none ---------------------------------------------------------------------------


@pytest.mark.parametrize("found", [[True, True, True], [False, False], [True], []])
def test_a_batch_exists_whole_or_not_at_all(found: list[bool]) -> None:
    batches.check_all_or_none(found)


def test_a_batch_that_partly_exists_is_refused_at_the_first_difference() -> None:
    with pytest.raises(ConflictError) as excinfo:
        batches.check_all_or_none([False, False, True, False])
    assert_rejected(excinfo, ConflictError, "linked_batch_conflict", "entries.2.entry_id")


# -- postings in sequence -----------------------------------------------------------------


def _proposed(*specs: tuple[str, str, str]) -> list[domain.ProposedLine]:
    return domain.parse_lines(lines(*specs), None)


def test_balance_constraints_count_the_earlier_postings_of_the_transaction() -> None:
    balances = {"wallet": BalanceTotals(credits_posted=1000)}
    spend = _proposed(("wallet", "debit", "6.00"), ("cash", "credit", "6.00"))
    common: dict[str, Any] = {
        "effect": LineEffect.POSTED,
        "effective_date": NOW.date(),
        "closed_through": None,
        "accounts": ACCOUNTS,
        "balances": balances,
    }
    plan = batches.plan_posting(spend, **common)
    assert plan.deltas["wallet"] == BalanceTotals(debits_posted=600)
    assert balances == {"wallet": BalanceTotals(debits_posted=600, credits_posted=1000)}
    # Alone, the second spend of 6.00 would fit the 10.00; after the first it does not.
    with pytest.raises(BusinessRuleError) as excinfo:
        batches.plan_posting(spend, **common)
    assert_rejected(excinfo, BusinessRuleError, "balance_constraint_violated", "lines.0.account_id")
    assert balances == {"wallet": BalanceTotals(debits_posted=600, credits_posted=1000)}


def test_a_posting_dated_into_the_closed_period_is_refused() -> None:
    balances: dict[str, BalanceTotals] = {}
    with pytest.raises(BusinessRuleError) as excinfo:
        batches.plan_posting(
            _proposed(("cash", "debit", "1.00"), ("sales", "credit", "1.00")),
            effect=LineEffect.POSTED,
            effective_date=date(2025, 1, 31),
            closed_through=date(2025, 1, 31),
            accounts=ACCOUNTS,
            balances=balances,
        )
    assert_rejected(excinfo, BusinessRuleError, "period_closed", "effective_date")
    assert balances == {}


@pytest.mark.parametrize(
    "error",
    [
        BusinessRuleError("account x is frozen", code="account_frozen", errors=[]),
        ConflictError("taken", code="entry_id_conflict", extra={"id": "e"}),
        rejections.invalid("lines.1.amount", "must be greater than zero", "amount_not_positive"),
    ],
)
def test_an_entrys_refusal_becomes_the_batchs_naming_the_entry(error: AppError) -> None:
    located = batches.in_entry(error, 2)
    assert type(located) is type(error)
    assert (located.status, located.code) == (error.status, error.code)
    assert located.extra == {**error.extra, "entry_index": 2}
    assert located.detail.startswith("entry 2 of the batch: ")
    assert located.errors
    assert all(e.field.startswith("entries.2") for e in located.errors)
    if error.errors:
        assert [e.field for e in located.errors] == [f"entries.2.{e.field}" for e in error.errors]
    assert error.detail and not error.detail.startswith("entry 2")  # the original is intact


# -- in the group commit's queue -------------------------------------------------------------


def test_a_command_weighing_the_whole_budget_commits_alone_in_its_turn() -> None:
    """A linked batch queues with postings at the weight of the whole write budget."""
    recorder = Recorder()
    committer: GroupCommitter[int, int] = GroupCommitter(
        recorder, max_weight=450, weight=lambda c: 450 if c >= 1000 else 7
    )
    commands = [2, 4, 1000, 6, 8, 1002, 10, 12, 14, 16]
    results = submit_all(committer, commands)
    assert results == {c: c * 10 for c in commands}
    linked = [batch for batch in recorder.batches if any(c >= 1000 for c in batch)]
    assert sorted(linked) == [[1000], [1002]]
    assert sorted(c for batch in recorder.batches for c in batch) == sorted(commands)
