"""The ledger's Firestore reads and blind balance writes, shared by the use cases.

:mod:`shared.ledger.repository` says where documents live and what they hold; this
module reads them. What a use case reads and writes inside its own transaction,
together with its events, stays with the use case; every other read is here.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import NotFoundError
from shared.ledger.model import Account, BalanceTotals, Entry, LedgerPeriod, ReconciliationReport
from shared.ledger.repository import (
    LedgerPaths,
    account_from_document,
    entry_from_document,
    folded_limbs,
    period_from_document,
    report_from_document,
    total_increments,
    totals_from_shards,
)
from shared.logger import get_logger
from shared.pagination import DOCUMENT_ID, ordered_after

if TYPE_CHECKING:
    from google.cloud import firestore

_log = get_logger("shared.ledger")

ACCOUNTS_ORDER = (DOCUMENT_ID,)
ACCOUNT_ENTRIES_ORDER = ("effective_date", DOCUMENT_ID)
"""An account's entries: by effective date (ISO text), then id."""


def entry_not_found(entry_id: str) -> NotFoundError:
    return NotFoundError(f"no entry {entry_id!r}", code="entry_not_found")


class LedgerStore:
    """Reads of one database's ledger documents. Thread-safe."""

    def __init__(
        self, db: firestore.Client, paths: LedgerPaths, rng: random.Random | None = None
    ) -> None:
        self.db = db
        self.paths = paths
        self._rng = rng or random.Random()  # noqa: S311 - shard choice, not security
        self._rng_lock = threading.Lock()

    # -- accounts -----------------------------------------------------------------------

    def read_account(self, tenant_id: str, account_id: str, transaction: Any) -> Account:
        snapshot = self.paths.account(tenant_id, account_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFoundError(f"no account {account_id!r}", code="account_not_found")
        return account_from_document(snapshot.id, snapshot.to_dict() or {})

    def read_accounts(
        self, tenant_id: str, account_ids: Sequence[str], transaction: Any
    ) -> dict[str, Account | None]:
        unique = list(dict.fromkeys(account_ids))
        accounts: dict[str, Account | None] = dict.fromkeys(unique)
        refs = [self.paths.account(tenant_id, a) for a in unique]
        for snapshot in self.db.get_all(refs, transaction=transaction):
            if snapshot.exists:
                accounts[snapshot.id] = account_from_document(snapshot.id, snapshot.to_dict() or {})
        return accounts

    def accounts_query(self, tenant_id: str, filters: Mapping[str, str | None]) -> Any:
        """The tenant's accounts matching ``filters`` (equalities), not yet ordered.

        In document-id order (:func:`shared.pagination.keyset_page`), equality filters
        are served by merging the automatic single-field indexes: no composite index.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.paths.accounts(tenant_id)
        for name, value in filters.items():
            if value is not None:
                query = query.where(filter=FieldFilter(name, "==", value))
        return query

    def accounts_at(self, tenant_id: str, read_time: datetime) -> dict[str, Account]:
        """Every account of the tenant as of ``read_time``."""
        return {
            s.id: account_from_document(s.id, s.to_dict() or {})
            for s in self.paths.accounts(tenant_id).stream(read_time=read_time)
        }

    def has_entries(self, tenant_id: str, account_id: str, transaction: Any) -> bool:
        """Whether any entry has a line on the account, read inside ``transaction``.

        Reading the query in the transaction makes a posting that commits meanwhile
        conflict with it, so a type or currency change cannot slip past a first posting.
        No posting writes the account document for this: a flag there would make
        every first posting to a hot account contend on that one document.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.paths.entries(tenant_id)
            .where(filter=FieldFilter("account_ids", "array_contains", account_id))
            .limit(1)
        )
        return any(True for _ in transaction.get(query))

    def has_ledger(self, tenant_id: str) -> bool:
        accounts = self.paths.accounts(tenant_id).limit(1).get()
        return len(accounts) > 0

    def read_period(self, tenant_id: str) -> LedgerPeriod:
        snapshot = self.paths.accounts_version(tenant_id).get()
        return period_from_document(snapshot.to_dict() if snapshot.exists else None)

    # -- balances -----------------------------------------------------------------------

    def read_totals(
        self,
        tenant_id: str,
        accounts: Sequence[Account],
        transaction: Any = None,
        *,
        read_time: datetime | None = None,
    ) -> dict[str, BalanceTotals]:
        """Balances of ``accounts`` in one batched read of all their shards."""
        totals = {account.id: BalanceTotals() for account in accounts}
        refs = [ref for account in accounts for ref in self.paths.shard_refs(tenant_id, account)]
        if not refs:
            return totals
        if read_time is not None:
            snapshots = self.db.get_all(refs, read_time=read_time)
        else:
            snapshots = self.db.get_all(refs, transaction=transaction)
        for snapshot in snapshots:
            if snapshot.exists:
                account_id = snapshot.reference.parent.parent.id
                totals[account_id] += totals_from_shards([snapshot])
        return totals

    def read_shards(
        self, tenant_id: str, accounts: Sequence[Account]
    ) -> tuple[list[Any], dict[str, BalanceTotals]]:
        """The shard snapshots of ``accounts`` (for preconditions) and their balances."""
        shard_refs = [
            ref for account in accounts for ref in self.paths.shard_refs(tenant_id, account)
        ]
        shards = list(self.db.get_all(shard_refs)) if shard_refs else []
        balances = {account.id: BalanceTotals() for account in accounts}
        for snapshot in shards:
            if snapshot.exists:
                balances[snapshot.reference.parent.parent.id] += totals_from_shards([snapshot])
        return shards, balances

    def accounts_with_totals(
        self, tenant_id: str
    ) -> tuple[list[Account], dict[str, BalanceTotals]]:
        """Every account and its balances, read at one snapshot (a read-only transaction)."""
        from google.cloud import firestore as fs
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self.paths.accounts(tenant_id).order_by(FieldPath.document_id())

        @fs.transactional
        def read(transaction: Any) -> tuple[list[Account], dict[str, BalanceTotals]]:
            accounts = [
                account_from_document(s.id, s.to_dict() or {}) for s in transaction.get(query)
            ]
            return accounts, self.read_totals(tenant_id, accounts, transaction)

        result: tuple[list[Account], dict[str, BalanceTotals]] = read(
            self.db.transaction(read_only=True)
        )
        return result

    def add_deltas(
        self,
        transaction: Any,
        tenant_id: str,
        accounts: Mapping[str, Account | None],
        deltas: Mapping[str, BalanceTotals],
    ) -> None:
        """Blind increments of one random shard per account: no read, so no read lock."""
        from google.cloud import firestore as fs

        for account_id, delta in deltas.items():
            changes = total_increments(delta)
            if not changes:
                continue
            account = accounts[account_id]
            assert account is not None
            with self._rng_lock:
                shard = self._rng.randrange(account.balance_shards)
            transaction.set(
                self.paths.shard(tenant_id, account_id, shard),
                {name: fs.Increment(value) for name, value in changes.items()},
                merge=True,
            )

    def fold_limbs(self, tenant_id: str, accounts: Sequence[Account]) -> None:
        """Carry balance-shard limbs that grew past the threshold into the next limb.

        Values do not change, so this may run at any time; each shard is rewritten in
        its own short transaction, which conflicts with (and retries after) any
        increment that lands meanwhile. See ``repository.py`` for why limbs exist.
        """
        from google.cloud import firestore as fs

        @fs.transactional
        def fold(transaction: Any, ref: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            folded = folded_limbs(snapshot.to_dict() or {}) if snapshot.exists else None
            if folded is not None:
                transaction.set(ref, folded, merge=True)

        refs = [ref for account in accounts for ref in self.paths.shard_refs(tenant_id, account)]
        for shard in self.db.get_all(refs) if refs else []:
            if shard.exists and folded_limbs(shard.to_dict() or {}) is not None:
                _log.warning(
                    "ledger.balance_limbs_folded",
                    tenant_id=tenant_id,
                    account_id=shard.reference.parent.parent.id,
                    shard=shard.id,
                )
                fold(self.db.transaction(), shard.reference)

    # -- entries ------------------------------------------------------------------------

    def read_entry(self, tenant_id: str, entry_id: str, transaction: Any) -> Entry:
        snapshot = self.paths.entry(tenant_id, entry_id).get(transaction=transaction)
        if not snapshot.exists:
            raise entry_not_found(entry_id)
        return entry_from_document(snapshot.id, snapshot.to_dict() or {})

    def account_entries_query(
        self, tenant_id: str, account_id: str, *, date_from: date | None, date_to: date | None
    ) -> Any:
        """Entries touching the account, dated in the range, not yet ordered.

        In :data:`ACCOUNT_ENTRIES_ORDER` it needs the composite index
        ``entries (account_ids CONTAINS, effective_date ASC)``.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.paths.entries(tenant_id).where(
            filter=FieldFilter("account_ids", "array_contains", account_id)
        )
        if date_from:
            query = query.where(filter=FieldFilter("effective_date", ">=", date_from.isoformat()))
        if date_to:
            query = query.where(filter=FieldFilter("effective_date", "<=", date_to.isoformat()))
        return query

    def page_account_entries(
        self,
        tenant_id: str,
        account_id: str,
        *,
        date_from: date | None,
        date_to: date | None,
        after: tuple[date, str] | None,
        limit: int,
    ) -> list[Entry]:
        """Up to ``limit`` entries touching the account, by effective date then id,
        after the entry ``after`` names (a reader that walks them all, not a listed page)."""
        query = ordered_after(
            self.account_entries_query(tenant_id, account_id, date_from=date_from, date_to=date_to),
            ACCOUNT_ENTRIES_ORDER,
            after=None if after is None else self.account_entries_after(tenant_id, *after),
        )
        return [entry_from_document(s.id, s.to_dict() or {}) for s in query.limit(limit).stream()]

    def account_entries_after(
        self, tenant_id: str, effective_date: date, entry_id: str
    ) -> tuple[str, Any]:
        """The values of :data:`ACCOUNT_ENTRIES_ORDER` at an entry."""
        return effective_date.isoformat(), self.paths.entry(tenant_id, entry_id)

    def entries_at(self, tenant_id: str, read_time: datetime) -> Iterator[Entry]:
        """Every entry of the tenant as of ``read_time``, streamed."""
        for snapshot in self.paths.entries(tenant_id).stream(read_time=read_time):
            yield entry_from_document(snapshot.id, snapshot.to_dict() or {})

    def due_holds(self, tenant_id: str, at: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` pending holds whose expiry is at or before ``at``."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.paths.entries(tenant_id)
            .where(filter=FieldFilter("pending_expires_at", "<=", at))
            .order_by("pending_expires_at")
            .limit(limit)
        )
        return [s.id for s in query.stream()]

    def statement_inputs(
        self, tenant_id: str, date_from: date | None, date_to: date
    ) -> tuple[dict[str, Account], list[Entry]]:
        """The accounts and the entries dated in the range, read at one snapshot.

        Reads every entry of the range: the cost grows with the entries in it (a
        balance sheet's range is the whole history up to its day).
        """
        from google.cloud import firestore as fs
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self.paths.entries(tenant_id).where(
            filter=FieldFilter("effective_date", "<=", date_to.isoformat())
        )
        if date_from is not None:
            query = query.where(filter=FieldFilter("effective_date", ">=", date_from.isoformat()))

        @fs.transactional
        def read(transaction: Any) -> tuple[dict[str, Account], list[Entry]]:
            accounts = {
                s.id: account_from_document(s.id, s.to_dict() or {})
                for s in transaction.get(
                    self.paths.accounts(tenant_id).order_by(FieldPath.document_id())
                )
            }
            entries = [entry_from_document(s.id, s.to_dict() or {}) for s in transaction.get(query)]
            return accounts, entries

        result: tuple[dict[str, Account], list[Entry]] = read(self.db.transaction(read_only=True))
        return result

    # -- reconciliation reports ---------------------------------------------------------

    def begin_report(self, tenant_id: str, report_id: str, started: datetime) -> datetime:
        """Create the report's "running" marker; the instant the tenant is read at.

        The marker's commit time is a server timestamp after every commit that came
        before it: reading at it sees a consistent snapshot of the whole tenant.
        """
        write = self.paths.reconciliation(tenant_id, report_id).create(
            {"status": "running", "started_at": started}
        )
        as_of: datetime = write.update_time
        return as_of

    def read_latest_report(self, tenant_id: str) -> ReconciliationReport:
        pointer = self.paths.latest_reconciliation(tenant_id).get()
        if not pointer.exists:
            raise NotFoundError(
                "no reconciliation has run for this tenant", code="reconciliation_not_found"
            )
        report_id = (pointer.to_dict() or {})["reconciliation_id"]
        snapshot = self.paths.reconciliation(tenant_id, report_id).get()
        if not snapshot.exists:
            raise NotFoundError(
                "the latest reconciliation report is missing", code="reconciliation_not_found"
            )
        return report_from_document(report_id, snapshot.to_dict() or {})
