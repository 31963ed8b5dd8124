"""Revocation answers behind the per-instance cache: the staleness bound, both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.auth.access import STALENESS_SECONDS
from shared.auth.revocation import CachedRevocationStore, InMemoryRevocationStore

ISSUER = "https://tributum.dev"
EXPIRES = datetime.now(UTC) + timedelta(minutes=15)


class CountingStore(InMemoryRevocationStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def is_revoked(self, issuer: str, jti: str) -> bool:
        self.reads += 1
        return super().is_revoked(issuer, jti)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_read_once_per_bound_whether_revoked_or_not() -> None:
    store, clock = CountingStore(), Clock()
    cached = CachedRevocationStore(store, clock=clock)
    assert [cached.is_revoked(ISSUER, "j-1") for _ in range(50)] == [False] * 50
    assert store.reads == 1
    clock.now += STALENESS_SECONDS
    assert cached.is_revoked(ISSUER, "j-1") is False
    assert store.reads == 2


def test_a_revocation_elsewhere_is_seen_within_the_bound() -> None:
    store, clock = CountingStore(), Clock()
    this_instance = CachedRevocationStore(store, clock=clock)
    assert this_instance.is_revoked(ISSUER, "j-2") is False
    # Another instance revokes through the shared store (Firestore in production).
    store.revoke(ISSUER, "j-2", expires_at=EXPIRES, reason="logout")
    clock.now += STALENESS_SECONDS - 0.01
    assert this_instance.is_revoked(ISSUER, "j-2") is False  # still within the stated bound
    clock.now += 0.01
    assert this_instance.is_revoked(ISSUER, "j-2") is True


def test_a_revocation_through_this_instance_is_seen_at_once() -> None:
    store, clock = CountingStore(), Clock()
    verifier_side = CachedRevocationStore(store, clock=clock)
    revoking_side = CachedRevocationStore(store, clock=clock)
    assert verifier_side.is_revoked(ISSUER, "j-3") is False
    revoking_side.revoke(ISSUER, "j-3", expires_at=EXPIRES, reason="logout")
    assert verifier_side.is_revoked(ISSUER, "j-3") is True
    assert store.is_revoked(ISSUER, "j-3") is True


def test_tokens_are_cached_apart_by_issuer_and_id() -> None:
    store = CountingStore()
    cached = CachedRevocationStore(store, clock=Clock())
    store.revoke(ISSUER, "j-4", expires_at=EXPIRES, reason="logout")
    assert cached.is_revoked(ISSUER, "j-4") is True
    assert cached.is_revoked(ISSUER, "j-5") is False
    assert cached.is_revoked("https://other.example", "j-4") is False
