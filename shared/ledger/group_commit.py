"""Group commit: concurrent postings of one tenant share one Firestore transaction.

functions-framework serves many requests of an instance on threads. When several
of them post at once, the first becomes the *leader*: it takes every posting
queued for the same tenant (up to a count and a write budget) and commits them
together in one transaction; the others wait for its outcome. A lone posting is
committed at once (no timer, no added latency); under load, batches grow by
themselves to the number of postings that arrived during the previous commit.

Why: a transaction costs three round trips (begin, read, commit) whatever it
holds, and every posting touching a hot account adds to that account's shard
documents. One transaction for N postings pays the round trips once and writes
each touched balance shard once, with the postings' sum.

Each posting in a batch is validated on its own, in order, against the state the
earlier ones leave: a rejected posting gets its own error and writes nothing,
the others commit. The commit function retries the whole transaction on
contention (``EntryUseCases._commit_postings``, through ``shared.events.transact``);
a failure that remains (retries spent, an outage) is given to every posting of
the batch.

At most one batch per tenant is in flight per instance, so batches of one
instance never contend with each other; instances contend only on documents,
and the balance shards keep that rare (see the package README).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

C = TypeVar("C")
R = TypeVar("R")


@dataclass(eq=False)
class _Waiter(Generic[C, R]):
    command: C
    weight: int
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatchOutcome(Generic[R]):
    """One outcome per command, in order: a result, or the exception its caller raises.

    ``after_release`` runs on the leader's thread once every waiter has its outcome
    (publishing the batch's events after the commit, without making them wait).
    """

    outcomes: Sequence[R | BaseException]
    after_release: Callable[[], None] | None = None


class GroupCommitter(Generic[C, R]):
    """Coalesce concurrent ``submit`` calls with the same key into one ``commit`` call.

    ``linger_seconds``: a leader whose previous batch for the key held more than one
    command waits up to this long for as many commands to queue before it commits.
    Without it, batches alternate between one command (the first caller to come
    back) and everything else; with it, a steady load forms full batches. A key
    whose last batch held one command commits at once, so a lone posting is
    never delayed.
    """

    def __init__(
        self,
        commit: Callable[[str, Sequence[C]], BatchOutcome[R]],
        *,
        max_batch: int = 32,
        max_weight: int = 450,
        max_in_flight: int = 1,
        linger_seconds: float = 0.002,
        weight: Callable[[C], int] = lambda _command: 1,
    ) -> None:
        if max_batch < 1 or max_weight < 1 or max_in_flight < 1 or linger_seconds < 0:
            raise ValueError("batch limits must be positive and linger_seconds not negative")
        self._commit = commit
        self._max_batch = max_batch
        self._max_weight = max_weight
        self._max_in_flight = max_in_flight
        self._linger = linger_seconds
        self._weight = weight
        lock = threading.Lock()
        # Waiters sleep on _done (a batch finished); a lingering leader on _arrived.
        self._done = threading.Condition(lock)
        self._arrived = threading.Condition(lock)
        self._queues: dict[str, deque[_Waiter[C, R]]] = {}
        self._in_flight: dict[str, int] = {}
        self._last_size: dict[str, int] = {}
        self.batches_committed = 0
        self.commands_committed = 0

    def submit(self, key: str, command: C) -> R:
        waiter: _Waiter[C, R] = _Waiter(command, max(1, self._weight(command)))
        with self._done:
            queue = self._queues.setdefault(key, deque())
            queue.append(waiter)
            self._arrived.notify_all()
            while not waiter.done:
                at_head = bool(queue) and queue[0] is waiter
                if at_head and self._in_flight.get(key, 0) < self._max_in_flight:
                    self._in_flight[key] = self._in_flight.get(key, 0) + 1
                    batch = self._gather(key, queue)
                    break
                self._done.wait()
            else:
                return self._outcome(waiter)
        self._lead(key, batch)
        return self._outcome(waiter)

    def _gather(self, key: str, queue: deque[_Waiter[C, R]]) -> list[_Waiter[C, R]]:
        """Take the head of the queue and what follows it (lingering briefly under load)."""
        batch = [queue.popleft()]
        weight = batch[0].weight
        target = min(self._max_batch, self._last_size.get(key, 1))
        deadline = time.monotonic() + self._linger
        while True:
            while queue and len(batch) < self._max_batch:
                if weight + queue[0].weight > self._max_weight:
                    return batch
                weight += queue[0].weight
                batch.append(queue.popleft())
            remaining = deadline - time.monotonic()
            if len(batch) >= target or remaining <= 0:
                return batch
            self._arrived.wait(remaining)

    def _lead(self, key: str, batch: list[_Waiter[C, R]]) -> None:
        outcomes: Sequence[R | BaseException]
        after_release: Callable[[], None] | None = None
        try:
            result = self._commit(key, [w.command for w in batch])
            outcomes, after_release = result.outcomes, result.after_release
            if len(outcomes) != len(batch):
                raise RuntimeError("commit returned a different number of outcomes")
        except BaseException as exc:
            outcomes, after_release = [exc] * len(batch), None
        with self._done:
            for waiter, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    waiter.error = outcome
                else:
                    waiter.result = outcome
                waiter.done = True
            if len(self._last_size) > 10_000:
                self._last_size.clear()  # bounded memory however many tenants
            self._last_size[key] = len(batch)
            if self._in_flight[key] == 1:
                del self._in_flight[key]
            else:
                self._in_flight[key] -= 1
            if not self._queues.get(key) and key not in self._in_flight:
                self._queues.pop(key, None)
            self.batches_committed += 1
            self.commands_committed += len(batch)
            self._done.notify_all()
        if after_release is not None:
            after_release()

    @staticmethod
    def _outcome(waiter: _Waiter[C, R]) -> R:
        if waiter.error is not None:
            raise waiter.error
        return waiter.result  # type: ignore[return-value]
