"""Firestore reads and writes of point-in-time balances, snapshots and exports.

Layout (beside the account's balance shards)::

    tenants/{tid}/accounts/{account_id}/balance_snapshots/{YYYY-MM-DD}
        through, epoch, debits_posted, credits_posted (decimal strings of minor
        units: a total may exceed a Firestore integer), computed_at

The queries: an account's snapshots on or before a day (single-field index on
``through``); its entries by date range (the composite index ``entries
(account_ids CONTAINS, effective_date ASC)``); its open holds (``account_ids``
CONTAINS and ``status ==``, served by merging single-field indexes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shared.ledger.history import (
    BalanceSnapshot,
    posted_as_of,
    reopen_log,
    snapshot_is_valid,
)
from shared.ledger.model import Account, BalanceTotals, Entry, EntryStatus
from shared.ledger.repository import (
    LedgerPaths,
    entry_from_document,
    period_from_document,
    totals_from_shards,
)

if TYPE_CHECKING:
    from google.cloud import firestore

BALANCE_SNAPSHOTS = "balance_snapshots"
# Snapshots looked at, latest first, for a valid one; stale ones found are deleted, so
# more than a few stale ones in a row only happen after many reopens.
_SNAPSHOT_CANDIDATES = 16
EXPORT_PAGE_SIZE = 300


@dataclass
class AsOfRead:
    """What one consistent read found for an account as of a day."""

    closed_through: date | None
    epoch: int
    snapshot: BalanceSnapshot | None
    posted: BalanceTotals  # posted totals at the end of the day
    new_snapshot: BalanceSnapshot | None
    stale_snapshots: list[date] = field(default_factory=list)
    read_time: datetime | None = None


class HistoryStore:
    """Reads of one database's point-in-time balances. Thread-safe."""

    def __init__(self, db: firestore.Client, paths: LedgerPaths) -> None:
        self.db = db
        self.paths = paths

    def snapshots(self, tenant_id: str, account_id: str) -> Any:
        return self.paths.account(tenant_id, account_id).collection(BALANCE_SNAPSHOTS)

    # -- consistent reads -------------------------------------------------------------

    def read_as_of(
        self,
        tenant_id: str,
        account: Account,
        day: date | None,
        *,
        then: Any = None,
    ) -> tuple[AsOfRead, Any]:
        """Posted totals at the end of ``day`` (None: before any day, zero), at one
        snapshot of the database, and ``then(transaction, read)`` run at that snapshot.

        A read-only transaction: it takes no locks, and every read in it sees the same
        instant, so a snapshot it proposes is consistent with the period it saw.
        """
        from google.cloud import firestore as fs

        @fs.transactional
        def read(transaction: Any) -> tuple[AsOfRead, Any]:
            result = self._as_of(transaction, tenant_id, account, day)
            return result, then(transaction, result) if then is not None else None

        answer: tuple[AsOfRead, Any] = read(self.db.transaction(read_only=True))
        return answer

    def _as_of(
        self, transaction: Any, tenant_id: str, account: Account, day: date | None
    ) -> AsOfRead:
        meta = self.paths.accounts_version(tenant_id).get(transaction=transaction)
        document = meta.to_dict() if meta.exists else None
        closed_through = period_from_document(document).closed_through
        reopens = reopen_log(document)
        read_time = getattr(meta, "read_time", None)
        if day is None:
            return AsOfRead(
                closed_through, len(reopens), None, BalanceTotals(), None, [], read_time
            )
        snapshot, stale = self._latest_valid_snapshot(
            transaction, tenant_id, account.id, day, reopens
        )
        found = posted_as_of(
            day,
            closed_through=closed_through,
            epoch=len(reopens),
            snapshot=snapshot,
            current=lambda: self._balance(transaction, tenant_id, account),
            entries=lambda after, through: self.account_entries(
                transaction, tenant_id, account.id, after, through
            ),
            account_id=account.id,
        )
        return AsOfRead(
            closed_through,
            len(reopens),
            found.started_from,
            found.posted,
            found.new_snapshot,
            stale,
            read_time,
        )

    def _balance(self, transaction: Any, tenant_id: str, account: Account) -> BalanceTotals:
        """The account's totals: the sum of its shard documents, read in ``transaction``."""
        refs = self.paths.shard_refs(tenant_id, account)
        return totals_from_shards(
            s for s in self.db.get_all(refs, transaction=transaction) if s.exists
        )

    def _latest_valid_snapshot(
        self, transaction: Any, tenant_id: str, account_id: str, day: date, reopens: list[str]
    ) -> tuple[BalanceSnapshot | None, list[date]]:
        from google.cloud import firestore as fs
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.snapshots(tenant_id, account_id)
            .where(filter=FieldFilter("through", "<=", day.isoformat()))
            .order_by("through", direction=fs.Query.DESCENDING)
            .limit(_SNAPSHOT_CANDIDATES)
        )
        stale: list[date] = []
        for candidate in transaction.get(query):
            snapshot = BalanceSnapshot.from_document(candidate.to_dict() or {})
            if snapshot_is_valid(snapshot, reopens):
                return snapshot, stale
            stale.append(snapshot.through)
        return None, stale

    def account_entries(
        self,
        transaction: Any,
        tenant_id: str,
        account_id: str,
        after: date | None,
        through: date | None,
        *,
        first: date | None = None,
    ) -> Iterator[Entry]:
        """The account's entries dated after ``after`` (or on or after ``first``) up to
        ``through`` (None: every later day), by date, streamed inside ``transaction``."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self.paths.entries(tenant_id).where(
            filter=FieldFilter("account_ids", "array_contains", account_id)
        )
        if after is not None:
            query = query.where(filter=FieldFilter("effective_date", ">", after.isoformat()))
        if first is not None:
            query = query.where(filter=FieldFilter("effective_date", ">=", first.isoformat()))
        if through is not None:
            query = query.where(filter=FieldFilter("effective_date", "<=", through.isoformat()))
        query = query.order_by("effective_date").order_by(FieldPath.document_id())
        for snapshot in transaction.get(query):
            yield entry_from_document(snapshot.id, snapshot.to_dict() or {})

    def open_holds(self, transaction: Any, tenant_id: str, account_id: str) -> list[Entry]:
        """The account's holds still open (few: every hold expires)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.paths.entries(tenant_id)
            .where(filter=FieldFilter("account_ids", "array_contains", account_id))
            .where(filter=FieldFilter("status", "==", EntryStatus.PENDING.value))
        )
        return [entry_from_document(s.id, s.to_dict() or {}) for s in transaction.get(query)]

    # -- snapshots --------------------------------------------------------------------

    def keep_snapshot(
        self,
        tenant_id: str,
        account_id: str,
        snapshot: BalanceSnapshot,
        stale: list[date],
        computed_at: datetime,
    ) -> None:
        """Write a new snapshot and delete stale ones, in one batch.

        Safe without a transaction: the snapshot was computed at a consistent instant
        when its day was closed, and it names the reopen log's length then, so a reopen
        committed meanwhile makes it stale (never wrong); a stale snapshot stays stale.
        Two readers writing the same snapshot write the same values.
        """
        batch = self.db.batch()
        collection = self.snapshots(tenant_id, account_id)
        for day in stale:
            if day != snapshot.through:
                batch.delete(collection.document(day.isoformat()))
        batch.set(
            collection.document(snapshot.through.isoformat()), snapshot.to_document(computed_at)
        )
        batch.commit()

    def delete_snapshots(self, tenant_id: str, account_id: str, days: list[date]) -> None:
        if not days:
            return
        batch = self.db.batch()
        for day in days:
            batch.delete(self.snapshots(tenant_id, account_id).document(day.isoformat()))
        batch.commit()

    # -- exports ----------------------------------------------------------------------

    def entries_at(
        self,
        tenant_id: str,
        account_id: str,
        date_from: date,
        date_to: date,
        read_time: datetime | None,
        page_size: int | None = None,
    ) -> Iterator[Entry]:
        """The account's entries dated in the range as of ``read_time``, page by page.

        Each page is its own query (resumed after the last entry of the previous one),
        so no read stays open while the caller sends what it has.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        size = page_size or EXPORT_PAGE_SIZE
        after: Entry | None = None
        while True:
            query = (
                self.paths.entries(tenant_id)
                .where(filter=FieldFilter("account_ids", "array_contains", account_id))
                .where(filter=FieldFilter("effective_date", ">=", date_from.isoformat()))
                .where(filter=FieldFilter("effective_date", "<=", date_to.isoformat()))
                .order_by("effective_date")
                .order_by(FieldPath.document_id())
            )
            if after is not None:
                query = query.start_after(
                    {
                        "effective_date": after.effective_date.isoformat(),
                        FieldPath.document_id(): self.paths.entry(tenant_id, after.id),
                    }
                )
            options = {"read_time": read_time} if read_time is not None else {}
            page = [
                entry_from_document(s.id, s.to_dict() or {})
                for s in query.limit(size).stream(**options)
            ]
            yield from page
            if len(page) < size:
                return
            after = page[-1]
