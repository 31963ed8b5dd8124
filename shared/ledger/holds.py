"""The ledger's two-phase holds: post (fully or partly), void, and expire past their time.

Each transition changes the hold on a precondition (``LedgerCore._change_entry``): a
post checks the accounts it posts to in a short transaction, a void or an expiry
commits writes only, releasing what the hold reserved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import AppError
from shared.events.transact import commit_in_transaction
from shared.identity.actor import Actor
from shared.ledger import domain, hold_rules
from shared.ledger.core import RESOLUTION_FIELD, LedgerCore, replace_entry, resolved_by
from shared.ledger.idempotency import hold_posting_entry_id, requester_id
from shared.ledger.model import (
    Account,
    BalanceTotals,
    Entry,
    EntryKind,
    EntryStatus,
    ExpiryRun,
    HoldTransition,
)
from shared.ledger.repository import entry_to_document
from shared.ledger.requests import PostPendingRequest, VoidPendingRequest
from shared.logger import get_logger

_EXPIRY_SCAN_LIMIT = 200
_log = get_logger("shared.ledger")


class HoldUseCases(LedgerCore):
    def post_pending(
        self,
        tenant_id: str,
        entry_id: str,
        request: PostPendingRequest | None = None,
        *,
        actor: Actor,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> HoldTransition:
        """Post a hold fully or partly; the unposted remainder is released.

        A hold has one possible posting id (:func:`hold_posting_entry_id`); a retry
        with the ``idempotency_key`` of the post that won returns that posting
        instead of 409 ``hold_already_posted``.
        """
        recorded = actor.to_audit()
        request = request or PostPendingRequest()
        token = requester_id(idempotency_key)
        posting_id = hold_posting_entry_id(entry_id)

        def decide(hold: Entry, precondition: Any) -> HoldTransition:
            if hold.posting_entry_id is not None and resolved_by(hold, token):
                posting = self.store.read_entry(tenant_id, hold.posting_entry_id, None)
                return HoldTransition(hold, posting)
            now = self._now()
            status = hold_rules.transition_hold(hold, hold_rules.HoldAction.POST, now=now)
            effective_date = domain.effective_date_or_today(request.effective_date, now)

            def write(
                transaction: Any,
                accounts: dict[str, Account | None],
                _balances: dict[str, BalanceTotals],
            ) -> HoldTransition:
                plan = hold_rules.plan_hold_posting(hold, request, accounts)
                posting = Entry(
                    id=posting_id,
                    kind=EntryKind.HOLD_POSTING,
                    status=EntryStatus.POSTED,
                    effective_date=effective_date,
                    description=request.description or hold.description or f"Posting of {hold.id}",
                    metadata={**hold.metadata, **request.metadata},
                    lines=plan.lines,
                    created_at=now,
                    created_by=dict(recorded),
                    pending_entry_id=hold.id,
                )
                fields = {"posting_entry_id": posting_id, RESOLUTION_FIELD: token}
                resolved = replace_entry(
                    hold,
                    status=status,
                    posting_entry_id=posting_id,
                    resolved_at=now,
                    extra={**hold.extra, RESOLUTION_FIELD: token},
                )
                transaction.create(
                    self.paths.entry(tenant_id, posting_id), entry_to_document(posting)
                )
                self._resolve_hold(transaction, tenant_id, resolved, fields, precondition)
                deltas = _merged(hold_rules.release_deltas(hold), plan.deltas)
                self.store.add_deltas(transaction, tenant_id, accounts, deltas)
                self._stage(
                    transaction,
                    tenant_id,
                    "ledger.hold_posted",
                    subject=f"entries/{hold.id}",
                    data={"hold": resolved.to_json(), "posting": posting.to_json()},
                    actor=recorded,
                    action="ledger.hold.posted",
                    resource=("ledger_entry", hold.id),
                    details={
                        "posting_entry_id": posting_id,
                        "partial": posting.lines != hold.lines,
                    },
                    correlation_id=correlation_id,
                )
                return HoldTransition(resolved, posting)

            return self._commit_checked(
                "post_pending", tenant_id, hold.account_ids, write, effective_date=effective_date
            )

        return self._change_entry(tenant_id, entry_id, decide)

    def void_pending(
        self,
        tenant_id: str,
        entry_id: str,
        request: VoidPendingRequest | None = None,
        *,
        actor: Actor,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> HoldTransition:
        """Void a hold: everything it reserved is released, nothing is posted.

        A retry with the ``idempotency_key`` of the void that won returns the voided
        hold instead of 409 ``hold_already_voided``.
        """
        recorded = actor.to_audit()
        request = request or VoidPendingRequest()
        return self._release_hold(
            tenant_id,
            entry_id,
            hold_rules.HoldAction.VOID,
            actor=recorded,
            correlation_id=correlation_id,
            reason=request.reason,
            token=requester_id(idempotency_key),
        )

    def expire_pending_holds(
        self, now: datetime | None = None, *, tenant_id: str | None = None
    ) -> ExpiryRun:
        """Expire every pending hold whose ``expires_at`` has passed (a scheduled job).

        Scans one tenant, or every tenant when ``tenant_id`` is None. A hold posted
        or voided meanwhile is skipped; running twice expires nothing twice.
        """
        at = now or self._now()
        tenants = [tenant_id] if tenant_id else self.paths.tenant_ids()
        expired: list[str] = []
        actor = Actor.system("ledger.expire_holds").to_audit()
        for tid in tenants:
            while True:
                due = self.store.due_holds(tid, at, _EXPIRY_SCAN_LIMIT)
                done_here = 0
                for entry_id in due:
                    try:
                        self._release_hold(
                            tid, entry_id, hold_rules.HoldAction.EXPIRE, actor=actor, now=at
                        )
                    except AppError as exc:
                        # Resolved by someone else since the scan: nothing to expire.
                        _log.info("ledger.hold_expiry_skipped", entry_id=entry_id, code=exc.code)
                        continue
                    expired.append(entry_id)
                    done_here += 1
                if len(due) < _EXPIRY_SCAN_LIMIT or done_here == 0:
                    break
        return ExpiryRun(expired, len(tenants))

    # -- internals: holds -------------------------------------------------------------

    def _release_hold(
        self,
        tenant_id: str,
        entry_id: str,
        action: hold_rules.HoldAction,
        *,
        actor: dict[str, Any],
        correlation_id: str | None = None,
        reason: str = "",
        now: datetime | None = None,
        token: str | None = None,
    ) -> HoldTransition:
        """Void or expire a hold in one write-only commit: nothing to check, so nothing read.

        Releasing moves no posted balance and breaks no constraint, and accounts are
        only needed for their shard counts (a count changed meanwhile is harmless: a
        lowered count still sums the higher shards).
        """
        resolution_id = token or requester_id(None)
        event_type = (
            "ledger.hold_voided" if action is hold_rules.HoldAction.VOID else "ledger.hold_expired"
        )

        def decide(hold: Entry, precondition: Any) -> HoldTransition:
            if resolved_by(hold, resolution_id) and hold.posting_entry_id is None:
                return HoldTransition(hold)
            at = now or self._now()
            status = hold_rules.transition_hold(hold, action, now=at)
            fields = {RESOLUTION_FIELD: resolution_id, "resolution_reason": reason}
            resolved = replace_entry(
                hold, status=status, resolved_at=at, extra={**hold.extra, **fields}
            )
            accounts = self.store.read_accounts(tenant_id, hold.account_ids, None)
            present = {a: acc for a, acc in accounts.items() if acc is not None}

            def write(transaction: Any) -> None:
                # Writes only: the transaction reads nothing, so it takes no lock before
                # its commit, where the precondition on the hold decides.
                self._resolve_hold(transaction, tenant_id, resolved, fields, precondition)
                deltas = hold_rules.release_deltas(hold)
                self.store.add_deltas(transaction, tenant_id, present, deltas)
                self._stage(
                    transaction,
                    tenant_id,
                    event_type,
                    subject=f"entries/{hold.id}",
                    data={"hold": resolved.to_json(), "reason": reason},
                    actor=actor,
                    action=f"ledger.hold.{status.value}",
                    resource=("ledger_entry", hold.id),
                    details={"reason": reason} if reason else {},
                    correlation_id=correlation_id,
                )

            commit_in_transaction(
                self.db,
                write,
                name=f"{action.value}_hold",
                retry=self.settings.retry,
                attempts=self.settings.transaction_attempts,
            )
            return HoldTransition(resolved)

        return self._change_entry(tenant_id, entry_id, decide)

    def _resolve_hold(
        self,
        writer: Any,
        tenant_id: str,
        resolved: Entry,
        fields: dict[str, Any],
        precondition: Any,
    ) -> None:
        """Move the hold out of pending, on the precondition that it is as it was read."""
        from google.cloud import firestore as fs

        writer.update(
            self.paths.entry(tenant_id, resolved.id),
            {
                "status": resolved.status.value,
                "resolved_at": resolved.resolved_at,
                "pending_expires_at": fs.DELETE_FIELD,
                **fields,
            },
            option=precondition,
        )


def _merged(*deltas: Mapping[str, BalanceTotals]) -> dict[str, BalanceTotals]:
    merged: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
    for mapping in deltas:
        for account_id, delta in mapping.items():
            merged[account_id] += delta
    return dict(merged)
