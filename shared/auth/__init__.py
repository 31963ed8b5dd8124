"""Authentication and authorization: ES256 JWTs, sessions, password hashing, RBAC checks.

* ``tokens``: ``TokenIssuer`` / ``TokenVerifier`` (access and refresh tokens, pinned
  verification rules, ``UnauthorizedError`` codes ``token_missing``, ``token_invalid``,
  ``token_expired``, ``token_revoked``, ``token_wrong_type``).
* ``claims``: ``TokenClaims``, the value both ``tokens`` and ``revocation`` speak in.
* ``keys``: the signing key set (rotation with an overlap window, JWKS).
* ``revocation`` / ``families``: Firestore-backed revocation list and refresh-token
  families (rotation with reuse detection).
* ``sessions``: ``SessionService`` — start, refresh, end a login session.
* ``access``: each user's access state (stored role, status, epoch, ended sessions),
  read on every request through a per-instance cache at most 2 s stale.
* ``context``: ``AuthContext`` and ``authorize``.
* ``passwords``: argon2id ``PasswordHasher``.
* ``http``: ``BearerAuthenticator`` for the router; ``runtime``: per-instance singletons.

Heavy pieces (Firestore, Secret Manager) are imported only where used, and so is
argon2: a function that only verifies tokens does not ship it.
"""

from typing import Any

from shared.auth.access import (
    AccessState,
    AccessStateStore,
    CachedAccessStates,
    FirestoreAccessStates,
    InMemoryAccessStates,
)
from shared.auth.context import AuthContext, authorize
from shared.auth.families import (
    FirestoreRefreshTokenFamilies,
    RefreshFamilyStore,
    RefreshTokenReused,
)
from shared.auth.keys import KeySet, KeySetError, SigningKey, generate_signing_key, thumbprint
from shared.auth.revocation import (
    FirestoreRevocationStore,
    InMemoryRevocationStore,
    RevocationStore,
    revoke_token,
)
from shared.auth.sessions import SessionService, TokenPair
from shared.auth.tokens import (
    ACCESS,
    REFRESH,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    TOKEN_MISSING,
    TOKEN_REVOKED,
    TOKEN_WRONG_TYPE,
    IssuedToken,
    TokenClaims,
    TokenIssuer,
    TokenSettings,
    TokenType,
    TokenVerifier,
)

__all__ = [
    "ACCESS",
    "REFRESH",
    "TOKEN_EXPIRED",
    "TOKEN_INVALID",
    "TOKEN_MISSING",
    "TOKEN_REVOKED",
    "TOKEN_WRONG_TYPE",
    "AccessState",
    "AccessStateStore",
    "AuthContext",
    "CachedAccessStates",
    "FirestoreAccessStates",
    "FirestoreRefreshTokenFamilies",
    "FirestoreRevocationStore",
    "InMemoryAccessStates",
    "InMemoryRevocationStore",
    "IssuedToken",
    "KeySet",
    "KeySetError",
    "PasswordCheck",
    "PasswordHasher",
    "RefreshFamilyStore",
    "RefreshTokenReused",
    "RevocationStore",
    "SessionService",
    "SigningKey",
    "TokenClaims",
    "TokenIssuer",
    "TokenPair",
    "TokenSettings",
    "TokenType",
    "TokenVerifier",
    "authorize",
    "generate_signing_key",
    "revoke_token",
    "thumbprint",
]


def __getattr__(name: str) -> Any:
    # Password hashing needs argon2-cffi, which only the functions that hash passwords
    # (signup, auth, users) require: import it when first asked for, not with the package.
    if name in ("PasswordCheck", "PasswordHasher"):
        from shared.auth import passwords

        return getattr(passwords, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
