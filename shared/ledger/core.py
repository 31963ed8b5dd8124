"""What every ledger use case shares: settings, events, entry changes.

:class:`LedgerCore` holds the service's state (the database, the store, the account
cache, the per-entry locks) and what the use case modules (``accounts``, ``periods``,
``entries``, ``holds``, ``reconciliation``) build on: the ledger event and its audit
event staged together (``_stage``), and the change of one existing entry on a
precondition (``_change_entry``, ``_commit_checked``). Committing, retrying and
publishing are :mod:`shared.events.transact`'s, given the service's
``LedgerSettings.retry``, ``transaction_attempts`` and publisher.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import ValidationError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import (
    CONTENTION_RETRY,
    Publisher,
    commit_in_transaction,
    read_retried,
    settle,
)
from shared.ledger import domain, period_rules
from shared.ledger.aggregate_locks import AggregateLocks
from shared.ledger.model import Account, BalanceTotals, Entry
from shared.ledger.rejections import invalid
from shared.ledger.repository import (
    AccountCache,
    LedgerPaths,
    entry_from_document,
    period_from_document,
)
from shared.ledger.store import LedgerStore, entry_not_found
from shared.pagination import MAX_PAGE_SIZE
from shared.resilience import RetryPolicy

if TYPE_CHECKING:
    from google.cloud import firestore

LEDGER_TOPIC = "ledger-events"
EVENT_SOURCE = "tributum/ledger"
T = TypeVar("T")

# Rounds of read-decide-commit for one entry's change (see ``_change_entry``). An entry
# changes at most once, so a race lost on the entry settles in the next round; more
# rounds are for a constrained account whose balance another posting moved meanwhile.
_ENTRY_CHANGE_ROUNDS = 8
# Who made a change, on what the change wrote (see :func:`requester_id`): the reversal
# entry carries it, a resolved hold carries it as ``resolution_id``.
REQUESTER_FIELD = "requester"
RESOLUTION_FIELD = "resolution_id"


@dataclass(frozen=True)
class LedgerSettings:
    retry: RetryPolicy = CONTENTION_RETRY
    group_commit: bool = True
    max_batch: int = 32
    max_batches_in_flight: int = 1
    # A commit holds at most 500 writes; a posting writes 3 + 2 per line at most.
    max_batch_writes: int = 450
    transaction_attempts: int = 5
    default_hold_timeout: timedelta = domain.DEFAULT_HOLD_TIMEOUT


class LedgerCore:
    """The state and machinery of :class:`~shared.ledger.service.LedgerService`."""

    db: firestore.Client
    paths: LedgerPaths
    store: LedgerStore
    settings: LedgerSettings
    _publisher: Publisher | None
    _clock: Callable[[], datetime]
    _account_cache: AccountCache
    _entry_locks: AggregateLocks

    # -- internals: one entry, changed on a precondition ---------------------------------

    def _change_entry(
        self,
        tenant_id: str,
        entry_id: str,
        decide: Callable[[Entry, Any], T],
    ) -> T:
        """Decide a change of one entry on a plain read; commit it on a precondition.

        ``decide(entry, precondition)`` returns the outcome and stages the events it
        commits (published once the entry's lock is let go); when it changes anything
        it commits with ``precondition`` (the update time the entry was read at) on its
        write to the entry, plus ``create`` of any entry it adds under an id derived
        from this one. The rounds are :func:`~shared.events.transact.settle`'s: a
        concurrent writer that committed first makes this commit fail at once, and the
        change is decided again on what the winner left - a 409 with the state's own
        code, or this request's own earlier commit (an ambiguous failure retried)
        returned as it was. Entries change at most once (reversed, or a hold resolved),
        so a second round settles a race on the entry; a constrained balance moved
        meanwhile (see ``_commit_checked``) costs a round too.

        Within the instance, writers of one entry take turns (``AggregateLocks``), so
        they neither waste commits nor, on the emulator, wait on each other's locks.
        """
        ref = self.paths.entry(tenant_id, entry_id)

        def decide_and_commit() -> T:
            snapshot = read_retried(ref.get, retry=self.settings.retry, name="ledger.read_entry")
            if not snapshot.exists:
                raise entry_not_found(entry_id)
            entry = entry_from_document(snapshot.id, snapshot.to_dict() or {})
            return decide(entry, self.db.write_option(last_update_time=snapshot.update_time))

        return settle(
            self.db,
            decide_and_commit,
            name="change_entry",
            busy=f"entry {entry_id} kept changing while this request was decided; retry",
            rounds=_ENTRY_CHANGE_ROUNDS,
            hold=self._entry_locks.held((tenant_id, entry_id)),
            publisher=self._publisher,
        )

    def _commit_checked(
        self,
        name: str,
        tenant_id: str,
        account_ids: Sequence[str],
        write: Callable[[Any, dict[str, Account | None], dict[str, BalanceTotals]], T],
        *,
        effective_date: date,
    ) -> T:
        """A short transaction that checks the accounts an entry change moves.

        The entry it makes is dated ``effective_date``, which must be after the closed
        accounting period read in the same transaction (a close that commits meanwhile
        conflicts with it).

        It reads what a posting reads, the tenant's accounts version (an account frozen
        or closed meanwhile conflicts with it) and the accounts not cached under it, and
        writes nothing it reads, so concurrent ones never wait to upgrade a lock. The
        balances of constrained accounts, whose limits ``write`` checks, are read before
        it, and the shard ``write`` adds to carries a precondition on that read (see
        :class:`GuardedShards`): a posting that moved the balance meanwhile makes the
        commit fail at once and the change is decided again. ``write`` stages the
        writes and events; its write to the entry carries the caller's precondition
        (see ``_change_entry``), whose round the events are handed to.
        """
        unique = list(dict.fromkeys(account_ids))
        limited = constrained(self.store.read_accounts(tenant_id, unique, None).values())
        shards, balances = self.store.read_shards(tenant_id, limited)
        fetched: list[Account] = []
        read_version: list[int] = []

        def attempt(transaction: Any) -> T:
            fetched.clear()
            marker = self.paths.accounts_version(tenant_id).get(transaction=transaction)
            version = int((marker.to_dict() or {}).get("version", 0)) if marker.exists else 0
            closed_through = period_from_document(marker.to_dict()).closed_through
            period_rules.check_period_open(effective_date, closed_through, "effective_date")
            read_version.append(version)
            accounts: dict[str, Account | None] = dict.fromkeys(unique)
            accounts.update(self._account_cache.lookup(tenant_id, version, unique))
            unknown = [a for a in unique if accounts[a] is None]
            if unknown:
                for account_id, account in self.store.read_accounts(
                    tenant_id, unknown, transaction
                ).items():
                    accounts[account_id] = account
                    if account is not None:
                        fetched.append(account)
            guarded = GuardedShards(transaction, self.db, shards)
            return write(guarded, accounts, dict(balances))

        committed = commit_in_transaction(
            self.db,
            attempt,
            name=name,
            retry=self.settings.retry,
            attempts=self.settings.transaction_attempts,
        )
        # Only what a committed transaction read is known to match its version.
        self._account_cache.store(tenant_id, read_version[-1], fetched)
        return committed.result

    # -- internals: events --------------------------------------------------------------

    def _stage(
        self,
        writer: Any,
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
    ) -> None:
        """Stage a ledger event and its audit event in the caller's transaction.

        The enclosing ``transact``, ``commit_in_transaction`` or ``settle`` collects
        them and publishes them once the change committed.
        """
        event = new_event(
            event_type,
            source=EVENT_SOURCE,
            subject=subject,
            tenant_id=tenant_id,
            data=data,
            correlation_id=correlation_id,
        )
        add_to_outbox(writer, self.db, LEDGER_TOPIC, event)
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
        add_to_outbox(writer, self.db, AUDIT_TOPIC, audit)

    def _now(self) -> datetime:
        return self._clock()


# -- helpers -----------------------------------------------------------------------------


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise invalid("query.limit", f"must be between 1 and {MAX_PAGE_SIZE}", "out_of_range")
    return limit


def cursor_mismatch() -> ValidationError:
    """A cursor of a ledger list asked with other filters (the ledger's codes are its own)."""
    return invalid("query.cursor", "belongs to a list with other filters", "cursor_mismatch")


def constrained(accounts: Any) -> list[Account]:
    return [a for a in accounts if a is not None and a.balance_constraint is not None]


def replace_entry(entry: Entry, **changes: Any) -> Entry:
    return replace(entry, **changes)


def resolved_by(hold: Entry, token: str) -> bool:
    return bool(hold.extra.get(RESOLUTION_FIELD) == token)


class GuardedShards:
    """A transaction or batch whose balance-shard increments of some documents are guarded.

    ``LedgerStore.add_deltas`` adds to a shard with ``set(..., merge=True)``: blind, as hot accounts
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
