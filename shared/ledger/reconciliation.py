"""Ledger reconciliation: every balance recomputed from the lines and checked, and reported.

The use cases (:class:`ReconciliationUseCases`) read a tenant at one snapshot,
carry grown balance limbs (:meth:`~shared.ledger.store.LedgerStore.fold_limbs`),
store the report with one ``ledger.discrepancy`` event per discrepancy, and read the
latest report. The checks themselves are pure functions of what was read:
:func:`entry_integrity`, :func:`balance_drift` and :func:`zero_sums`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.errors import AppError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import transact
from shared.identity.actor import Actor
from shared.ledger import domain
from shared.ledger.core import EVENT_SOURCE, LEDGER_TOPIC, LedgerCore
from shared.ledger.model import (
    RECONCILIATION_ID_PREFIX,
    Account,
    BalanceTotals,
    Discrepancy,
    Entry,
    ReconciliationReport,
    Side,
    money_json,
    new_id,
)
from shared.ledger.repository import TOTAL_FIELDS
from shared.logger import get_logger

# A report keeps this many discrepancies in full (a document holds at most 1 MiB);
# the count is always exact. Each one also becomes a ledger.discrepancy event, up to
# the same number per run.
MAX_REPORTED_DISCREPANCIES = 200
_log = get_logger("shared.ledger")


class ReconciliationUseCases(LedgerCore):
    # -- reconciliation ---------------------------------------------------------------

    def reconcile(
        self,
        tenant_id: str | None = None,
        *,
        actor: Actor | None = None,
        correlation_id: str | None = None,
    ) -> list[ReconciliationReport]:
        """Reconcile one tenant, or every tenant with ledger data when None."""
        tenants = [tenant_id] if tenant_id else self.paths.tenant_ids()
        reports = []
        for tid in tenants:
            if tenant_id is None and not self.store.has_ledger(tid):
                continue
            reports.append(self.reconcile_tenant(tid, actor=actor, correlation_id=correlation_id))
        return reports

    def reconcile_tenant(
        self, tenant_id: str, *, actor: Actor | None = None, correlation_id: str | None = None
    ) -> ReconciliationReport:
        """Recompute every balance from the entries' lines at one snapshot; store a report.

        Checks, at the instant the run starts: each account's stored totals equal
        the sum of its lines (posted and pending, separately); each entry balances
        per currency and points at accounts of its currency; every currency sums
        to zero across the tenant (posted debits = posted credits, pending likewise);
        no stored balance breaks its account's constraint. Each discrepancy is also
        published as a ``ledger.discrepancy`` event.
        """
        recorded = (actor or Actor.system("ledger.reconcile")).to_audit()
        report_id = new_id(RECONCILIATION_ID_PREFIX)
        started = self._now()
        as_of = self.store.begin_report(tenant_id, report_id, started)
        accounts = self.store.accounts_at(tenant_id, as_of)
        stored = self.store.read_totals(tenant_id, list(accounts.values()), read_time=as_of)
        self.store.fold_limbs(tenant_id, list(accounts.values()))
        recomputed: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
        discrepancies: list[Discrepancy] = []
        entries_checked = 0
        for entry in self.store.entries_at(tenant_id, as_of):
            entries_checked += 1
            discrepancies.extend(entry_integrity(entry, accounts))
            for line in entry.lines:
                recomputed[line.account_id] += BalanceTotals.of_line(
                    line.side, line.amount_minor, entry.effect
                )
        discrepancies.extend(balance_drift(accounts, stored, recomputed))
        discrepancies.extend(zero_sums(accounts, stored, recomputed))
        completed = self._now()
        report = ReconciliationReport(
            id=report_id,
            tenant_id=tenant_id,
            started_at=started,
            completed_at=completed,
            as_of=_plain_datetime(as_of),
            accounts_checked=len(accounts),
            entries_checked=entries_checked,
            discrepancies=discrepancies[:MAX_REPORTED_DISCREPANCIES],
            discrepancy_count=len(discrepancies),
        )
        self._store_report(report, recorded, correlation_id)
        if discrepancies:
            _log.error(
                "ledger.reconciliation_discrepancies",
                tenant_id=tenant_id,
                reconciliation_id=report_id,
                count=len(discrepancies),
            )
        return report

    def get_latest_reconciliation(self, tenant_id: str) -> ReconciliationReport:
        return self.store.read_latest_report(tenant_id)

    def _store_report(
        self, report: ReconciliationReport, actor: dict[str, Any], correlation_id: str | None
    ) -> None:
        tenant_id = report.tenant_id
        document = report.to_json()
        latest_ref = self.paths.latest_reconciliation(tenant_id)

        def attempt(transaction: Any) -> None:
            latest = latest_ref.get(transaction=transaction)
            transaction.set(self.paths.reconciliation(tenant_id, report.id), document)
            newer = (
                latest.exists
                and (latest.to_dict() or {}).get("started_at", report.started_at)
                > report.started_at
            )
            if not newer:
                transaction.set(
                    latest_ref,
                    {"reconciliation_id": report.id, "started_at": report.started_at},
                )
            for discrepancy in report.discrepancies:
                envelope = new_event(
                    "ledger.discrepancy",
                    source=EVENT_SOURCE,
                    subject=f"reconciliations/{report.id}",
                    tenant_id=tenant_id,
                    correlation_id=correlation_id,
                    data={"reconciliation_id": report.id, "discrepancy": discrepancy.to_json()},
                )
                add_to_outbox(transaction, self.db, LEDGER_TOPIC, envelope)
            audit = audit_event(
                "ledger.reconciliation.completed",
                tenant_id=tenant_id,
                actor=actor,
                resource_type="ledger_reconciliation",
                resource_id=report.id,
                outcome="success" if report.clean else "failure",
                details={
                    "discrepancy_count": report.discrepancy_count,
                    "accounts_checked": report.accounts_checked,
                    "entries_checked": report.entries_checked,
                },
                source=EVENT_SOURCE,
                correlation_id=correlation_id,
            )
            add_to_outbox(transaction, self.db, AUDIT_TOPIC, audit)

        transact(
            self.db,
            attempt,
            name="store_reconciliation",
            publisher=self._publisher,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )


# -- the checks --------------------------------------------------------------------------


def _plain_datetime(value: datetime) -> datetime:
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def entry_integrity(entry: Entry, accounts: Mapping[str, Account]) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    net: dict[str, int] = defaultdict(int)
    for line in entry.lines:
        net[line.currency] += line.amount_minor if line.side is Side.DEBIT else -line.amount_minor
        account = accounts.get(line.account_id)
        if account is None:
            found.append(
                Discrepancy(
                    "unknown_account",
                    f"entry {entry.id} has a line on a missing account",
                    account_id=line.account_id,
                    entry_id=entry.id,
                    currency=line.currency,
                )
            )
        elif account.currency != line.currency:
            found.append(
                Discrepancy(
                    "currency_mismatch",
                    f"entry {entry.id} has a {line.currency} line on a {account.currency} account",
                    account_id=account.id,
                    entry_id=entry.id,
                    currency=line.currency,
                )
            )
    for currency, difference in sorted(net.items()):
        if difference:
            found.append(
                Discrepancy(
                    "entry_unbalanced",
                    f"entry {entry.id} does not balance in {currency}",
                    entry_id=entry.id,
                    currency=currency,
                    stored=money_json(difference, currency),
                    recomputed=money_json(0, currency),
                )
            )
    return found


def balance_drift(
    accounts: Mapping[str, Account],
    stored: Mapping[str, BalanceTotals],
    recomputed: Mapping[str, BalanceTotals],
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for account_id, account in sorted(accounts.items()):
        have = stored.get(account_id, BalanceTotals()).as_fields()
        want = recomputed.get(account_id, BalanceTotals()).as_fields()
        for name in TOTAL_FIELDS:
            if have[name] != want[name]:
                found.append(
                    Discrepancy(
                        "balance_drift",
                        f"account {account_id}: stored {name} differs from the sum of its lines",
                        account_id=account_id,
                        currency=account.currency,
                        field=name,
                        stored=money_json(have[name], account.currency),
                        recomputed=money_json(want[name], account.currency),
                    )
                )
        if account.balance_constraint is not None:
            try:
                domain.check_constraint(account, stored.get(account_id, BalanceTotals()), "")
            except AppError:
                found.append(
                    Discrepancy(
                        "constraint_violated",
                        f"account {account_id} breaks {account.balance_constraint.value}",
                        account_id=account_id,
                        currency=account.currency,
                    )
                )
    return found


def zero_sums(
    accounts: Mapping[str, Account],
    stored: Mapping[str, BalanceTotals],
    recomputed: Mapping[str, BalanceTotals],
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for label, totals in (("stored", stored), ("recomputed", recomputed)):
        per_currency: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
        for account_id, account in accounts.items():
            per_currency[account.currency] += totals.get(account_id, BalanceTotals())
        for currency, t in sorted(per_currency.items()):
            for kind, debit, credit in (
                ("posted", t.debits_posted, t.credits_posted),
                ("pending", t.debits_pending, t.credits_pending),
            ):
                if debit != credit:
                    found.append(
                        Discrepancy(
                            "currency_not_zero_sum",
                            f"{label} {kind} balances in {currency} do not sum to zero",
                            currency=currency,
                            field=f"{label}.{kind}",
                            stored=money_json(debit - credit, currency),
                            recomputed=money_json(0, currency),
                        )
                    )
    return found
