"""Bearer-token authentication for the HTTP router.

The router builds ``BearerAuthenticator()`` for every route declared with
``auth="token"``; ``ctx.principal`` is then an ``AuthContext``.

Per request: the token is verified (signature, claims, and one read of the
revocation list), then the user's access state is read through the instance's cache
(``shared.auth.access``: one Firestore read per user per instance every 2 seconds
at most). The principal holds the stored role, not the token's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.auth.access import AccessState, AccessStateStore, admit
from shared.auth.context import AuthContext, authorize
from shared.auth.tokens import (
    ACCESS,
    TOKEN_INVALID,
    TOKEN_MISSING,
    TokenClaims,
    TokenVerifier,
    token_error,
)
from shared.errors import AppError, ServiceUnavailableError
from shared.http.router import Authenticator, RequestContext
from shared.logger import get_logger


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if authorization is None or not authorization.strip():
        raise token_error(TOKEN_MISSING)
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise token_error(TOKEN_INVALID)
    return parts[1]


class BearerAuthenticator(Authenticator):
    """``verifier`` and ``states`` default to the instance's (``shared.auth.runtime``)."""

    def __init__(
        self,
        verifier: TokenVerifier | Callable[[], TokenVerifier] | None = None,
        states: AccessStateStore | None = None,
    ) -> None:
        if verifier is None:
            from shared.auth.runtime import token_verifier

            verifier = token_verifier
        self._verifier = verifier
        self._states = states

    def _resolve(self) -> TokenVerifier:
        if isinstance(self._verifier, TokenVerifier):
            return self._verifier
        return self._verifier()

    def _state_store(self) -> AccessStateStore:
        if self._states is not None:
            return self._states
        from shared.auth.runtime import access_states

        return access_states()

    def authenticate(self, ctx: RequestContext) -> AuthContext:
        token = bearer_token(ctx.headers.get("Authorization"))
        claims = self._resolve().verify(token, ACCESS)
        state = admit(self._current_state(claims), claims)
        return AuthContext.from_claims(claims, role=state.role)

    def _current_state(self, claims: TokenClaims) -> AccessState | None:
        try:
            return self._state_store().get(claims.user_id)
        except AppError:
            raise
        except Exception as exc:
            # Fail closed: a token whose holder's state is unknown is not accepted.
            get_logger("shared.auth").error("access_state_read_failed", error=type(exc).__name__)
            raise ServiceUnavailableError(
                "the caller's access state is unavailable", code="auth_unavailable"
            ) from exc

    def authorize(self, principal: Any, permission: str) -> None:
        if not isinstance(principal, AuthContext):
            raise TypeError("BearerAuthenticator authorizes AuthContext principals only")
        authorize(principal, permission)
