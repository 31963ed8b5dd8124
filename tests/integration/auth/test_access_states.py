"""Access states on the emulator: ending sessions, and what another instance sees when."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from shared.auth import AccessState, CachedAccessStates, FirestoreAccessStates
from shared.auth.access import STALENESS_SECONDS
from tests.integration.auth.support import store_state, stored_state


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_end_session_adds_the_session_and_drops_the_expired_ones(credentials_client: Any) -> None:
    clock = Clock(1_000.0)
    store_state(
        credentials_client,
        AccessState(
            user_id="u-1",
            tenant_id="t-1",
            role="viewer",
            ended_sessions=MappingProxyType({"old": 900, "recent": 1_500}),
        ),
    )

    FirestoreAccessStates(credentials_client, clock=clock).end_session("u-1", "fam-9", until=2_000)

    state = stored_state(credentials_client, "u-1")
    assert dict(state.ended_sessions) == {"recent": 1_500, "fam-9": 2_000}
    assert (state.role, state.epoch, state.active) == ("viewer", 0, True)


def test_end_session_of_an_unknown_user_writes_nothing(credentials_client: Any) -> None:
    FirestoreAccessStates(credentials_client).end_session("ghost", "fam-1", until=2_000)
    assert list(credentials_client.collection("user_access").stream()) == []


def test_another_instance_sees_a_change_within_the_staleness_bound(
    credentials_client: Any,
) -> None:
    store_state(credentials_client, AccessState(user_id="u-1", tenant_id="t-1", role="owner"))
    clock = Clock()
    other_instance = CachedAccessStates(FirestoreAccessStates(credentials_client), clock=clock)
    assert other_instance.get("u-1") == AccessState(user_id="u-1", tenant_id="t-1", role="owner")

    # Demoted through a write this instance did not make (no local invalidation).
    store_state(credentials_client, AccessState(user_id="u-1", tenant_id="t-1", role="viewer"))

    clock.now += STALENESS_SECONDS / 2
    cached = other_instance.get("u-1")
    assert cached is not None and cached.role == "owner"  # within the bound: the old role
    clock.now += STALENESS_SECONDS / 2
    fresh = other_instance.get("u-1")
    assert fresh is not None and fresh.role == "viewer"  # at the bound: the stored role
