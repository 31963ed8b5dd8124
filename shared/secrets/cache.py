"""A per-instance TTL cache for secret values, safe under functions-framework's threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    value: str
    expires_at: float


class TtlCache:
    """Values kept ``ttl_seconds`` after loading; ``ttl_seconds=0`` disables caching.

    A miss loads under a per-name lock, so a burst of requests on a cold instance makes
    one backend call per secret rather than one per thread, while other secrets stay
    readable. A failed load caches nothing: the next call tries again.
    """

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get_or_load(self, name: str, load: Callable[[], str]) -> str:
        entry = self._entries.get(name)
        if entry is not None and self._clock() < entry.expires_at:
            return entry.value
        with self._lock_for(name):
            entry = self._entries.get(name)
            if entry is not None and self._clock() < entry.expires_at:
                return entry.value
            value = load()
            if self._ttl > 0:
                self._entries[name] = _Entry(value, self._clock() + self._ttl)
            return value

    def invalidate(self, name: str | None = None) -> None:
        """Forget one cached value, or all of them."""
        with self._guard:
            if name is None:
                self._entries.clear()
            else:
                self._entries.pop(name, None)

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = threading.Lock()
            return lock
