"""Login sessions: a token pair per login, refresh with rotation, logout.

    sessions = SessionService(issuer, verifier, families, revocations, states)
    pair = sessions.start(user_id=u, tenant_id=t, role="accountant", epoch=state.epoch)
    pair = sessions.refresh(refresh_token)                              # POST /refresh
    sessions.end_access_session(ctx.principal)                          # logout

With an access-state store (``shared.auth.access``), a refresh reads the user's state
afresh: a disabled user, an ended session or a token from before the user's epoch
is refused, and the new tokens carry the stored role and epoch. Ending a session
(logout, or a reused refresh token) records it in the state, so the session's access
tokens are refused on their next request too, not only its refresh token. Without a
store (tools that hold no user records), a refresh trusts the refresh token's role.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shared.auth.access import AccessStateStore, admit
from shared.auth.context import AuthContext
from shared.auth.families import RefreshFamilyStore, RefreshTokenReused
from shared.auth.revocation import RevocationStore
from shared.auth.tokens import (
    REFRESH,
    IssuedToken,
    TokenClaims,
    TokenIssuer,
    TokenVerifier,
    new_token_id,
)

# An ended session stays listed this long past the longest-lived access token it
# could have issued: more than the verifier's leeway.
ENDED_SESSION_MARGIN_SECONDS = 60


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    refresh: IssuedToken

    @property
    def family_id(self) -> str:
        family_id = self.refresh.claims.family_id
        assert family_id is not None  # refresh tokens always carry one
        return family_id

    def to_json(self) -> dict[str, Any]:
        """The token response body (the shape of an OAuth 2.0 token response)."""
        access, refresh = self.access.claims, self.refresh.claims
        return {
            "token_type": "Bearer",
            "access_token": self.access.token,
            "expires_in": access.expires_at - access.issued_at,
            "refresh_token": self.refresh.token,
            "refresh_expires_in": refresh.expires_at - refresh.issued_at,
        }


class SessionService:
    def __init__(
        self,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        families: RefreshFamilyStore,
        revocations: RevocationStore,
        states: AccessStateStore | None = None,
    ) -> None:
        self._issuer = issuer
        self._verifier = verifier
        self._families = families
        self._revocations = revocations
        self._states = states

    def start(self, *, user_id: str, tenant_id: str, role: str, epoch: int = 0) -> TokenPair:
        """A new session (family) and its first token pair; call after a successful login.

        ``epoch`` is the user's current access epoch (``AccessState.epoch``).
        """
        pair = self._pair(user_id, tenant_id, role, family_id=new_token_id(), epoch=epoch)
        refresh = pair.refresh.claims
        self._families.start(
            pair.family_id,
            jti=refresh.jti,
            user_id=user_id,
            tenant_id=tenant_id,
            expires_at=refresh.expires_at_datetime,
        )
        return pair

    def refresh(self, refresh_token: str | None) -> TokenPair:
        """Exchange a refresh token for a new pair; the old refresh token stops working.

        The access state is checked before the family rotates, so a refused refresh
        changes nothing. A reused token revokes its family, ends the session's access
        tokens and raises ``RefreshTokenReused`` (401 ``token_revoked``).
        """
        claims = self._verifier.verify(refresh_token, REFRESH)
        assert claims.family_id is not None  # the verifier requires `fam` on refresh tokens
        role, epoch = claims.role, claims.epoch
        if self._states is not None:
            state = admit(self._states.get(claims.user_id), claims)
            role, epoch = state.role, state.epoch
        pair = self._pair(
            claims.user_id, claims.tenant_id, role, family_id=claims.family_id, epoch=epoch
        )
        try:
            self._families.rotate(
                claims.family_id,
                presented_jti=claims.jti,
                next_jti=pair.refresh.claims.jti,
                user_id=claims.user_id,
                tenant_id=claims.tenant_id,
                expires_at=pair.refresh.claims.expires_at_datetime,
            )
        except RefreshTokenReused:
            self._end_session_tokens(claims.user_id, claims.family_id)
            raise
        return pair

    def end(
        self, refresh_token: str | None, *, access: AuthContext | TokenClaims | None = None
    ) -> None:
        """Logout by refresh token: revoke its family, end the session's access tokens and,
        if given, revoke ``access`` at once."""
        claims = self._verifier.verify(refresh_token, REFRESH)
        assert claims.family_id is not None
        self._families.revoke(claims.family_id, reason="logout")
        self._end_session_tokens(claims.user_id, claims.family_id)
        if access is not None:
            self.revoke_access(access)

    def end_access_session(self, access: AuthContext) -> None:
        """Logout by access token: revoke it at once and end the session it belongs to."""
        if access.family_id is not None:
            self._families.revoke(access.family_id, reason="logout")
            self._end_session_tokens(access.user_id, access.family_id)
        self.revoke_access(access)

    def revoke_access(self, access: AuthContext | TokenClaims) -> None:
        """Revoke one access token now (it would otherwise live until its ``exp``)."""
        self._revocations.revoke(
            access.issuer, access.jti, expires_at=access.expires_at_datetime, reason="revoked"
        )

    def end_all(self, *, tenant_id: str, user_id: str, reason: str, keep: str | None = None) -> int:
        """Revoke the refresh families of every session of a user but ``keep``.

        Their access tokens end through the user's epoch (``shared.auth.access``).
        """
        return self._families.revoke_user(tenant_id, user_id, reason=reason, keep=keep)

    def _end_session_tokens(self, user_id: str, family_id: str) -> None:
        if self._states is None:
            return
        settings = self._issuer.settings
        until = (
            int(time.time())
            + settings.access_ttl_seconds
            + settings.leeway_seconds
            + ENDED_SESSION_MARGIN_SECONDS
        )
        self._states.end_session(user_id, family_id, until=until)

    def _pair(
        self, user_id: str, tenant_id: str, role: str, *, family_id: str, epoch: int
    ) -> TokenPair:
        access = self._issuer.issue_access(
            user_id=user_id, tenant_id=tenant_id, role=role, family_id=family_id, epoch=epoch
        )
        refresh = self._issuer.issue_refresh(
            user_id=user_id, tenant_id=tenant_id, role=role, family_id=family_id, epoch=epoch
        )
        return TokenPair(access, refresh)
