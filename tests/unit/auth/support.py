"""Helpers for the auth tests: key sets, settings and token factories."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.auth import (
    InMemoryRevocationStore,
    KeySet,
    SigningKey,
    TokenIssuer,
    TokenSettings,
    TokenVerifier,
    generate_signing_key,
)

ISSUER = "https://auth.tributum.test"
AUDIENCE = "tributum-api-test"
SETTINGS = TokenSettings(issuer=ISSUER, audience=AUDIENCE, key_overlap_seconds=3600)


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def fresh_key(kid: str, *, age: timedelta = timedelta(days=1)) -> SigningKey:
    return generate_signing_key(utc(time.time()) - age, kid=kid)


def single_key_set(kid: str = "k1") -> KeySet:
    return KeySet([fresh_key(kid)])


def at(offset_seconds: float) -> Callable[[], float]:
    """A clock fixed ``offset_seconds`` from now (negative: in the past)."""
    moment = time.time() + offset_seconds
    return lambda: moment


def make_issuer(keys: KeySet, *, clock: Callable[[], float] = time.time) -> TokenIssuer:
    return TokenIssuer(SETTINGS, lambda: keys, clock=clock)


def make_verifier(
    keys: KeySet,
    revocations: InMemoryRevocationStore | None = None,
    *,
    settings: TokenSettings = SETTINGS,
) -> TokenVerifier:
    return TokenVerifier(settings, lambda: keys, revocations or InMemoryRevocationStore())
