"""The ledger's use cases over Firestore: what the HTTP and background adapters call.

Every use case takes the (already authenticated) ``tenant_id``, the ``actor``
(``{"user_id": ..., "role": ...}`` or ``{"system": name}``) and, where it emits
events, a ``correlation_id``. It returns plain values with ``to_json()`` (money as
decimal strings) or raises an :class:`~shared.errors.AppError`.

Each state change commits atomically (a transaction, or a batch) together with its
balance effects and its events (``ledger-events`` and ``audit-events``, through the
outbox); the events are published after the commit and a failed publish is left
to the outbox relay. Nothing inside a transaction function publishes or calls out:
``@firestore.transactional`` may run it several times.

Postings (``post_entry``) go through a :class:`GroupCommitter`: concurrent postings
of a tenant on one instance share a transaction. Changes of one existing entry
(reversals, hold transitions) read it outside any transaction and commit on a
precondition, so contenders fail at once instead of waiting on locks and are
answered from the state the winner left (``_change_entry``; the package README
explains why). Every use case is wrapped in a bounded, jittered retry on
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

from shared.errors import (
    AppError,
    ConflictError,
    FieldError,
    NotFoundError,
    ServiceUnavailableError,
)
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import StagedEvent, add_to_outbox, publish_committed
from shared.http.pagination import MAX_PAGE_SIZE, decode_cursor, encode_cursor
from shared.ledger import domain, statements
from shared.ledger.aggregate_locks import AggregateLocks
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
    LedgerPeriod,
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
    period_from_document,
    total_increments,
    totals_from_shards,
)
from shared.ledger.requests import (
    ACCOUNT_ENTRIES_CURSOR,
    ACCOUNTS_CURSOR,
    AccountEntriesPosition,
    AccountsPosition,
    ClosePeriodRequest,
    CreateAccountRequest,
    PostEntryRequest,
    PostPendingRequest,
    ReopenPeriodRequest,
    ReverseEntryRequest,
    UpdateAccountRequest,
    VoidPendingRequest,
)
from shared.ledger.retry import DEFAULT_RETRY, with_retry
from shared.ledger.statements import BalanceSheet, IncomeStatement
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
# Rounds of read-decide-commit for one entry's change (see ``_change_entry``). An entry
# changes at most once, so a race lost on the entry settles in the next round; more
# rounds are for a constrained account whose balance another posting moved meanwhile.
_ENTRY_CHANGE_ROUNDS = 8
# Who made a change, on what the change wrote (see :func:`requester_id`): the reversal
# entry carries it, a resolved hold carries it as ``resolution_id``.
REQUESTER_FIELD = "requester"
RESOLUTION_FIELD = "resolution_id"

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
        self._entry_locks = AggregateLocks()
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
            position = decode_cursor(cursor, AccountsPosition, scope=ACCOUNTS_CURSOR)
            if position.filters != filters:
                raise invalid(
                    "query.cursor", "belongs to a list with other filters", "cursor_mismatch"
                )
            query = query.start_after(
                {FieldPath.document_id(): self.paths.account(tenant_id, position.after)}
            )
        snapshots = list(query.limit(limit + 1).stream())
        accounts = [account_from_document(s.id, s.to_dict() or {}) for s in snapshots[:limit]]
        next_cursor = None
        if len(snapshots) > limit:
            next_cursor = encode_cursor(
                AccountsPosition(after=accounts[-1].id, filters=filters), scope=ACCOUNTS_CURSOR
            )
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

    # -- accounting periods -------------------------------------------------------------

    def get_period(self, tenant_id: str) -> LedgerPeriod:
        snapshot = self.paths.accounts_version(tenant_id).get()
        return period_from_document(snapshot.to_dict() if snapshot.exists else None)

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
        actor = _checked_actor(actor)

        def decide(current: LedgerPeriod, now: datetime) -> date | None:
            return domain.plan_close(current.closed_through, request.through, now.date())

        return self._change_period(
            tenant_id, decide, "closed", actor=actor, correlation_id=correlation_id
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
        actor = _checked_actor(actor)

        def decide(current: LedgerPeriod, now: datetime) -> date | None:
            return domain.plan_reopen(current.closed_through, request.through)

        return self._change_period(
            tenant_id,
            decide,
            "reopened",
            actor=actor,
            correlation_id=correlation_id,
            reason=request.reason,
        )

    def _change_period(
        self,
        tenant_id: str,
        decide: Callable[[LedgerPeriod, datetime], date | None],
        verb: str,
        *,
        actor: Actor,
        correlation_id: str | None,
        reason: str | None = None,
    ) -> LedgerPeriod:
        from google.cloud import firestore as fs

        ref = self.paths.accounts_version(tenant_id)

        def attempt(transaction: Any) -> tuple[LedgerPeriod, list[StagedEvent]]:
            snapshot = ref.get(transaction=transaction)
            current = period_from_document(snapshot.to_dict() if snapshot.exists else None)
            now = self._now()
            through = decide(current, now)
            period = LedgerPeriod(through, now, dict(actor))
            # The version moves too: a posting batch that read the old document conflicts.
            transaction.set(
                ref,
                {
                    "version": fs.Increment(1),
                    "closed_through": through.isoformat() if through else None,
                    "period_changed_at": now,
                    "period_changed_by": dict(actor),
                },
                merge=True,
            )
            previous = current.closed_through.isoformat() if current.closed_through else None
            details: dict[str, Any] = {
                "closed_through": period.to_json()["closed_through"],
                "previously_closed_through": previous,
            }
            if reason is not None:
                details["reason"] = reason
            staging = self._stage(
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
            return period, staging.events

        return self._run(f"period_{verb}", attempt)

    def with_balances(
        self, tenant_id: str, accounts: Sequence[Account]
    ) -> list[AccountWithBalances]:
        """The accounts with their balances, read in one batch."""
        totals = self._read_totals(tenant_id, list(accounts))
        return [
            AccountWithBalances(a, Balances(a.currency, a.normal_side, totals[a.id]))
            for a in accounts
        ]

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

        result: tuple[dict[str, Account], list[Entry]] = with_retry(
            lambda: read(self.db.transaction(read_only=True)),
            policy=self.settings.retry,
            name="statements",
        )
        return result

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
            position = decode_cursor(cursor, AccountEntriesPosition, scope=ACCOUNT_ENTRIES_CURSOR)
            if position.filters != filters or position.account != account_id:
                raise invalid(
                    "query.cursor", "belongs to a list with other filters", "cursor_mismatch"
                )
            query = query.start_after(
                {
                    "effective_date": position.effective_date.isoformat(),
                    FieldPath.document_id(): self.paths.entry(tenant_id, position.after),
                }
            )
        snapshots = list(query.limit(limit + 1).stream())
        entries = [entry_from_document(s.id, s.to_dict() or {}) for s in snapshots[:limit]]
        next_cursor = None
        if len(snapshots) > limit:
            last = entries[-1]
            next_cursor = encode_cursor(
                AccountEntriesPosition(
                    effective_date=last.effective_date,
                    after=last.id,
                    account=account_id,
                    filters=filters,
                ),
                scope=ACCOUNT_ENTRIES_CURSOR,
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
        idempotency_key: str | None = None,
    ) -> Reversal:
        """Post the mirror image of a posted entry and link the two.

        Refused: a second reversal (409 ``entry_already_reversed``), a reversal of a
        reversal (``cannot_reverse_reversal``), of a hold (``entry_not_posted``), or
        one its accounts no longer accept (frozen, closed, balance constraint). A
        retry with the ``idempotency_key`` of the reversal that won returns that
        reversal instead of the 409.

        An entry has one possible reversal id (:func:`reversal_entry_id`), so of
        concurrent reversals exactly one commits; the others fail at commit without
        waiting and are answered from the state it left (see ``_change_entry``).
        """
        actor = _checked_actor(actor)
        request = request or ReverseEntryRequest()
        token = requester_id(idempotency_key)
        reversal_id = reversal_entry_id(entry_id)
        reversal_ref = self.paths.entry(tenant_id, reversal_id)
        entry_ref = self.paths.entry(tenant_id, entry_id)

        def decide(original: Entry, precondition: Any) -> tuple[Reversal, list[StagedEvent]]:
            if original.reversed_by_entry_id is not None:
                earlier = self._read_entry(tenant_id, original.reversed_by_entry_id, None)
                if earlier.extra.get(REQUESTER_FIELD) == token:
                    return Reversal(original, earlier), []
            proposed = domain.reversal_lines(original)
            effective_date = domain.effective_date_or_today(request.effective_date, self._now())

            def write(
                transaction: Any,
                accounts: dict[str, Account | None],
                balances: dict[str, BalanceTotals],
            ) -> tuple[Reversal, list[StagedEvent]]:
                now = self._now()
                plan = domain.plan_entry(proposed, accounts, balances, effect=LineEffect.POSTED)
                reversal = Entry(
                    id=reversal_id,
                    kind=EntryKind.REVERSAL,
                    status=EntryStatus.POSTED,
                    effective_date=effective_date,
                    description=request.description or f"Reversal of {original.id}",
                    metadata=dict(request.metadata),
                    lines=plan.lines,
                    created_at=now,
                    created_by=dict(actor),
                    reverses_entry_id=original.id,
                    extra={REQUESTER_FIELD: token},
                )
                transaction.create(reversal_ref, entry_to_document(reversal))
                transaction.update(
                    entry_ref, {"reversed_by_entry_id": reversal_id}, option=precondition
                )
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

            return self._commit_checked(
                "reverse_entry",
                tenant_id,
                [line.account_id for line in proposed],
                write,
                effective_date=effective_date,
            )

        return self._change_entry(tenant_id, entry_id, decide)

    # -- two-phase holds --------------------------------------------------------------

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
        actor = _checked_actor(actor)
        request = request or PostPendingRequest()
        token = requester_id(idempotency_key)
        posting_id = hold_posting_entry_id(entry_id)

        def decide(hold: Entry, precondition: Any) -> tuple[HoldTransition, list[StagedEvent]]:
            if hold.posting_entry_id is not None and _resolved_by(hold, token):
                posting = self._read_entry(tenant_id, hold.posting_entry_id, None)
                return HoldTransition(hold, posting), []
            now = self._now()
            status = domain.transition_hold(hold, domain.HoldAction.POST, now=now)
            effective_date = domain.effective_date_or_today(request.effective_date, now)

            def write(
                transaction: Any,
                accounts: dict[str, Account | None],
                _balances: dict[str, BalanceTotals],
            ) -> tuple[HoldTransition, list[StagedEvent]]:
                plan = domain.plan_hold_posting(hold, request, accounts)
                posting = Entry(
                    id=posting_id,
                    kind=EntryKind.HOLD_POSTING,
                    status=EntryStatus.POSTED,
                    effective_date=effective_date,
                    description=request.description or hold.description or f"Posting of {hold.id}",
                    metadata={**hold.metadata, **request.metadata},
                    lines=plan.lines,
                    created_at=now,
                    created_by=dict(actor),
                    pending_entry_id=hold.id,
                )
                fields = {"posting_entry_id": posting_id, RESOLUTION_FIELD: token}
                resolved = _replace_entry(
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
                    details={
                        "posting_entry_id": posting_id,
                        "partial": posting.lines != hold.lines,
                    },
                    correlation_id=correlation_id,
                )
                return HoldTransition(resolved, posting), staging.events

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
        actor = _checked_actor(actor)
        request = request or VoidPendingRequest()
        return self._release_hold(
            tenant_id,
            entry_id,
            domain.HoldAction.VOID,
            actor=actor,
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
            closed_through: date | None = None
            for snapshot in transaction.get_all(refs):
                if not snapshot.exists:
                    continue
                if snapshot.reference.parent.id == ENTRIES:
                    existing[snapshot.id] = snapshot.to_dict() or {}
                else:
                    version = int((snapshot.to_dict() or {}).get("version", 0))
                    closed_through = period_from_document(snapshot.to_dict()).closed_through
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
                    domain.check_period_open(
                        command.effective_date, closed_through, "effective_date"
                    )
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
        token: str | None = None,
    ) -> HoldTransition:
        """Void or expire a hold in one batch: nothing to check, so nothing read under lock.

        Releasing moves no posted balance and breaks no constraint, and accounts are
        only needed for their shard counts (a count changed meanwhile is harmless: a
        lowered count still sums the higher shards).
        """
        resolution_id = token or requester_id(None)
        event_type = (
            "ledger.hold_voided" if action is domain.HoldAction.VOID else "ledger.hold_expired"
        )

        def decide(hold: Entry, precondition: Any) -> tuple[HoldTransition, list[StagedEvent]]:
            if _resolved_by(hold, resolution_id) and hold.posting_entry_id is None:
                return HoldTransition(hold), []
            at = now or self._now()
            status = domain.transition_hold(hold, action, now=at)
            fields = {RESOLUTION_FIELD: resolution_id, "resolution_reason": reason}
            resolved = _replace_entry(
                hold, status=status, resolved_at=at, extra={**hold.extra, **fields}
            )
            accounts = self._read_accounts(tenant_id, hold.account_ids, None)
            present = {a: acc for a, acc in accounts.items() if acc is not None}
            batch = self.db.batch()
            self._resolve_hold(batch, tenant_id, resolved, fields, precondition)
            self._add_deltas(batch, tenant_id, present, domain.release_deltas(hold))
            staging = self._stage(
                batch,
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
            with_retry(batch.commit, policy=self.settings.retry, name=f"{action.value}_hold")
            return HoldTransition(resolved), staging.events

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

    # -- internals: one entry, changed on a precondition ---------------------------------

    def _change_entry(
        self,
        tenant_id: str,
        entry_id: str,
        decide: Callable[[Entry, Any], tuple[T, list[StagedEvent]]],
    ) -> T:
        """Decide a change of one entry on a plain read; commit it on a precondition.

        ``decide(entry, precondition)`` returns the outcome and the events it committed
        (published here, once the entry's lock is let go); when it changes anything it
        commits with ``precondition`` (the update time the entry was read
        at) on its write to the entry, plus ``create`` of any entry it adds under an id
        derived from this one. Nothing holds a lock on the entry between the read and
        the commit: a concurrent writer that committed first makes this commit fail at
        once (``FailedPrecondition``, or ``AlreadyExists`` for the derived id) instead of
        waiting, and the entry is read again and the change decided on what the winner
        left - a 409 with the state's own code, or this request's own earlier commit
        (an ambiguous failure retried) returned as it was. Entries change at most once
        (reversed, or a hold resolved), so a second round settles a race on the entry;
        a constrained balance moved meanwhile (see ``_commit_checked``) costs a round too.

        Within the instance, writers of one entry take turns (``AggregateLocks``), so
        they neither waste commits nor, on the emulator, wait on each other's locks.
        """
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition

        ref = self.paths.entry(tenant_id, entry_id)
        with self._entry_locks.held((tenant_id, entry_id)):
            for _ in range(_ENTRY_CHANGE_ROUNDS):
                snapshot = with_retry(ref.get, policy=self.settings.retry, name="read_entry")
                if not snapshot.exists:
                    raise _entry_not_found(entry_id)
                entry = entry_from_document(snapshot.id, snapshot.to_dict() or {})
                precondition = self.db.write_option(last_update_time=snapshot.update_time)
                try:
                    result, staged = decide(entry, precondition)
                except (AlreadyExists, FailedPrecondition) as exc:
                    _log.info(
                        "ledger.entry_changed_meanwhile",
                        entry_id=entry_id,
                        error=type(exc).__name__,
                    )
                    continue
                break
            else:
                raise ServiceUnavailableError(
                    f"entry {entry_id} kept changing while this request was decided; retry",
                    code="ledger_contention",
                    headers={"Retry-After": "1"},
                )
        self._publish(staged)
        return result

    def _commit_checked(
        self,
        name: str,
        tenant_id: str,
        account_ids: Sequence[str],
        write: Callable[
            [Any, dict[str, Account | None], dict[str, BalanceTotals]],
            tuple[T, list[StagedEvent]],
        ],
        *,
        effective_date: date,
    ) -> tuple[T, list[StagedEvent]]:
        """A short transaction that checks the accounts an entry change moves.

        The entry it makes is dated ``effective_date``, which must be after the closed
        accounting period read in the same transaction (a close that commits meanwhile
        conflicts with it).

        It reads what a posting reads, the tenant's accounts version (an account frozen
        or closed meanwhile conflicts with it) and the accounts not cached under it, and
        writes nothing it reads, so concurrent ones never wait to upgrade a lock. The
        balances of constrained accounts, whose limits ``write`` checks, are read before
        it, and the shard ``write`` adds to carries a precondition on that read (see
        :class:`_GuardedShards`): a posting that moved the balance meanwhile makes the
        commit fail at once and the change is decided again. ``write`` stages the
        writes; its write to the entry carries the caller's precondition (see
        ``_change_entry``).
        """
        from google.cloud import firestore as fs

        unique = list(dict.fromkeys(account_ids))
        limited = _constrained(self._read_accounts(tenant_id, unique, None).values())
        shard_refs = [
            ref for account in limited for ref in self.paths.shard_refs(tenant_id, account)
        ]
        shards = list(self.db.get_all(shard_refs)) if shard_refs else []
        balances = {account.id: BalanceTotals() for account in limited}
        for snapshot in shards:
            if snapshot.exists:
                balances[snapshot.reference.parent.parent.id] += totals_from_shards([snapshot])
        fetched: list[Account] = []
        read_version: list[int] = []

        @fs.transactional
        def attempt(transaction: Any) -> tuple[T, list[StagedEvent]]:
            fetched.clear()
            marker = self.paths.accounts_version(tenant_id).get(transaction=transaction)
            version = int((marker.to_dict() or {}).get("version", 0)) if marker.exists else 0
            closed_through = period_from_document(marker.to_dict()).closed_through
            domain.check_period_open(effective_date, closed_through, "effective_date")
            read_version.append(version)
            accounts: dict[str, Account | None] = dict.fromkeys(unique)
            accounts.update(self._account_cache.lookup(tenant_id, version, unique))
            unknown = [a for a in unique if accounts[a] is None]
            if unknown:
                for account_id, account in self._read_accounts(
                    tenant_id, unknown, transaction
                ).items():
                    accounts[account_id] = account
                    if account is not None:
                        fetched.append(account)
            guarded = _GuardedShards(transaction, self.db, shards)
            return write(guarded, accounts, dict(balances))

        result, staged = with_retry(
            lambda: attempt(self.db.transaction(max_attempts=self.settings.transaction_attempts)),
            policy=self.settings.retry,
            name=name,
        )
        # Only what a committed transaction read is known to match its version.
        self._account_cache.store(tenant_id, read_version[-1], fetched)
        return result, staged

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


def _digest(*parts: str) -> str:
    # 128 bits of sha256 over NUL-separated parts: collisions are out of reach.
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def reversal_entry_id(entry_id: str) -> str:
    """The id of the reversal of ``entry_id``: one per entry, so a second one cannot commit.

    The dot keeps it out of reach of ids clients choose (letters, digits, ``_``, ``-``).
    """
    return f"{ENTRY_ID_PREFIX}_rev.{_digest('reversal', entry_id)}"


def hold_posting_entry_id(hold_id: str) -> str:
    """The id of the entry that posts hold ``hold_id``: one per hold, like a reversal's."""
    return f"{ENTRY_ID_PREFIX}_post.{_digest('hold_posting', hold_id)}"


def requester_id(idempotency_key: str | None) -> str:
    """Who asks for a change: the same for every retry with one ``Idempotency-Key``.

    Stored with the change, it tells a retry of the request that won (its answer lost
    to a crash or a 5xx after the commit) from another request that lost: the first is
    answered with what it did, the second with the 409 of the state. Without a key
    each call is its own requester (its retries inside one call still find its commit).
    """
    if idempotency_key is None:
        return uuid.uuid4().hex
    return _digest("idempotency_key", idempotency_key)


def _resolved_by(hold: Entry, token: str) -> bool:
    return bool(hold.extra.get(RESOLUTION_FIELD) == token)


class _GuardedShards:
    """A transaction or batch whose balance-shard increments of some documents are guarded.

    ``_add_deltas`` adds to a shard with ``set(..., merge=True)``: blind, as hot accounts
    need. For the shards of constrained accounts, whose balance was read (outside the
    transaction) to check a limit, the same increment is written on the condition that
    the document is still as read - an ``update`` on its update time, or a ``create``
    when it did not exist - so the limit holds at commit without a read lock. Every
    other write passes through unchanged.
    """

    def __init__(self, writer: Any, db: Any, read: Sequence[Any]) -> None:
        self._writer = writer
        self._db = db
        self._read = {snapshot.reference.path: snapshot for snapshot in read}

    def set(self, reference: Any, data: dict[str, Any], merge: bool = False) -> Any:
        snapshot = self._read.get(reference.path)
        if snapshot is None or not merge:
            return self._writer.set(reference, data, merge=merge)
        if not snapshot.exists:
            return self._writer.create(reference, data)
        option = self._db.write_option(last_update_time=snapshot.update_time)
        return self._writer.update(reference, data, option=option)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


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
