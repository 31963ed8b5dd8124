"""The vocabulary of the ledger: accounts, journal entries, balances, as plain values.

Amounts are held as integer counts of the currency's minor unit (cents for EUR,
yen for JPY): exact, and what Firestore can add atomically. They leave the
ledger as decimal strings in major units (``"12.34"``) through ``to_json``.

Sign convention (documented once, used everywhere):

* Every account has a *normal side*: debit for assets and expenses, credit for
  liabilities, equity and revenue.
* ``posted`` is the balance on the normal side: ``debits - credits`` of posted
  lines for a debit-normal account, ``credits - debits`` for a credit-normal
  one. A negative ``posted`` means the account is on its abnormal side.
* ``available`` is ``posted`` minus the pending amounts that work *against* the
  normal side (pending credits of a debit-normal account, pending debits of a
  credit-normal one). Pending amounts in the account's favour are not available
  until posted: a hold reserves, it never lends.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shared.money import format_amount, from_minor_units

# Base32 alphabet of ULIDs (Crockford): ids sort by creation time, which makes
# "order by id" a sensible default listing order without an extra index.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

ACCOUNT_ID_PREFIX = "acc"
ENTRY_ID_PREFIX = "ent"
RECONCILIATION_ID_PREFIX = "rec"


_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


def new_id(prefix: str) -> str:
    """``prefix_`` + 26 characters: 48 bits of milliseconds then 80 random bits.

    Base32 in Crockford's alphabet, whose characters sort in ASCII order, so ids
    sort by creation time (to the millisecond).
    """
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{base64.b32encode(raw).decode('ascii')[:26].translate(_TO_CROCKFORD)}"


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> Side:
        if self in (AccountType.ASSET, AccountType.EXPENSE):
            return Side.DEBIT
        return Side.CREDIT


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class BalanceConstraint(StrEnum):
    """TigerBeetle's account flags, with pending debits/credits counted the same way.

    ``debits_must_not_exceed_credits``: pending + posted debits <= posted credits
    (a customer wallet that must not go below zero). The mirror image for
    ``credits_must_not_exceed_debits``. Pending amounts *against* the limit count,
    pending amounts in its favour do not, so a hold can never be spent twice.
    """

    DEBITS_MUST_NOT_EXCEED_CREDITS = "debits_must_not_exceed_credits"
    CREDITS_MUST_NOT_EXCEED_DEBITS = "credits_must_not_exceed_debits"


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class EntryKind(StrEnum):
    """Why an entry exists; decides how its lines count (see :func:`line_effect`)."""

    STANDARD = "standard"  # posted directly
    PENDING = "pending"  # a two-phase hold: reserves until posted, voided or expired
    HOLD_POSTING = "hold_posting"  # the posted part of a pending entry
    REVERSAL = "reversal"  # the mirror image of a posted entry


class EntryStatus(StrEnum):
    """``posted`` for every kind but ``pending``, whose status is its hold's state."""

    POSTED = "posted"
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"


class LineEffect(StrEnum):
    """Which balance column an entry's lines move at present."""

    POSTED = "posted"
    PENDING = "pending"
    NONE = "none"


def line_effect(kind: EntryKind, status: EntryStatus) -> LineEffect:
    """How the lines of an entry of ``kind`` in ``status`` count in balances.

    A pending entry's lines count as pending while the hold is open. Once the hold
    is resolved they count for nothing: what was posted of it lives in its own
    ``hold_posting`` entry, and what was voided or expired was never posted.
    """
    if kind is EntryKind.PENDING:
        return LineEffect.PENDING if status is EntryStatus.PENDING else LineEffect.NONE
    return LineEffect.POSTED


def money_json(minor: int, currency: str) -> str:
    """Minor units as a decimal string in major units, with the currency's decimals."""
    return format_amount(from_minor_units(minor, currency), currency)


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    code: str
    name: str
    type: AccountType
    currency: str
    status: AccountStatus
    balance_constraint: BalanceConstraint | None
    balance_shards: int
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    # The most shards the account ever had: lowering balance_shards stops new
    # postings from using the higher shards, but their totals still count.
    max_balance_shards: int = 0

    @property
    def normal_side(self) -> Side:
        return self.type.normal_side

    @property
    def shard_span(self) -> int:
        """How many shard documents may hold part of the balance (ids 0..span-1)."""
        return max(self.max_balance_shards, self.balance_shards)

    def with_changes(self, **changes: Any) -> Account:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "type": self.type.value,
            "currency": self.currency,
            "status": self.status.value,
            "normal_side": self.normal_side.value,
            "balance_constraint": self.balance_constraint.value
            if self.balance_constraint
            else None,
            "balance_shards": self.balance_shards,
            "metadata": dict(self.metadata),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class BalanceTotals:
    """The four running totals of an account, in minor units (never negative).

    Python integers, so exact at any size; how they are stored beyond Firestore's
    64-bit integers is the repository's concern (limbs, see ``repository.py``).
    """

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    def __add__(self, other: BalanceTotals) -> BalanceTotals:
        return BalanceTotals(
            self.debits_posted + other.debits_posted,
            self.credits_posted + other.credits_posted,
            self.debits_pending + other.debits_pending,
            self.credits_pending + other.credits_pending,
        )

    def __sub__(self, other: BalanceTotals) -> BalanceTotals:
        return BalanceTotals(
            self.debits_posted - other.debits_posted,
            self.credits_posted - other.credits_posted,
            self.debits_pending - other.debits_pending,
            self.credits_pending - other.credits_pending,
        )

    @property
    def is_zero(self) -> bool:
        return self == BalanceTotals()

    def as_fields(self) -> dict[str, int]:
        return {
            "debits_posted": self.debits_posted,
            "credits_posted": self.credits_posted,
            "debits_pending": self.debits_pending,
            "credits_pending": self.credits_pending,
        }

    @classmethod
    def of_line(cls, side: Side, amount_minor: int, effect: LineEffect) -> BalanceTotals:
        if effect is LineEffect.NONE:
            return cls()
        if effect is LineEffect.POSTED:
            return (
                cls(debits_posted=amount_minor)
                if side is Side.DEBIT
                else cls(credits_posted=amount_minor)
            )
        return (
            cls(debits_pending=amount_minor)
            if side is Side.DEBIT
            else cls(credits_pending=amount_minor)
        )


@dataclass(frozen=True, slots=True)
class Balances:
    """An account's balances, signed per its normal side (see the module docstring)."""

    currency: str
    normal_side: Side
    totals: BalanceTotals

    @property
    def posted(self) -> int:
        t = self.totals
        if self.normal_side is Side.DEBIT:
            return t.debits_posted - t.credits_posted
        return t.credits_posted - t.debits_posted

    @property
    def pending_against(self) -> int:
        t = self.totals
        return t.credits_pending if self.normal_side is Side.DEBIT else t.debits_pending

    @property
    def available(self) -> int:
        return self.posted - self.pending_against

    def to_json(self) -> dict[str, Any]:
        t, c = self.totals, self.currency
        return {
            "currency": c,
            "normal_side": self.normal_side.value,
            "posted": money_json(self.posted, c),
            "available": money_json(self.available, c),
            "posted_debits": money_json(t.debits_posted, c),
            "posted_credits": money_json(t.credits_posted, c),
            "pending_debits": money_json(t.debits_pending, c),
            "pending_credits": money_json(t.credits_pending, c),
        }


@dataclass(frozen=True, slots=True)
class AccountWithBalances:
    account: Account
    balances: Balances

    def to_json(self) -> dict[str, Any]:
        return {**self.account.to_json(), "balances": self.balances.to_json()}


@dataclass(frozen=True, slots=True)
class Line:
    account_id: str
    side: Side
    amount_minor: int
    currency: str

    def to_json(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "account_id": self.account_id,
            "side": self.side.value,
            "amount": money_json(self.amount_minor, self.currency),
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry. Posted entries never change except for their reversal link."""

    id: str
    kind: EntryKind
    status: EntryStatus
    effective_date: date
    description: str
    metadata: dict[str, str]
    lines: tuple[Line, ...]
    created_at: datetime
    created_by: dict[str, Any]
    expires_at: datetime | None = None
    pending_entry_id: str | None = None  # on a hold_posting: the hold it posts
    posting_entry_id: str | None = None  # on a posted hold: its hold_posting entry
    reverses_entry_id: str | None = None  # on a reversal: the entry it reverses
    reversed_by_entry_id: str | None = None  # on a reversed entry: its reversal
    resolved_at: datetime | None = None  # when a hold left the pending state
    batch_id: str | None = None  # on an entry posted in a linked batch: the batch
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effect(self) -> LineEffect:
        return line_effect(self.kind, self.status)

    @property
    def account_ids(self) -> list[str]:
        return list(dict.fromkeys(line.account_id for line in self.lines))

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind.value,
            "status": self.status.value,
            "effective_date": self.effective_date.isoformat(),
            "description": self.description,
            "metadata": dict(self.metadata),
            "lines": [line.to_json(i) for i, line in enumerate(self.lines)],
            "created_at": self.created_at.isoformat(),
            "created_by": dict(self.created_by),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "pending_entry_id": self.pending_entry_id,
            "posting_entry_id": self.posting_entry_id,
            "reverses_entry_id": self.reverses_entry_id,
            "reversed_by_entry_id": self.reversed_by_entry_id,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "batch_id": self.batch_id,
        }
        return document


@dataclass(frozen=True, slots=True)
class HoldTransition:
    """The outcome of posting, voiding or expiring a hold."""

    hold: Entry
    posting: Entry | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "hold": self.hold.to_json(),
            "posting": self.posting.to_json() if self.posting else None,
        }


@dataclass(frozen=True, slots=True)
class Reversal:
    original: Entry
    reversal: Entry

    def to_json(self) -> dict[str, Any]:
        return {"original": self.original.to_json(), "reversal": self.reversal.to_json()}


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account_id: str
    code: str
    name: str
    type: AccountType
    status: AccountStatus
    debit_balance: int
    credit_balance: int


@dataclass(frozen=True, slots=True)
class CurrencyTrialBalance:
    currency: str
    rows: list[TrialBalanceRow]

    @property
    def total_debits(self) -> int:
        return sum(row.debit_balance for row in self.rows)

    @property
    def total_credits(self) -> int:
        return sum(row.credit_balance for row in self.rows)

    @property
    def net(self) -> int:
        """Debits minus credits over the currency: zero when the books balance."""
        return self.total_debits - self.total_credits

    def to_json(self) -> dict[str, Any]:
        c = self.currency
        return {
            "currency": c,
            "accounts": [
                {
                    "account_id": row.account_id,
                    "code": row.code,
                    "name": row.name,
                    "type": row.type.value,
                    "status": row.status.value,
                    "debit": money_json(row.debit_balance, c),
                    "credit": money_json(row.credit_balance, c),
                }
                for row in self.rows
            ],
            "total_debits": money_json(self.total_debits, c),
            "total_credits": money_json(self.total_credits, c),
            "net": money_json(self.net, c),
            "balanced": self.net == 0,
        }


@dataclass(frozen=True, slots=True)
class TrialBalance:
    as_of: datetime
    currencies: list[CurrencyTrialBalance]

    @property
    def balanced(self) -> bool:
        return all(currency.net == 0 for currency in self.currencies)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "balanced": self.balanced,
            "currencies": [currency.to_json() for currency in self.currencies],
        }


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One difference found by reconciliation; ``kind`` is a stable code."""

    kind: str
    message: str
    account_id: str | None = None
    entry_id: str | None = None
    currency: str | None = None
    field: str | None = None
    stored: str | None = None
    recomputed: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "account_id": self.account_id,
            "entry_id": self.entry_id,
            "currency": self.currency,
            "field": self.field,
            "stored": self.stored,
            "recomputed": self.recomputed,
        }


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    id: str
    tenant_id: str
    started_at: datetime
    completed_at: datetime
    as_of: datetime
    accounts_checked: int
    entries_checked: int
    discrepancies: list[Discrepancy]
    discrepancy_count: int

    @property
    def clean(self) -> bool:
        return self.discrepancy_count == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "status": "clean" if self.clean else "discrepancies",
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "accounts_checked": self.accounts_checked,
            "entries_checked": self.entries_checked,
            "discrepancy_count": self.discrepancy_count,
            "discrepancies": [d.to_json() for d in self.discrepancies],
        }


@dataclass(frozen=True, slots=True)
class ExpiryRun:
    """What one run of :meth:`LedgerService.expire_pending_holds` did."""

    expired_entry_ids: list[str]
    tenants_scanned: int

    def to_json(self) -> dict[str, Any]:
        return {
            "expired": len(self.expired_entry_ids),
            "expired_entry_ids": list(self.expired_entry_ids),
            "tenants_scanned": self.tenants_scanned,
        }


@dataclass(frozen=True, slots=True)
class LedgerPeriod:
    """How far the tenant's books are closed: no entry may be dated on or before it."""

    closed_through: date | None
    changed_at: datetime | None = None
    changed_by: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "closed_through": self.closed_through.isoformat() if self.closed_through else None,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "changed_by": dict(self.changed_by) if self.changed_by else None,
        }
