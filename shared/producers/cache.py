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

import time
from collections.abc import Callable

from shared import stale_cache
from shared.producers.model import ProducerKey

STALENESS_SECONDS = 2.0
DEFAULT_MAX_CACHED_KEYS = 10_000
_CACHE_GROUP = "producer_keys"

KeyReader = Callable[[str], "ProducerKey | None"]


def forget_locally(key_id: str) -> None:
    """Drop ``key_id`` from every cache of this process (after a write committed)."""
    stale_cache.forget_locally(_CACHE_GROUP, key_id)


class CachedKeys(stale_cache.ReadThroughCache[ProducerKey]):
    """Key records by id, each served at most ``ttl_seconds`` after its read began."""

    def __init__(
        self,
        read: KeyReader,
        *,
        ttl_seconds: float = STALENESS_SECONDS,
        max_entries: int = DEFAULT_MAX_CACHED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            read, group=_CACHE_GROUP, ttl_seconds=ttl_seconds, max_entries=max_entries, clock=clock
        )
