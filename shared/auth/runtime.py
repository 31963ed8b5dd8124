"""The instance's auth objects, built once from settings (thread-safe, lazy).

    from shared.auth.runtime import password_hasher, session_service, token_verifier

HTTP functions get token verification through the router without calling these; the
signup, auth and users functions use ``session_service()`` and ``password_hasher()``.
Signing keys come from the secret ``jwt-signing-keys`` (a JSON key set, or a PEM key:
the local backend generates one on first use).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from shared.auth.families import FirestoreRefreshTokenFamilies
from shared.auth.keys import KeySet
from shared.auth.passwords import PasswordHasher
from shared.auth.revocation import FirestoreRevocationStore
from shared.auth.sessions import SessionService
from shared.auth.tokens import TokenIssuer, TokenSettings, TokenVerifier
from shared.identity.passwords import PasswordPolicy
from shared.secrets import GeneratedSecretKind, SecretStore, secret_store

SIGNING_KEYS_SECRET = "jwt-signing-keys"  # noqa: S105 - a secret's name
GENERATED_SECRETS: dict[str, GeneratedSecretKind] = {SIGNING_KEYS_SECRET: "ec_p256_private_key"}

T = TypeVar("T")
_lock = threading.RLock()
_instances: dict[str, Any] = {}


class SecretKeySource:
    """The current key set from a secret; re-parsed only when the secret's value changes."""

    def __init__(self, store: SecretStore, name: str = SIGNING_KEYS_SECRET) -> None:
        self._store = store
        self._name = name
        self._lock = threading.Lock()
        self._parsed: tuple[str, KeySet] | None = None

    def __call__(self) -> KeySet:
        value = self._store.get(self._name)
        parsed = self._parsed
        if parsed is not None and parsed[0] == value:
            return parsed[1]
        with self._lock:
            parsed = self._parsed
            if parsed is None or parsed[0] != value:
                parsed = (value, KeySet.from_secret(value))
                self._parsed = parsed
            return parsed[1]


def _once(name: str, factory: Callable[[], T]) -> T:
    instance = _instances.get(name)
    if instance is None:
        with _lock:
            instance = _instances.get(name)
            if instance is None:
                instance = factory()
                _instances[name] = instance
    result: T = instance
    return result


def instance_secret_store() -> SecretStore:
    def build() -> SecretStore:
        from shared.config import get_settings

        settings = get_settings()
        return secret_store(
            "secret_manager" if settings.secrets_backend == "secret_manager" else "local",
            project_id=settings.project_id,
            local_dir=Path(settings.secrets.local_dir),
            ttl_seconds=settings.secrets.cache_ttl_seconds,
            versions=settings.secrets.versions,
            generate=GENERATED_SECRETS,
        )

    return _once("secret_store", build)


def token_settings() -> TokenSettings:
    def build() -> TokenSettings:
        from shared.config import get_settings

        return TokenSettings.from_auth_settings(get_settings().auth)

    return _once("token_settings", build)


def key_source() -> SecretKeySource:
    return _once("key_source", lambda: SecretKeySource(instance_secret_store()))


def token_verifier() -> TokenVerifier:
    def build() -> TokenVerifier:
        from shared.clients import firestore_client

        return TokenVerifier(
            token_settings(), key_source(), FirestoreRevocationStore(firestore_client())
        )

    return _once("token_verifier", build)


def token_issuer() -> TokenIssuer:
    return _once("token_issuer", lambda: TokenIssuer(token_settings(), key_source()))


def session_service() -> SessionService:
    def build() -> SessionService:
        from shared.clients import firestore_client

        client = firestore_client()
        return SessionService(
            token_issuer(),
            token_verifier(),
            FirestoreRefreshTokenFamilies(client),
            FirestoreRevocationStore(client),
        )

    return _once("session_service", build)


def password_hasher() -> PasswordHasher:
    return _once("password_hasher", PasswordHasher)


def password_policy() -> PasswordPolicy:
    def build() -> PasswordPolicy:
        from shared.config import get_settings

        return PasswordPolicy(min_length=get_settings().auth.password_min_length)

    return _once("password_policy", build)


def reset_auth_runtime() -> None:
    """Forget the built objects (tests that change settings or the environment)."""
    with _lock:
        _instances.clear()
