"""Users and tenants as the domain sees them: pure rules, no I/O.

The write model is ``users/{user id}`` (it holds the password hash); the read model
``users_read/{user id}`` is what the users API answers from, built by the
``project_users`` consumer from the ``user.*`` events. Every change to a user
increments its ``version`` and emits one event carrying the full public snapshot,
so the projection can apply events in any order: the highest version wins.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.errors import BusinessRuleError
from shared.identity import (
    Role,
    check_owner_remains,
    check_role_assignment,
    check_user_management,
)

USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_ROLE_CHANGED = "user.role_changed"
USER_EVENTS_TOPIC = "user-events"
EVENT_SOURCE = "tributum/users"
# Emails to send, one message each (consumed by send_mail); they carry secrets such as
# reset tokens, so no consumer but the mail function reads them.
MAIL_TOPIC = "mail-requests"
PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 (an event type)
USER_INVITED = "user.invited"
EMAIL_VERIFICATION_REQUESTED = "user.email_verification_requested"

# Fields a user may change on their own profile (PATCH /v1/users/me).
EDITABLE_PROFILE_FIELDS = frozenset({"name"})


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def new_user_id() -> str:
    return uuid.uuid4().hex


def new_tenant_id() -> str:
    return uuid.uuid4().hex


def email_key(email: str) -> str:
    """The id of the ``user_emails`` key document of a canonical email.

    A digest rather than the address itself: canonical emails may contain ``/``,
    which a document id cannot, and the key document's id then reveals nothing.
    """
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    """The write model of a user. ``password_hash`` never leaves the service layer."""

    id: str
    tenant_id: str
    email: str
    name: str
    role: Role
    status: UserStatus
    password_hash: str
    version: int
    created_at: datetime
    updated_at: datetime
    # Whether the holder proved control of the address: by a verification email's token
    # (signup) or an invitation's (added users). Users stored before it existed: False.
    email_verified: bool = False

    @property
    def can_log_in(self) -> bool:
        return self.status is UserStatus.ACTIVE

    def public(self) -> dict[str, Any]:
        """The user as events and API responses carry it: everything but the hash."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "status": self.status.value,
            "email_verified": self.email_verified,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def to_json(self) -> dict[str, Any]:
        """How the HTTP layer encodes a user: the public view, so the hash cannot leak."""
        return self.public()

    def to_document(self) -> dict[str, Any]:
        return {**self.public(), "password_hash": self.password_hash}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> User:
        return cls(
            id=str(document["id"]),
            tenant_id=str(document["tenant_id"]),
            email=str(document["email"]),
            name=str(document["name"]),
            role=Role(document["role"]),
            status=UserStatus(document["status"]),
            password_hash=str(document["password_hash"]),
            version=int(document["version"]),
            created_at=document["created_at"],
            updated_at=document["updated_at"],
            email_verified=bool(document.get("email_verified", False)),
        )


def new_user(
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: Role,
    password_hash: str,
    now: datetime,
    user_id: str | None = None,
    email_verified: bool = False,
) -> User:
    """A new, active user at version 1 (``email`` already canonical)."""
    return User(
        id=user_id or new_user_id(),
        tenant_id=tenant_id,
        email=email,
        name=name,
        role=role,
        status=UserStatus.ACTIVE,
        password_hash=password_hash,
        version=1,
        created_at=now,
        updated_at=now,
        email_verified=email_verified,
    )


def apply_email_verified(user: User, now: datetime) -> User | None:
    """The user with a verified address (next version), or None if it already was."""
    if user.email_verified:
        return None
    return replace(user, email_verified=True, version=user.version + 1, updated_at=now)


def apply_profile_update(user: User, changes: dict[str, Any], now: datetime) -> User | None:
    """The user with ``changes`` applied and the next version, or None if nothing changes."""
    unknown = set(changes) - EDITABLE_PROFILE_FIELDS
    if unknown:
        # The request model already refuses them; this guards other callers.
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if all(getattr(user, field) == value for field, value in changes.items()):
        return None
    return replace(user, **changes, version=user.version + 1, updated_at=now)


def apply_role_change(
    user: User, *, actor_role: str, new_role: Role, owner_count: int | None, now: datetime
) -> User | None:
    """The user with ``new_role`` (next version), None if unchanged; refusals raise.

    The grant rules are ``shared.identity.check_role_assignment``: no escalation
    above the actor's rank, admins never touch owners, the last owner stays.
    """
    check_role_assignment(
        actor_role, new_role, target_current_role=user.role, owner_count=owner_count
    )
    if user.status is not UserStatus.ACTIVE:
        raise BusinessRuleError("a disabled user's role cannot be changed", code="user_disabled")
    if user.role is new_role:
        return None
    return replace(user, role=new_role, version=user.version + 1, updated_at=now)


def apply_status_change(
    user: User,
    *,
    actor_role: str,
    new_status: UserStatus,
    owner_count: int | None,
    now: datetime,
) -> User | None:
    """The user disabled or enabled (next version), None if unchanged; refusals raise.

    Who may: ``users:manage`` and a rank at least the target's (an admin cannot disable
    an owner). Disabling an owner needs ``owner_count`` (the tenant's active owners);
    the last one cannot be disabled.
    """
    check_user_management(actor_role, user.role)
    if user.status is new_status:
        return None
    if new_status is UserStatus.DISABLED and user.role is Role.OWNER:
        if owner_count is None:
            raise ValueError("owner_count is required when an owner is disabled")
        check_owner_remains(user.role, owner_count=owner_count, action="disabled")
    return replace(user, status=new_status, version=user.version + 1, updated_at=now)


# -- the read model ---------------------------------------------------------------------------

READ_MODEL_FIELDS = (
    "id",
    "tenant_id",
    "email",
    "name",
    "role",
    "status",
    "email_verified",
    "version",
    "created_at",
    "updated_at",
)


def projected_document(
    stored: dict[str, Any] | None, snapshot: dict[str, Any]
) -> dict[str, Any] | None:
    """The read-model document after an event's ``snapshot``, or None to leave it as is.

    Events carry the whole public user, so applying one is a replacement; an event
    whose version is not newer than the stored one (a redelivery, or an older event
    arriving late) changes nothing.
    """
    if stored is not None and int(stored.get("version", 0)) >= int(snapshot["version"]):
        return None
    document = {field: snapshot[field] for field in READ_MODEL_FIELDS if field in snapshot}
    # Events from before email_verified existed lack it: such an address is unverified.
    document.setdefault("email_verified", False)
    return document
