"""Journal entry rules: every rejection by class, code and field; what a valid entry does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import AppError, BusinessRuleError, ValidationError
from shared.ledger import domain
from shared.ledger.model import (
    AccountStatus,
    AccountType,
    BalanceConstraint,
    BalanceTotals,
    Line,
    LineEffect,
    Side,
)
from tests.unit.ledger.support import NOW, account, assert_rejected, entry_request, lines

ACCOUNTS = {
    "cash": account("cash"),
    "sales": account("sales", type=AccountType.REVENUE),
    "usd": account("usd", currency="USD"),
    "usd-sales": account("usd-sales", type=AccountType.REVENUE, currency="USD"),
    "yen": account("yen", currency="JPY"),
    "yen-sales": account("yen-sales", type=AccountType.REVENUE, currency="JPY"),
    "kwd": account("kwd", currency="KWD"),
    "kwd-sales": account("kwd-sales", type=AccountType.REVENUE, currency="KWD"),
    "closed": account("closed", status=AccountStatus.CLOSED),
    "frozen": account("frozen", status=AccountStatus.FROZEN),
    "wallet": account(
        "wallet",
        type=AccountType.LIABILITY,
        constraint=BalanceConstraint.DEBITS_MUST_NOT_EXCEED_CREDITS,
    ),
    "credit-limit": account(
        "credit-limit", constraint=BalanceConstraint.CREDITS_MUST_NOT_EXCEED_DEBITS
    ),
}


def plan(
    *specs: tuple[str, ...], currency: str | None = None, balances=None, effect=LineEffect.POSTED
):  # type: ignore[no-untyped-def]
    proposed = domain.parse_lines(lines(*specs), currency)  # type: ignore[arg-type]
    return domain.plan_entry(proposed, ACCOUNTS, balances or {}, effect=effect)


def rejected(*specs: tuple[str, ...], **kwargs) -> pytest.ExceptionInfo[AppError]:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError) as excinfo:
        plan(*specs, **kwargs)
    return excinfo


# -- accepted entries --------------------------------------------------------------------


def test_a_balanced_entry_yields_exact_minor_unit_lines_and_deltas() -> None:
    result = plan(("cash", "debit", "12.34"), ("sales", "credit", "12.34"))
    assert result.lines == (
        Line("cash", Side.DEBIT, 1234, "EUR"),
        Line("sales", Side.CREDIT, 1234, "EUR"),
    )
    assert result.deltas == {
        "cash": BalanceTotals(debits_posted=1234),
        "sales": BalanceTotals(credits_posted=1234),
    }


def test_a_multi_line_entry_balances_per_currency() -> None:
    result = plan(
        ("cash", "debit", "10.00"),
        ("sales", "credit", "7.50"),
        ("sales", "credit", "2.50"),
        ("usd", "debit", "3.00"),
        ("usd-sales", "credit", "3.00"),
    )
    assert result.deltas["sales"] == BalanceTotals(credits_posted=1000)
    assert result.deltas["usd"] == BalanceTotals(debits_posted=300)


def test_pending_lines_move_pending_columns_only() -> None:
    result = plan(("cash", "debit", "5"), ("sales", "credit", "5"), effect=LineEffect.PENDING)
    assert result.deltas == {
        "cash": BalanceTotals(debits_pending=500),
        "sales": BalanceTotals(credits_pending=500),
    }


@pytest.mark.parametrize(
    ("debit", "credit", "minor"),
    [("yen", "yen-sales", 1500), ("kwd", "kwd-sales", 1500)],
)
def test_minor_units_follow_the_currency(debit: str, credit: str, minor: int) -> None:
    amount = "1500" if debit == "yen" else "1.500"
    result = plan((debit, "debit", amount), (credit, "credit", amount))
    assert result.lines[0].amount_minor == minor


def test_stated_currencies_that_match_are_accepted() -> None:
    result = plan(("cash", "debit", "1.00", "EUR"), ("sales", "credit", "1.00"), currency="EUR")
    assert len(result.lines) == 2


# -- rejections --------------------------------------------------------------------------


def test_fewer_than_two_lines() -> None:
    excinfo = rejected(("cash", "debit", "1.00"))
    assert_rejected(excinfo, ValidationError, "too_few_lines", "lines")


def test_no_lines_at_all() -> None:
    with pytest.raises(ValidationError) as excinfo:
        domain.parse_lines([], None)
    assert_rejected(excinfo, ValidationError, "too_few_lines", "lines")  # type: ignore[arg-type]


def test_too_many_lines() -> None:
    many = [("cash", "debit", "1.00")] * (domain.MAX_LINES + 1)
    excinfo = rejected(*many)
    assert_rejected(excinfo, ValidationError, "too_many_lines", "lines")


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00"])
def test_an_amount_that_is_not_positive(amount: str) -> None:
    excinfo = rejected(
        ("cash", "debit", "1.00"), ("sales", "credit", "1.00"), ("cash", "debit", amount)
    )
    assert_rejected(excinfo, ValidationError, "amount_not_positive", "lines.2.amount")


@pytest.mark.parametrize("amount", ["1e3", "1.", ".5", "one", "1,00", " 1.00", "NaN", "Infinity"])
def test_an_amount_that_is_not_a_decimal_string(amount: str) -> None:
    excinfo = rejected(("cash", "debit", amount), ("sales", "credit", "1.00"))
    assert_rejected(excinfo, ValidationError, "invalid_amount", "lines.0.amount")


@pytest.mark.parametrize(
    ("debit", "credit", "amount"),
    [
        ("cash", "sales", "1.001"),
        ("yen", "yen-sales", "1.5"),
        ("kwd", "kwd-sales", "1.0001"),
        ("cash", "sales", "1.000"),
    ],
)
def test_more_decimals_than_the_currency_allows(debit: str, credit: str, amount: str) -> None:
    excinfo = rejected((debit, "debit", amount), (credit, "credit", amount))
    assert_rejected(excinfo, ValidationError, "too_many_decimals", "lines.0.amount")
    assert [e.field for e in excinfo.value.errors] == ["lines.0.amount", "lines.1.amount"]


def test_an_amount_beyond_the_line_cap() -> None:
    excinfo = rejected(
        ("cash", "debit", "10000000000000.01"), ("sales", "credit", "10000000000000.01")
    )
    assert_rejected(excinfo, ValidationError, "amount_too_large", "lines.0.amount")


def test_every_shape_problem_is_reported_at_once() -> None:
    excinfo = rejected(("cash", "debit", "0"), ("sales", "credit", "x"), ("cash", "debit", "-2"))
    assert excinfo.value.code == "amount_not_positive"
    assert [(e.field, e.code) for e in excinfo.value.errors] == [
        ("lines.0.amount", "amount_not_positive"),
        ("lines.1.amount", "invalid_amount"),
        ("lines.2.amount", "amount_not_positive"),
    ]


def test_an_unknown_stated_currency() -> None:
    excinfo = rejected(("cash", "debit", "1.00", "EUE"), ("sales", "credit", "1.00"))
    assert_rejected(excinfo, ValidationError, "unknown_currency", "lines.0.currency")


def test_an_unknown_entry_currency() -> None:
    excinfo = rejected(("cash", "debit", "1.00"), ("sales", "credit", "1.00"), currency="XXX")
    assert_rejected(excinfo, ValidationError, "unknown_currency", "currency")


def test_a_missing_account() -> None:
    excinfo = rejected(("cash", "debit", "1.00"), ("nope", "credit", "1.00"))
    assert_rejected(excinfo, BusinessRuleError, "account_not_found", "lines.1.account_id")


def test_a_closed_account() -> None:
    excinfo = rejected(("closed", "debit", "1.00"), ("sales", "credit", "1.00"))
    assert_rejected(excinfo, BusinessRuleError, "account_closed", "lines.0.account_id")


def test_a_frozen_account() -> None:
    excinfo = rejected(("cash", "debit", "1.00"), ("frozen", "credit", "1.00"))
    assert_rejected(excinfo, BusinessRuleError, "account_frozen", "lines.1.account_id")


def test_a_line_currency_other_than_its_accounts() -> None:
    excinfo = rejected(("cash", "debit", "1.00"), ("sales", "credit", "1.00", "USD"))
    assert_rejected(excinfo, BusinessRuleError, "currency_mismatch", "lines.1.currency")


def test_an_entry_currency_other_than_an_accounts() -> None:
    excinfo = rejected(("usd", "debit", "1.00"), ("usd-sales", "credit", "1.00"), currency="EUR")
    assert_rejected(excinfo, BusinessRuleError, "currency_mismatch", "currency")


def test_debits_and_credits_that_differ() -> None:
    excinfo = rejected(("cash", "debit", "10.00"), ("sales", "credit", "9.99"))
    assert_rejected(excinfo, BusinessRuleError, "entry_unbalanced", "lines")
    assert excinfo.value.extra["unbalanced"] == [
        {"currency": "EUR", "debits": "10.00", "credits": "9.99"}
    ]


def test_balance_across_currencies_does_not_count() -> None:
    # 1 EUR debit against 1 USD credit is two unbalanced currencies, not a balanced entry.
    excinfo = rejected(("cash", "debit", "1.00"), ("usd-sales", "credit", "1.00"))
    assert_rejected(excinfo, BusinessRuleError, "entry_unbalanced", "lines")
    assert [u["currency"] for u in excinfo.value.extra["unbalanced"]] == ["EUR", "USD"]


def test_debits_must_not_exceed_credits() -> None:
    balances = {"wallet": BalanceTotals(credits_posted=500)}
    accepted = plan(("wallet", "debit", "5.00"), ("sales", "credit", "5.00"), balances=balances)
    assert accepted.deltas["wallet"] == BalanceTotals(debits_posted=500)
    excinfo = rejected(
        ("sales", "debit", "5.01"),
        ("wallet", "debit", "5.01"),
        ("cash", "credit", "10.02"),
        balances=balances,
    )
    assert_rejected(excinfo, BusinessRuleError, "balance_constraint_violated", "lines.1.account_id")
    assert excinfo.value.extra["shortfall"] == "0.01"


def test_pending_debits_count_against_the_limit() -> None:
    # 3.00 already reserved by a hold leaves 2.00 of the 5.00 credited.
    balances = {"wallet": BalanceTotals(credits_posted=500, debits_pending=300)}
    plan(("wallet", "debit", "2.00"), ("sales", "credit", "2.00"), balances=balances)
    excinfo = rejected(("wallet", "debit", "2.01"), ("sales", "credit", "2.01"), balances=balances)
    assert_rejected(excinfo, BusinessRuleError, "balance_constraint_violated", "lines.0.account_id")


def test_pending_credits_do_not_lift_the_limit() -> None:
    balances = {"wallet": BalanceTotals(credits_pending=10_000)}
    excinfo = rejected(("wallet", "debit", "0.01"), ("sales", "credit", "0.01"), balances=balances)
    assert_rejected(excinfo, BusinessRuleError, "balance_constraint_violated", "lines.0.account_id")


def test_a_hold_on_a_constrained_account_reserves_against_the_limit() -> None:
    balances = {"wallet": BalanceTotals(credits_posted=100)}
    excinfo = rejected(
        ("wallet", "debit", "1.01"),
        ("sales", "credit", "1.01"),
        balances=balances,
        effect=LineEffect.PENDING,
    )
    assert_rejected(excinfo, BusinessRuleError, "balance_constraint_violated", "lines.0.account_id")


def test_credits_must_not_exceed_debits() -> None:
    balances = {"credit-limit": BalanceTotals(debits_posted=100)}
    plan(("sales", "debit", "1.00"), ("credit-limit", "credit", "1.00"), balances=balances)
    excinfo = rejected(
        ("sales", "debit", "1.01"), ("credit-limit", "credit", "1.01"), balances=balances
    )
    assert_rejected(excinfo, BusinessRuleError, "balance_constraint_violated", "lines.1.account_id")


def test_the_same_constrained_account_on_both_sides_nets_out() -> None:
    result = plan(
        ("wallet", "credit", "4.00"),
        ("wallet", "debit", "4.00"),
        ("cash", "debit", "1"),
        ("sales", "credit", "1"),
    )
    assert result.deltas["wallet"] == BalanceTotals(debits_posted=400, credits_posted=400)


def test_a_missing_account_is_reported_before_balancing() -> None:
    # The order of checks is stable: accounts, then decimals, then balance, then constraints.
    excinfo = rejected(("nope", "debit", "1.00"), ("sales", "credit", "2.00"))
    assert excinfo.value.code == "account_not_found"


# -- hold expiry ---------------------------------------------------------------------------


def test_a_posted_entry_takes_no_expiry() -> None:
    with pytest.raises(ValidationError) as excinfo:
        domain.hold_expiry(entry_request(lines=[], timeout_seconds=60), now=NOW)
    assert_rejected(excinfo, ValidationError, "expiry_without_pending", "timeout_seconds")  # type: ignore[arg-type]


def test_expiry_from_a_timeout_a_date_or_the_default() -> None:
    assert domain.hold_expiry(
        entry_request(lines=[], pending=True, timeout_seconds=90), now=NOW
    ) == NOW + timedelta(seconds=90)
    later = (NOW + timedelta(days=1)).isoformat()
    assert domain.hold_expiry(
        entry_request(lines=[], pending=True, expires_at=later), now=NOW
    ) == NOW + timedelta(days=1)
    assert (
        domain.hold_expiry(entry_request(lines=[], pending=True), now=NOW)
        == NOW + domain.DEFAULT_HOLD_TIMEOUT
    )


def test_expiry_in_the_past_or_given_twice() -> None:
    with pytest.raises(ValidationError) as excinfo:
        domain.hold_expiry(
            entry_request(lines=[], pending=True, expires_at=NOW.isoformat()), now=NOW
        )
    assert_rejected(excinfo, ValidationError, "expires_at_in_past", "expires_at")  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as excinfo:
        domain.hold_expiry(
            entry_request(lines=[], pending=True, expires_at=NOW.isoformat(), timeout_seconds=5),
            now=NOW,
        )
    assert_rejected(excinfo, ValidationError, "conflicting_expiry", "timeout_seconds")  # type: ignore[arg-type]


def test_an_expiry_without_a_timezone() -> None:
    with pytest.raises(ValidationError) as excinfo:
        domain.hold_expiry(
            entry_request(lines=[], pending=True, expires_at="2030-01-01T00:00:00"), now=NOW
        )
    assert_rejected(excinfo, ValidationError, "bad_format", "expires_at")  # type: ignore[arg-type]


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00-01:00"])
def test_an_expiry_without_a_utc_form_is_refused_on_its_field(instant: str) -> None:
    # Later than now, but with no UTC form: storing the expiry raised OverflowError (a 500).
    with pytest.raises(ValidationError) as excinfo:
        domain.hold_expiry(entry_request(lines=[], pending=True, expires_at=instant), now=NOW)
    (problem,) = excinfo.value.errors
    assert problem.field == "expires_at"
    assert "range of instants" in problem.message
