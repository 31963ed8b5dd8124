"""A per-instance token bucket: absorbs bursts without any I/O."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from shared.ratelimit.base import RateLimit, RateLimitDecision

DEFAULT_MAX_KEYS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class TokenBucketLimiter:
    """``rate.limit`` tokens per key, refilled continuously over ``rate.window_seconds``.

    A full bucket allows a burst of ``limit``; afterwards requests are admitted at the
    refill rate. State is per instance: with N instances a key can reach N times the
    limit, which is the point (cheap burst control); limits that must hold across
    instances use ``FirestoreFixedWindowLimiter``. At most ``max_keys`` buckets are kept
    (least recently used evicted); an evicted key starts again with a full bucket.
    """

    def __init__(
        self,
        rate: RateLimit,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._rate = rate
        self._per_second = rate.limit / rate.window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def rate(self) -> RateLimit:
        return self._rate

    def hit(self, key: str, *, cost: int = 1, detail: str | None = None) -> RateLimitDecision:
        if cost < 1 or cost > self._rate.limit:
            raise ValueError(f"cost must be between 1 and the limit ({self._rate.limit})")
        with self._lock:
            bucket = self._refilled(key)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                decision = self._decision(bucket, allowed=True, cost=cost)
            else:
                decision = self._decision(bucket, allowed=False, cost=cost)
        decision.raise_if_denied(detail)
        return decision

    def peek(self, key: str) -> RateLimitDecision:
        with self._lock:
            bucket = self._refilled(key)
            return self._decision(bucket, allowed=bucket.tokens >= 1, cost=1)

    def reset(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(self._rate.limit), updated_at=now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(float(self._rate.limit), bucket.tokens + elapsed * self._per_second)
            bucket.updated_at = now
            self._buckets.move_to_end(key)
        return bucket

    def _decision(self, bucket: _Bucket, *, allowed: bool, cost: int) -> RateLimitDecision:
        retry_after = 0
        if not allowed:
            retry_after = max(1, math.ceil((cost - bucket.tokens) / self._per_second))
        return RateLimitDecision(
            allowed=allowed,
            limit=self._rate.limit,
            remaining=int(bucket.tokens),
            retry_after_seconds=retry_after,
        )
