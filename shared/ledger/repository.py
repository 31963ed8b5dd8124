"""Firestore layout and (de)serialization of the ledger; nothing here decides a rule.

Every document lives under its tenant, so another tenant's id is simply absent::

    tenants/{tid}/accounts/{account_id}                 the account (no balances)
    tenants/{tid}/accounts/{account_id}/balance_shards/{n}
                                                        running totals, minor units, each
                                                        in limbs (see below): debits_posted,
                                                        credits_posted, debits_pending,
                                                        credits_pending
    tenants/{tid}/account_codes/{code}                  {account_id}: code uniqueness
    tenants/{tid}/ledger_meta/accounts                  {version}: +1 on every account change
                                                        that matters to a posting, and on every
                                                        change of closed_through (the end of
                                                        the closed accounting period)
    tenants/{tid}/entries/{entry_id}                    a journal entry with its lines
    tenants/{tid}/reconciliations/{reconciliation_id}   a reconciliation report
    tenants/{tid}/reconciliations/latest                {reconciliation_id}: the pointer

An account's balance is the sum of its shard documents ``0 .. max_balance_shards-1``
(read by id, so many accounts' balances come in one batched read; a shard nobody
has written yet counts as zero). An entry carries its lines (see
:func:`encode_line`), the list of accounts they touch (``account_ids``, for
per-account history) and, while it is a pending hold with a timeout,
``pending_expires_at`` (deleted when the hold is resolved, so the expiry scan is a
single-field range query).

Totals are wider than a Firestore integer. Firestore integers are 64-bit and an
``Increment`` past the edge *saturates* silently, so a total is kept in three limbs
of base 2**32, each its own integer field: ``debits_posted`` (limb 0, so documents
written before limbs read unchanged), ``debits_posted_1`` and ``debits_posted_2``;
the value is ``limb0 + limb1 * 2**32 + limb2 * 2**64``. A write adds to each limb the
matching 32-bit digit of the amount (with the amount's sign), so limbs 0 and 1 grow
by less than 2**32 per write and cannot reach the 64-bit edge before 2**31 writes to
one shard document; reconciliation carries any limb past :data:`FOLD_THRESHOLD`
into the next one (:func:`folded_limbs`), far earlier than that. Limb 2 takes at
most ``amount >> 64`` per write. Every total the API can produce is therefore exact
(up to about 2**126 minor units per shard), and a saturated limb would show as drift.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from shared.ledger.model import (
    Account,
    AccountStatus,
    AccountType,
    BalanceConstraint,
    BalanceTotals,
    Discrepancy,
    Entry,
    EntryKind,
    EntryStatus,
    LedgerPeriod,
    Line,
    ReconciliationReport,
    Side,
)

if TYPE_CHECKING:
    from google.cloud import firestore

TENANTS = "tenants"
ACCOUNTS = "accounts"
ACCOUNT_CODES = "account_codes"
BALANCE_SHARDS = "balance_shards"
ENTRIES = "entries"
LEDGER_META = "ledger_meta"
ACCOUNTS_VERSION = "accounts"
RECONCILIATIONS = "reconciliations"
LATEST_RECONCILIATION = "latest"
TOTAL_FIELDS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
LIMB_BITS = 32
LIMB_COUNT = 3
INT64_MAX = 2**63 - 1
# A limb this far from zero is carried into the next by reconciliation, leaving 2**62
# of headroom: about 2**30 more writes to that shard before the edge could be reached.
FOLD_THRESHOLD = 2**62


class LedgerPaths:
    """Document references of one database; every path starts at the tenant."""

    def __init__(self, db: firestore.Client) -> None:
        self.db = db

    def tenant(self, tenant_id: str) -> Any:
        return self.db.collection(TENANTS).document(tenant_id)

    def accounts(self, tenant_id: str) -> Any:
        return self.tenant(tenant_id).collection(ACCOUNTS)

    def account(self, tenant_id: str, account_id: str) -> Any:
        return self.accounts(tenant_id).document(account_id)

    def account_code(self, tenant_id: str, code: str) -> Any:
        return self.tenant(tenant_id).collection(ACCOUNT_CODES).document(code)

    def shards(self, tenant_id: str, account_id: str) -> Any:
        return self.account(tenant_id, account_id).collection(BALANCE_SHARDS)

    def shard(self, tenant_id: str, account_id: str, shard: int) -> Any:
        return self.shards(tenant_id, account_id).document(str(shard))

    def shard_refs(self, tenant_id: str, account: Account) -> list[Any]:
        """Every shard that may hold part of the balance; absent ones count as zero."""
        return [self.shard(tenant_id, account.id, n) for n in range(account.shard_span)]

    def accounts_version(self, tenant_id: str) -> Any:
        return self.tenant(tenant_id).collection(LEDGER_META).document(ACCOUNTS_VERSION)

    def entries(self, tenant_id: str) -> Any:
        return self.tenant(tenant_id).collection(ENTRIES)

    def entry(self, tenant_id: str, entry_id: str) -> Any:
        return self.entries(tenant_id).document(entry_id)

    def reconciliations(self, tenant_id: str) -> Any:
        return self.tenant(tenant_id).collection(RECONCILIATIONS)

    def reconciliation(self, tenant_id: str, reconciliation_id: str) -> Any:
        return self.reconciliations(tenant_id).document(reconciliation_id)

    def latest_reconciliation(self, tenant_id: str) -> Any:
        return self.reconciliations(tenant_id).document(LATEST_RECONCILIATION)

    def tenant_ids(self) -> list[str]:
        """Every tenant with data, including tenants whose own document does not exist."""
        return sorted(ref.id for ref in self.db.collection(TENANTS).list_documents())


# -- accounts -------------------------------------------------------------------------


class AccountCache:
    """Accounts as of a tenant's accounts version, per instance; thread-safe.

    A posting batch reads the one version document in its transaction instead of
    every account it touches (reading ~20 account documents was half of a batch's
    time). Any change that matters to a posting (status, currency, type, shards)
    commits a new version in the same transaction, so a batch that read version V
    may trust accounts cached under V: a change either committed before (the batch
    sees V+1 and reloads) or conflicts with the batch. Accounts are never deleted
    and a new account does not change the version: an id missing from the cache is
    read in the transaction. Only accounts read by a committed transaction are
    stored.
    """

    def __init__(self, max_tenants: int = 1000, max_accounts_per_tenant: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._tenants: OrderedDict[str, tuple[int, dict[str, Account]]] = OrderedDict()
        self._max_tenants = max_tenants
        self._max_accounts = max_accounts_per_tenant

    def lookup(
        self, tenant_id: str, version: int, account_ids: Iterable[str]
    ) -> dict[str, Account]:
        with self._lock:
            cached = self._tenants.get(tenant_id)
            if cached is None or cached[0] != version:
                return {}
            self._tenants.move_to_end(tenant_id)
            accounts = cached[1]
            return {a: accounts[a] for a in account_ids if a in accounts}

    def store(self, tenant_id: str, version: int, accounts: Iterable[Account]) -> None:
        accounts = list(accounts)
        if not accounts:
            return
        with self._lock:
            cached = self._tenants.get(tenant_id)
            if cached is None or cached[0] < version:
                cached = (version, {})
            elif cached[0] > version:
                return  # read under an older version than the cache already knows
            if len(cached[1]) + len(accounts) > self._max_accounts:
                cached[1].clear()
            cached[1].update((account.id, account) for account in accounts)
            self._tenants[tenant_id] = cached
            self._tenants.move_to_end(tenant_id)
            while len(self._tenants) > self._max_tenants:
                self._tenants.popitem(last=False)


def account_to_document(account: Account) -> dict[str, Any]:
    return {
        "code": account.code,
        "name": account.name,
        "type": account.type.value,
        "currency": account.currency,
        "status": account.status.value,
        "balance_constraint": account.balance_constraint.value
        if account.balance_constraint
        else None,
        "balance_shards": account.balance_shards,
        "max_balance_shards": account.shard_span,
        "metadata": dict(account.metadata),
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "version": account.version,
    }


def account_from_document(account_id: str, document: Mapping[str, Any]) -> Account:
    constraint = document.get("balance_constraint")
    return Account(
        id=account_id,
        code=document["code"],
        name=document["name"],
        type=AccountType(document["type"]),
        currency=document["currency"],
        status=AccountStatus(document["status"]),
        balance_constraint=BalanceConstraint(constraint) if constraint else None,
        balance_shards=int(document.get("balance_shards", 1)),
        metadata=dict(document.get("metadata") or {}),
        created_at=_aware(document["created_at"]),
        updated_at=_aware(document["updated_at"]),
        version=int(document.get("version", 1)),
        max_balance_shards=int(document.get("max_balance_shards", 0)),
    )


def period_from_document(document: Mapping[str, Any] | None) -> LedgerPeriod:
    """The accounting period kept in the accounts version document (every posting reads it)."""
    document = document or {}
    closed = document.get("closed_through")
    changed_at = document.get("period_changed_at")
    return LedgerPeriod(
        closed_through=date.fromisoformat(closed) if isinstance(closed, str) else None,
        changed_at=_aware(changed_at) if isinstance(changed_at, datetime) else None,
        changed_by=document.get("period_changed_by"),
    )


def limb_field(total: str, limb: int) -> str:
    """``debits_posted`` for limb 0, ``debits_posted_1`` and ``debits_posted_2`` above."""
    return total if limb == 0 else f"{total}_{limb}"


def split_into_limbs(value: int) -> list[int]:
    """The signed base-2**32 digits of ``value``, lowest first; the last takes the rest."""
    sign, magnitude = (-1 if value < 0 else 1), abs(value)
    mask = (1 << LIMB_BITS) - 1
    digits = [(magnitude >> (LIMB_BITS * n)) & mask for n in range(LIMB_COUNT - 1)]
    digits.append(magnitude >> (LIMB_BITS * (LIMB_COUNT - 1)))
    return [sign * digit for digit in digits]


def total_increments(delta: BalanceTotals) -> dict[str, int]:
    """The non-zero per-limb increments that add ``delta`` to a shard document."""
    increments: dict[str, int] = {}
    for total, value in delta.as_fields().items():
        for limb, digit in enumerate(split_into_limbs(value)):
            if digit:
                increments[limb_field(total, limb)] = digit
    return increments


def _limb_value(fields: Mapping[str, Any], total: str) -> int:
    return sum(
        int(fields.get(limb_field(total, limb), 0)) << (LIMB_BITS * limb)
        for limb in range(LIMB_COUNT)
    )


def totals_from_fields(fields: Mapping[str, Any]) -> BalanceTotals:
    """The exact totals of one shard document (absent limbs are zero)."""
    return BalanceTotals(*(_limb_value(fields, total) for total in TOTAL_FIELDS))


def totals_from_shards(snapshots: Iterable[Any]) -> BalanceTotals:
    total = BalanceTotals()
    for snapshot in snapshots:
        total += totals_from_fields(snapshot.to_dict() or {})
    return total


def folded_limbs(fields: Mapping[str, Any]) -> dict[str, int] | None:
    """The same totals with every limb carried down to 32 bits, if any limb needs it.

    None when no limb is past :data:`FOLD_THRESHOLD` (the usual case: nothing to write).
    """
    limbs = [limb_field(total, n) for total in TOTAL_FIELDS for n in range(LIMB_COUNT - 1)]
    if all(abs(int(fields.get(name, 0))) < FOLD_THRESHOLD for name in limbs):
        return None
    folded: dict[str, int] = {}
    for total in TOTAL_FIELDS:
        for limb, digit in enumerate(split_into_limbs(_limb_value(fields, total))):
            folded[limb_field(total, limb)] = digit
    return folded


# -- entries --------------------------------------------------------------------------


def entry_to_document(entry: Entry, *, fingerprint: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": entry.kind.value,
        "status": entry.status.value,
        "effective_date": entry.effective_date.isoformat(),
        "description": entry.description,
        "metadata": dict(entry.metadata),
        "lines": [encode_line(line) for line in entry.lines],
        "account_ids": entry.account_ids,
        "created_at": entry.created_at,
        "created_by": dict(entry.created_by),
        "expires_at": entry.expires_at,
        "pending_entry_id": entry.pending_entry_id,
        "posting_entry_id": entry.posting_entry_id,
        "reverses_entry_id": entry.reverses_entry_id,
        "reversed_by_entry_id": entry.reversed_by_entry_id,
        "resolved_at": entry.resolved_at,
        "batch_id": entry.batch_id,
        "fingerprint": fingerprint,
        **entry.extra,
    }
    # Absent rather than null: fewer fields to encode, store and index on the hot path.
    document = {k: v for k, v in document.items() if v is not None and v != {}}
    document["lines"] = document.get("lines", [])
    if entry.kind is EntryKind.PENDING and entry.status is EntryStatus.PENDING and entry.expires_at:
        document["pending_expires_at"] = entry.expires_at
    return document


_ENTRY_FIELDS = frozenset(
    {
        "kind",
        "status",
        "effective_date",
        "description",
        "metadata",
        "lines",
        "account_ids",
        "created_at",
        "created_by",
        "expires_at",
        "pending_entry_id",
        "posting_entry_id",
        "reverses_entry_id",
        "reversed_by_entry_id",
        "resolved_at",
        "batch_id",
        "fingerprint",
        "pending_expires_at",
    }
)


def entry_from_document(entry_id: str, document: Mapping[str, Any]) -> Entry:
    return Entry(
        id=entry_id,
        kind=EntryKind(document["kind"]),
        status=EntryStatus(document["status"]),
        effective_date=date.fromisoformat(document["effective_date"]),
        description=document.get("description", ""),
        metadata=dict(document.get("metadata") or {}),
        lines=tuple(decode_line(line) for line in document["lines"]),
        created_at=_aware(document["created_at"]),
        created_by=dict(document.get("created_by") or {}),
        expires_at=_aware_or_none(document.get("expires_at")),
        pending_entry_id=document.get("pending_entry_id"),
        posting_entry_id=document.get("posting_entry_id"),
        reverses_entry_id=document.get("reverses_entry_id"),
        reversed_by_entry_id=document.get("reversed_by_entry_id"),
        resolved_at=_aware_or_none(document.get("resolved_at")),
        batch_id=document.get("batch_id"),
        extra={k: v for k, v in document.items() if k not in _ENTRY_FIELDS},
    )


def encode_line(line: Line) -> str:
    """``side|amount in minor units|currency|account id``, e.g. ``debit|1234|EUR|acc_...``.

    A line is stored as one string rather than a map: Firestore encodes and indexes
    every field of every map in an array, and this form made an entry's write about
    40 % cheaper on the hot path. Nothing queries inside lines (``account_ids``
    serves per-account queries).
    """
    return f"{line.side.value}|{line.amount_minor}|{line.currency}|{line.account_id}"


def decode_line(stored: str) -> Line:
    side, amount, currency, account_id = stored.split("|", 3)
    return Line(account_id, Side(side), int(amount), currency)


# -- reconciliation reports -------------------------------------------------------------


def report_from_document(report_id: str, document: Mapping[str, Any]) -> ReconciliationReport:
    return ReconciliationReport(
        id=report_id,
        tenant_id=document["tenant_id"],
        started_at=datetime.fromisoformat(document["started_at"]),
        completed_at=datetime.fromisoformat(document["completed_at"]),
        as_of=datetime.fromisoformat(document["as_of"]),
        accounts_checked=int(document["accounts_checked"]),
        entries_checked=int(document["entries_checked"]),
        discrepancies=[Discrepancy(**d) for d in document.get("discrepancies", [])],
        discrepancy_count=int(document["discrepancy_count"]),
    )


def _aware(value: datetime) -> datetime:
    # Firestore returns UTC datetimes (DatetimeWithNanoseconds); make them plain and aware.
    plain = datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo or UTC,
    )
    return plain.astimezone(UTC)


def _aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value)
