"""Who is calling, and whether they may do what they ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.auth.tokens import TokenClaims
from shared.errors import ForbiddenError
from shared.identity.roles import permissions_for


@dataclass(frozen=True, slots=True)
class AuthContext:
    """The authenticated principal of a request (the router's ``ctx.principal``).

    ``role`` is the user's current role from their access state (``shared.auth.access``)
    when the authenticator read one, and ``permissions`` come from that role through
    the permission matrix at verification time, never from the token: a role change
    or a matrix change applies to tokens already issued.
    """

    user_id: str
    tenant_id: str
    role: str
    permissions: frozenset[str]
    jti: str
    issuer: str
    expires_at: int
    family_id: str | None = None

    @classmethod
    def from_claims(cls, claims: TokenClaims, *, role: str | None = None) -> AuthContext:
        """The principal of ``claims``, holding ``role`` (the stored one) if given."""
        effective_role = claims.role if role is None else role
        return cls(
            user_id=claims.user_id,
            tenant_id=claims.tenant_id,
            role=effective_role,
            permissions=permissions_for(effective_role),
            jti=claims.jti,
            issuer=claims.issuer,
            expires_at=claims.expires_at,
            family_id=claims.family_id,
        )

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def to_json(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "role": self.role,
            "permissions": sorted(self.permissions),
        }


KEY_ACTOR_PREFIX = "key:"


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """A request authenticated by an API key (``shared/producers``) rather than a person.

    It acts as ``key:<key id>``: that is the ``user_id`` handlers, audit records
    (``actor_id``) and per-user rate limits see, so the audit trail names the key and
    never a user. ``role`` is the key's, and ``permissions`` the key's (its role's,
    narrowed for a restricted key, never the people-only self-service ones).
    """

    key_id: str
    tenant_id: str
    name: str
    role: str
    permissions: frozenset[str]
    # A key belongs to no login session.
    family_id: None = None

    @property
    def user_id(self) -> str:
        return f"{KEY_ACTOR_PREFIX}{self.key_id}"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def to_json(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "role": self.role,
            "permissions": sorted(self.permissions),
            "api_key_id": self.key_id,
        }


def authorize(context: AuthContext | KeyPrincipal, permission: str) -> None:
    """Raise ``ForbiddenError`` unless ``context`` holds ``permission`` (deny by default)."""
    if permission not in context.permissions:
        who = "this key" if isinstance(context, KeyPrincipal) else f"the {context.role} role"
        raise ForbiddenError(
            f"{who} lacks the permission {permission}",
            code="permission_denied",
            extra={"permission": permission},
        )
