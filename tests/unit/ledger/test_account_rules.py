"""Account rules: creation, the status state machine, immutability, closing at zero."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.errors import AppError, BusinessRuleError, ValidationError
from shared.ledger import account_rules
from shared.ledger.model import (
    AccountStatus,
    AccountType,
    BalanceConstraint,
    Balances,
    BalanceTotals,
    Side,
)
from shared.ledger.requests import CreateAccountRequest, UpdateAccountRequest, parse_request
from tests.unit.ledger.support import NOW, account, assert_rejected

LATER = NOW + timedelta(minutes=5)


def create(**fields: Any) -> CreateAccountRequest:
    return parse_request(
        CreateAccountRequest,
        {"code": "1000", "name": "Cash", "type": "asset", "currency": "EUR", **fields},
    )


def update(
    target: Any,
    totals: BalanceTotals | None = None,
    *,
    has_postings: bool = False,
    **fields: Any,
) -> account_rules.AccountUpdate:
    return account_rules.update_account(
        target,
        parse_request(UpdateAccountRequest, fields),
        totals or BalanceTotals(),
        has_postings=has_postings,
        now=LATER,
    )


def test_a_new_account_is_active_with_default_shards() -> None:
    created = account_rules.new_account(create(), account_id="acc_1", now=NOW)
    assert created.status is AccountStatus.ACTIVE
    assert created.balance_shards == account_rules.DEFAULT_SHARDS
    assert created.normal_side is Side.DEBIT
    assert created.to_json()["normal_side"] == "debit"


def test_a_constrained_account_keeps_one_shard() -> None:
    created = account_rules.new_account(
        create(balance_constraint="debits_must_not_exceed_credits"), account_id="a", now=NOW
    )
    assert created.balance_shards == 1
    assert created.balance_constraint is BalanceConstraint.DEBITS_MUST_NOT_EXCEED_CREDITS


def test_a_constrained_account_refuses_shards() -> None:
    with pytest.raises(ValidationError) as excinfo:
        account_rules.new_account(
            create(balance_constraint="credits_must_not_exceed_debits", balance_shards=4),
            account_id="a",
            now=NOW,
        )
    assert_rejected(excinfo, ValidationError, "constrained_account_sharded", "balance_shards")  # type: ignore[arg-type]


def test_an_unknown_currency() -> None:
    with pytest.raises(ValidationError) as excinfo:
        account_rules.new_account(create(currency="EUE"), account_id="a", now=NOW)
    assert_rejected(excinfo, ValidationError, "unknown_currency", "currency")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("code", "has space", "bad_format"),
        ("code", "a/b", "bad_format"),
        ("type", "cash", "not_allowed"),
        ("currency", "eur", "bad_format"),
        ("balance_shards", 0, "out_of_range"),
        ("balance_shards", 65, "out_of_range"),
        ("name", "", "too_short"),
        ("colour", "red", "unknown_field"),
    ],
)
def test_request_shapes(field: str, value: Any, code: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        create(**{field: value})
    assert [(e.field, e.code) for e in excinfo.value.errors] == [(field, code)]


def test_normal_sides_and_the_sign_convention() -> None:
    normal = {t: t.normal_side for t in AccountType}
    assert normal == {
        AccountType.ASSET: Side.DEBIT,
        AccountType.EXPENSE: Side.DEBIT,
        AccountType.LIABILITY: Side.CREDIT,
        AccountType.EQUITY: Side.CREDIT,
        AccountType.REVENUE: Side.CREDIT,
    }
    totals = BalanceTotals(
        debits_posted=1000, credits_posted=300, debits_pending=50, credits_pending=200
    )
    asset = Balances("EUR", Side.DEBIT, totals)
    assert (asset.posted, asset.available) == (700, 500)  # pending credits are reserved
    liability = Balances("EUR", Side.CREDIT, totals)
    assert (liability.posted, liability.available) == (-700, -750)  # pending debits reserved
    assert asset.to_json() == {
        "currency": "EUR",
        "normal_side": "debit",
        "posted": "7.00",
        "available": "5.00",
        "posted_debits": "10.00",
        "posted_credits": "3.00",
        "pending_debits": "0.50",
        "pending_credits": "2.00",
    }


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (AccountStatus.ACTIVE, AccountStatus.FROZEN),
        (AccountStatus.FROZEN, AccountStatus.ACTIVE),
        (AccountStatus.ACTIVE, AccountStatus.CLOSED),
        (AccountStatus.FROZEN, AccountStatus.CLOSED),
    ],
)
def test_allowed_status_transitions(start: AccountStatus, target: AccountStatus) -> None:
    result = update(account("a", status=start), status=target.value)
    assert result.account.status is target
    assert result.changes == {"status": {"from": start.value, "to": target.value}}
    assert result.account.version == 2
    assert result.account.updated_at == LATER


def test_a_closed_account_never_changes() -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        update(account("a", status=AccountStatus.CLOSED), status="active")
    assert_rejected(excinfo, BusinessRuleError, "account_closed", "status")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "totals",
    [
        BalanceTotals(debits_posted=1),
        BalanceTotals(debits_posted=5, credits_posted=4),
        BalanceTotals(debits_pending=1),
        BalanceTotals(credits_pending=1),
    ],
)
def test_closing_needs_zero_balances(totals: BalanceTotals) -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        update(account("a"), totals, status="closed")
    assert_rejected(excinfo, BusinessRuleError, "account_balance_not_zero", "status")  # type: ignore[arg-type]


def test_an_account_whose_activity_nets_to_zero_can_close() -> None:
    netted = BalanceTotals(debits_posted=500, credits_posted=500)
    assert update(account("a"), netted, status="closed").account.status is AccountStatus.CLOSED


def test_type_and_currency_change_only_before_the_first_posting() -> None:
    changed = update(account("a"), type="expense", currency="USD")
    assert (changed.account.type, changed.account.currency) == (AccountType.EXPENSE, "USD")
    for field, value in (("type", "expense"), ("currency", "USD")):
        with pytest.raises(BusinessRuleError) as excinfo:
            update(account("a"), has_postings=True, **{field: value})
        assert_rejected(excinfo, BusinessRuleError, "account_immutable_field", field)  # type: ignore[arg-type]


def test_restating_the_same_type_of_a_used_account_is_no_change() -> None:
    result = update(account("a"), has_postings=True, type="asset", currency="EUR")
    assert not result.changed


def test_an_empty_update() -> None:
    with pytest.raises(ValidationError) as excinfo:
        update(account("a"))
    assert_rejected(excinfo, ValidationError, "empty_update", "body")  # type: ignore[arg-type]


def test_shards_on_a_constrained_account() -> None:
    constrained = account("a", constraint=BalanceConstraint.DEBITS_MUST_NOT_EXCEED_CREDITS)
    with pytest.raises(ValidationError) as excinfo:
        update(constrained, balance_shards=2)
    assert_rejected(excinfo, ValidationError, "constrained_account_sharded", "balance_shards")  # type: ignore[arg-type]


def test_fewer_shards_keep_the_old_ones_in_the_balance() -> None:
    wide = update(account("a", shards=8), balance_shards=16).account
    assert wide.shard_span == 16
    narrow = account_rules.update_account(
        wide.with_changes(max_balance_shards=16),
        parse_request(UpdateAccountRequest, {"balance_shards": 2}),
        BalanceTotals(),
        has_postings=True,
        now=LATER,
    ).account
    assert (narrow.balance_shards, narrow.shard_span) == (2, 16)


def test_rename_and_metadata() -> None:
    result = update(account("a"), name="Bank", metadata={"iban": "DE00"})
    assert result.account.name == "Bank"
    assert result.account.metadata == {"iban": "DE00"}
    assert set(result.changes) == {"name", "metadata"}


def test_an_unknown_currency_on_update() -> None:
    with pytest.raises(AppError) as excinfo:
        update(account("a"), currency="ABC")
    assert_rejected(excinfo, ValidationError, "unknown_currency", "currency")
