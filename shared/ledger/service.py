"""The ledger's use cases over Firestore: what the HTTP and background adapters call.

Every use case takes the (already authenticated) ``tenant_id``, the ``actor``
(``{"user_id": ..., "role": ...}`` or ``{"system": name}``) and, where it emits
events, a ``correlation_id``. It returns plain values with ``to_json()`` (money as
decimal strings) or raises an :class:`~shared.errors.AppError`.

Each state change commits in one Firestore transaction together with its balance
effects and its events (``ledger-events`` and ``audit-events``, through the
outbox); the events are published after the commit and a failed publish is left
to the outbox relay. Nothing inside a transaction function publishes or calls out:
``@firestore.transactional`` may run it several times.

Postings (``post_entry``) go through a :class:`GroupCommitter`: concurrent postings
of a tenant on one instance share a transaction. The other changes run one
transaction each. Every use case is wrapped in a bounded, jittered retry on
contention (``retry.py``) and is safe to re-run: ids are fixed before the first
attempt, and an attempt that finds its own earlier commit returns it.

Do not call these use cases inside another transaction, or inside an events
consumer's ``run_once`` effect: they run their own. An asynchronous posting
request is made idempotent by choosing ``entry_id`` from the request's event id.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import AppError, ConflictError, FieldError, NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import StagedEvent, add_to_outbox, publish_committed
from shared.http.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor
from shared.ledger import domain
from shared.ledger.domain import invalid
from shared.ledger.group_commit import BatchOutcome, GroupCommitter
from shared.ledger.model import (
    ACCOUNT_ID_PREFIX,
    ENTRY_ID_PREFIX,
    RECONCILIATION_ID_PREFIX,
    Account,
    AccountStatus,
    AccountType,
    AccountWithBalances,
    Balances,
    BalanceTotals,
    CurrencyTrialBalance,
    Discrepancy,
    Entry,
    EntryKind,
    EntryStatus,
    ExpiryRun,
    HoldTransition,
    LineEffect,
    Page,
    ReconciliationReport,
    Reversal,
    Side,
    TrialBalance,
    TrialBalanceRow,
    money_json,
    new_id,
)
from shared.ledger.repository import (
    ENTRIES,
    TOTAL_FIELDS,
    AccountCache,
    LedgerPaths,
    account_from_document,
    account_to_document,
    entry_from_document,
    entry_to_document,
    folded_limbs,
    total_increments,
    totals_from_shards,
)
from shared.ledger.requests import (
    CreateAccountRequest,
    PostEntryRequest,
    PostPendingRequest,
    ReverseEntryRequest,
    UpdateAccountRequest,
    VoidPendingRequest,
)
from shared.ledger.retry import DEFAULT_RETRY, with_retry
from shared.logger import get_logger
from shared.resilience import RetryPolicy

if TYPE_CHECKING:
    from google.cloud import firestore

LEDGER_TOPIC = "ledger-events"
EVENT_SOURCE = "tributum/ledger"
Actor = Mapping[str, Any]
Publisher = Callable[["firestore.Client", Sequence[StagedEvent]], None]
T = TypeVar("T")

# A report keeps this many discrepancies in full (a document holds at most 1 MiB);
# the count is always exact. Each one also becomes a ledger.discrepancy event, up to
# the same number per run.
MAX_REPORTED_DISCREPANCIES = 200
_EXPIRY_SCAN_LIMIT = 200

_log = get_logger("shared.ledger")


@dataclass(frozen=True)
class LedgerSettings:
    retry: RetryPolicy = DEFAULT_RETRY
    group_commit: bool = True
    max_batch: int = 32
    max_batches_in_flight: int = 1
    # A commit holds at most 500 writes; a posting writes 3 + 2 per line at most.
    max_batch_writes: int = 450
    transaction_attempts: int = 5
    default_hold_timeout: timedelta = domain.DEFAULT_HOLD_TIMEOUT


@dataclass(frozen=True)
class _PostingCommand:
    tenant_id: str
    entry_id: str
    request: PostEntryRequest
    proposed: list[domain.ProposedLine]
    effective_date: date
    expires_at: datetime | None
    fingerprint: str
    actor: dict[str, Any]
    correlation_id: str | None
    created_at: datetime
    check_existing: bool

    @property
    def effect(self) -> LineEffect:
        return LineEffect.PENDING if self.request.pending else LineEffect.POSTED

    @property
    def writes(self) -> int:
        return 3 + 2 * len(self.proposed)


@dataclass
class _Staging:
    """Events of one transaction attempt (rebuilt on every attempt)."""

    events: list[StagedEvent] = field(default_factory=list)


class LedgerService:
    """The ledger use cases for one Firestore database. Thread-safe; one per instance."""

    def __init__(
        self,
        db: firestore.Client,
        *,
        publisher: Publisher | None = publish_committed,
        settings: LedgerSettings | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.paths = LedgerPaths(db)
        self.settings = settings or LedgerSettings()
        self._publisher = publisher
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()  # noqa: S311 - shard choice, not security
        self._rng_lock = threading.Lock()
        self._account_cache = AccountCache()
        self._committer: GroupCommitter[_PostingCommand, tuple[Entry, bool]] = GroupCommitter(
            self._commit_postings,
            max_batch=self.settings.max_batch,
            max_weight=self.settings.max_batch_writes,
            max_in_flight=self.settings.max_batches_in_flight,
            weight=lambda command: command.writes,
        )

    # -- accounts ---------------------------------------------------------------------

    def create_account(
        self,
        tenant_id: str,
        request: CreateAccountRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> Account:
        """Create an account; its code is unique in the tenant (409 ``account_code_taken``)."""
        actor = _checked_actor(actor)
        account = domain.new_account(request, account_id=new_id(ACCOUNT_ID_PREFIX), now=self._now())
        account_ref = self.paths.account(tenant_id, account.id)
        code_ref = self.paths.account_code(tenant_id, account.code)

        def attempt(transaction: Any) -> tuple[Account, list[StagedEvent]]:
            code = code_ref.get(transaction=transaction)
            if code.exists:
                if (code.to_dict() or {}).get("account_id") == account.id:
                    return self._read_account(tenant_id, account.id, transaction), []
                raise ConflictError(
                    f"account code {account.code!r} is already used in this tenant",
                    code="account_code_taken",
                    errors=[FieldError("code", "already used", "account_code_taken")],
                )
            transaction.create(account_ref, account_to_document(account))
            transaction.create(
                code_ref, {"account_id": account.id, "created_at": account.created_at}
            )
            staging = self._stage(
                transaction,
                tenant_id,
                "ledger.account_created",
                subject=f"accounts/{account.id}",
                data={"account": account.to_json()},
                actor=actor,
                action="ledger.account.created",
                resource=("ledger_account", account.id),
                details={"code": account.code, "currency": account.currency},
                correlation_id=correlation_id,
            )
            return account, staging.events

        return self._run("create_account", attempt)

    def get_account(self, tenant_id: str, account_id: str) -> AccountWithBalances:
        """The account with its posted, pending and available balances (404 if absent)."""
        account = self._read_account(tenant_id, account_id, None)
        totals = self._read_totals(tenant_id, [account])[account.id]
        return AccountWithBalances(account, Balances(account.currency, account.normal_side, totals))

    def list_accounts(
        self,
        tenant_id: str,
        *,
        type: AccountType | None = None,
        status: AccountStatus | None = None,
        currency: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Account]:
        """Accounts in creation order (ids are time-ordered), optionally filtered."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        limit = _page_limit(limit)
        filters = {
            "type": type.value if type else None,
            "status": status.value if status else None,
            "currency": currency,
        }
        query = self.paths.accounts(tenant_id)
        for name, value in filters.items():
            if value is not None:
                query = query.where(filter=FieldFilter(name, "==", value))
        # Equality filters plus document-id order are served by merging the automatic
        # single-field indexes: no composite index is needed.
        query = query.order_by(FieldPath.document_id())
        if cursor:
            position = decode_cursor(cursor, required_keys=("after", "filters"))
            if position["filters"] != filters:
                raise invalid(
                    "query.cursor", "belongs to a list with other filters", "cursor_mismatch"
                )
            query = query.start_after(
                {FieldPath.document_id(): self.paths.account(tenant_id, str(position["after"]))}
            )
        snapshots = list(query.limit(limit + 1).stream())
        accounts = [account_from_document(s.id, s.to_dict() or {}) for s in snapshots[:limit]]
        next_cursor = None
        if len(snapshots) > limit:
            next_cursor = encode_cursor({"after": accounts[-1].id, "filters": filters})
        return Page(accounts, next_cursor)

    def update_account(
        self,
        tenant_id: str,
        account_id: str,
        request: UpdateAccountRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> AccountWithBalances:
        """Rename, freeze, unfreeze, close (only at zero), or retype an unused account."""
        from google.cloud import firestore as fs

        actor = _checked_actor(actor)

        def attempt(transaction: Any) -> tuple[AccountWithBalances, list[StagedEvent]]:
            account = self._read_account(tenant_id, account_id, transaction)
            totals = self._read_totals(tenant_id, [account], transaction)[account.id]
            retyped = (request.type not in (None, account.type)) or (
                request.currency not in (None, account.currency)
            )
            used = retyped and self._has_entries(tenant_id, account_id, transaction)
            update = domain.update_account(
                account, request, totals, has_postings=used, now=self._now()
            )
            result = AccountWithBalances(
                update.account,
                Balances(update.account.currency, update.account.normal_side, totals),
            )
            if not update.changed:
                return result, []
            transaction.set(
                self.paths.account(tenant_id, account_id), account_to_document(update.account)
            )
            if set(update.changes) - {"name", "metadata"}:
                # Postings validate against cached accounts of the version they read.
                transaction.set(
                    self.paths.accounts_version(tenant_id),
                    {"version": fs.Increment(1), "updated_at": update.account.updated_at},
                    merge=True,
                )
            staging = self._stage(
                transaction,
                tenant_id,
                "ledger.account_updated",
                subject=f"accounts/{account_id}",
                data={"account": update.account.to_json(), "changes": update.changes},
                actor=actor,
                action="ledger.account.updated",
                resource=("ledger_account", account_id),
                details={"changes": update.changes},
                correlation_id=correlation_id,
            )
            return result, staging.events

        return self._run("update_account", attempt)

    def trial_balance(self, tenant_id: str) -> TrialBalance:
        """Posted balances of every account, per currency, read at one instant.

        Each currency's debit column equals its credit column (``net`` is zero)
        whenever the ledger is sound; all reads share one snapshot, so concurrent
        postings never make a trial balance disagree with itself.
        """
        from google.cloud import firestore as fs
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self.paths.accounts(tenant_id).order_by(FieldPath.document_id())

        @fs.transactional
        def read(transaction: Any) -> tuple[list[Account], dict[str, BalanceTotals]]:
            accounts = [
                account_from_document(s.id, s.to_dict() or {}) for s in transaction.get(query)
            ]
            return accounts, self._read_totals(tenant_id, accounts, transaction)

        accounts, totals = with_retry(
            lambda: read(self.db.transaction(read_only=True)),
            policy=self.settings.retry,
            name="trial_balance",
        )
        rows: dict[str, list[TrialBalanceRow]] = defaultdict(list)
        for account in sorted(accounts, key=lambda a: a.code):
            t = totals[account.id]
            net = t.debits_posted - t.credits_posted
            rows[account.currency].append(
                TrialBalanceRow(
                    account.id,
                    account.code,
                    account.name,
                    account.type,
                    account.status,
                    debit_balance=max(net, 0),
                    credit_balance=max(-net, 0),
                )
            )
        currencies = [CurrencyTrialBalance(c, rows[c]) for c in sorted(rows)]
        return TrialBalance(self._now(), currencies)

    # -- entries ----------------------------------------------------------------------

    def post_entry(
        self,
        tenant_id: str,
        request: PostEntryRequest,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> Entry:
        """Post a journal entry, or open a hold when ``request.pending``.

        With ``request.entry_id`` set, a repeated request returns the entry it
        created the first time; the same id with another body is 409
        ``entry_id_conflict``.
        """
        actor = _checked_actor(actor)
        now = self._now()
        proposed = domain.parse_lines(request.lines, request.currency)
        expires_at = domain.hold_expiry(
            request, now=now, default_timeout=self.settings.default_hold_timeout
        )
        command = _PostingCommand(
            tenant_id=tenant_id,
            entry_id=request.entry_id or new_id(ENTRY_ID_PREFIX),
            request=request,
            proposed=proposed,
            effective_date=domain.effective_date_or_today(request.effective_date, now),
            expires_at=expires_at,
            fingerprint=hashlib.sha256(request.model_dump_json().encode()).hexdigest(),
            actor=actor,
            correlation_id=correlation_id,
            created_at=now,
            check_existing=request.entry_id is not None,
        )
        attempts: list[_PostingCommand] = []

        def once() -> tuple[Entry, bool]:
            # A generated id cannot exist yet on the first attempt; a later attempt may
            # follow a commit whose answer was lost, so it looks for its own entry.
            current = replace(command, check_existing=True) if attempts else command
            attempts.append(current)
            if self.settings.group_commit:
                return self._committer.submit(tenant_id, current)
            outcome = self._commit_postings(tenant_id, [current])
            if outcome.after_release is not None:
                outcome.after_release()
            result = outcome.outcomes[0]
            if isinstance(result, BaseException):
                raise result
            return result

        entry, _ = with_retry(once, policy=self.settings.retry, name="post_entry")
        return entry

    def get_entry(self, tenant_id: str, entry_id: str) -> Entry:
        snapshot = self.paths.entry(tenant_id, entry_id).get()
        if not snapshot.exists:
            raise _entry_not_found(entry_id)
        return entry_from_document(snapshot.id, snapshot.to_dict() or {})

    def list_account_entries(
        self,
        tenant_id: str,
        account_id: str,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Entry]:
        """Entries touching the account, by effective date then id (every status).

        Needs the composite index ``entries (account_ids CONTAINS, effective_date ASC)``.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        self._read_account(tenant_id, account_id, None)
        limit = _page_limit(limit)
        if date_from and date_to and date_from > date_to:
            raise invalid("query.date_to", "must not be before date_from", "invalid_date_range")
        filters = {
            "date_from": date_from.isoformat() if date_from else None,
            "date_to": date_to.isoformat() if date_to else None,
        }
        query = self.paths.entries(tenant_id).where(
            filter=FieldFilter("account_ids", "array_contains", account_id)
        )
        if date_from:
            query = query.where(filter=FieldFilter("effective_date", ">=", date_from.isoformat()))
        if date_to:
            query = query.where(filter=FieldFilter("effective_date", "<=", date_to.isoformat()))
        query = query.order_by("effective_date").order_by(FieldPath.document_id())
        if cursor:
            position = decode_cursor(cursor, required_keys=("date", "after", "filters", "account"))
            if position["filters"] != filters or position["account"] != account_id:
                raise invalid(
                    "query.cursor", "belongs to a list with other filters", "cursor_mismatch"
                )
            query = query.start_after(
                {
                    "effective_date": str(position["date"]),
                    FieldPath.document_id(): self.paths.entry(tenant_id, str(position["after"])),
                }
            )
        snapshots = list(query.limit(limit + 1).stream())
        entries = [entry_from_document(s.id, s.to_dict() or {}) for s in snapshots[:limit]]
        next_cursor = None
        if len(snapshots) > limit:
            last = entries[-1]
            next_cursor = encode_cursor(
                {
                    "date": last.effective_date.isoformat(),
                    "after": last.id,
                    "filters": filters,
                    "account": account_id,
                }
            )
        return Page(entries, next_cursor)

    def reverse_entry(
        self,
        tenant_id: str,
        entry_id: str,
        request: ReverseEntryRequest | None = None,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> Reversal:
        """Post the mirror image of a posted entry and link the two.

        Refused: a second reversal (409 ``entry_already_reversed``), a reversal of a
        reversal (``cannot_reverse_reversal``), of a hold (``entry_not_posted``), or
        one its accounts no longer accept (frozen, closed, balance constraint).
        """
        actor = _checked_actor(actor)
        request = request or ReverseEntryRequest()
        reversal_id = new_id(ENTRY_ID_PREFIX)
        entry_ref = self.paths.entry(tenant_id, entry_id)

        def attempt(transaction: Any) -> tuple[Reversal, list[StagedEvent]]:
            now = self._now()
            original = self._read_entry(tenant_id, entry_id, transaction)
            if original.reversed_by_entry_id == reversal_id:
                reversal = self._read_entry(tenant_id, reversal_id, transaction)
                return Reversal(original, reversal), []
            proposed = domain.reversal_lines(original)
            accounts = self._read_accounts(
                tenant_id, [line.account_id for line in proposed], transaction
            )
            balances = self._read_totals(tenant_id, _constrained(accounts.values()), transaction)
            plan = domain.plan_entry(proposed, accounts, balances, effect=LineEffect.POSTED)
            reversal = Entry(
                id=reversal_id,
                kind=EntryKind.REVERSAL,
                status=EntryStatus.POSTED,
                effective_date=domain.effective_date_or_today(request.effective_date, now),
                description=request.description or f"Reversal of {original.id}",
                metadata=dict(request.metadata),
                lines=plan.lines,
                created_at=now,
                created_by=dict(actor),
                reverses_entry_id=original.id,
            )
            transaction.create(
                self.paths.entry(tenant_id, reversal_id), entry_to_document(reversal)
            )
            transaction.update(entry_ref, {"reversed_by_entry_id": reversal_id})
            self._add_deltas(transaction, tenant_id, accounts, plan.deltas)
            updated = _replace_entry(original, reversed_by_entry_id=reversal_id)
            staging = self._stage(
                transaction,
                tenant_id,
                "ledger.entry_reversed",
                subject=f"entries/{original.id}",
                data={"original_entry_id": original.id, "reversal": reversal.to_json()},
                actor=actor,
                action="ledger.entry.reversed",
                resource=("ledger_entry", original.id),
                details={"reversal_entry_id": reversal_id},
                correlation_id=correlation_id,
            )
            return Reversal(updated, reversal), staging.events

        return self._run("reverse_entry", attempt)

    # -- two-phase holds --------------------------------------------------------------

    def post_pending(
        self,
        tenant_id: str,
        entry_id: str,
        request: PostPendingRequest | None = None,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> HoldTransition:
        """Post a hold fully or partly; the unposted remainder is released."""
        actor = _checked_actor(actor)
        request = request or PostPendingRequest()
        posting_id = new_id(ENTRY_ID_PREFIX)

        def attempt(transaction: Any) -> tuple[HoldTransition, list[StagedEvent]]:
            now = self._now()
            hold = self._read_entry(tenant_id, entry_id, transaction)
            if hold.posting_entry_id == posting_id:
                posting = self._read_entry(tenant_id, posting_id, transaction)
                return HoldTransition(hold, posting), []
            status = domain.transition_hold(hold, domain.HoldAction.POST, now=now)
            accounts = self._read_accounts(tenant_id, hold.account_ids, transaction)
            plan = domain.plan_hold_posting(hold, request, accounts)
            posting = Entry(
                id=posting_id,
                kind=EntryKind.HOLD_POSTING,
                status=EntryStatus.POSTED,
                effective_date=domain.effective_date_or_today(request.effective_date, now),
                description=request.description or hold.description or f"Posting of {hold.id}",
                metadata={**hold.metadata, **request.metadata},
                lines=plan.lines,
                created_at=now,
                created_by=dict(actor),
                pending_entry_id=hold.id,
            )
            resolved = _replace_entry(
                hold, status=status, posting_entry_id=posting_id, resolved_at=now
            )
            transaction.create(self.paths.entry(tenant_id, posting_id), entry_to_document(posting))
            self._resolve_hold(transaction, tenant_id, resolved, {"posting_entry_id": posting_id})
            deltas = _merge(domain.release_deltas(hold), plan.deltas)
            self._add_deltas(transaction, tenant_id, accounts, deltas)
            staging = self._stage(
                transaction,
                tenant_id,
                "ledger.hold_posted",
                subject=f"entries/{hold.id}",
                data={"hold": resolved.to_json(), "posting": posting.to_json()},
                actor=actor,
                action="ledger.hold.posted",
                resource=("ledger_entry", hold.id),
                details={"posting_entry_id": posting_id, "partial": posting.lines != hold.lines},
                correlation_id=correlation_id,
            )
            return HoldTransition(resolved, posting), staging.events

        return self._run("post_pending", attempt)

    def void_pending(
        self,
        tenant_id: str,
        entry_id: str,
        request: VoidPendingRequest | None = None,
        *,
        actor: Actor,
        correlation_id: str | None = None,
    ) -> HoldTransition:
        """Void a hold: everything it reserved is released, nothing is posted."""
        actor = _checked_actor(actor)
        request = request or VoidPendingRequest()
        return self._release_hold(
            tenant_id,
            entry_id,
            domain.HoldAction.VOID,
            actor=actor,
            correlation_id=correlation_id,
            reason=request.reason,
        )

    def expire_pending_holds(
        self, now: datetime | None = None, *, tenant_id: str | None = None
    ) -> ExpiryRun:
        """Expire every pending hold whose ``expires_at`` has passed (a scheduled job).

        Scans one tenant, or every tenant when ``tenant_id`` is None. A hold posted
        or voided meanwhile is skipped; running twice expires nothing twice.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        at = now or self._now()
        tenants = [tenant_id] if tenant_id else self.paths.tenant_ids()
        expired: list[str] = []
        actor = {"system": "ledger.expire_holds"}
        for tid in tenants:
            while True:
                query = (
                    self.paths.entries(tid)
                    .where(filter=FieldFilter("pending_expires_at", "<=", at))
                    .order_by("pending_expires_at")
                    .limit(_EXPIRY_SCAN_LIMIT)
                )
                due = [s.id for s in query.stream()]
                done_here = 0
                for entry_id in due:
                    try:
                        self._release_hold(
                            tid, entry_id, domain.HoldAction.EXPIRE, actor=actor, now=at
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
            if tenant_id is None and not self._has_ledger(tid):
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
        actor = _checked_actor(actor or {"system": "ledger.reconcile"})
        report_id = new_id(RECONCILIATION_ID_PREFIX)
        started = self._now()
        report_ref = self.paths.reconciliation(tenant_id, report_id)
        # The marker's commit time is a server timestamp after every commit that came
        # before it: reading at it sees a consistent snapshot of the whole tenant.
        write = report_ref.create({"status": "running", "started_at": started})
        as_of = write.update_time
        accounts = {
            s.id: account_from_document(s.id, s.to_dict() or {})
            for s in self.paths.accounts(tenant_id).stream(read_time=as_of)
        }
        stored = self._read_totals(tenant_id, list(accounts.values()), read_time=as_of)
        self._fold_limbs(tenant_id, list(accounts.values()))
        recomputed: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
        discrepancies: list[Discrepancy] = []
        entries_checked = 0
        for snapshot in self.paths.entries(tenant_id).stream(read_time=as_of):
            entries_checked += 1
            entry = entry_from_document(snapshot.id, snapshot.to_dict() or {})
            discrepancies.extend(_entry_integrity(entry, accounts))
            for line in entry.lines:
                recomputed[line.account_id] += BalanceTotals.of_line(
                    line.side, line.amount_minor, entry.effect
                )
        discrepancies.extend(_balance_drift(accounts, stored, recomputed))
        discrepancies.extend(_zero_sums(accounts, stored, recomputed))
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
        self._store_report(report, actor, correlation_id)
        if discrepancies:
            _log.error(
                "ledger.reconciliation_discrepancies",
                tenant_id=tenant_id,
                reconciliation_id=report_id,
                count=len(discrepancies),
            )
        return report

    def get_latest_reconciliation(self, tenant_id: str) -> ReconciliationReport:
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
        return _report_from_document(report_id, snapshot.to_dict() or {})

    # -- internals: postings ----------------------------------------------------------

    def _commit_postings(
        self, tenant_id: str, commands: Sequence[_PostingCommand]
    ) -> BatchOutcome[tuple[Entry, bool]]:
        """One transaction for a batch of postings; see ``group_commit.py``."""
        from google.cloud import firestore as fs

        @fs.transactional
        def attempt(
            transaction: Any,
        ) -> tuple[list[tuple[Entry, bool] | BaseException], list[StagedEvent]]:
            fetched.clear()
            account_ids = list(
                dict.fromkeys(line.account_id for c in commands for line in c.proposed)
            )
            entry_ids = list(dict.fromkeys(c.entry_id for c in commands if c.check_existing))
            # The accounts' version document is read in the transaction: an account
            # change commits a new version, so this batch either sees it or conflicts.
            refs = [self.paths.accounts_version(tenant_id)] + [
                self.paths.entry(tenant_id, e) for e in entry_ids
            ]
            existing: dict[str, dict[str, Any]] = {}
            version = 0
            for snapshot in transaction.get_all(refs):
                if not snapshot.exists:
                    continue
                if snapshot.reference.parent.id == ENTRIES:
                    existing[snapshot.id] = snapshot.to_dict() or {}
                else:
                    version = int((snapshot.to_dict() or {}).get("version", 0))
            read_version.append(version)
            accounts: dict[str, Account | None] = dict(
                self._account_cache.lookup(tenant_id, version, account_ids)
            )
            unknown = [a for a in account_ids if accounts.get(a) is None]
            if unknown:
                for account_id, account in self._read_accounts(
                    tenant_id, unknown, transaction
                ).items():
                    accounts[account_id] = account
                    if account is not None:
                        fetched.append(account)
            balances = self._read_totals(tenant_id, _constrained(accounts.values()), transaction)
            outcomes: list[tuple[Entry, bool] | BaseException] = []
            staged: list[StagedEvent] = []
            deltas: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
            in_batch: dict[str, tuple[Entry, str]] = {}
            for command in commands:
                earlier = existing.get(command.entry_id)
                if earlier is not None or command.entry_id in in_batch:
                    if earlier is not None:
                        entry = entry_from_document(command.entry_id, earlier)
                        fingerprint = earlier.get("fingerprint")
                    else:
                        entry, fingerprint = in_batch[command.entry_id]
                    outcomes.append(_replayed(entry, fingerprint, command))
                    continue
                try:
                    plan = domain.plan_entry(
                        command.proposed, accounts, balances, effect=command.effect
                    )
                except AppError as exc:
                    outcomes.append(exc)
                    continue
                for account_id, delta in plan.deltas.items():
                    deltas[account_id] += delta
                    if account_id in balances:
                        balances[account_id] += delta
                entry = _new_entry(command, plan)
                transaction.create(
                    self.paths.entry(tenant_id, entry.id),
                    entry_to_document(entry, fingerprint=command.fingerprint),
                )
                staged.extend(self._posting_events(transaction, tenant_id, entry, command).events)
                in_batch[entry.id] = (entry, command.fingerprint)
                outcomes.append((entry, True))
            present = {a: acc for a, acc in accounts.items() if acc is not None}
            self._add_deltas(transaction, tenant_id, present, deltas)
            return outcomes, staged

        fetched: list[Account] = []
        read_version: list[int] = []
        outcomes, staged = attempt(
            self.db.transaction(max_attempts=self.settings.transaction_attempts)
        )
        # Only what a committed transaction read is known to match its version.
        self._account_cache.store(tenant_id, read_version[-1], fetched)
        return BatchOutcome(outcomes, lambda: self._publish(staged))

    def _posting_events(
        self, transaction: Any, tenant_id: str, entry: Entry, command: _PostingCommand
    ) -> _Staging:
        pending = entry.kind is EntryKind.PENDING
        return self._stage(
            transaction,
            tenant_id,
            "ledger.entry_pending" if pending else "ledger.entry_posted",
            subject=f"entries/{entry.id}",
            data={"entry": entry.to_json()},
            actor=command.actor,
            action="ledger.entry.pending" if pending else "ledger.entry.posted",
            resource=("ledger_entry", entry.id),
            details={"lines": len(entry.lines), "accounts": entry.account_ids},
            correlation_id=command.correlation_id,
        )

    # -- internals: holds -------------------------------------------------------------

    def _release_hold(
        self,
        tenant_id: str,
        entry_id: str,
        action: domain.HoldAction,
        *,
        actor: dict[str, Any],
        correlation_id: str | None = None,
        reason: str = "",
        now: datetime | None = None,
    ) -> HoldTransition:
        resolution_id = uuid.uuid4().hex
        event_type = (
            "ledger.hold_voided" if action is domain.HoldAction.VOID else "ledger.hold_expired"
        )

        def attempt(transaction: Any) -> tuple[HoldTransition, list[StagedEvent]]:
            at = now or self._now()
            hold = self._read_entry(tenant_id, entry_id, transaction)
            if hold.extra.get("resolution_id") == resolution_id:
                return HoldTransition(hold), []
            status = domain.transition_hold(hold, action, now=at)
            accounts = self._read_accounts(tenant_id, hold.account_ids, transaction)
            resolved = _replace_entry(
                hold,
                status=status,
                resolved_at=at,
                extra={**hold.extra, "resolution_id": resolution_id, "resolution_reason": reason},
            )
            self._resolve_hold(
                transaction,
                tenant_id,
                resolved,
                {"resolution_id": resolution_id, "resolution_reason": reason},
            )
            present = {a: acc for a, acc in accounts.items() if acc is not None}
            self._add_deltas(transaction, tenant_id, present, domain.release_deltas(hold))
            staging = self._stage(
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
            return HoldTransition(resolved), staging.events

        return self._run(f"{action.value}_hold", attempt)

    def _resolve_hold(
        self, transaction: Any, tenant_id: str, resolved: Entry, fields: dict[str, Any]
    ) -> None:
        from google.cloud import firestore as fs

        transaction.update(
            self.paths.entry(tenant_id, resolved.id),
            {
                "status": resolved.status.value,
                "resolved_at": resolved.resolved_at,
                "pending_expires_at": fs.DELETE_FIELD,
                **fields,
            },
        )

    # -- internals: storage -----------------------------------------------------------

    def _read_account(self, tenant_id: str, account_id: str, transaction: Any) -> Account:
        snapshot = self.paths.account(tenant_id, account_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFoundError(f"no account {account_id!r}", code="account_not_found")
        return account_from_document(snapshot.id, snapshot.to_dict() or {})

    def _read_accounts(
        self, tenant_id: str, account_ids: Sequence[str], transaction: Any
    ) -> dict[str, Account | None]:
        unique = list(dict.fromkeys(account_ids))
        accounts: dict[str, Account | None] = dict.fromkeys(unique)
        refs = [self.paths.account(tenant_id, a) for a in unique]
        for snapshot in self.db.get_all(refs, transaction=transaction):
            if snapshot.exists:
                accounts[snapshot.id] = account_from_document(snapshot.id, snapshot.to_dict() or {})
        return accounts

    def _read_entry(self, tenant_id: str, entry_id: str, transaction: Any) -> Entry:
        snapshot = self.paths.entry(tenant_id, entry_id).get(transaction=transaction)
        if not snapshot.exists:
            raise _entry_not_found(entry_id)
        return entry_from_document(snapshot.id, snapshot.to_dict() or {})

    def _read_totals(
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

    def _fold_limbs(self, tenant_id: str, accounts: Sequence[Account]) -> None:
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

    def _add_deltas(
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

    def _has_entries(self, tenant_id: str, account_id: str, transaction: Any) -> bool:
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

    def _has_ledger(self, tenant_id: str) -> bool:
        accounts = self.paths.accounts(tenant_id).limit(1).get()
        return len(accounts) > 0

    def _store_report(
        self, report: ReconciliationReport, actor: dict[str, Any], correlation_id: str | None
    ) -> None:
        from google.cloud import firestore as fs

        tenant_id = report.tenant_id
        document = report.to_json()
        latest_ref = self.paths.latest_reconciliation(tenant_id)

        @fs.transactional
        def attempt(transaction: Any) -> list[StagedEvent]:
            latest = latest_ref.get(transaction=transaction)
            staged: list[StagedEvent] = []
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
                staged.append(add_to_outbox(transaction, self.db, LEDGER_TOPIC, envelope))
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
            staged.append(add_to_outbox(transaction, self.db, AUDIT_TOPIC, audit))
            return staged

        staged = with_retry(
            lambda: attempt(self.db.transaction(max_attempts=self.settings.transaction_attempts)),
            policy=self.settings.retry,
            name="store_reconciliation",
        )
        self._publish(staged)

    # -- internals: plumbing ----------------------------------------------------------

    def _run(
        self, name: str, transaction_function: Callable[[Any], tuple[T, list[StagedEvent]]]
    ) -> T:
        """Run one transaction (retried as a whole on contention), then publish its events."""
        from google.cloud import firestore as fs

        wrapped = fs.transactional(transaction_function)
        result, staged = with_retry(
            lambda: wrapped(self.db.transaction(max_attempts=self.settings.transaction_attempts)),
            policy=self.settings.retry,
            name=name,
        )
        self._publish(staged)
        return result  # type: ignore[no-any-return]

    def _stage(
        self,
        transaction: Any,
        tenant_id: str,
        event_type: str,
        *,
        subject: str,
        data: dict[str, Any],
        actor: Mapping[str, Any],
        action: str,
        resource: tuple[str, str],
        details: dict[str, Any],
        correlation_id: str | None,
    ) -> _Staging:
        """Stage a ledger event and its audit event in the caller's transaction."""
        staging = _Staging()
        event = new_event(
            event_type,
            source=EVENT_SOURCE,
            subject=subject,
            tenant_id=tenant_id,
            data=data,
            correlation_id=correlation_id,
        )
        staging.events.append(add_to_outbox(transaction, self.db, LEDGER_TOPIC, event))
        audit = audit_event(
            action,
            tenant_id=tenant_id,
            actor=dict(actor),
            resource_type=resource[0],
            resource_id=resource[1],
            details=details,
            source=EVENT_SOURCE,
            correlation_id=event.correlation_id,
        )
        staging.events.append(add_to_outbox(transaction, self.db, AUDIT_TOPIC, audit))
        return staging

    def _publish(self, staged: Sequence[StagedEvent]) -> None:
        if not staged or self._publisher is None:
            return
        try:
            self._publisher(self.db, staged)
        except Exception as exc:
            # Committed is committed: the outbox records stay pending for the relay.
            _log.warning("ledger.publish_deferred", events=len(staged), error=type(exc).__name__)

    def _now(self) -> datetime:
        return self._clock()


# -- helpers -----------------------------------------------------------------------------


def _checked_actor(actor: Actor) -> dict[str, Any]:
    """The adapters pass who acts; a missing actor is a programming error, not a 4xx."""
    if not isinstance(actor, Mapping) or not (
        isinstance(actor.get("user_id"), str) or isinstance(actor.get("system"), str)
    ):
        raise TypeError('actor must be {"user_id": ..., "role": ...} or {"system": name}')
    return dict(actor)


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise invalid("query.limit", f"must be between 1 and {MAX_PAGE_SIZE}", "out_of_range")
    return limit


def _entry_not_found(entry_id: str) -> NotFoundError:
    return NotFoundError(f"no entry {entry_id!r}", code="entry_not_found")


def _constrained(accounts: Any) -> list[Account]:
    return [a for a in accounts if a is not None and a.balance_constraint is not None]


def _merge(*deltas: Mapping[str, BalanceTotals]) -> dict[str, BalanceTotals]:
    merged: dict[str, BalanceTotals] = defaultdict(BalanceTotals)
    for mapping in deltas:
        for account_id, delta in mapping.items():
            merged[account_id] += delta
    return dict(merged)


def _new_entry(command: _PostingCommand, plan: domain.EntryPlan) -> Entry:
    pending = command.request.pending
    return Entry(
        id=command.entry_id,
        kind=EntryKind.PENDING if pending else EntryKind.STANDARD,
        status=EntryStatus.PENDING if pending else EntryStatus.POSTED,
        effective_date=command.effective_date,
        description=command.request.description,
        metadata=dict(command.request.metadata),
        lines=plan.lines,
        created_at=command.created_at,
        created_by=command.actor,
        expires_at=command.expires_at,
    )


def _replayed(
    entry: Entry, fingerprint: Any, command: _PostingCommand
) -> tuple[Entry, bool] | BaseException:
    if fingerprint != command.fingerprint:
        return ConflictError(
            f"entry {command.entry_id} exists with other content",
            code="entry_id_conflict",
            errors=[FieldError("entry_id", "already used for another entry", "entry_id_conflict")],
        )
    return entry, False


def _replace_entry(entry: Entry, **changes: Any) -> Entry:
    return replace(entry, **changes)


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


def _entry_integrity(entry: Entry, accounts: Mapping[str, Account]) -> list[Discrepancy]:
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


def _balance_drift(
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


def _zero_sums(
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


def _report_from_document(report_id: str, document: Mapping[str, Any]) -> ReconciliationReport:
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
