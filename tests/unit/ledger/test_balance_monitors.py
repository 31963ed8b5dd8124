"""Balance monitors, the rules: conditions, crossings, and read-time ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ValidationError
from shared.ledger.model import Balances, BalanceTotals, Side
from shared.ledger.monitors import (
    MAX_MONITORS_PER_ACCOUNT,
    BalanceMonitor,
    MonitorCondition,
    MonitoredBalance,
    Operator,
    check_room,
    crossing,
    evaluate,
    monitor_from_document,
    monitor_to_document,
    parse_condition,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _balances(posted: int, pending_against: int = 0, side: Side = Side.DEBIT) -> Balances:
    """Balances of ``side``-normal account: ``posted`` signed per that side, and holds
    of ``pending_against`` on the other side."""
    normal, other = max(posted, 0), max(-posted, 0)
    if side is Side.DEBIT:
        totals = BalanceTotals(
            debits_posted=normal, credits_posted=other, credits_pending=pending_against
        )
    else:
        totals = BalanceTotals(
            credits_posted=normal, debits_posted=other, debits_pending=pending_against
        )
    return Balances("EUR", side, totals)


def _monitor(condition: MonitorCondition, *, met: bool = False) -> BalanceMonitor:
    return BalanceMonitor(
        id="mon_01",
        account_id="acc_1",
        currency="EUR",
        condition=condition,
        description=None,
        met=met,
        evaluated_at=T0,
        last_crossed_at=None,
        created_at=T0,
    )


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Operator.GT, 10_000, False),
        (Operator.GT, 10_001, True),
        (Operator.GTE, 10_000, True),
        (Operator.GTE, 9_999, False),
        (Operator.LT, 10_000, False),
        (Operator.LT, 9_999, True),
        (Operator.LTE, 10_000, True),
        (Operator.LTE, 10_001, False),
    ],
)
def test_each_operator_at_and_either_side_of_the_threshold(
    operator: Operator, value: int, expected: bool
) -> None:
    condition = MonitorCondition(MonitoredBalance.POSTED, operator, 10_000)
    assert condition.holds(_balances(value)) is expected


def test_available_counts_the_holds_against_the_account() -> None:
    condition = MonitorCondition(MonitoredBalance.AVAILABLE, Operator.LT, 50_000)
    assert condition.holds(_balances(60_000)) is False
    assert condition.holds(_balances(60_000, pending_against=15_000)) is True
    # A credit-normal account: balances are signed per its normal side.
    assert condition.holds(_balances(60_000, pending_against=15_000, side=Side.CREDIT)) is True


def test_negative_thresholds_watch_an_overdraft() -> None:
    condition = parse_condition(balance="posted", operator="lt", amount="-100.00", currency="EUR")
    assert condition.amount_minor == -10_000
    assert condition.holds(_balances(-10_001)) is True
    assert condition.holds(_balances(-10_000)) is False


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("10.001", "EUR"), ("10.5", "JPY"), ("1e3", "EUR"), ("", "EUR"), ("--1", "EUR")],
)
def test_a_threshold_must_fit_the_accounts_currency(amount: str, currency: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_condition(balance="posted", operator="gt", amount=amount, currency=currency)
    assert refused.value.errors[0].field == "condition.amount"
    assert refused.value.errors[0].code == "invalid_amount"


def test_three_decimal_currencies_are_exact() -> None:
    condition = parse_condition(balance="posted", operator="gte", amount="1.005", currency="KWD")
    assert condition.amount_minor == 1005


def test_an_account_holds_a_bounded_number_of_monitors() -> None:
    check_room(MAX_MONITORS_PER_ACCOUNT - 1)
    with pytest.raises(ValidationError) as refused:
        check_room(MAX_MONITORS_PER_ACCOUNT)
    assert refused.value.errors[0].code == "too_many_monitors"


def test_crossings_are_changes_of_side_only() -> None:
    assert crossing(False, True) == "triggered"
    assert crossing(True, False) == "cleared"
    assert crossing(True, True) is None
    assert crossing(False, False) is None


def test_an_evaluation_of_an_older_read_is_ignored() -> None:
    monitor = _monitor(MonitorCondition(MonitoredBalance.POSTED, Operator.GTE, 100))
    assert evaluate(monitor, _balances(500), T0) is None
    assert evaluate(monitor, _balances(500), T0 - timedelta(seconds=1)) is None


def test_a_newer_read_across_the_threshold_triggers_and_then_clears() -> None:
    monitor = _monitor(MonitorCondition(MonitoredBalance.POSTED, Operator.GTE, 100))
    later = T0 + timedelta(seconds=5)
    outcome = evaluate(monitor, _balances(150), later)
    assert outcome is not None
    triggered, crossed = outcome
    assert crossed == "triggered"
    assert triggered.met is True
    assert triggered.last_crossed_at == later
    assert triggered.evaluated_at == later
    again = evaluate(triggered, _balances(170), later + timedelta(seconds=1))
    assert again is not None and again[1] is None
    outcome = evaluate(triggered, _balances(99), later + timedelta(seconds=2))
    assert outcome is not None and outcome[1] == "cleared"


def test_a_stored_monitor_reads_back_the_same_even_past_a_firestore_integer() -> None:
    huge = 2**70
    monitor = _monitor(MonitorCondition(MonitoredBalance.AVAILABLE, Operator.LTE, huge), met=True)
    document = monitor_to_document(monitor)
    assert document["amount_minor"] == str(huge)
    assert monitor_from_document("mon_01", document) == monitor
