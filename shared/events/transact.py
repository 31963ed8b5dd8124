"""The one way a use case commits a change with its events.

Every change that implies events follows the same steps: run the Firestore work
(retried on contention with jittered backoff), stage the events in the outbox in
the same commit, publish them once the commit is done (a failed publish is left to
the outbox relay), and answer ``503 contention`` with ``Retry-After`` when the
retries run out. This module is those steps, written once.

* :func:`transact` runs ``decide(transaction)`` in a Firestore transaction.
* :func:`settle` runs ``decide_and_commit()`` in rounds, for a change decided on a
  plain read and committed on a precondition (an update time, a create): a round
  lost to a concurrent writer (``FailedPrecondition``, ``AlreadyExists``) is decided
  again on what the winner left.
* :func:`commit_in_transaction` is :func:`transact` without the publishing, for a
  transaction that is one step of a larger change (a :func:`settle` round, or a
  caller that publishes after letting a lock go): its events are handed to the
  enclosing :func:`settle`, or returned.
* :func:`read_retried` is the same retry and the same 503 for a read outside any
  read-write transaction (a plain ``get``, a read-only snapshot), which the emulator
  also answers with ``ABORTED`` when a lock wait runs out.

Events are never passed around by hand. :func:`~shared.events.outbox.add_to_outbox`
appends what it stages to the innermost active collector; a committed unit hands
its events to the one around it, and an attempt that did not commit drops its own.
So a ``decide`` function only stages; it never returns the events it staged.

A ``decide`` function may run several times (Firestore re-runs an aborted
transaction; :func:`settle` re-runs a lost round), so it must not publish or call
out: only the committed attempt counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.errors import AppError, ContentionError
from shared.events.outbox import StagedEvent, collect_staged, hand_up, publish_committed
from shared.logger import get_logger
from shared.resilience import RetryPolicy, is_firestore_contention, retry_call

if TYPE_CHECKING:
    from google.cloud import firestore

T = TypeVar("T")
Publisher = Callable[["firestore.Client", Sequence[StagedEvent]], None]

# Whole-transaction retries on contention, with full jitter so contending callers spread
# out instead of colliding again. ``@firestore.transactional`` alone re-runs an aborted
# transaction back to back and at most a few times: under a burst on one hot document
# (and always on the emulator, which locks pessimistically and answers a lock wait that
# runs out with ``ABORTED``) that is not enough.
CONTENTION_RETRY = RetryPolicy(max_attempts=12, base_delay_seconds=0.02, max_delay_seconds=1.0)
# Firestore's own back-to-back re-runs of one transaction, inside each retry above.
TRANSACTION_ATTEMPTS = 5
# Rounds of :func:`settle`. Each lost round means another writer committed, so this
# bounds concurrent writers of one document, not time.
SETTLE_ROUNDS = 16
DEFAULT_BUSY = "concurrent changes to the same records outlasted the retries; retry"

_log = get_logger("shared.events.transact")


@dataclass(frozen=True, slots=True)
class Committed(Generic[T]):
    """What a committed transaction decided, and the events it staged."""

    result: T
    staged: tuple[StagedEvent, ...]


def transact(
    db: firestore.Client,
    decide: Callable[[Any], T],
    *,
    name: str,
    publisher: Publisher | None = publish_committed,
    retry: RetryPolicy = CONTENTION_RETRY,
    attempts: int = TRANSACTION_ATTEMPTS,
    busy: str = DEFAULT_BUSY,
    before_publish: Callable[[T], None] | None = None,
) -> T:
    """Run ``decide(transaction)`` in a transaction, then publish the events it staged.

    ``decide`` reads first and then writes, through ``transaction``, and stages its
    events with ``add_to_outbox(transaction, db, topic, envelope)``. Contention
    outlasting ``retry`` is a :class:`~shared.errors.ContentionError` (503
    ``contention``, ``Retry-After: 1``) whose detail is ``busy``; any other error,
    an :class:`~shared.errors.AppError` included, is raised as it is.

    ``before_publish(result)`` runs once the commit is done and before publishing, for
    what must follow the commit without waiting on Pub/Sub (dropping this instance's
    cached copy of a revoked credential).
    """
    committed = _run(db, decide, name=name, retry=retry, attempts=attempts, busy=busy)
    if before_publish is not None:
        before_publish(committed.result)
    publish_after_commit(db, committed.staged, publisher, name=name)
    return committed.result


def commit_in_transaction(
    db: firestore.Client,
    decide: Callable[[Any], T],
    *,
    name: str,
    retry: RetryPolicy = CONTENTION_RETRY,
    attempts: int = TRANSACTION_ATTEMPTS,
    busy: str | None = DEFAULT_BUSY,
    is_retryable: Callable[[BaseException], bool] = is_firestore_contention,
) -> Committed[T]:
    """:func:`transact` without publishing: the events go to the enclosing collector.

    Inside :func:`settle` (or any :func:`~shared.events.outbox.collect_staged`), the
    committed events are handed to it; they are also returned, for a caller that
    publishes them itself with :func:`publish_after_commit`. ``busy=None`` re-raises
    the last contention error instead of answering 503 (a background job whose
    delivery is retried by Pub/Sub); ``is_retryable`` narrows what is retried.
    """
    committed = _run(
        db, decide, name=name, retry=retry, attempts=attempts, busy=busy, is_retryable=is_retryable
    )
    hand_up(committed.staged)
    return committed


def settle(
    db: firestore.Client,
    decide_and_commit: Callable[[], T],
    *,
    name: str,
    busy: str = DEFAULT_BUSY,
    rounds: int = SETTLE_ROUNDS,
    hold: AbstractContextManager[Any] | None = None,
    publisher: Publisher | None = publish_committed,
) -> T:
    """Decide a change on a plain read and commit it on a precondition, in rounds.

    ``decide_and_commit()`` reads what it decides on, checks the rules, and commits
    (a batch whose writes carry the read's update time as a precondition, or a
    :func:`commit_in_transaction`), staging its events as it goes. A concurrent
    writer that committed first makes its commit fail at once (``FailedPrecondition``
    or ``AlreadyExists``) instead of holding a lock, and the next round decides again
    on what the winner left: this request's own earlier commit (an ambiguous failure
    retried) is found and returned, a rule that now refuses answers as it does.
    After ``rounds`` lost rounds the answer is a 503 ``contention``.

    ``hold`` is held across the rounds (for example an
    :class:`~shared.ledger.aggregate_locks.AggregateLocks` entry, so writers of one
    document on one instance take turns); the events are published after it is let go.
    """
    staged: list[StagedEvent] = []
    with hold or nullcontext():
        for _ in range(rounds):
            staged.clear()
            try:
                with collect_staged(staged):
                    result = decide_and_commit()
            except Exception as exc:
                lost = _lost_round(exc)
                if lost is None:
                    raise
                _log.info("transact.changed_meanwhile", call=name, error=type(lost).__name__)
                continue
            break
        else:
            _log.warning("transact.gave_up", call=name, rounds=rounds)
            raise ContentionError(busy)
    publish_after_commit(db, staged, publisher, name=name)
    return result


def read_retried(
    read: Callable[[], T],
    *,
    name: str,
    retry: RetryPolicy = CONTENTION_RETRY,
    busy: str = DEFAULT_BUSY,
) -> T:
    """Run ``read``; on contention wait a jittered backoff and run it again, then 503.

    Reads take part in no commit, so they stage and publish nothing; they give up like
    the commits beside them, with the same :class:`~shared.errors.ContentionError`.
    """
    try:
        return retry_call(read, policy=retry, is_retryable=is_firestore_contention, name=name)
    except Exception as exc:
        if not is_firestore_contention(exc):
            raise
        _log.warning("transact.read_gave_up", call=name, attempts=retry.max_attempts)
        raise ContentionError(busy) from exc


def _lost_round(exc: BaseException) -> BaseException | None:
    """The ``FailedPrecondition`` or ``AlreadyExists`` that lost a round, if one did.

    The client library rolls a failed transactional commit back and lets an error of
    that rollback replace the commit's own (which it keeps as ``__context__``), so the
    chain is searched, not only the error raised. A rule's refusal never counts.
    """
    from google.api_core.exceptions import AlreadyExists, FailedPrecondition

    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None or isinstance(seen, AppError):
            return None
        if isinstance(seen, AlreadyExists | FailedPrecondition):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def publish_after_commit(
    db: firestore.Client,
    staged: Sequence[StagedEvent],
    publisher: Publisher | None = publish_committed,
    *,
    name: str,
) -> None:
    """Publish committed events; a failure is logged and left to the outbox relay.

    Committed is committed: the records stay pending in the outbox and the relay
    publishes them, so failing the request now would only invite a retry of a
    change that already happened.
    """
    if not staged or publisher is None:
        return
    try:
        publisher(db, staged)
    except Exception as exc:
        _log.warning(
            "transact.publish_deferred", call=name, events=len(staged), error=type(exc).__name__
        )


def _run(
    db: firestore.Client,
    decide: Callable[[Any], T],
    *,
    name: str,
    retry: RetryPolicy,
    attempts: int,
    busy: str | None,
    is_retryable: Callable[[BaseException], bool] = is_firestore_contention,
) -> Committed[T]:
    from google.cloud import firestore as fs

    staged: list[StagedEvent] = []

    def attempt(transaction: Any) -> T:
        # Rebuilt on every attempt: an attempt that did not commit staged nothing.
        staged.clear()
        with collect_staged(staged):
            return decide(transaction)

    wrapped = fs.transactional(attempt)
    try:
        result: T = retry_call(
            lambda: wrapped(db.transaction(max_attempts=attempts)),
            policy=retry,
            is_retryable=is_retryable,
            name=name,
        )
    except Exception as exc:
        if busy is None or isinstance(exc, AppError) or not is_retryable(exc):
            raise
        _log.warning("transact.gave_up", call=name, attempts=retry.max_attempts)
        raise ContentionError(busy) from exc
    return Committed(result, tuple(staged))
