"""Login sessions: a token pair per login, refresh with rotation, logout.

    sessions = SessionService(issuer, verifier, families, revocations)
    pair = sessions.start(user_id=u, tenant_id=t, role="accountant")   # after login
    pair = sessions.refresh(refresh_token, current_role=lookup_role)    # POST /refresh
    sessions.end(refresh_token, access=ctx.principal)                   # logout

A refresh re-reads nothing by itself: pass ``current_role`` (a callable given the
verified refresh claims) so a role change or a disabled account takes effect at the
next refresh, not only at the next login. Access tokens already issued stay valid
until they expire (15 minutes by default) unless revoked by ``jti``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.auth.context import AuthContext
from shared.auth.families import RefreshFamilyStore
from shared.auth.revocation import RevocationStore
from shared.auth.tokens import (
    REFRESH,
    IssuedToken,
    TokenClaims,
    TokenIssuer,
    TokenVerifier,
    new_token_id,
)


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
    ) -> None:
        self._issuer = issuer
        self._verifier = verifier
        self._families = families
        self._revocations = revocations

    def start(self, *, user_id: str, tenant_id: str, role: str) -> TokenPair:
        """A new session (family) and its first token pair; call after a successful login."""
        pair = self._pair(user_id, tenant_id, role, family_id=new_token_id())
        refresh = pair.refresh.claims
        self._families.start(
            pair.family_id,
            jti=refresh.jti,
            user_id=user_id,
            tenant_id=tenant_id,
            expires_at=refresh.expires_at_datetime,
        )
        return pair

    def refresh(
        self,
        refresh_token: str | None,
        *,
        current_role: Callable[[TokenClaims], str] | None = None,
    ) -> TokenPair:
        """Exchange a refresh token for a new pair; the old refresh token stops working.

        ``current_role`` may raise (for example ``UnauthorizedError`` for a disabled
        user); it runs before the family rotates, so a refused refresh changes nothing.
        """
        claims = self._verifier.verify(refresh_token, REFRESH)
        assert claims.family_id is not None  # the verifier requires `fam` on refresh tokens
        role = current_role(claims) if current_role is not None else claims.role
        pair = self._pair(claims.user_id, claims.tenant_id, role, family_id=claims.family_id)
        self._families.rotate(
            claims.family_id,
            presented_jti=claims.jti,
            next_jti=pair.refresh.claims.jti,
            user_id=claims.user_id,
            tenant_id=claims.tenant_id,
            expires_at=pair.refresh.claims.expires_at_datetime,
        )
        return pair

    def end(
        self, refresh_token: str | None, *, access: AuthContext | TokenClaims | None = None
    ) -> None:
        """Logout: revoke the session's refresh family and, if given, the access token."""
        claims = self._verifier.verify(refresh_token, REFRESH)
        assert claims.family_id is not None
        self._families.revoke(claims.family_id, reason="logout")
        if access is not None:
            self.revoke_access(access)

    def revoke_access(self, access: AuthContext | TokenClaims) -> None:
        """Revoke one access token now (it would otherwise live until its ``exp``)."""
        self._revocations.revoke(
            access.issuer, access.jti, expires_at=access.expires_at_datetime, reason="revoked"
        )

    def end_all(self, *, tenant_id: str, user_id: str, reason: str) -> int:
        """Revoke every session of a user (password reset, role change, account disabled)."""
        return self._families.revoke_user(tenant_id, user_id, reason=reason)

    def _pair(self, user_id: str, tenant_id: str, role: str, *, family_id: str) -> TokenPair:
        access = self._issuer.issue_access(
            user_id=user_id, tenant_id=tenant_id, role=role, family_id=family_id
        )
        refresh = self._issuer.issue_refresh(
            user_id=user_id, tenant_id=tenant_id, role=role, family_id=family_id
        )
        return TokenPair(access, refresh)
