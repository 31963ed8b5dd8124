"""The ledger's use cases over Firestore: what the HTTP and background adapters call.

Every use case takes the (already authenticated) ``tenant_id``, the ``actor``
(:class:`shared.identity.actor.Actor`: a user, an API key or a system job) and, where
it emits events, a ``correlation_id``. It returns plain values with ``to_json()`` (money as
decimal strings) or raises an :class:`~shared.errors.AppError`.

Each state change commits atomically together with its balance effects and its
events (``ledger-events`` and ``audit-events``, through the outbox), on the one
commit path of :mod:`shared.events.transact`: the events are published after the
commit, a failed publish is left to the outbox relay, and contention outlasting
the retries (``LedgerSettings.retry``, ``transaction_attempts``) is a 503
``contention``. Nothing inside a transaction function publishes or calls out: it
may run several times.

Postings (``post_entry``) go through a :class:`GroupCommitter`: concurrent postings
of a tenant on one instance share a transaction. Changes of one existing entry
(reversals, hold transitions) read it outside any transaction and commit on a
precondition, in :func:`~shared.events.transact.settle` rounds, so contenders fail
at once instead of waiting on locks and are answered from the state the winner
left (``_change_entry``; the package README explains why). Every change is safe to
re-run: ids are fixed before the first attempt, and an attempt that finds its own
earlier commit returns it.

Do not call these use cases inside another transaction, or inside an events
consumer's ``run_once`` effect: they run their own. An asynchronous posting
request is made idempotent by choosing ``entry_id`` from the request's event id.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.events.outbox import publish_committed
from shared.events.transact import Publisher
from shared.ledger.accounts import AccountUseCases
from shared.ledger.aggregate_locks import AggregateLocks
from shared.ledger.core import LEDGER_TOPIC as LEDGER_TOPIC
from shared.ledger.core import LedgerSettings as LedgerSettings
from shared.ledger.entries import EntryUseCases
from shared.ledger.group_commit import GroupCommitter
from shared.ledger.holds import HoldUseCases
from shared.ledger.linked import LinkedEntryUseCases
from shared.ledger.monitoring import MonitorUseCases
from shared.ledger.periods import PeriodUseCases
from shared.ledger.reconciliation import ReconciliationUseCases
from shared.ledger.repository import AccountCache, LedgerPaths
from shared.ledger.store import LedgerStore

if TYPE_CHECKING:
    from google.cloud import firestore


class LedgerService(
    AccountUseCases,
    PeriodUseCases,
    LinkedEntryUseCases,
    EntryUseCases,
    HoldUseCases,
    ReconciliationUseCases,
    MonitorUseCases,
):
    """The ledger use cases for one Firestore database. Thread-safe; one per instance.

    The use cases live by theme in ``accounts``, ``periods``, ``entries`` (with linked
    batches in ``linked``), ``holds``, ``reconciliation`` and ``monitoring``; what they share is in
    ``core`` and, for reads, ``store``.
    """

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
        self.store = LedgerStore(db, self.paths, rng)
        self.settings = settings or LedgerSettings()
        self._publisher = publisher
        self._clock = clock or (lambda: datetime.now(UTC))
        self._account_cache = AccountCache()
        self._entry_locks = AggregateLocks()
        self._committer = GroupCommitter(
            self._commit_queued,
            max_batch=self.settings.max_batch,
            max_weight=self.settings.max_batch_writes,
            max_in_flight=self.settings.max_batches_in_flight,
            weight=lambda command: command.writes,
        )

    @property
    def posting_batches(self) -> tuple[int, int]:
        """(commits, postings) of this instance's group commit; postings / commits is the
        mean batch, which the ledger benchmark reports."""
        return self._committer.batches_committed, self._committer.commands_committed
