"""Use cases of point-in-time balances and exports, over the instance's ledger service.

* ``balance_as_of``: an account's balances at the end of a day (see
  :mod:`shared.ledger.history` for what counts and why the cost stays bounded).
* ``balance_history``: its closing balances for every day of a bounded range.
* ``export_account_lines`` and the statement exports: bodies produced piece by piece
  (``bytes``), for :class:`shared.http.Stream`.

Reads only, except for balance snapshots, which a read keeps once it computed one
(a cache of final values; see ``HistoryStore.keep_snapshot``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from shared.events.transact import read_retried
from shared.ledger import export, history
from shared.ledger.export import ExportFormat
from shared.ledger.history import BalanceHistory, PointInTimeBalance
from shared.ledger.history_store import AsOfRead, HistoryStore
from shared.ledger.model import Account, BalanceTotals
from shared.logger import get_logger

if TYPE_CHECKING:
    from shared.ledger.service import LedgerService

T = TypeVar("T")
_log = get_logger("shared.ledger")


class AccountHistory:
    """Point-in-time balances and exports of one ledger service's database."""

    def __init__(self, service: LedgerService) -> None:
        self.service = service
        self.store = HistoryStore(service.db, service.paths)

    def _retry(self, name: str, read: Callable[[], T]) -> T:
        return read_retried(read, retry=self.service.settings.retry, name=f"ledger.{name}")

    def _account(self, tenant_id: str, account_id: str) -> Account:
        """The account, or a 404 (also for another tenant's: tenancy is in the path)."""
        return self._retry(
            "read_account", lambda: self.service.store.read_account(tenant_id, account_id, None)
        )

    def _keep(self, tenant_id: str, account: Account, read: AsOfRead) -> None:
        """Keep the snapshot the read proposes; a failure here only costs a later read."""
        if read.new_snapshot is None and not read.stale_snapshots:
            return
        try:
            if read.new_snapshot is not None:
                self.store.keep_snapshot(
                    tenant_id,
                    account.id,
                    read.new_snapshot,
                    read.stale_snapshots,
                    self.service._clock(),
                )
            else:
                self.store.delete_snapshots(tenant_id, account.id, read.stale_snapshots)
        except Exception:  # a cache write must not fail the read it served
            _log.warning(
                "ledger.balance_snapshot_not_kept", tenant_id=tenant_id, account_id=account.id
            )

    # -- balances ---------------------------------------------------------------------

    def balance_as_of(self, tenant_id: str, account_id: str, day: date) -> PointInTimeBalance:
        account = self._account(tenant_id, account_id)

        def holds(transaction: Any, _: AsOfRead) -> BalanceTotals:
            return history.open_holds_through(
                self.store.open_holds(transaction, tenant_id, account.id), account.id, day
            )

        read, pending = self._retry(
            "balance_as_of",
            lambda: self.store.read_as_of(tenant_id, account, day, then=holds),
        )
        self._keep(tenant_id, account, read)
        return PointInTimeBalance(
            account,
            day,
            read.posted + pending,
            read.closed_through,
            read.snapshot.through if read.snapshot else None,
        )

    def balance_history(
        self, tenant_id: str, account_id: str, date_from: date, date_to: date
    ) -> BalanceHistory:
        history.check_date_range(date_from, date_to, max_days=history.MAX_HISTORY_DAYS)
        account = self._account(tenant_id, account_id)

        def days(transaction: Any, opening: AsOfRead) -> list[history.DailyBalance]:
            entries = self.store.account_entries(
                transaction, tenant_id, account.id, None, date_to, first=date_from
            )
            holds = self.store.open_holds(transaction, tenant_id, account.id)
            return history.daily_closings(
                opening.posted, entries, holds, account.id, date_from, date_to
            )

        read, closings = self._retry(
            "balance_history",
            lambda: self.store.read_as_of(
                tenant_id, account, history.day_before(date_from), then=days
            ),
        )
        self._keep(tenant_id, account, read)
        return BalanceHistory(account, date_from, date_to, tuple(closings), read.closed_through)

    # -- exports ----------------------------------------------------------------------

    def export_account_lines(
        self,
        tenant_id: str,
        account_id: str,
        date_from: date,
        date_to: date,
        export_format: ExportFormat,
    ) -> Iterator[bytes]:
        """The account's lines dated in the range, one row each, by date then entry id.

        The opening balance and every page are read at one instant (the opening read's),
        so the running balance is exact even while postings land; Firestore keeps old
        versions for an hour, which bounds how long one export may take.
        """
        history.check_date_range(date_from, date_to)
        account = self._account(tenant_id, account_id)
        opening, _ = self._retry(
            "export_opening",
            lambda: self.store.read_as_of(tenant_id, account, history.day_before(date_from)),
        )
        self._keep(tenant_id, account, opening)
        columns = export.ACCOUNT_LINE_COLUMNS
        return self._account_pieces(
            tenant_id, account, date_from, date_to, export_format, opening, columns
        )

    def _account_pieces(
        self,
        tenant_id: str,
        account: Account,
        date_from: date,
        date_to: date,
        export_format: ExportFormat,
        opening: AsOfRead,
        columns: tuple[str, ...],
    ) -> Iterator[bytes]:
        if export_format == "csv":
            yield export.csv_header(columns).encode("utf-8")
        rows = export.AccountLineRows(account, opening.posted)
        page: list[dict[str, Any]] = []
        for entry in self.store.entries_at(
            tenant_id, account.id, date_from, date_to, opening.read_time
        ):
            page.extend(rows.rows(entry))
            if len(page) >= 200:
                yield export.encode_rows(page, columns, export_format)
                page = []
        if page:
            yield export.encode_rows(page, columns, export_format)

    def export_income_statement(
        self, tenant_id: str, date_from: date, date_to: date
    ) -> Iterator[bytes]:
        statements = self.service.income_statements(tenant_id, date_from, date_to)
        return _csv_pieces(
            export.INCOME_STATEMENT_COLUMNS, export.income_statement_rows(statements)
        )

    def export_balance_sheet(self, tenant_id: str, as_of: date) -> Iterator[bytes]:
        sheets = self.service.balance_sheets(tenant_id, as_of)
        return _csv_pieces(export.BALANCE_SHEET_COLUMNS, export.balance_sheet_rows(sheets))


def _csv_pieces(columns: tuple[str, ...], rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield export.csv_header(columns).encode("utf-8")
    for row in rows:
        yield export.csv_rows([row], columns).encode("utf-8")
