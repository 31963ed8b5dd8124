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
from dataclasses import dataclass
from typing import TypeVar

from shared.errors import ServiceUnavailableError
from shared.logger import get_logger
from shared.resilience import is_firestore_contention

T = TypeVar("T")
_log = get_logger("shared.ledger.retry")
# One generator for every caller: seeding a new one per call costs more than a posting.
_JITTER = random.Random()  # noqa: S311 - jitter, not security


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 12
    base_delay_seconds: float = 0.02
    max_delay_seconds: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * (2**attempt))
        return rng.uniform(0, ceiling)


DEFAULT_RETRY = RetryPolicy()


# Kept under the name the ledger's callers and tests use.
is_contention = is_firestore_contention


def with_retry(
    operation: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    name: str = "ledger",
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``operation``; on contention wait a jittered backoff and run it again."""
    chooser = rng or _JITTER
    for attempt in range(policy.attempts):
        try:
            return operation()
        except Exception as exc:
            if not is_contention(exc):
                raise
            if attempt == policy.attempts - 1:
                _log.warning("ledger.contention_gave_up", operation=name, attempts=policy.attempts)
                raise ServiceUnavailableError(
                    "the ledger is busy with concurrent changes to the same accounts; retry",
                    code="ledger_contention",
                    headers={"Retry-After": "1"},
                ) from exc
            sleep(policy.delay(attempt, chooser))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
