"""Bearer-token authentication for the HTTP router.

The router builds ``BearerAuthenticator()`` for every route declared with
``auth="token"``; ``ctx.principal`` is then an ``AuthContext``, or a ``KeyPrincipal``
when the bearer token is an API key (``trb_pk_...``, checked by
``shared.producers.http``; a JWT never starts that way).

Per request: the token is verified (signature, claims, and one read of the
revocation list), then the user's access state is read through the instance's cache
(``shared.auth.access``: one Firestore read per user per instance every 2 seconds
at most). The principal holds the stored role, not the token's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.auth.access import AccessState, AccessStateStore, admit
from shared.auth.context import AuthContext, KeyPrincipal, authorize
from shared.auth.tokens import (
    ACCESS,
    TOKEN_INVALID,
    TOKEN_MISSING,
    TokenClaims,
    TokenVerifier,
    token_error,
)
from shared.errors import AppError, ServiceUnavailableError
from shared.http.context import Authenticator, RequestContext
from shared.logger import get_logger
from shared.producers.rules import is_credential

if TYPE_CHECKING:
    from shared.producers.http import KeyAuthenticator


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
        keys: KeyAuthenticator | None = None,
    ) -> None:
        if verifier is None:
            from shared.auth.runtime import token_verifier

            verifier = token_verifier
        self._verifier = verifier
        self._states = states
        self._keys = keys

    def _resolve(self) -> TokenVerifier:
        if isinstance(self._verifier, TokenVerifier):
            return self._verifier
        return self._verifier()

    def _state_store(self) -> AccessStateStore:
        if self._states is not None:
            return self._states
        from shared.auth.runtime import access_states

        return access_states()

    def _key_authenticator(self) -> KeyAuthenticator:
        if self._keys is not None:
            return self._keys
        from shared.producers.http import key_authenticator

        return key_authenticator()

    def authenticate(self, ctx: RequestContext) -> AuthContext | KeyPrincipal:
        token = bearer_token(ctx.headers.get("Authorization"))
        if is_credential(token):
            return self._key_authenticator().authenticate(token)
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
        if not isinstance(principal, AuthContext | KeyPrincipal):
            raise TypeError("BearerAuthenticator authorizes AuthContext and KeyPrincipal only")
        authorize(principal, permission)
