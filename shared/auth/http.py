"""Bearer-token authentication for the HTTP router.

The router builds ``BearerAuthenticator()`` for every route declared with
``auth="token"``; ``ctx.principal`` is then an ``AuthContext``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.auth.context import AuthContext, authorize
from shared.auth.tokens import ACCESS, TOKEN_INVALID, TOKEN_MISSING, TokenVerifier, token_error
from shared.http.router import Authenticator, RequestContext


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if authorization is None or not authorization.strip():
        raise token_error(TOKEN_MISSING)
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise token_error(TOKEN_INVALID)
    return parts[1]


class BearerAuthenticator(Authenticator):
    def __init__(self, verifier: TokenVerifier | Callable[[], TokenVerifier] | None = None) -> None:
        if verifier is None:
            from shared.auth.runtime import token_verifier

            verifier = token_verifier
        self._verifier = verifier

    def _resolve(self) -> TokenVerifier:
        if isinstance(self._verifier, TokenVerifier):
            return self._verifier
        return self._verifier()

    def authenticate(self, ctx: RequestContext) -> AuthContext:
        token = bearer_token(ctx.headers.get("Authorization"))
        claims = self._resolve().verify(token, ACCESS)
        return AuthContext.from_claims(claims)

    def authorize(self, principal: Any, permission: str) -> None:
        if not isinstance(principal, AuthContext):
            raise TypeError("BearerAuthenticator authorizes AuthContext principals only")
        authorize(principal, permission)
