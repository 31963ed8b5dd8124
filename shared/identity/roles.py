"""Roles, permissions and who may grant which role.

``ROLE_PERMISSIONS`` is the single permission matrix; ``shared/identity/README.md``
shows it as a table and a test keeps the two equal. Anything not granted there is
denied: an unknown role has no permissions and an unknown permission is held by
nobody.

Roles are ranked ``owner > admin > accountant > viewer``. Granting a role needs
``users:manage`` and a rank at least as high as both the role granted and the
target's current role, so nobody raises anyone (themselves included) above their
own rank and an admin can neither create nor demote an owner. A tenant always
keeps at least one active owner: the last one can be neither demoted nor disabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from shared.errors import BusinessRuleError, ForbiddenError, ValidationError


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    ACCOUNTANT = "accountant"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.OWNER: 4, Role.ADMIN: 3, Role.ACCOUNTANT: 2, Role.VIEWER: 1}


class Permission(StrEnum):
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    USERS_READ_SELF = "users:read_self"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    JOURNAL_READ = "journal:read"
    JOURNAL_POST = "journal:post"
    JOURNAL_REVERSE = "journal:reverse"
    PAYMENTS_READ = "payments:read"
    PAYMENTS_CREATE = "payments:create"
    PAYMENTS_CAPTURE = "payments:capture"
    PAYMENTS_REFUND = "payments:refund"
    TAX_CALCULATE = "tax:calculate"
    TAX_READ = "tax:read"
    TAX_ADMIN = "tax:admin"
    AUDIT_READ = "audit:read"
    DEAD_LETTERS_ADMIN = "dead_letters:admin"
    LEDGER_RECONCILE = "ledger:reconcile"
    LEDGER_RECONCILE_BANK = "ledger:reconcile_bank"
    LEDGER_CLOSE_PERIOD = "ledger:close_period"
    LEDGER_REOPEN_PERIOD = "ledger:reopen_period"
    PRODUCER_KEYS_MANAGE = "producer_keys:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"


P = Permission

# Read access to the books: every role.
_READ = frozenset({P.USERS_READ_SELF, P.ACCOUNTS_READ, P.JOURNAL_READ, P.PAYMENTS_READ, P.TAX_READ})
# Day-to-day bookkeeping: accountants and up.
_BOOKKEEPING = _READ | {
    P.ACCOUNTS_WRITE,
    P.JOURNAL_POST,
    P.JOURNAL_REVERSE,
    P.PAYMENTS_CREATE,
    P.PAYMENTS_CAPTURE,
    P.TAX_CALCULATE,
    P.LEDGER_RECONCILE,
    P.LEDGER_RECONCILE_BANK,
    P.LEDGER_CLOSE_PERIOD,
}
# Administration, money leaving the tenant (refunds) and the audit trail: admins and up.
_ADMINISTRATION = _BOOKKEEPING | {
    P.USERS_READ,
    P.USERS_MANAGE,
    P.PAYMENTS_REFUND,
    P.TAX_ADMIN,
    P.AUDIT_READ,
    P.DEAD_LETTERS_ADMIN,
    P.PRODUCER_KEYS_MANAGE,
    P.LEDGER_REOPEN_PERIOD,
    P.WEBHOOKS_MANAGE,
}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        # Owners hold every permission; what sets them apart from admins is whom they
        # may grant roles to (see `assignable_roles`).
        Role.OWNER: frozenset(Permission),
        Role.ADMIN: _ADMINISTRATION,
        Role.ACCOUNTANT: _BOOKKEEPING,
        Role.VIEWER: _READ,
    }
)

ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)
ROLE_NAMES: frozenset[str] = frozenset(r.value for r in Role)


def parse_role(value: object, *, field: str = "role") -> Role:
    """``value`` as a ``Role``, or ``ValidationError`` on ``field`` naming the valid roles."""
    if isinstance(value, str) and value in ROLE_NAMES:
        return Role(value)
    valid = ", ".join(r.value for r in Role)
    raise ValidationError.for_field(field, f"must be one of: {valid}", "unknown_role")


def permissions_for(role: str) -> frozenset[str]:
    """The permission names ``role`` holds; empty for an unknown role (deny by default)."""
    if role not in ROLE_NAMES:
        return frozenset()
    return frozenset(p.value for p in ROLE_PERMISSIONS[Role(role)])


def has_permission(role: str, permission: str) -> bool:
    return permission in permissions_for(role)


def assignable_roles(actor_role: str) -> frozenset[Role]:
    """Roles ``actor_role`` may grant: none without ``users:manage``, else those ranked ≤ it."""
    if not has_permission(actor_role, P.USERS_MANAGE):
        return frozenset()
    actor = Role(actor_role)
    return frozenset(r for r in Role if r.rank <= actor.rank)


def check_role_assignment(
    actor_role: str,
    new_role: Role,
    *,
    target_current_role: Role | None = None,
    owner_count: int | None = None,
) -> None:
    """Refuse a role grant the rules forbid.

    ``target_current_role`` is None when the user is being created (an invitation).
    ``owner_count`` is the tenant's current number of owners, needed whenever an owner
    is being demoted so the last one cannot be.
    """
    if not has_permission(actor_role, P.USERS_MANAGE):
        raise ForbiddenError("granting roles requires users:manage", code="forbidden")
    allowed = assignable_roles(actor_role)
    if new_role not in allowed:
        raise ForbiddenError(
            f"a {actor_role} cannot grant the {new_role.value} role",
            code="role_escalation",
        )
    if target_current_role is not None and target_current_role not in allowed:
        raise ForbiddenError(
            f"a {actor_role} cannot change the role of a {target_current_role.value}",
            code="role_escalation",
        )
    if target_current_role is Role.OWNER and new_role is not Role.OWNER:
        if owner_count is None:
            raise ValueError("owner_count is required when an owner is demoted")
        if owner_count <= 1:
            raise BusinessRuleError("the tenant's last owner cannot be demoted", code="last_owner")


def check_user_management(actor_role: str, target_role: Role) -> None:
    """Refuse managing (disabling, enabling) a user of ``target_role`` the rules forbid.

    The actor needs ``users:manage`` and a rank at least the target's, as for granting
    roles: an admin cannot disable an owner. The last-owner rule is the caller's
    (see :func:`check_owner_remains`).
    """
    if not has_permission(actor_role, P.USERS_MANAGE):
        raise ForbiddenError("managing users requires users:manage", code="forbidden")
    if target_role not in assignable_roles(actor_role):
        raise ForbiddenError(
            f"a {actor_role} cannot manage a {target_role.value}", code="role_escalation"
        )


def check_owner_remains(target_role: Role, *, owner_count: int, action: str) -> None:
    """Refuse ``action`` (``"demoted"``, ``"disabled"``) on the tenant's last active owner."""
    if target_role is Role.OWNER and owner_count <= 1:
        raise BusinessRuleError(f"the tenant's last owner cannot be {action}", code="last_owner")
