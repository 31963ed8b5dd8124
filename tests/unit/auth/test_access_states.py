"""Access states: which tokens a user's stored state admits, and the per-instance cache
whose staleness bound (2 s) is what the docs promise."""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import Any

import pytest

from shared.auth import (
    TOKEN_REVOKED,
    AccessState,
    CachedAccessStates,
    InMemoryAccessStates,
    TokenClaims,
)
from shared.auth.access import STALENESS_SECONDS, admit, forget_locally
from shared.errors import UnauthorizedError


def claims(**changes: Any) -> TokenClaims:
    fields: dict[str, Any] = {
        "token_type": "access",
        "issuer": "https://auth.tributum.test",
        "audience": "tributum-api-test",
        "user_id": "u-1",
        "tenant_id": "t-1",
        "role": "owner",
        "jti": "j-1",
        "issued_at": 1_000,
        "not_before": 1_000,
        "expires_at": 1_900,
        "family_id": "fam-1",
        "epoch": 0,
        **changes,
    }
    return TokenClaims(**fields)


def state(**changes: Any) -> AccessState:
    fields: dict[str, Any] = {"user_id": "u-1", "tenant_id": "t-1", "role": "admin", **changes}
    return AccessState(**fields)


# -- what a state admits ----------------------------------------------------------------------


def test_an_active_state_admits_its_users_tokens_whatever_role_they_claim() -> None:
    assert state().refusal(claims(role="owner")) is None
    assert admit(state(), claims()).role == "admin"


@pytest.mark.parametrize(
    ("stored", "token", "reason"),
    [
        ({"status": "disabled"}, {}, "user_disabled"),
        ({"tenant_id": "t-2"}, {}, "principal_mismatch"),
        ({"user_id": "u-2"}, {}, "principal_mismatch"),
        ({"epoch": 2}, {"epoch": 1}, "epoch_passed"),
        ({"epoch": 1, "kept_session": "fam-9"}, {"epoch": 0}, "epoch_passed"),
        ({"ended_sessions": MappingProxyType({"fam-1": 2_000})}, {}, "session_ended"),
    ],
)
def test_refusals(stored: dict[str, Any], token: dict[str, Any], reason: str) -> None:
    assert state(**stored).refusal(claims(**token)) == reason
    with pytest.raises(UnauthorizedError) as caught:
        admit(state(**stored), claims(**token))
    assert (caught.value.status, caught.value.code) == (401, TOKEN_REVOKED)


def test_the_kept_session_survives_the_epoch_it_was_kept_through() -> None:
    kept = state(epoch=1, kept_session="fam-1")
    assert kept.refusal(claims(epoch=0, family_id="fam-1")) is None
    assert kept.refusal(claims(epoch=0, family_id="fam-2")) == "epoch_passed"
    assert kept.refusal(claims(epoch=1, family_id="fam-2")) is None


def test_no_state_admits_nothing() -> None:
    with pytest.raises(UnauthorizedError) as caught:
        admit(None, claims())
    assert caught.value.code == TOKEN_REVOKED


def test_document_round_trip_and_defaults() -> None:
    original = state(epoch=4, kept_session="fam-1", ended_sessions=MappingProxyType({"f": 9}))
    assert AccessState.from_document("u-1", original.to_document()) == original
    # A document missing its status holds nothing: fail closed.
    assert not AccessState.from_document("u-1", {"tenant_id": "t-1", "role": "owner"}).active


def test_in_memory_end_session_drops_expired_entries() -> None:
    now = [1_000.0]
    store = InMemoryAccessStates(clock=lambda: now[0])
    store.put(state())
    store.end_session("u-1", "fam-1", until=1_500)
    now[0] = 1_600.0
    store.end_session("u-1", "fam-2", until=2_500)
    stored = store.get("u-1")
    assert stored is not None and dict(stored.ended_sessions) == {"fam-2": 2_500}
    store.end_session("u-404", "fam-1", until=2_500)  # no state: nothing to record
    assert store.get("u-404") is None


# -- the cache --------------------------------------------------------------------------------


class CountingStore(InMemoryAccessStates):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, user_id: str) -> AccessState | None:
        self.reads += 1
        return super().get(user_id)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_staleness_bound_is_two_seconds() -> None:
    assert STALENESS_SECONDS == 2.0
    assert CachedAccessStates(InMemoryAccessStates()).ttl_seconds == 2.0


def test_a_cached_state_is_served_until_the_bound_then_read_again() -> None:
    source, clock = CountingStore(), Clock()
    cache = CachedAccessStates(source, clock=clock)
    source.put(state(role="owner"))
    assert cache.get("u-1") == state(role="owner")

    source.put(state(role="viewer"))  # demoted on another instance
    clock.now += STALENESS_SECONDS - 0.01
    assert cache.get("u-1") == state(role="owner")  # within the bound: one read in all
    assert source.reads == 1

    clock.now += 0.01
    assert cache.get("u-1") == state(role="viewer")  # at the bound: read again
    assert source.reads == 2


def test_a_write_in_this_process_is_seen_at_once() -> None:
    source, clock = CountingStore(), Clock()
    cache = CachedAccessStates(source, clock=clock)
    source.put(state(role="owner"))
    cache.get("u-1")
    source.put(state(role="viewer"))
    forget_locally("u-1")
    assert cache.get("u-1") == state(role="viewer")


def test_end_session_through_the_cache_is_seen_at_once() -> None:
    source = InMemoryAccessStates()
    cache = CachedAccessStates(source, clock=Clock())
    source.put(state())
    assert cache.get("u-1") is not None
    cache.end_session("u-1", "fam-1", until=2**31 - 1)
    with pytest.raises(UnauthorizedError):
        admit(cache.get("u-1"), claims())


def test_missing_states_are_not_cached() -> None:
    source, clock = CountingStore(), Clock()
    cache = CachedAccessStates(source, clock=clock)
    assert cache.get("u-1") is None
    source.put(state())
    assert cache.get("u-1") == state()


def test_least_recently_read_users_are_evicted() -> None:
    source, clock = CountingStore(), Clock()
    cache = CachedAccessStates(source, max_entries=2, clock=clock)
    for user in ("u-1", "u-2", "u-3"):
        source.put(state(user_id=user))
        cache.get(user)
    assert source.reads == 3
    cache.get("u-3")
    cache.get("u-2")
    assert source.reads == 3
    cache.get("u-1")  # evicted: read again
    assert source.reads == 4


def test_a_read_overtaken_by_a_write_is_not_cached() -> None:
    """A read that began before a local write must not pin the old state for 2 s."""
    entered, release = threading.Event(), threading.Event()

    class SlowStore(InMemoryAccessStates):
        def get(self, user_id: str) -> AccessState | None:
            old = super().get(user_id)
            entered.set()
            release.wait(5)
            return old

    source = SlowStore()
    source.put(state(role="owner"))
    cache = CachedAccessStates(source, clock=Clock())
    reader = threading.Thread(target=cache.get, args=("u-1",))
    reader.start()
    assert entered.wait(5)
    InMemoryAccessStates.put(source, state(role="viewer"))
    forget_locally("u-1")
    release.set()
    reader.join(5)

    fresh = CachedAccessStates.get(cache, "u-1")
    assert fresh is not None and fresh.role == "viewer"


def test_cache_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        CachedAccessStates(InMemoryAccessStates(), max_entries=0)
