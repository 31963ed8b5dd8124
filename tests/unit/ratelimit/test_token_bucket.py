"""TokenBucketLimiter: bursts, refill, Retry-After, thread safety, bounded memory."""

from __future__ import annotations

import threading

import pytest

from shared.errors import RateLimitedError
from shared.ratelimit import RateLimit, RateLimitDecision, TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_up_to_the_limit_then_refused_with_retry_after() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(RateLimit(limit=5, window_seconds=10), clock=clock)
    remaining = [limiter.hit("k").remaining for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    with pytest.raises(RateLimitedError) as caught:
        limiter.hit("k")
    assert caught.value.retry_after_seconds == 2  # one token per 2 s
    assert caught.value.headers["Retry-After"] == "2"
    assert caught.value.status == 429


def test_tokens_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(RateLimit(limit=5, window_seconds=10), clock=clock)
    for _ in range(5):
        limiter.hit("k")
    clock.now += 1.9
    assert not limiter.peek("k").allowed
    clock.now += 0.1
    assert limiter.hit("k").allowed
    clock.now += 1000
    assert limiter.peek("k").remaining == 5  # never above capacity


def test_keys_are_independent() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=1, window_seconds=60), clock=Clock())
    limiter.hit("a")
    limiter.hit("b")
    with pytest.raises(RateLimitedError):
        limiter.hit("a")


def test_refused_hits_consume_nothing() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(RateLimit(limit=2, window_seconds=2), clock=clock)
    limiter.hit("k")
    limiter.hit("k")
    for _ in range(10):
        with pytest.raises(RateLimitedError):
            limiter.hit("k")
    clock.now += 1
    assert limiter.hit("k").allowed


def test_cost_and_its_bounds() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=10, window_seconds=10), clock=Clock())
    assert limiter.hit("k", cost=7).remaining == 3
    with pytest.raises(RateLimitedError) as caught:
        limiter.hit("k", cost=5)
    assert caught.value.retry_after_seconds == 2
    with pytest.raises(ValueError):
        limiter.hit("k", cost=0)
    with pytest.raises(ValueError):
        limiter.hit("k", cost=11)


def test_peek_counts_nothing() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=3, window_seconds=3), clock=Clock())
    for _ in range(10):
        decision = limiter.peek("k")
    assert decision == RateLimitDecision(True, 3, 3, 0)


def test_reset_refills_the_key() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=1, window_seconds=3600), clock=Clock())
    limiter.hit("k")
    limiter.reset("k")
    assert limiter.hit("k").allowed


def test_custom_detail_is_carried() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=1, window_seconds=60), clock=Clock())
    limiter.hit("k")
    with pytest.raises(RateLimitedError, match="slow down"):
        limiter.hit("k", detail="slow down")


def test_memory_is_bounded_by_evicting_the_least_recently_used() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=1, window_seconds=3600), max_keys=3, clock=Clock())
    for key in ("a", "b", "c"):
        limiter.hit(key)
    limiter.peek("a")  # "a" is now the most recently used
    limiter.hit("d")  # evicts "b"
    assert limiter.hit("b").allowed  # forgotten, so full again
    with pytest.raises(RateLimitedError):
        limiter.hit("a")


def test_concurrent_hits_never_exceed_the_limit() -> None:
    limiter = TokenBucketLimiter(RateLimit(limit=50, window_seconds=3600))
    allowed = 0
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        nonlocal allowed
        barrier.wait()
        for _ in range(25):
            try:
                limiter.hit("shared")
            except RateLimitedError:
                continue
            with lock:
                allowed += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed == 50


@pytest.mark.parametrize(("limit", "window"), [(0, 1), (1, 0), (-1, 10)])
def test_invalid_rates_are_refused(limit: int, window: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(limit=limit, window_seconds=window)


def test_decision_helpers() -> None:
    denied = RateLimitDecision(allowed=False, limit=5, remaining=0, retry_after_seconds=7)
    with pytest.raises(RateLimitedError) as caught:
        denied.raise_if_denied()
    assert caught.value.retry_after_seconds == 7
    RateLimitDecision(True, 5, 4, 0).raise_if_denied()
    assert denied.headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "0"}
