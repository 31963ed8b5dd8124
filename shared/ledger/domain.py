"""The ledger's entry rules, as pure functions: no I/O, no clock, no randomness.

This module plans journal entries and reversals. The other rules live beside it, each
on what it decides: accounts in :mod:`shared.ledger.account_rules`, two-phase holds in
:mod:`shared.ledger.hold_rules`, accounting periods in :mod:`shared.ledger.period_rules`,
linked batches in :mod:`shared.ledger.batches`; amount parsing in
:mod:`shared.ledger.amounts` and the error builders in :mod:`shared.ledger.rejections`
serve all of them. The table below lists the codes of the entry, account and hold rules.

Every rejection is a :class:`~shared.errors.ValidationError` (the request is
malformed for its currency or shape) or a :class:`~shared.errors.BusinessRuleError`
/ :class:`~shared.errors.ConflictError` (the request is well formed but the
ledger's state refuses it), each with a stable ``code`` and a dotted ``field``:

===============================  ==================  ===============================
code                             class               field (example)
===============================  ==================  ===============================
too_few_lines                    ValidationError     ``lines``
too_many_lines                   ValidationError     ``lines``
invalid_amount                   ValidationError     ``lines.2.amount``
amount_not_positive              ValidationError     ``lines.2.amount``
too_many_decimals                ValidationError     ``lines.2.amount``
amount_too_large                 ValidationError     ``lines.2.amount``
unknown_currency                 ValidationError     ``lines.2.currency`` / ``currency``
account_not_found                BusinessRuleError   ``lines.2.account_id``
account_closed                   BusinessRuleError   ``lines.2.account_id``
account_frozen                   BusinessRuleError   ``lines.2.account_id``
currency_mismatch                BusinessRuleError   ``lines.2.currency``
entry_unbalanced                 BusinessRuleError   ``lines``
balance_constraint_violated      BusinessRuleError   ``lines.2.account_id``
expiry_without_pending           ValidationError     ``expires_at``
conflicting_expiry               ValidationError     ``timeout_seconds``
expires_at_in_past               ValidationError     ``expires_at``
conflicting_amounts              ValidationError     ``line_amounts``
amount_requires_two_line_hold    ValidationError     ``amount``
line_amounts_length              ValidationError     ``line_amounts``
amount_exceeds_pending           BusinessRuleError   ``line_amounts.1`` / ``amount``
entry_not_pending                BusinessRuleError   ``entry_id``
hold_already_posted              ConflictError       ``entry_id``
hold_already_voided              ConflictError       ``entry_id``
hold_already_expired             ConflictError       ``entry_id``
hold_expired                     BusinessRuleError   ``entry_id``
hold_not_expired                 BusinessRuleError   ``entry_id``
hold_has_no_expiry               BusinessRuleError   ``entry_id``
entry_not_posted                 BusinessRuleError   ``entry_id``
cannot_reverse_reversal          BusinessRuleError   ``entry_id``
entry_already_reversed           ConflictError       ``entry_id``
constrained_account_sharded      ValidationError     ``balance_shards``
account_immutable_field          BusinessRuleError   ``type`` / ``currency``
invalid_status_transition        BusinessRuleError   ``status``
account_balance_not_zero         BusinessRuleError   ``status``
empty_update                     ValidationError     ``body``
===============================  ==================  ===============================

Why a reversal of a reversal is refused: the original and its reversal already
net to zero; re-applying the original is a new business fact and is posted as a
new entry, which keeps every entry reversible at most once and the chain of
corrections one link long (an auditor reads original -> reversal, never a
ping-pong of reversals).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.errors import BusinessRuleError, ConflictError, FieldError
from shared.ledger.amounts import currency_problem, parse_positive, to_minor
from shared.ledger.model import (
    Account,
    AccountStatus,
    BalanceConstraint,
    BalanceTotals,
    Entry,
    EntryKind,
    Line,
    LineEffect,
    Side,
    money_json,
)
from shared.ledger.rejections import invalid, raise_all, rule_violation
from shared.ledger.requests import MAX_LINES, LineIn, PostEntryRequest

DEFAULT_HOLD_TIMEOUT = timedelta(days=7)


# -- journal entries -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposedLine:
    """One line as requested, before the accounts are known."""

    account_id: str
    side: Side
    amount: Decimal
    stated_currency: str | None
    currency_field: str  # where the stated currency came from, for error paths


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """A validated entry: its lines and what it does to each account's totals."""

    lines: tuple[Line, ...]
    deltas: dict[str, BalanceTotals]
    effect: LineEffect

    @property
    def account_ids(self) -> list[str]:
        return list(dict.fromkeys(line.account_id for line in self.lines))


def parse_lines(lines: Sequence[LineIn], entry_currency: str | None) -> list[ProposedLine]:
    """Shape rules that need no account: line count, amount syntax and sign, currencies.

    Every problem found is reported at once (one :class:`ValidationError` whose
    ``code`` is the first problem's); the line count is checked first and alone.
    """
    if len(lines) < 2:
        raise invalid("lines", "a journal entry needs at least two lines", "too_few_lines")
    if len(lines) > MAX_LINES:
        raise invalid("lines", f"a journal entry has at most {MAX_LINES} lines", "too_many_lines")
    problems: list[FieldError] = []
    if entry_currency is not None:
        problems.extend(currency_problem(entry_currency, "currency"))
    proposed: list[ProposedLine] = []
    for index, line in enumerate(lines):
        amount = parse_positive(line.amount, f"lines.{index}.amount", problems)
        if line.currency is not None:
            problems.extend(currency_problem(line.currency, f"lines.{index}.currency"))
        stated = line.currency or entry_currency
        field = f"lines.{index}.currency" if line.currency else "currency"
        if amount is not None:
            proposed.append(ProposedLine(line.account_id, line.side, amount, stated, field))
    raise_all(problems)
    return proposed


def plan_entry(
    proposed: Sequence[ProposedLine],
    accounts: Mapping[str, Account | None],
    balances: Mapping[str, BalanceTotals],
    *,
    effect: LineEffect,
    field_prefix: str = "lines",
) -> EntryPlan:
    """Check the proposed lines against their accounts and the balance constraints.

    ``balances`` must hold the current totals of every constrained account the
    lines touch (other accounts' balances are never needed). ``effect`` is
    ``posted`` for entries posted at once, ``pending`` for holds.
    """
    lines: list[Line] = []
    problems: list[FieldError] = []
    for index, proposal in enumerate(proposed):
        account = accounts.get(proposal.account_id)
        account_field = f"{field_prefix}.{index}.account_id"
        if account is None:
            raise rule_violation(
                "account_not_found", account_field, f"no account {proposal.account_id!r}"
            )
        if account.status is AccountStatus.CLOSED:
            raise rule_violation("account_closed", account_field, f"account {account.id} is closed")
        if account.status is AccountStatus.FROZEN:
            raise rule_violation("account_frozen", account_field, f"account {account.id} is frozen")
        stated = proposal.stated_currency
        if stated is not None and stated != account.currency:
            field = proposal.currency_field.replace("lines.", f"{field_prefix}.", 1)
            raise rule_violation(
                "currency_mismatch",
                field,
                f"account {account.id} holds {account.currency}, the line is in {stated}",
            )
        amount_field = f"{field_prefix}.{index}.amount"
        minor = to_minor(proposal.amount, account.currency, amount_field, problems)
        if minor is not None:
            lines.append(Line(account.id, proposal.side, minor, account.currency))
    raise_all(problems)
    check_balanced(lines, field_prefix)
    deltas: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
    for line in lines:
        deltas[line.account_id] += BalanceTotals.of_line(line.side, line.amount_minor, effect)
    first_index: dict[str, int] = {}
    for index, line in enumerate(lines):
        first_index.setdefault(line.account_id, index)
    for account_id, delta in deltas.items():
        account = accounts[account_id]
        assert account is not None  # checked above
        if account.balance_constraint is None:
            continue
        check_constraint(
            account,
            balances.get(account_id, BalanceTotals()) + delta,
            f"{field_prefix}.{first_index[account_id]}.account_id",
        )
    return EntryPlan(tuple(lines), dict(deltas), effect)


def check_constraint(account: Account, after: BalanceTotals, field: str) -> None:
    """Refuse totals that break the account's balance constraint (TigerBeetle's rule)."""
    constraint = account.balance_constraint
    if constraint is BalanceConstraint.DEBITS_MUST_NOT_EXCEED_CREDITS:
        used, limit = after.debits_pending + after.debits_posted, after.credits_posted
    elif constraint is BalanceConstraint.CREDITS_MUST_NOT_EXCEED_DEBITS:
        used, limit = after.credits_pending + after.credits_posted, after.debits_posted
    else:
        return
    if used > limit:
        raise BusinessRuleError(
            f"account {account.id} would break its constraint {constraint.value} "
            f"(by {money_json(used - limit, account.currency)} {account.currency})",
            code="balance_constraint_violated",
            errors=[
                FieldError(field, f"would break {constraint.value}", "balance_constraint_violated")
            ],
            extra={
                "account_id": account.id,
                "constraint": constraint.value,
                "shortfall": money_json(used - limit, account.currency),
            },
        )


def check_balanced(lines: Sequence[Line], field: str) -> None:
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for line in lines:
        (debits if line.side is Side.DEBIT else credits)[line.currency] += line.amount_minor
    unbalanced = sorted(c for c in set(debits) | set(credits) if debits[c] != credits[c])
    if unbalanced:
        raise BusinessRuleError(
            "debits must equal credits in every currency; unbalanced: " + ", ".join(unbalanced),
            code="entry_unbalanced",
            errors=[FieldError(field, "debits and credits differ", "entry_unbalanced")],
            extra={
                "unbalanced": [
                    {
                        "currency": c,
                        "debits": money_json(debits[c], c),
                        "credits": money_json(credits[c], c),
                    }
                    for c in unbalanced
                ]
            },
        )


def hold_expiry(
    request: PostEntryRequest, *, now: datetime, default_timeout: timedelta = DEFAULT_HOLD_TIMEOUT
) -> datetime | None:
    """When a hold expires: ``expires_at``, or now + ``timeout_seconds``, or the default."""
    if not request.pending:
        if request.expires_at is not None or request.timeout_seconds is not None:
            field = "expires_at" if request.expires_at is not None else "timeout_seconds"
            raise invalid(field, "only a pending entry expires", "expiry_without_pending")
        return None
    if request.expires_at is not None and request.timeout_seconds is not None:
        raise invalid(
            "timeout_seconds", "give expires_at or timeout_seconds, not both", "conflicting_expiry"
        )
    if request.expires_at is not None:
        expires_at = request.expires_at
        if expires_at.tzinfo is None:
            raise invalid("expires_at", "must carry a timezone offset", "bad_format")
        if expires_at <= now:
            raise invalid("expires_at", "must be in the future", "expires_at_in_past")
        return expires_at.astimezone(UTC)
    if request.timeout_seconds is not None:
        return now + timedelta(seconds=request.timeout_seconds)
    return now + default_timeout


def effective_date_or_today(value: date | None, now: datetime) -> date:
    return value if value is not None else now.astimezone(UTC).date()


# -- reversals ------------------------------------------------------------------------


def reversal_lines(original: Entry) -> list[ProposedLine]:
    """The lines of ``original`` with sides swapped, or why it cannot be reversed."""
    if original.kind is EntryKind.REVERSAL:
        raise rule_violation(
            "cannot_reverse_reversal",
            "entry_id",
            f"entry {original.id} is itself a reversal; post a new entry instead",
        )
    if original.kind is EntryKind.PENDING:
        raise rule_violation(
            "entry_not_posted",
            "entry_id",
            f"entry {original.id} is a hold ({original.status.value}); void it, "
            "or reverse the entry that posted it",
        )
    if original.reversed_by_entry_id is not None:
        raise ConflictError(
            f"entry {original.id} is already reversed by {original.reversed_by_entry_id}",
            code="entry_already_reversed",
            errors=[FieldError("entry_id", "already reversed", "entry_already_reversed")],
            extra={"reversed_by_entry_id": original.reversed_by_entry_id},
        )
    return [
        ProposedLine(
            line.account_id,
            line.side.opposite,
            Decimal(money_json(line.amount_minor, line.currency)),
            line.currency,
            f"lines.{index}.currency",
        )
        for index, line in enumerate(original.lines)
    ]
