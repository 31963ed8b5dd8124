"""A fixed-window counter in Firestore: limits that hold across all instances.

Collection ``rate_limits``; one document per (limiter, key, window), id
``<limiter>:<sha256(key)>:<window start>``. A hit is one atomic write: ``count`` is
raised with the ``Increment`` transform and the commit returns the new value, so
concurrent hits from any number of instances are counted exactly, with no
transaction and no lock to contend for. ``expires_at`` (window end plus a margin)
is the collection's TTL field; windows are never read after they end, so TTL's
lateness (and its absence on the emulator) changes nothing.

Fixed windows allow up to twice the limit across a window boundary; for login
throttling (a handful of attempts per quarter hour) that is acceptable and keeps
every hit to a single write.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.ratelimit.base import RateLimit, RateLimitDecision, key_digest

if TYPE_CHECKING:
    from google.cloud import firestore

RATE_LIMITS_COLLECTION = "rate_limits"
_EXPIRY_MARGIN = timedelta(minutes=5)
_LIMITER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class FirestoreFixedWindowLimiter:
    def __init__(
        self,
        client: firestore.Client,
        name: str,
        rate: RateLimit,
        *,
        collection: str = RATE_LIMITS_COLLECTION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _LIMITER_NAME.match(name):
            raise ValueError(f"limiter name {name!r} must be lower-case letters, digits, - or _")
        self._collection = client.collection(collection)
        self._name = name
        self._rate = rate
        self._clock = clock

    @property
    def rate(self) -> RateLimit:
        return self._rate

    @property
    def name(self) -> str:
        return self._name

    def hit(self, key: str, *, cost: int = 1, detail: str | None = None) -> RateLimitDecision:
        from google.cloud import firestore

        if cost < 1:
            raise ValueError("cost must be at least 1")
        now = self._clock()
        window_start = self._window_start(now)
        digest = key_digest(key)
        result: Any = self._document(digest, window_start).set(
            {
                "limiter": self._name,
                "key_hash": digest,
                "window_start": datetime.fromtimestamp(window_start, tz=UTC),
                "window_seconds": self._rate.window_seconds,
                "count": firestore.Increment(cost),
                "expires_at": self._expires_at(window_start),
            },
            merge=True,
        )
        count = int(result.transform_results[0].integer_value)
        decision = self._decision(count, now, window_start, count <= self._rate.limit)
        decision.raise_if_denied(detail)
        return decision

    def peek(self, key: str) -> RateLimitDecision:
        now = self._clock()
        window_start = self._window_start(now)
        snapshot = self._document(key_digest(key), window_start).get()
        count = int((snapshot.to_dict() or {}).get("count", 0)) if snapshot.exists else 0
        return self._decision(count, now, window_start, count < self._rate.limit)

    def reset(self, key: str) -> None:
        window_start = self._window_start(self._clock())
        self._document(key_digest(key), window_start).delete()

    def _window_start(self, now: float) -> int:
        window = self._rate.window_seconds
        return int(now // window) * window

    def _expires_at(self, window_start: int) -> datetime:
        end = datetime.fromtimestamp(window_start + self._rate.window_seconds, tz=UTC)
        return end + _EXPIRY_MARGIN

    def _document(self, digest: str, window_start: int) -> Any:
        return self._collection.document(f"{self._name}:{digest}:{window_start}")

    def _decision(
        self, count: int, now: float, window_start: int, allowed: bool
    ) -> RateLimitDecision:
        window_end = window_start + self._rate.window_seconds
        return RateLimitDecision(
            allowed=allowed,
            limit=self._rate.limit,
            remaining=max(0, self._rate.limit - count),
            retry_after_seconds=0 if allowed else max(1, math.ceil(window_end - now)),
        )
