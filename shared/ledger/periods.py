"""The ledger's accounting periods (close, reopen) and financial statements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from shared.events.transact import read_retried, transact
from shared.identity.actor import Actor
from shared.ledger import period_rules, statements
from shared.ledger.core import LedgerCore
from shared.ledger.history import REOPEN_LOG_FIELD, reopen_log_after
from shared.ledger.model import Account, Entry, LedgerPeriod
from shared.ledger.repository import period_from_document
from shared.ledger.requests import ClosePeriodRequest, ReopenPeriodRequest
from shared.ledger.statements import BalanceSheet, IncomeStatement


class PeriodUseCases(LedgerCore):
    # -- accounting periods -------------------------------------------------------------

    def get_period(self, tenant_id: str) -> LedgerPeriod:
        return self.store.read_period(tenant_id)

    def close_period(
        self,
        tenant_id: str,
        request: ClosePeriodRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> LedgerPeriod:
        """Close the books through ``request.through``: later entries dated into it are
        refused (``period_closed``). Postings read the same document in their
        transactions, so one racing the close either commits first or is refused."""
        recorded = actor.to_audit()

        def decide(current: LedgerPeriod, now: datetime) -> date | None:
            return period_rules.plan_close(current.closed_through, request.through, now.date())

        return self._change_period(
            tenant_id, decide, "closed", actor=recorded, correlation_id=correlation_id
        )

    def reopen_period(
        self,
        tenant_id: str,
        request: ReopenPeriodRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> LedgerPeriod:
        """Move the end of the closed period back (or reopen all of it), with a reason."""
        recorded = actor.to_audit()

        def decide(current: LedgerPeriod, now: datetime) -> date | None:
            return period_rules.plan_reopen(current.closed_through, request.through)

        return self._change_period(
            tenant_id,
            decide,
            "reopened",
            actor=recorded,
            correlation_id=correlation_id,
            reason=request.reason,
        )

    def _change_period(
        self,
        tenant_id: str,
        decide: Callable[[LedgerPeriod, datetime], date | None],
        verb: str,
        *,
        actor: dict[str, Any],
        correlation_id: str | None,
        reason: str | None = None,
    ) -> LedgerPeriod:
        from google.cloud import firestore as fs

        ref = self.paths.accounts_version(tenant_id)

        def attempt(transaction: Any) -> LedgerPeriod:
            snapshot = ref.get(transaction=transaction)
            document = snapshot.to_dict() if snapshot.exists else None
            current = period_from_document(document)
            now = self._now()
            through = decide(current, now)
            period = LedgerPeriod(through, now, dict(actor))
            # The version moves too: a posting batch that read the old document conflicts.
            change: dict[str, Any] = {
                "version": fs.Increment(1),
                "closed_through": through.isoformat() if through else None,
                "period_changed_at": now,
                "period_changed_by": dict(actor),
            }
            if verb == "reopened":
                # Balance snapshots after the new end become stale (shared.ledger.history).
                change[REOPEN_LOG_FIELD] = reopen_log_after(document, through)
            transaction.set(ref, change, merge=True)
            previous = current.closed_through.isoformat() if current.closed_through else None
            details: dict[str, Any] = {
                "closed_through": period.to_json()["closed_through"],
                "previously_closed_through": previous,
            }
            if reason is not None:
                details["reason"] = reason
            self._stage(
                transaction,
                tenant_id,
                f"ledger.period_{verb}",
                subject="ledger/period",
                data={"period": period.to_json(), **details},
                actor=actor,
                action=f"ledger.period.{verb}",
                resource=("ledger_period", tenant_id),
                details=details,
                correlation_id=correlation_id,
            )
            return period

        return transact(
            self.db,
            attempt,
            name=f"period_{verb}",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )

    # -- statements ---------------------------------------------------------------------

    def income_statements(
        self, tenant_id: str, date_from: date, date_to: date
    ) -> list[IncomeStatement]:
        """Revenue, expenses and net income per currency for entries dated in the range."""
        accounts, entries = self._statement_inputs(tenant_id, date_from, date_to)
        return statements.income_statements(accounts, entries, date_from, date_to)

    def balance_sheets(self, tenant_id: str, as_of: date) -> list[BalanceSheet]:
        """Assets, liabilities and equity (with retained earnings) per currency as of a day."""
        accounts, entries = self._statement_inputs(tenant_id, None, as_of)
        return statements.balance_sheets(accounts, entries, as_of)

    def _statement_inputs(
        self, tenant_id: str, date_from: date | None, date_to: date
    ) -> tuple[dict[str, Account], list[Entry]]:
        """The accounts and the entries dated in the range, read at one snapshot."""
        return read_retried(
            lambda: self.store.statement_inputs(tenant_id, date_from, date_to),
            retry=self.settings.retry,
            name="ledger.statements",
        )
