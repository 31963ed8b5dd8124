"""LoginThrottle's rules, over in-memory limiters (the Firestore ones: integration tests)."""

from __future__ import annotations

import pytest

from shared.errors import RateLimitedError
from shared.ratelimit import LOGIN_THROTTLED_DETAIL, LoginThrottle, RateLimit, TokenBucketLimiter


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def throttle(account_limit: int = 3, address_limit: int = 5) -> LoginThrottle:
    clock = Clock()
    return LoginThrottle(
        TokenBucketLimiter(RateLimit(account_limit, 900), clock=clock),
        TokenBucketLimiter(RateLimit(address_limit, 900), clock=clock),
    )


def test_account_budget_is_enforced_across_addresses() -> None:
    t = throttle(account_limit=3)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        t.attempt(account="alice@example.com", address=address)
    with pytest.raises(RateLimitedError) as caught:
        t.attempt(account="alice@example.com", address="10.0.0.4")
    assert caught.value.detail == LOGIN_THROTTLED_DETAIL


def test_address_budget_is_enforced_across_accounts() -> None:
    t = throttle(account_limit=10, address_limit=5)
    for n in range(5):
        t.attempt(account=f"user{n}@example.com", address="10.0.0.1")
    with pytest.raises(RateLimitedError) as caught:
        t.attempt(account="fresh@example.com", address="10.0.0.1")
    assert caught.value.detail == LOGIN_THROTTLED_DETAIL


def test_a_refused_address_does_not_spend_the_accounts_budget() -> None:
    t = throttle(account_limit=3, address_limit=1)
    t.attempt(account="bob@example.com", address="10.0.0.66")
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            t.attempt(account="victim@example.com", address="10.0.0.66")
    for address in ("10.0.0.7", "10.0.0.8", "10.0.0.9"):  # the victim's full budget is left
        t.attempt(account="victim@example.com", address=address)


def test_success_clears_the_account_but_not_the_address() -> None:
    t = throttle(account_limit=2, address_limit=3)
    t.attempt(account="alice@example.com", address="10.0.0.1")
    t.attempt(account="alice@example.com", address="10.0.0.1")
    t.succeeded(account="alice@example.com")
    t.attempt(account="alice@example.com", address="10.0.0.1")
    with pytest.raises(RateLimitedError):
        t.attempt(account="alice@example.com", address="10.0.0.1")  # address: 4th attempt


def test_unknown_address_counts_the_account_only() -> None:
    t = throttle(account_limit=2)
    t.attempt(account="alice@example.com", address=None)
    t.attempt(account="alice@example.com", address="")
    with pytest.raises(RateLimitedError):
        t.attempt(account="alice@example.com", address=None)
