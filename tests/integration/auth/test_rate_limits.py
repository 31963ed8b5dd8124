"""FirestoreFixedWindowLimiter and LoginThrottle on the emulator."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.errors import RateLimitedError
from shared.ratelimit import (
    RATE_LIMITS_COLLECTION,
    FirestoreFixedWindowLimiter,
    LoginThrottle,
    RateLimit,
    key_digest,
)

WINDOW_START = 1_800_000_000.0  # a multiple of 60 and of 900


class Clock:
    def __init__(self, now: float = WINDOW_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(client: Any, limit: int = 3, window: int = 60, clock: Clock | None = None) -> Any:
    return FirestoreFixedWindowLimiter(
        client, "test-limit", RateLimit(limit, window), clock=clock or Clock()
    )


def test_counts_up_to_the_limit_then_refuses(firestore_client: Any) -> None:
    clock = Clock(WINDOW_START + 15)
    limit = limiter(firestore_client, limit=3, window=60, clock=clock)
    assert [limit.hit("alice").remaining for _ in range(3)] == [2, 1, 0]
    with pytest.raises(RateLimitedError) as caught:
        limit.hit("alice")
    assert caught.value.retry_after_seconds == 45  # until the window ends
    assert caught.value.headers["Retry-After"] == "45"


def test_a_new_window_starts_afresh(firestore_client: Any) -> None:
    clock = Clock()
    limit = limiter(firestore_client, limit=1, window=60, clock=clock)
    limit.hit("alice")
    with pytest.raises(RateLimitedError):
        limit.hit("alice")
    clock.now += 60
    assert limit.hit("alice").allowed


def test_keys_and_limiters_are_independent(firestore_client: Any) -> None:
    clock = Clock()
    one = limiter(firestore_client, limit=1, clock=clock)
    other = FirestoreFixedWindowLimiter(firestore_client, "other", RateLimit(1, 60), clock=clock)
    one.hit("alice")
    one.hit("bob")
    other.hit("alice")
    with pytest.raises(RateLimitedError):
        one.hit("alice")


def test_peek_and_reset(firestore_client: Any) -> None:
    limit = limiter(firestore_client, limit=2)
    assert limit.peek("alice").remaining == 2
    limit.hit("alice")
    limit.hit("alice")
    decision = limit.peek("alice")
    assert (decision.allowed, decision.remaining) == (False, 0)
    assert decision.retry_after_seconds == 60
    limit.reset("alice")
    assert limit.peek("alice").remaining == 2
    assert limit.hit("alice").allowed


def test_cost(firestore_client: Any) -> None:
    limit = limiter(firestore_client, limit=10)
    assert limit.hit("k", cost=4).remaining == 6
    with pytest.raises(RateLimitedError):
        limit.hit("k", cost=7)


def test_stored_state_holds_only_a_digest_of_the_key(firestore_client: Any) -> None:
    limiter(firestore_client).hit("alice@example.com")
    (snapshot,) = list(firestore_client.collection(RATE_LIMITS_COLLECTION).stream())
    record = snapshot.to_dict()
    assert snapshot.id == f"test-limit:{key_digest('alice@example.com')}:{int(WINDOW_START)}"
    assert "alice" not in str(record)
    assert record["count"] == 1
    assert record["limiter"] == "test-limit"
    assert record["expires_at"].timestamp() > WINDOW_START + 60  # TTL after the window ends


def test_concurrent_hits_from_many_instances_are_counted_exactly(firestore_client: Any) -> None:
    from google.cloud import firestore

    clock = Clock()
    # One client and one limiter per thread: separate function instances.
    instances = [
        FirestoreFixedWindowLimiter(
            firestore.Client(project=firestore_client.project),
            "login-account",
            RateLimit(25, 900),
            clock=clock,
        )
        for _ in range(4)
    ]
    allowed = 0
    lock = threading.Lock()
    barrier = threading.Barrier(len(instances))

    def attack(instance: FirestoreFixedWindowLimiter) -> None:
        nonlocal allowed
        barrier.wait()
        for _ in range(12):
            try:
                instance.hit("victim@example.com")
            except RateLimitedError:
                continue
            with lock:
                allowed += 1

    threads = [threading.Thread(target=attack, args=(i,)) for i in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed == 25
    assert instances[0].peek("victim@example.com").remaining == 0


def test_login_throttle_on_firestore(firestore_client: Any) -> None:
    throttle = LoginThrottle.firestore(
        firestore_client, account_rate=RateLimit(3, 900), address_rate=RateLimit(100, 900)
    )
    for _ in range(3):
        throttle.attempt(account="alice@example.com", address="203.0.113.7")
    with pytest.raises(RateLimitedError) as caught:
        throttle.attempt(account="alice@example.com", address="198.51.100.1")
    assert 0 < caught.value.retry_after_seconds <= 900
    throttle.succeeded(account="alice@example.com")
    throttle.attempt(account="alice@example.com", address="198.51.100.1")
    names = {
        doc.get("limiter") for doc in firestore_client.collection(RATE_LIMITS_COLLECTION).stream()
    }
    assert names == {"login-account", "login-address"}


def test_limiter_names_are_checked(firestore_client: Any) -> None:
    with pytest.raises(ValueError):
        FirestoreFixedWindowLimiter(firestore_client, "Bad/Name", RateLimit(1, 1))
