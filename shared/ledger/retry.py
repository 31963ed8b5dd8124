"""A bounded retry, with full-jitter exponential backoff, around a whole use case.

``@firestore.transactional`` already re-runs a transaction whose commit aborted,
but back to back and at most five times: under a burst on one hot document (and
always on the emulator, which locks pessimistically and answers a lock wait that
runs out with ``ABORTED``) that is not enough. This layer waits a random time
between attempts, so contending callers spread out instead of colliding again,
and gives up after a bounded number of attempts with a 503 the client may retry.

Use cases retried here are safe to re-run: their ids are chosen before the first
attempt, and a re-run that finds its own earlier commit returns it (see
``LedgerService``), so an ambiguous failure (a commit that succeeded but whose
answer was lost) never posts twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from shared.errors import ContentionError
from shared.logger import get_logger
from shared.resilience import RetryPolicy, is_firestore_contention, retry_call

T = TypeVar("T")
_log = get_logger("shared.ledger.retry")

DEFAULT_RETRY = RetryPolicy(max_attempts=12, base_delay_seconds=0.02, max_delay_seconds=1.0)
# Kept under the name the ledger's callers and tests use.
is_contention = is_firestore_contention


class _Sleeper:
    """A ``shared.resilience.Clock`` whose sleeping the caller chooses (tests record it)."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep

    def monotonic(self) -> float:
        return time.monotonic()


def with_retry(
    operation: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    name: str = "ledger",
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``operation``; on contention wait a jittered backoff and run it again.

    The retrying is :func:`shared.resilience.retry_call`'s; what the ledger adds is
    the answer once the attempts are spent: a 503 the client may retry.
    """
    try:
        return retry_call(
            operation,
            policy=policy,
            is_retryable=is_contention,
            clock=_Sleeper(sleep),
            rng=rng,
            name=name,
        )
    except Exception as exc:
        if not is_contention(exc):
            raise
        _log.warning("ledger.contention_gave_up", operation=name, attempts=policy.max_attempts)
        raise ContentionError(
            "the ledger is busy with concurrent changes to the same accounts; retry"
        ) from exc
