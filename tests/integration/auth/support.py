"""Building the auth objects over the emulator's Firestore for the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.auth import (
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


def sessions(client: Any, *, clock: Callable[[], float] = time.time) -> SessionService:
    verifier = TokenVerifier(SETTINGS, lambda: KEYS, FirestoreRevocationStore(client))
    return SessionService(
        TokenIssuer(SETTINGS, lambda: KEYS, clock=clock),
        verifier,
        FirestoreRefreshTokenFamilies(client),
        FirestoreRevocationStore(client),
    )


def verifier(client: Any) -> TokenVerifier:
    return TokenVerifier(SETTINGS, lambda: KEYS, FirestoreRevocationStore(client))
