"""A per-instance read-through cache whose entries are at most ``ttl_seconds`` stale.

Sessions (``shared.auth.access``) and API keys (``shared.producers.cache``) are read on
every request and must take a revocation within a stated bound. Each instance serves a
record it read for at most ``ttl_seconds``, counted from the moment the read *started*:
a change committed at T is seen by every read after T + ``ttl_seconds``, and at once on
the instance that made it, which calls :func:`forget_locally` for the caches of its
group. Missing records are not cached (a record created a moment ago is found on its
first use). At most ``max_entries`` are kept, the least recently read evicted first.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

# The bound of every per-instance cache of access states and API keys: a change is
# seen by every instance at most this many seconds after it committed.
STALENESS_SECONDS = 2.0

_groups: dict[str, weakref.WeakSet[ReadThroughCache[object]]] = {}
_groups_lock = threading.Lock()


def forget_locally(group: str, key: str) -> None:
    """Drop ``key`` from every cache of ``group`` in this process (after a write committed)."""
    with _groups_lock:
        caches = list(_groups.get(group, ()))
    for cache in caches:
        cache.forget(key)


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    read_at: float


class ReadThroughCache(Generic[V]):
    """Values of ``read`` by key, each served at most ``ttl_seconds`` after its read began."""

    def __init__(
        self,
        read: Callable[[str], V | None],
        *,
        group: str,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must not be negative and max_entries must be positive")
        self._read = read
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        # Raised by every forget(): a read that began before one must not be cached.
        self._generation = 0
        with _groups_lock:
            _groups.setdefault(group, weakref.WeakSet()).add(self)  # type: ignore[arg-type]

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def get(self, key: str) -> V | None:
        started = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and started - entry.read_at < self._ttl:
                self._entries.move_to_end(key)
                return entry.value
            generation = self._generation
        value = self._read(key)
        with self._lock:
            if value is None:
                self._entries.pop(key, None)
                return None
            current = self._entries.get(key)
            fresher = current is None or current.read_at <= started
            if fresher and generation == self._generation:
                self._entries[key] = _Entry(value, started)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return value

    def forget(self, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)
