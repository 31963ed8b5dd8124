"""The rules of two-phase holds: the hold state machine, releasing, and posting a hold.

Separate from the entry rules (:mod:`shared.ledger.domain`), which plan new entries:
these decide what happens to a hold already recorded (post, void, expire). Used by
the holds use cases (:mod:`shared.ledger.holds`). Pure: no I/O, no clock, no
randomness; the codes are listed in :mod:`shared.ledger.domain`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from shared.errors import BusinessRuleError, ConflictError, FieldError
from shared.ledger.amounts import parse_decimal, parse_positive, to_minor
from shared.ledger.domain import EntryPlan, check_balanced
from shared.ledger.model import (
    Account,
    AccountStatus,
    BalanceTotals,
    Entry,
    EntryKind,
    EntryStatus,
    Line,
    LineEffect,
    money_json,
)
from shared.ledger.rejections import invalid, raise_all, rule_violation
from shared.ledger.requests import PostPendingRequest


class HoldAction(StrEnum):
    POST = "post"
    VOID = "void"
    EXPIRE = "expire"


# The hold state machine: only a pending hold moves, and each action has one target.
HOLD_TRANSITIONS: dict[EntryStatus, dict[HoldAction, EntryStatus]] = {
    EntryStatus.PENDING: {
        HoldAction.POST: EntryStatus.POSTED,
        HoldAction.VOID: EntryStatus.VOIDED,
        HoldAction.EXPIRE: EntryStatus.EXPIRED,
    },
    EntryStatus.POSTED: {},
    EntryStatus.VOIDED: {},
    EntryStatus.EXPIRED: {},
}


def transition_hold(entry: Entry, action: HoldAction, *, now: datetime) -> EntryStatus:
    """The status ``action`` moves the hold to, or the rule that forbids it.

    A hold past its ``expires_at`` can no longer be posted or voided (TigerBeetle's
    ``pending_transfer_expired``): only expiry releases it, so the outcome of a
    late capture never depends on when the expiry job last ran.
    """
    if entry.kind is not EntryKind.PENDING:
        raise rule_violation(
            "entry_not_pending", "entry_id", f"entry {entry.id} is not a pending entry"
        )
    target = HOLD_TRANSITIONS[entry.status].get(action)
    if target is None:
        code = f"hold_already_{entry.status.value}"
        raise ConflictError(
            f"hold {entry.id} is already {entry.status.value}",
            code=code,
            errors=[FieldError("entry_id", f"hold is {entry.status.value}", code)],
            extra={"status": entry.status.value},
        )
    expired = entry.expires_at is not None and now >= entry.expires_at
    if action is HoldAction.EXPIRE:
        if entry.expires_at is None:
            raise rule_violation("hold_has_no_expiry", "entry_id", f"hold {entry.id} never expires")
        if not expired:
            raise rule_violation(
                "hold_not_expired", "entry_id", f"hold {entry.id} has not expired yet"
            )
    elif expired:
        raise rule_violation(
            "hold_expired", "entry_id", f"hold {entry.id} expired; it can only expire"
        )
    return target


def release_deltas(hold: Entry) -> dict[str, BalanceTotals]:
    """Undo what a hold reserved: minus its pending amounts on each account."""
    deltas: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
    for line in hold.lines:
        deltas[line.account_id] -= BalanceTotals.of_line(
            line.side, line.amount_minor, LineEffect.PENDING
        )
    return dict(deltas)


def plan_hold_posting(
    hold: Entry, request: PostPendingRequest, accounts: Mapping[str, Account | None]
) -> EntryPlan:
    """The posted part of a hold: all of it, one amount (two-line holds), or per line.

    Posted amounts may not exceed what each line reserved; what is not posted is
    released. The posted accounts must still accept postings (not frozen). Balance
    constraints cannot break here: the hold already counted against them in full.
    """
    amounts = _posting_amounts(hold, request)
    lines = []
    for index, (line, minor) in enumerate(zip(hold.lines, amounts, strict=True)):
        account = accounts.get(line.account_id)
        field = f"lines.{index}.account_id"
        if account is None:
            raise rule_violation("account_not_found", field, f"no account {line.account_id!r}")
        if account.status is AccountStatus.FROZEN:
            raise rule_violation("account_frozen", field, f"account {account.id} is frozen")
        if account.status is AccountStatus.CLOSED:
            raise rule_violation("account_closed", field, f"account {account.id} is closed")
        if minor:
            lines.append(Line(line.account_id, line.side, minor, line.currency))
    field = "amount" if request.amount is not None else "line_amounts"
    check_balanced(lines, field)
    deltas: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
    for line in lines:
        deltas[line.account_id] += BalanceTotals.of_line(
            line.side, line.amount_minor, LineEffect.POSTED
        )
    return EntryPlan(tuple(lines), dict(deltas), LineEffect.POSTED)


def _posting_amounts(hold: Entry, request: PostPendingRequest) -> list[int]:
    if request.amount is not None and request.line_amounts is not None:
        raise invalid(
            "line_amounts", "give amount or line_amounts, not both", "conflicting_amounts"
        )
    if request.amount is None and request.line_amounts is None:
        return [line.amount_minor for line in hold.lines]
    problems: list[FieldError] = []
    if request.amount is not None:
        sides = sorted(line.side.value for line in hold.lines)
        if len(hold.lines) != 2 or sides != ["credit", "debit"]:
            raise invalid(
                "amount",
                "a single amount only posts a two-line hold; give line_amounts",
                "amount_requires_two_line_hold",
            )
        currency = hold.lines[0].currency
        amount = parse_positive(request.amount, "amount", problems)
        minor = None if amount is None else to_minor(amount, currency, "amount", problems)
        raise_all(problems)
        assert minor is not None
        if minor > hold.lines[0].amount_minor:
            raise _exceeds("amount", minor, hold.lines[0].amount_minor, currency)
        return [minor, minor]
    assert request.line_amounts is not None
    if len(request.line_amounts) != len(hold.lines):
        raise invalid(
            "line_amounts",
            f"give one amount per hold line ({len(hold.lines)})",
            "line_amounts_length",
        )
    amounts: list[int] = []
    for index, (text, line) in enumerate(zip(request.line_amounts, hold.lines, strict=True)):
        field = f"line_amounts.{index}"
        amount = parse_decimal(text, field, problems)
        if amount is not None and amount < 0:
            problems.append(FieldError(field, "must not be negative", "amount_not_positive"))
            continue
        minor = None if amount is None else to_minor(amount, line.currency, field, problems)
        amounts.append(minor or 0)
    raise_all(problems)
    if not any(amounts):
        raise invalid(
            "line_amounts", "nothing to post; void the hold instead", "amount_not_positive"
        )
    for index, (minor, line) in enumerate(zip(amounts, hold.lines, strict=True)):
        if minor > line.amount_minor:
            raise _exceeds(f"line_amounts.{index}", minor, line.amount_minor, line.currency)
    return amounts


def _exceeds(field: str, minor: int, pending: int, currency: str) -> BusinessRuleError:
    return BusinessRuleError(
        f"{money_json(minor, currency)} exceeds the pending {money_json(pending, currency)}",
        code="amount_exceeds_pending",
        errors=[FieldError(field, "exceeds the pending amount", "amount_exceeds_pending")],
    )
