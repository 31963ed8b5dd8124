"""Building the auth objects over the emulator's Firestore for the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.auth import (
    AccessState,
    FirestoreAccessStates,
    FirestoreRefreshTokenFamilies,
    FirestoreRevocationStore,
    KeySet,
    SessionService,
    TokenIssuer,
    TokenSettings,
    TokenVerifier,
)

SETTINGS = TokenSettings(issuer="https://auth.tributum.test", audience="tributum-api-test")
KEYS = KeySet.generate(datetime.now(tz=UTC) - timedelta(days=1), kid="integration-k1")


def sessions(
    client: Any, *, clock: Callable[[], float] = time.time, with_states: bool = True
) -> SessionService:
    """The session service as the auth function builds it (with access states, unless
    ``with_states`` is False: then refresh trusts the token, as a tool's would)."""
    verifier = TokenVerifier(SETTINGS, lambda: KEYS, FirestoreRevocationStore(client))
    return SessionService(
        TokenIssuer(SETTINGS, lambda: KEYS, clock=clock),
        verifier,
        FirestoreRefreshTokenFamilies(client),
        FirestoreRevocationStore(client),
        FirestoreAccessStates(client) if with_states else None,
    )


def store_state(client: Any, state: AccessState) -> None:
    """Write a user's access state document as the users write model would."""
    client.collection("user_access").document(state.user_id).set(state.to_document())


def stored_state(client: Any, user_id: str) -> AccessState:
    found = FirestoreAccessStates(client).get(user_id)
    assert found is not None, user_id
    return found


def verifier(client: Any) -> TokenVerifier:
    return TokenVerifier(SETTINGS, lambda: KEYS, FirestoreRevocationStore(client))
