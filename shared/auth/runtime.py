"""The instance's auth objects, built once from settings on first use (``shared.instance``).

    from shared.auth.runtime import password_hasher, session_service, token_verifier

HTTP functions get token verification through the router without calling these (the
router's authenticator uses ``token_verifier()`` and ``access_states()``); the auth
function uses ``session_service()``, signup and users ``password_hasher()``.

Revocations, refresh-token families and access states live in the credentials
database (``shared.clients.credentials_client``): every HTTP function reads them
there, and only the functions that issue or end sessions may write them.

Two secrets, for least privilege: ``jwt-signing-keys`` (private; a JSON key set or a
PEM key) only where tokens are issued, and ``jwt-verification-keys`` (the public
halves, see :class:`~shared.auth.keys.VerificationKeySet`) wherever tokens are
checked. Locally the signing key is generated on first use and, when no verification
secret is set, the verification keys are derived from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from shared.auth.access import CachedAccessStates, FirestoreAccessStates
from shared.auth.families import FirestoreRefreshTokenFamilies
from shared.auth.keys import KeySet, VerificationKeySet
from shared.auth.revocation import FirestoreRevocationStore
from shared.auth.sessions import SessionService
from shared.auth.tokens import TokenIssuer, TokenSettings, TokenVerifier
from shared.identity.passwords import PasswordPolicy
from shared.instance import per_instance, reset_instances
from shared.secrets import GeneratedSecretKind, SecretNotFoundError, SecretStore, secret_store

if TYPE_CHECKING:
    from shared.auth.passwords import PasswordHasher

SIGNING_KEYS_SECRET = "jwt-signing-keys"  # noqa: S105 - a secret's name
VERIFICATION_KEYS_SECRET = "jwt-verification-keys"  # noqa: S105 - a secret's name
GENERATED_SECRETS: dict[str, GeneratedSecretKind] = {SIGNING_KEYS_SECRET: "ec_p256_private_key"}

K = TypeVar("K", KeySet, VerificationKeySet)


class SecretKeySource(Generic[K]):
    """The current key set from a secret; re-parsed only when the secret's value changes."""

    def __init__(
        self,
        store: SecretStore,
        name: str,
        parse: Callable[[str], K],
        *,
        fallback: str | None = None,
    ) -> None:
        self._store = store
        self._name = name
        self._parse: Callable[[str], K] = parse
        # Local backend only: read this secret instead when ``name`` is not set.
        self._fallback = fallback
        self._lock = threading.Lock()
        self._parsed: tuple[str, K] | None = None

    def _value(self) -> str:
        try:
            return self._store.get(self._name)
        except SecretNotFoundError:
            if self._fallback is None:
                raise
            return self._store.get(self._fallback)

    def __call__(self) -> K:
        value = self._value()
        parsed = self._parsed
        if parsed is not None and parsed[0] == value:
            return parsed[1]
        with self._lock:
            parsed = self._parsed
            if parsed is None or parsed[0] != value:
                parsed = (value, self._parse(value))
                self._parsed = parsed
            return parsed[1]


@per_instance
def instance_secret_store() -> SecretStore:
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


@per_instance
def token_settings() -> TokenSettings:
    from shared.config import get_settings

    return TokenSettings.from_auth_settings(get_settings().auth)


@per_instance
def key_source() -> SecretKeySource[KeySet]:
    """The private signing keys (only functions that issue tokens hold this secret)."""
    return SecretKeySource(instance_secret_store(), SIGNING_KEYS_SECRET, KeySet.from_secret)


@per_instance
def verification_key_source() -> SecretKeySource[VerificationKeySet]:
    """The public verification keys; locally derived from the dev signing key if unset."""
    from shared.config import get_settings

    local = get_settings().secrets_backend != "secret_manager"
    return SecretKeySource(
        instance_secret_store(),
        VERIFICATION_KEYS_SECRET,
        VerificationKeySet.from_secret,
        fallback=SIGNING_KEYS_SECRET if local else None,
    )


@per_instance
def token_verifier() -> TokenVerifier:
    return TokenVerifier(token_settings(), verification_key_source(), revocations())


@per_instance
def revocations() -> FirestoreRevocationStore:
    """The revocation list, read uncached: a logged-out token is refused by every
    instance on its next request, not within the access states' 2 s bound."""
    from shared.clients import credentials_client

    return FirestoreRevocationStore(credentials_client())


@per_instance
def access_states() -> CachedAccessStates:
    """Users' access states behind this instance's cache (at most 2 s stale)."""
    from shared.clients import credentials_client

    return CachedAccessStates(FirestoreAccessStates(credentials_client()))


@per_instance
def token_issuer() -> TokenIssuer:
    return TokenIssuer(token_settings(), key_source())


@per_instance
def session_service() -> SessionService:
    from shared.clients import credentials_client

    client = credentials_client()
    return SessionService(
        token_issuer(),
        token_verifier(),
        FirestoreRefreshTokenFamilies(client),
        revocations(),
        # Uncached: a refresh decides on the state as it is now.
        FirestoreAccessStates(client),
    )


@per_instance
def password_hasher() -> PasswordHasher:
    # argon2-cffi ships only with the functions that hash passwords (signup, auth, users).
    from shared.auth.passwords import PasswordHasher

    return PasswordHasher()


@per_instance
def password_policy() -> PasswordPolicy:
    from shared.config import get_settings

    return PasswordPolicy(min_length=get_settings().auth.password_min_length)


def reset_auth_runtime() -> None:
    """Forget the built objects (tests that change settings or the environment)."""
    reset_instances(__name__)
