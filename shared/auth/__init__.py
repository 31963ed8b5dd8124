"""Authentication and authorization: ES256 JWTs, sessions, password hashing, RBAC checks.

* ``tokens``: ``TokenIssuer`` / ``TokenVerifier`` (access and refresh tokens, pinned
  verification rules, ``UnauthorizedError`` codes ``token_missing``, ``token_invalid``,
  ``token_expired``, ``token_revoked``, ``token_wrong_type``).
* ``keys``: the signing key set (rotation with an overlap window, JWKS).
* ``revocation`` / ``families``: Firestore-backed revocation list and refresh-token
  families (rotation with reuse detection).
* ``sessions``: ``SessionService`` — start, refresh, end a login session.
* ``context``: ``AuthContext`` and ``authorize``.
* ``passwords``: argon2id ``PasswordHasher``.
* ``http``: ``BearerAuthenticator`` for the router; ``runtime``: per-instance singletons.

Heavy pieces (Firestore, Secret Manager) are imported only where used.
"""

from shared.auth.context import AuthContext, authorize
from shared.auth.families import FirestoreRefreshTokenFamilies, RefreshFamilyStore
from shared.auth.keys import KeySet, KeySetError, SigningKey, generate_signing_key, thumbprint
from shared.auth.passwords import PasswordCheck, PasswordHasher
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
    "AuthContext",
    "FirestoreRefreshTokenFamilies",
    "FirestoreRevocationStore",
    "InMemoryRevocationStore",
    "IssuedToken",
    "KeySet",
    "KeySetError",
    "PasswordCheck",
    "PasswordHasher",
    "RefreshFamilyStore",
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
