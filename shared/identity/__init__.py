"""Identity rules with no I/O: canonical emails, the password policy, roles and permissions.

See ``README.md`` in this folder for the permission matrix and the role-granting rules.
"""

from shared.identity.email import MAX_EMAIL_LENGTH, normalize_email
from shared.identity.passwords import (
    DEFAULT_MIN_PASSWORD_LENGTH,
    DEFAULT_PASSWORD_POLICY,
    MAX_PASSWORD_LENGTH,
    PasswordPolicy,
    normalize_password,
)
from shared.identity.roles import (
    ALL_PERMISSIONS,
    ROLE_NAMES,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    assignable_roles,
    check_owner_remains,
    check_role_assignment,
    check_user_management,
    has_permission,
    parse_role,
    permissions_for,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_MIN_PASSWORD_LENGTH",
    "DEFAULT_PASSWORD_POLICY",
    "MAX_EMAIL_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "ROLE_NAMES",
    "ROLE_PERMISSIONS",
    "PasswordPolicy",
    "Permission",
    "Role",
    "assignable_roles",
    "check_owner_remains",
    "check_role_assignment",
    "check_user_management",
    "has_permission",
    "normalize_email",
    "normalize_password",
    "parse_role",
    "permissions_for",
]
