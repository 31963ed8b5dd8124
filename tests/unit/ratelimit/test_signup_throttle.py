"""SignupThrottle's rules, over in-memory limiters (the Firestore ones: integration tests)."""

from __future__ import annotations

import pytest

from shared.errors import RateLimitedError
from shared.ratelimit import (
    SIGNUP_ADDRESS_RATE,
    SIGNUP_GLOBAL_RATE,
    SIGNUP_THROTTLED_DETAIL,
    RateLimit,
    SignupThrottle,
    TokenBucketLimiter,
)


def throttle(address_limit: int = 2, global_limit: int = 5) -> SignupThrottle:
    clock = lambda: 0.0  # noqa: E731 - a frozen clock: no refill during a test
    return SignupThrottle(
        TokenBucketLimiter(RateLimit(address_limit, 3600), clock=clock),
        TokenBucketLimiter(RateLimit(global_limit, 300), clock=clock),
    )


def test_the_documented_limits() -> None:
    assert (SIGNUP_ADDRESS_RATE.limit, SIGNUP_ADDRESS_RATE.window_seconds) == (10, 3600)
    assert (SIGNUP_GLOBAL_RATE.limit, SIGNUP_GLOBAL_RATE.window_seconds) == (300, 300)


def test_one_address_gets_its_budget_and_no_more() -> None:
    t = throttle(address_limit=2)
    t.attempt(address="203.0.113.1")
    t.attempt(address="203.0.113.1")
    with pytest.raises(RateLimitedError) as caught:
        t.attempt(address="203.0.113.1")
    assert caught.value.detail == SIGNUP_THROTTLED_DETAIL
    assert caught.value.headers["Retry-After"] == str(caught.value.retry_after_seconds)
    t.attempt(address="203.0.113.2")


def test_the_global_budget_holds_whatever_the_addresses() -> None:
    t = throttle(address_limit=10, global_limit=3)
    for n in range(3):
        t.attempt(address=f"198.51.100.{n}")
    with pytest.raises(RateLimitedError) as caught:
        t.attempt(address="198.51.100.200")
    assert caught.value.detail == SIGNUP_THROTTLED_DETAIL


def test_a_refused_address_does_not_spend_the_global_budget() -> None:
    t = throttle(address_limit=1, global_limit=3)
    t.attempt(address="192.0.2.66")
    for _ in range(10):
        with pytest.raises(RateLimitedError):
            t.attempt(address="192.0.2.66")
    t.attempt(address="192.0.2.1")
    t.attempt(address="192.0.2.2")


def test_callers_without_an_address_share_one_bucket() -> None:
    t = throttle(address_limit=1, global_limit=10)
    t.attempt(address=None)
    with pytest.raises(RateLimitedError):
        t.attempt(address=None)
