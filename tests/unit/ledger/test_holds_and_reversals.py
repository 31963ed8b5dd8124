"""Two-phase holds (state machine, partial posting) and reversal rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.errors import BusinessRuleError, ConflictError, ValidationError
from shared.ledger import domain, hold_rules
from shared.ledger.hold_rules import HoldAction
from shared.ledger.model import (
    AccountStatus,
    BalanceTotals,
    EntryKind,
    EntryStatus,
    Line,
    LineEffect,
    Side,
    line_effect,
)
from shared.ledger.requests import PostPendingRequest, parse_request
from tests.unit.ledger.support import NOW, account, assert_rejected, hold, posted_entry

ACCOUNTS = {"a": account("a"), "b": account("b"), "c": account("c"), "d": account("d")}


def posting(target: Any, **fields: Any) -> domain.EntryPlan:
    request = parse_request(PostPendingRequest, fields)
    return hold_rules.plan_hold_posting(target, request, ACCOUNTS)


# -- the state machine ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "target"),
    [
        (HoldAction.POST, EntryStatus.POSTED),
        (HoldAction.VOID, EntryStatus.VOIDED),
    ],
)
def test_a_pending_hold_can_be_posted_or_voided(action: HoldAction, target: EntryStatus) -> None:
    assert hold_rules.transition_hold(hold(), action, now=NOW) is target


def test_an_expired_hold_can_only_expire() -> None:
    expired = hold(expires_at=NOW)
    assert hold_rules.transition_hold(expired, HoldAction.EXPIRE, now=NOW) is EntryStatus.EXPIRED
    for action in (HoldAction.POST, HoldAction.VOID):
        with pytest.raises(BusinessRuleError) as excinfo:
            hold_rules.transition_hold(expired, action, now=NOW)
        assert_rejected(excinfo, BusinessRuleError, "hold_expired", "entry_id")  # type: ignore[arg-type]


def test_a_hold_does_not_expire_early_or_without_a_timeout() -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        hold_rules.transition_hold(
            hold(expires_at=NOW + timedelta(seconds=1)), HoldAction.EXPIRE, now=NOW
        )
    assert_rejected(excinfo, BusinessRuleError, "hold_not_expired", "entry_id")  # type: ignore[arg-type]
    with pytest.raises(BusinessRuleError) as excinfo:
        hold_rules.transition_hold(hold(), HoldAction.EXPIRE, now=NOW)
    assert_rejected(excinfo, BusinessRuleError, "hold_has_no_expiry", "entry_id")  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [EntryStatus.POSTED, EntryStatus.VOIDED, EntryStatus.EXPIRED])
@pytest.mark.parametrize("action", list(HoldAction))
def test_a_resolved_hold_never_moves_again(status: EntryStatus, action: HoldAction) -> None:
    resolved = hold(status=status, expires_at=NOW - timedelta(days=1))
    with pytest.raises(ConflictError) as excinfo:
        hold_rules.transition_hold(resolved, action, now=NOW)
    code = f"hold_already_{status.value}"
    assert_rejected(excinfo, ConflictError, code, "entry_id")  # type: ignore[arg-type]
    assert excinfo.value.extra == {"status": status.value}


def test_only_pending_entries_are_holds() -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        hold_rules.transition_hold(posted_entry(), HoldAction.VOID, now=NOW)
    assert_rejected(excinfo, BusinessRuleError, "entry_not_pending", "entry_id")  # type: ignore[arg-type]


def test_the_transition_table_is_closed() -> None:
    # Every state is listed, and only pending has ways out, one per action.
    assert set(hold_rules.HOLD_TRANSITIONS) == set(EntryStatus)
    assert hold_rules.HOLD_TRANSITIONS[EntryStatus.PENDING] == {
        HoldAction.POST: EntryStatus.POSTED,
        HoldAction.VOID: EntryStatus.VOIDED,
        HoldAction.EXPIRE: EntryStatus.EXPIRED,
    }
    assert all(
        not moves
        for s, moves in hold_rules.HOLD_TRANSITIONS.items()
        if s is not EntryStatus.PENDING
    )


def test_line_effects_follow_kind_and_status() -> None:
    assert line_effect(EntryKind.PENDING, EntryStatus.PENDING) is LineEffect.PENDING
    for status in (EntryStatus.POSTED, EntryStatus.VOIDED, EntryStatus.EXPIRED):
        assert line_effect(EntryKind.PENDING, status) is LineEffect.NONE
    for kind in (EntryKind.STANDARD, EntryKind.HOLD_POSTING, EntryKind.REVERSAL):
        assert line_effect(kind, EntryStatus.POSTED) is LineEffect.POSTED


# -- posting a hold ---------------------------------------------------------------------


def test_a_full_post_posts_every_line() -> None:
    plan = posting(hold())
    assert plan.lines == (Line("a", Side.DEBIT, 1000, "EUR"), Line("b", Side.CREDIT, 1000, "EUR"))
    assert plan.deltas == {
        "a": BalanceTotals(debits_posted=1000),
        "b": BalanceTotals(credits_posted=1000),
    }


def test_a_partial_post_of_a_two_line_hold() -> None:
    plan = posting(hold(), amount="2.50")
    assert [line.amount_minor for line in plan.lines] == [250, 250]
    release = hold_rules.release_deltas(hold())
    assert release == {
        "a": BalanceTotals(debits_pending=-1000),
        "b": BalanceTotals(credits_pending=-1000),
    }


def test_per_line_amounts_for_a_multi_line_hold() -> None:
    three = hold(
        amounts=(("a", Side.DEBIT, 1000), ("b", Side.CREDIT, 600), ("c", Side.CREDIT, 400))
    )
    plan = posting(three, line_amounts=["5.00", "5.00", "0"])
    assert plan.lines == (Line("a", Side.DEBIT, 500, "EUR"), Line("b", Side.CREDIT, 500, "EUR"))


def test_a_partial_amount_above_what_was_reserved() -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        posting(hold(), amount="10.01")
    assert_rejected(excinfo, BusinessRuleError, "amount_exceeds_pending", "amount")  # type: ignore[arg-type]
    three = hold(
        amounts=(("a", Side.DEBIT, 1000), ("b", Side.CREDIT, 600), ("c", Side.CREDIT, 400))
    )
    with pytest.raises(BusinessRuleError) as excinfo:
        posting(three, line_amounts=["10.00", "6.01", "3.99"])
    assert_rejected(excinfo, BusinessRuleError, "amount_exceeds_pending", "line_amounts.1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"amount": "0"}, "amount_not_positive", "amount"),
        ({"amount": "-1"}, "amount_not_positive", "amount"),
        ({"amount": "1.001"}, "too_many_decimals", "amount"),
        ({"amount": "abc"}, "invalid_amount", "amount"),
        ({"amount": "1", "line_amounts": ["1", "1"]}, "conflicting_amounts", "line_amounts"),
        ({"line_amounts": ["1"]}, "line_amounts_length", "line_amounts"),
        ({"line_amounts": ["0", "0"]}, "amount_not_positive", "line_amounts"),
        ({"line_amounts": ["-1", "1"]}, "amount_not_positive", "line_amounts.0"),
        ({"line_amounts": ["1.5", "1.001"]}, "too_many_decimals", "line_amounts.1"),
    ],
)
def test_posting_amount_shapes(fields: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        posting(hold(), **fields)
    assert_rejected(excinfo, ValidationError, code, field)  # type: ignore[arg-type]


def test_per_line_amounts_must_balance() -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        posting(hold(), line_amounts=["5.00", "4.00"])
    assert_rejected(excinfo, BusinessRuleError, "entry_unbalanced", "line_amounts")  # type: ignore[arg-type]


def test_one_amount_needs_a_two_line_hold() -> None:
    three = hold(
        amounts=(("a", Side.DEBIT, 1000), ("b", Side.CREDIT, 600), ("c", Side.CREDIT, 400))
    )
    with pytest.raises(ValidationError) as excinfo:
        posting(three, amount="1.00")
    assert_rejected(excinfo, ValidationError, "amount_requires_two_line_hold", "amount")  # type: ignore[arg-type]


def test_posting_into_a_frozen_account() -> None:
    frozen = {**ACCOUNTS, "b": account("b", status=AccountStatus.FROZEN)}
    with pytest.raises(BusinessRuleError) as excinfo:
        hold_rules.plan_hold_posting(hold(), PostPendingRequest(), frozen)
    assert_rejected(excinfo, BusinessRuleError, "account_frozen", "lines.1.account_id")  # type: ignore[arg-type]


# -- reversals ----------------------------------------------------------------------------


def test_a_reversal_swaps_sides_and_keeps_amounts() -> None:
    proposed = domain.reversal_lines(posted_entry())
    assert [(p.account_id, p.side, p.amount, p.stated_currency) for p in proposed] == [
        ("a", Side.CREDIT, Decimal("5.00"), "EUR"),
        ("b", Side.DEBIT, Decimal("5.00"), "EUR"),
    ]
    plan = domain.plan_entry(proposed, ACCOUNTS, {}, effect=LineEffect.POSTED)
    net = dict(plan.deltas)
    for line in posted_entry().lines:
        net[line.account_id] += BalanceTotals.of_line(
            line.side, line.amount_minor, LineEffect.POSTED
        )
    # Original plus reversal: equal debits and credits on every account.
    assert all(t.debits_posted == t.credits_posted == 500 for t in net.values())


def test_a_hold_posting_can_be_reversed() -> None:
    assert len(domain.reversal_lines(posted_entry(kind=EntryKind.HOLD_POSTING))) == 2


def test_a_second_reversal_is_refused() -> None:
    with pytest.raises(ConflictError) as excinfo:
        domain.reversal_lines(posted_entry(reversed_by_entry_id="ent-9"))
    assert_rejected(excinfo, ConflictError, "entry_already_reversed", "entry_id")  # type: ignore[arg-type]


def test_a_reversal_of_a_reversal_is_refused() -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        domain.reversal_lines(posted_entry(kind=EntryKind.REVERSAL, reverses_entry_id="ent-0"))
    assert_rejected(excinfo, BusinessRuleError, "cannot_reverse_reversal", "entry_id")  # type: ignore[arg-type]


@pytest.mark.parametrize("status", list(EntryStatus))
def test_a_hold_is_not_reversed_whatever_its_state(status: EntryStatus) -> None:
    with pytest.raises(BusinessRuleError) as excinfo:
        domain.reversal_lines(hold(status=status))
    assert_rejected(excinfo, BusinessRuleError, "entry_not_posted", "entry_id")  # type: ignore[arg-type]


def test_a_reversal_into_a_closed_account_is_refused() -> None:
    closed = {**ACCOUNTS, "a": account("a", status=AccountStatus.CLOSED)}
    with pytest.raises(BusinessRuleError) as excinfo:
        domain.plan_entry(
            domain.reversal_lines(posted_entry()), closed, {}, effect=LineEffect.POSTED
        )
    assert_rejected(excinfo, BusinessRuleError, "account_closed", "lines.0.account_id")  # type: ignore[arg-type]
