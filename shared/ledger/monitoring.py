"""Balance monitors, the use cases: create, list, read and delete them, and evaluate them.

Monitors live beside the balance they watch:
``tenants/{tid}/accounts/{account_id}/balance_monitors/{monitor_id}``. The
``balance_monitors`` consumer calls :meth:`MonitorUseCases.evaluate_monitors` for the
accounts of every balance-changing ledger event. Each evaluation reads the account's
balance (outside any transaction, so a hot account's postings are never held up by it)
and, in a short transaction per monitor, records a crossing and stages its event
(``ledger.balance_monitor_triggered`` or ``..._cleared``) in the outbox. Only crossings
are written: an account that keeps its side of the threshold costs one read per event.
A crossing seen on a balance read earlier than the one that set the monitor's state is
ignored, so redeliveries and events processed out of order never report a crossing
twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.errors import NotFoundError
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.ledger.core import LedgerCore
from shared.ledger.model import Account, Balances, new_id
from shared.ledger.monitors import (
    CLEARED_TYPE,
    MAX_MONITORS_PER_ACCOUNT,
    MONITOR_ID_PREFIX,
    TRIGGERED_TYPE,
    BalanceMonitor,
    check_room,
    crossing_event_data,
    evaluate,
    monitor_from_document,
    monitor_to_document,
    parse_condition,
)
from shared.ledger.repository import totals_from_shards

MONITORS = "balance_monitors"
SYSTEM_ACTOR = Actor.system("ledger.balance_monitors")
# The ledger events that change balances, and where their lines are in the data.
BALANCE_EVENTS = {
    "ledger.entry_posted": ("entry",),
    "ledger.entry_pending": ("entry",),
    "ledger.entry_reversed": ("reversal",),
    "ledger.hold_posted": ("hold", "posting"),
    "ledger.hold_voided": ("hold",),
    "ledger.hold_expired": ("hold",),
}


def monitored_accounts(event_type: str, data: dict[str, Any]) -> list[str]:
    """The accounts whose balance an event changed, in the order its lines name them."""
    accounts: dict[str, None] = {}
    for part in BALANCE_EVENTS.get(event_type, ()):
        for line in (data.get(part) or {}).get("lines", ()):
            accounts.setdefault(str(line["account_id"]), None)
    return list(accounts)


class MonitorUseCases(LedgerCore):
    def _monitors(self, tenant_id: str, account_id: str) -> Any:
        return self.paths.account(tenant_id, account_id).collection(MONITORS)

    def _read_balances(self, tenant_id: str, account: Account) -> tuple[Balances, datetime]:
        """The balance and the time it was read at (the latest of its shards' reads)."""
        snapshots = list(self.db.get_all(self.paths.shard_refs(tenant_id, account)))
        totals = totals_from_shards([s for s in snapshots if s.exists])
        read_at = max(s.read_time for s in snapshots)
        return Balances(account.currency, account.normal_side, totals), read_at

    def create_monitor(
        self,
        tenant_id: str,
        account_id: str,
        *,
        balance: str,
        operator: str,
        amount: str,
        description: str | None,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> BalanceMonitor:
        """A monitor on the account (404 if absent), its state taken from the balance now."""
        recorded = actor.to_audit()
        account = self.store.read_account(tenant_id, account_id, None)
        condition = parse_condition(
            balance=balance, operator=operator, amount=amount, currency=account.currency
        )
        balances, read_at = self._read_balances(tenant_id, account)
        monitor = BalanceMonitor(
            id=new_id(MONITOR_ID_PREFIX),
            account_id=account.id,
            currency=account.currency,
            condition=condition,
            description=description,
            met=condition.holds(balances),
            evaluated_at=read_at,
            last_crossed_at=None,
            created_at=self._now(),
        )
        collection = self._monitors(tenant_id, account.id)

        def attempt(transaction: Any) -> BalanceMonitor:
            existing = collection.limit(MAX_MONITORS_PER_ACCOUNT).stream(transaction=transaction)
            check_room(sum(1 for _ in existing))
            transaction.create(collection.document(monitor.id), monitor_to_document(monitor))
            self._stage(
                transaction,
                tenant_id,
                "ledger.balance_monitor_created",
                subject=f"accounts/{account.id}/balance_monitors/{monitor.id}",
                data={"monitor": monitor.to_json()},
                actor=recorded,
                action="ledger.balance_monitor.created",
                resource=("ledger_balance_monitor", monitor.id),
                details={
                    "account_id": account.id,
                    "condition": condition.to_json(account.currency),
                },
                correlation_id=correlation_id,
            )
            return monitor

        return transact(
            self.db,
            attempt,
            name="create_monitor",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )

    def list_monitors(self, tenant_id: str, account_id: str) -> list[BalanceMonitor]:
        """The account's monitors, oldest first (ids are time-ordered); 404 if no account."""
        self.store.read_account(tenant_id, account_id, None)
        snapshots = self._monitors(tenant_id, account_id).stream()
        monitors = [monitor_from_document(s.id, s.to_dict() or {}) for s in snapshots]
        return sorted(monitors, key=lambda m: m.id)

    def get_monitor(self, tenant_id: str, account_id: str, monitor_id: str) -> BalanceMonitor:
        snapshot = self._monitors(tenant_id, account_id).document(monitor_id).get()
        if not snapshot.exists:
            raise _not_found(monitor_id)
        return monitor_from_document(snapshot.id, snapshot.to_dict() or {})

    def delete_monitor(
        self,
        tenant_id: str,
        account_id: str,
        monitor_id: str,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> None:
        recorded = actor.to_audit()
        reference = self._monitors(tenant_id, account_id).document(monitor_id)

        def attempt(transaction: Any) -> None:
            snapshot = reference.get(transaction=transaction)
            if not snapshot.exists:
                raise _not_found(monitor_id)
            transaction.delete(reference)
            self._stage(
                transaction,
                tenant_id,
                "ledger.balance_monitor_deleted",
                subject=f"accounts/{account_id}/balance_monitors/{monitor_id}",
                data={"monitor_id": monitor_id, "account_id": account_id},
                actor=recorded,
                action="ledger.balance_monitor.deleted",
                resource=("ledger_balance_monitor", monitor_id),
                details={"account_id": account_id},
                correlation_id=correlation_id,
            )

        transact(
            self.db,
            attempt,
            name="delete_monitor",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )

    def evaluate_monitors(
        self, tenant_id: str, account_ids: Iterable[str], *, correlation_id: str | None = None
    ) -> list[tuple[str, str]]:
        """Evaluate every monitor of ``account_ids``; the crossings as (monitor id, kind)."""
        crossings: list[tuple[str, str]] = []
        for account_id in account_ids:
            collection = self._monitors(tenant_id, account_id)
            ids = [s.id for s in collection.select([]).stream()]
            if not ids:
                continue
            try:
                account = self.store.read_account(tenant_id, account_id, None)
            except NotFoundError:
                continue
            balances, read_at = self._read_balances(tenant_id, account)
            for monitor_id in ids:
                crossed = self._record_crossing(
                    tenant_id, collection.document(monitor_id), balances, read_at, correlation_id
                )
                if crossed is not None:
                    crossings.append((monitor_id, crossed))
        return crossings

    def _record_crossing(
        self,
        tenant_id: str,
        reference: Any,
        balances: Balances,
        read_at: datetime,
        correlation_id: str | None,
    ) -> str | None:
        def attempt(transaction: Any) -> str | None:
            snapshot = reference.get(transaction=transaction)
            if not snapshot.exists:
                return None  # deleted meanwhile
            monitor = monitor_from_document(snapshot.id, snapshot.to_dict() or {})
            outcome = evaluate(monitor, balances, read_at)
            if outcome is None:
                return None
            updated, crossed = outcome
            if crossed is None:
                return None
            transaction.update(
                reference,
                {
                    "met": updated.met,
                    "evaluated_at": updated.evaluated_at,
                    "last_crossed_at": updated.last_crossed_at,
                },
            )
            self._stage(
                transaction,
                tenant_id,
                TRIGGERED_TYPE if crossed == "triggered" else CLEARED_TYPE,
                subject=f"accounts/{updated.account_id}/balance_monitors/{updated.id}",
                data=crossing_event_data(updated, balances, crossed),
                actor=SYSTEM_ACTOR.to_audit(),
                action=f"ledger.balance_monitor.{crossed}",
                resource=("ledger_balance_monitor", updated.id),
                details={"account_id": updated.account_id, "met": updated.met},
                correlation_id=correlation_id,
            )
            return crossed

        return transact(
            self.db,
            attempt,
            name="record_monitor_crossing",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )


def _not_found(monitor_id: str) -> NotFoundError:
    return NotFoundError(f"no balance monitor {monitor_id!r}", code="monitor_not_found")
