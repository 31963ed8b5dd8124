# Over 600 lines on purpose: every ledger rule and its rejection code in one pure module.
"""The ledger's rules, as pure functions: no I/O, no clock, no randomness.

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

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.errors import BusinessRuleError, ConflictError, FieldError, ValidationError
from shared.ledger.model import (
    Account,
    AccountStatus,
    BalanceConstraint,
    BalanceTotals,
    Entry,
    EntryKind,
    EntryStatus,
    Line,
    LineEffect,
    Side,
    money_json,
)
from shared.ledger.requests import (
    MAX_LINES,
    CreateAccountRequest,
    LineIn,
    PostEntryRequest,
    PostPendingRequest,
    UpdateAccountRequest,
)
from shared.money import MoneyError, minor_unit, normalize_currency

# A sanity limit on one line (10 trillion EUR), stated in the API's errors. Running
# totals do not depend on it: they are stored in limbs wider than Firestore's 64-bit
# integers (see ``repository.py``), so any number of maximal lines stays exact.
MAX_LINE_MINOR_UNITS = 10**15
DEFAULT_SHARDS = 4
DEFAULT_HOLD_TIMEOUT = timedelta(days=7)
_AMOUNT = re.compile(r"^-?[0-9]{1,19}(\.[0-9]{1,18})?$")


# -- accounts -------------------------------------------------------------------------


def new_account(request: CreateAccountRequest, *, account_id: str, now: datetime) -> Account:
    """The account a create request describes, or the rule it breaks."""
    currency = _known_currency(request.currency, "currency")
    shards = request.balance_shards
    if request.balance_constraint is not None:
        if shards is not None and shards > 1:
            raise invalid(
                "balance_shards",
                "an account with a balance constraint keeps one balance document: every "
                "posting must read its whole balance, so shards would add no concurrency",
                "constrained_account_sharded",
            )
        shards = 1
    return Account(
        id=account_id,
        code=request.code,
        name=request.name,
        type=request.type,
        currency=currency,
        status=AccountStatus.ACTIVE,
        balance_constraint=request.balance_constraint,
        balance_shards=shards or DEFAULT_SHARDS,
        metadata=dict(request.metadata),
        created_at=now,
        updated_at=now,
    )


# Closed is final: a closed account's history stays, nothing new reaches it.
_ACCOUNT_TRANSITIONS: dict[AccountStatus, frozenset[AccountStatus]] = {
    AccountStatus.ACTIVE: frozenset({AccountStatus.FROZEN, AccountStatus.CLOSED}),
    AccountStatus.FROZEN: frozenset({AccountStatus.ACTIVE, AccountStatus.CLOSED}),
    AccountStatus.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    account: Account
    changes: dict[str, dict[str, Any]]  # field -> {"from": old, "to": new}

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def update_account(
    account: Account,
    request: UpdateAccountRequest,
    totals: BalanceTotals,
    *,
    has_postings: bool,
    now: datetime,
) -> AccountUpdate:
    """Apply an update under the account rules.

    ``totals`` are the account's current balances and ``has_postings`` whether any
    entry (posted or pending, in any state) has a line on it.
    """
    requested = request.model_dump(exclude_none=True)
    if not requested:
        raise invalid("body", "name at least one field to change", "empty_update")
    if account.status is AccountStatus.CLOSED:
        raise BusinessRuleError(
            f"account {account.id} is closed; a closed account cannot change",
            code="account_closed",
            errors=[FieldError("status", "the account is closed", "account_closed")],
        )
    changes: dict[str, dict[str, Any]] = {}
    values: dict[str, Any] = {}

    def change(name: str, old: Any, new: Any) -> None:
        if old != new:
            changes[name] = {"from": _plain(old), "to": _plain(new)}
            values[name] = new

    if request.name is not None:
        change("name", account.name, request.name)
    if request.metadata is not None:
        change("metadata", account.metadata, dict(request.metadata))
    for name in ("type", "currency"):
        new_value = getattr(request, name)
        if new_value is None:
            continue
        if name == "currency":
            new_value = _known_currency(new_value, "currency")
        if new_value != getattr(account, name) and has_postings:
            raise BusinessRuleError(
                f"the {name} of account {account.id} cannot change once it has been posted to",
                code="account_immutable_field",
                errors=[FieldError(name, "immutable once posted to", "account_immutable_field")],
            )
        change(name, getattr(account, name), new_value)
    if request.balance_shards is not None:
        if account.balance_constraint is not None and request.balance_shards > 1:
            raise invalid(
                "balance_shards",
                "an account with a balance constraint keeps one balance document",
                "constrained_account_sharded",
            )
        change("balance_shards", account.balance_shards, request.balance_shards)
    if request.status is not None and request.status is not account.status:
        if request.status not in _ACCOUNT_TRANSITIONS[account.status]:
            raise BusinessRuleError(
                f"account status cannot go from {account.status} to {request.status}",
                code="invalid_status_transition",
                errors=[
                    FieldError("status", "transition not allowed", "invalid_status_transition")
                ],
            )
        settled = totals.debits_posted == totals.credits_posted and not (
            totals.debits_pending or totals.credits_pending
        )
        if request.status is AccountStatus.CLOSED and not settled:
            currency = account.currency
            raise BusinessRuleError(
                "only an account with zero posted and zero pending balances can be closed",
                code="account_balance_not_zero",
                errors=[FieldError("status", "balance is not zero", "account_balance_not_zero")],
                extra={
                    "balances": {
                        name: money_json(value, currency)
                        for name, value in totals.as_fields().items()
                    }
                },
            )
        change("status", account.status, request.status)
    if not changes:
        return AccountUpdate(account, {})
    updated = account.with_changes(**values, updated_at=now, version=account.version + 1)
    return AccountUpdate(updated, changes)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


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
        problems.extend(_currency_problem(entry_currency, "currency"))
    proposed: list[ProposedLine] = []
    for index, line in enumerate(lines):
        amount = _parse_positive(line.amount, f"lines.{index}.amount", problems)
        if line.currency is not None:
            problems.extend(_currency_problem(line.currency, f"lines.{index}.currency"))
        stated = line.currency or entry_currency
        field = f"lines.{index}.currency" if line.currency else "currency"
        if amount is not None:
            proposed.append(ProposedLine(line.account_id, line.side, amount, stated, field))
    _raise_all(problems)
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
            raise _rule("account_not_found", account_field, f"no account {proposal.account_id!r}")
        if account.status is AccountStatus.CLOSED:
            raise _rule("account_closed", account_field, f"account {account.id} is closed")
        if account.status is AccountStatus.FROZEN:
            raise _rule("account_frozen", account_field, f"account {account.id} is frozen")
        stated = proposal.stated_currency
        if stated is not None and stated != account.currency:
            field = proposal.currency_field.replace("lines.", f"{field_prefix}.", 1)
            raise _rule(
                "currency_mismatch",
                field,
                f"account {account.id} holds {account.currency}, the line is in {stated}",
            )
        amount_field = f"{field_prefix}.{index}.amount"
        minor = _to_minor(proposal.amount, account.currency, amount_field, problems)
        if minor is not None:
            lines.append(Line(account.id, proposal.side, minor, account.currency))
    _raise_all(problems)
    _check_balanced(lines, field_prefix)
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


def _check_balanced(lines: Sequence[Line], field: str) -> None:
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


# -- two-phase holds ----------------------------------------------------------------


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
        raise _rule("entry_not_pending", "entry_id", f"entry {entry.id} is not a pending entry")
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
            raise _rule("hold_has_no_expiry", "entry_id", f"hold {entry.id} never expires")
        if not expired:
            raise _rule("hold_not_expired", "entry_id", f"hold {entry.id} has not expired yet")
    elif expired:
        raise _rule("hold_expired", "entry_id", f"hold {entry.id} expired; it can only expire")
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
            raise _rule("account_not_found", field, f"no account {line.account_id!r}")
        if account.status is AccountStatus.FROZEN:
            raise _rule("account_frozen", field, f"account {account.id} is frozen")
        if account.status is AccountStatus.CLOSED:
            raise _rule("account_closed", field, f"account {account.id} is closed")
        if minor:
            lines.append(Line(line.account_id, line.side, minor, line.currency))
    field = "amount" if request.amount is not None else "line_amounts"
    _check_balanced(lines, field)
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
        amount = _parse_positive(request.amount, "amount", problems)
        minor = None if amount is None else _to_minor(amount, currency, "amount", problems)
        _raise_all(problems)
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
        amount = _parse_decimal(text, field, problems)
        if amount is not None and amount < 0:
            problems.append(FieldError(field, "must not be negative", "amount_not_positive"))
            continue
        minor = None if amount is None else _to_minor(amount, line.currency, field, problems)
        amounts.append(minor or 0)
    _raise_all(problems)
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


# -- reversals ------------------------------------------------------------------------


def reversal_lines(original: Entry) -> list[ProposedLine]:
    """The lines of ``original`` with sides swapped, or why it cannot be reversed."""
    if original.kind is EntryKind.REVERSAL:
        raise _rule(
            "cannot_reverse_reversal",
            "entry_id",
            f"entry {original.id} is itself a reversal; post a new entry instead",
        )
    if original.kind is EntryKind.PENDING:
        raise _rule(
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


# -- helpers ------------------------------------------------------------------------


# -- accounting periods -------------------------------------------------------------------


def check_period_open(effective_date: date, closed_through: date | None, field: str) -> None:
    """Refuse an entry dated into the closed period (on or before ``closed_through``)."""
    if closed_through is not None and effective_date <= closed_through:
        raise BusinessRuleError(
            f"the books are closed through {closed_through.isoformat()}: an entry dated "
            f"{effective_date.isoformat()} falls in a closed period",
            code="period_closed",
            errors=[
                FieldError(
                    field,
                    f"on or before {closed_through.isoformat()}, the end of the closed period",
                    "period_closed",
                )
            ],
            extra={"closed_through": closed_through.isoformat()},
        )


def plan_close(current: date | None, through: date, today: date) -> date:
    """The new end of the closed period when closing the books through ``through``."""
    if through >= today:
        raise _rule(
            "period_not_over",
            "through",
            f"only days before today ({today.isoformat()}) can be closed",
        )
    if current is not None and through <= current:
        raise _rule(
            "period_already_closed",
            "through",
            f"the books are already closed through {current.isoformat()}",
        )
    return through


def plan_reopen(current: date | None, through: date | None) -> date | None:
    """The new end of the closed period when reopening back to ``through`` (None: all)."""
    if current is None:
        raise _rule("period_not_closed", "through", "no period is closed")
    if through is not None and through >= current:
        raise _rule(
            "period_not_reopened",
            "through",
            f"reopening moves the end of the closed period back from {current.isoformat()}",
        )
    return through


def invalid(field: str, message: str, code: str) -> ValidationError:
    """A :class:`ValidationError` whose own code is the field's code (``for_field`` keeps
    the generic ``validation_error``; ledger rejections are told apart by code)."""
    return ValidationError(
        f"{field}: {message}", code=code, errors=[FieldError(field, message, code)]
    )


def _rule(code: str, field: str, detail: str) -> BusinessRuleError:
    return BusinessRuleError(detail, code=code, errors=[FieldError(field, detail, code)])


def _raise_all(problems: list[FieldError]) -> None:
    if problems:
        first = problems[0]
        raise ValidationError(f"{first.field}: {first.message}", code=first.code, errors=problems)


def _known_currency(code: str, field: str) -> str:
    try:
        return normalize_currency(code)
    except MoneyError as exc:
        raise ValidationError(
            str(exc),
            code="unknown_currency",
            errors=[FieldError(field, str(exc), "unknown_currency")],
        ) from None


def _currency_problem(code: str, field: str) -> list[FieldError]:
    try:
        normalize_currency(code)
    except MoneyError as exc:
        return [FieldError(field, str(exc), "unknown_currency")]
    return []


def _parse_decimal(text: str, field: str, problems: list[FieldError]) -> Decimal | None:
    if not _AMOUNT.match(text):
        problems.append(
            FieldError(field, 'must be a decimal string such as "12.34"', "invalid_amount")
        )
        return None
    return Decimal(text)


def _parse_positive(text: str, field: str, problems: list[FieldError]) -> Decimal | None:
    amount = _parse_decimal(text, field, problems)
    if amount is not None and amount <= 0:
        problems.append(FieldError(field, "must be greater than zero", "amount_not_positive"))
        return None
    return amount


def _to_minor(amount: Decimal, currency: str, field: str, problems: list[FieldError]) -> int | None:
    places = minor_unit(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > places:
        problems.append(
            FieldError(
                field, f"{currency} allows at most {places} decimal places", "too_many_decimals"
            )
        )
        return None
    minor = int(amount.scaleb(places))
    if minor > MAX_LINE_MINOR_UNITS:
        problems.append(
            FieldError(
                field,
                f"at most {money_json(MAX_LINE_MINOR_UNITS, currency)} per line",
                "amount_too_large",
            )
        )
        return None
    return minor
