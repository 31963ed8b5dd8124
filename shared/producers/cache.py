"""A per-instance cache of key records for the HTTP door, at most 2 seconds stale.

A machine client may call many times a second; reading its key's document on every
request would double the reads of a busy API. Instead each instance serves a record
it read for at most :data:`STALENESS_SECONDS` (the bound sessions have, see
``shared.auth.access``), counted from the moment the read *started*: a revocation or
rotation committed at T is refused by every instance from T + 2 s, and at once on the
instance that made it (the use cases call :func:`forget_locally`). Unknown ids are not
cached, so a key created a moment ago is found on its first use. Messages on topics
do not use this cache: they read the record each time.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from shared.producers.model import ProducerKey

STALENESS_SECONDS = 2.0
DEFAULT_MAX_CACHED_KEYS = 10_000

KeyReader = Callable[[str], "ProducerKey | None"]


@dataclass(slots=True)
class _Entry:
    key: ProducerKey
    read_at: float


_caches: weakref.WeakSet[CachedKeys] = weakref.WeakSet()
_caches_lock = threading.Lock()


def forget_locally(key_id: str) -> None:
    """Drop ``key_id`` from every cache of this process (after a write committed)."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.forget(key_id)


class CachedKeys:
    """Key records by id, each served at most ``ttl_seconds`` after its read began.

    At most ``max_entries`` keys are kept, the least recently used evicted first.
    """

    def __init__(
        self,
        read: KeyReader,
        *,
        ttl_seconds: float = STALENESS_SECONDS,
        max_entries: int = DEFAULT_MAX_CACHED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must not be negative and max_entries must be positive")
        self._read = read
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        # Raised by every forget(): a read that began before one must not be cached.
        self._generation = 0
        with _caches_lock:
            _caches.add(self)

    def get(self, key_id: str) -> ProducerKey | None:
        started = self._clock()
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is not None and started - entry.read_at < self._ttl:
                self._entries.move_to_end(key_id)
                return entry.key
            generation = self._generation
        key = self._read(key_id)
        with self._lock:
            if key is None:
                self._entries.pop(key_id, None)
                return None
            current = self._entries.get(key_id)
            fresher = current is None or current.read_at <= started
            if fresher and generation == self._generation:
                self._entries[key_id] = _Entry(key, started)
                self._entries.move_to_end(key_id)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return key

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(key_id, None)
