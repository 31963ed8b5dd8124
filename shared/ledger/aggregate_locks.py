"""One in-process lock per aggregate (an entry, a payment), so an instance never races itself.

Changes to one aggregate commit with a precondition on the version they read (see
``LedgerService`` and ``shared.payments.service``): of several concurrent writers one
wins and the others read again and learn what it did. Across instances that is the
whole story. Within one instance (functions-framework serves requests on threads)
the lock lets those writers take turns instead, so each one reads the state its
predecessor left and no commit is wasted; on the Firestore emulator, whose locks are
pessimistic, it also keeps one instance's transactions on the same documents from
waiting on each other.

The lock is an optimisation, never a guarantee: correctness rests on the commit
preconditions alone. A caller that cannot get the lock within ``wait_seconds``
proceeds without it rather than queue behind a slow holder.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DEFAULT_WAIT_SECONDS = 2.0


@dataclass
class _Slot:
    lock: threading.Lock
    users: int = 0


class AggregateLocks:
    """Locks by key, made on first use and dropped once nobody holds or awaits them."""

    def __init__(self, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        if wait_seconds < 0:
            raise ValueError("wait_seconds must not be negative")
        self._wait_seconds = wait_seconds
        self._guard = threading.Lock()
        self._slots: dict[Hashable, _Slot] = {}

    @contextmanager
    def held(self, key: Hashable) -> Iterator[bool]:
        """Hold the lock of ``key`` for the block; yields whether it was acquired in time."""
        with self._guard:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot(threading.Lock())
            slot.users += 1
        acquired = slot.lock.acquire(timeout=self._wait_seconds)
        try:
            yield acquired
        finally:
            if acquired:
                slot.lock.release()
            with self._guard:
                slot.users -= 1
                if slot.users == 0:
                    del self._slots[key]

    def __len__(self) -> int:
        """How many keys are held or awaited right now (bounded by the concurrent callers)."""
        with self._guard:
            return len(self._slots)
