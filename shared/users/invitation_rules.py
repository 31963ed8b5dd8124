"""Invitations and email verification: pure rules, no I/O.

An owner or admin adding a user to their tenant makes an *invitation*, not a user: the
address is claimed (its ``user_emails`` key created) only when someone who holds the
invitation's token — proof that they read the address's mail — accepts it and chooses a
password. Until then nothing stops another tenant from inviting the same address, or its
owner from signing up: the first to prove control of the address claims it, and every
other pending invitation of it can no longer be accepted (409 ``email_unavailable``).

One tenant keeps at most one invitation per address (its document id is a digest of the
tenant and the address): inviting an address the tenant already invited, while that
invitation is pending and unexpired, is a 409 ``invitation_pending`` (resend it instead).
An accepted, revoked or expired invitation is replaced by a new one.

Tokens are those of the password reset (:mod:`shared.users.reset_tokens`: 32 random
bytes, stored only as SHA-256). An invitation's token works for
:data:`INVITATION_LIFETIME`, once, and only while it is the invitation's current token:
a resend issues a new one and voids the old. A signup's verification token works for
:data:`VERIFICATION_LIFETIME`, once, and only for the address it was sent to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.errors import AppError, BadRequestError, ConflictError, FieldError
from shared.identity import Role, check_role_assignment, check_user_management

INVITATION_LIFETIME = timedelta(days=7)
VERIFICATION_LIFETIME = timedelta(hours=48)
# Emails one invitation may send (the first and its resends): an invitation is no way to
# flood a mailbox. Revoking and inviting again starts over, visibly in the audit trail.
MAX_INVITATION_SENDS = 5

# One answer for an unknown, expired, accepted, revoked or superseded token: no oracle.
INVITATION_TOKEN_INVALID = "invitation_token_invalid"  # noqa: S105 (an error code)
INVITATION_TOKEN_INVALID_DETAIL = (
    "the invitation token is invalid or has expired; ask for a new invitation"  # noqa: S105
)
VERIFICATION_TOKEN_INVALID = "verification_token_invalid"  # noqa: S105 (an error code)
VERIFICATION_TOKEN_INVALID_DETAIL = (
    "the verification token is invalid or has expired; request a new one"  # noqa: S105
)


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


def invitation_id(tenant_id: str, email: str) -> str:
    """The id of a tenant's invitation of a canonical ``email``: one per tenant and address."""
    return hashlib.sha256(f"{tenant_id}\x00{email}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Invitation:
    """``user_invitations/{id}``: who is invited to which tenant, with which role, and the
    digest of the one token that accepts it now. ``user_id`` is the id the user will have."""

    id: str
    tenant_id: str
    email: str
    name: str
    role: Role
    status: InvitationStatus
    user_id: str
    token_digest: str
    invited_by: str
    sent_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def open(self, now: datetime) -> bool:
        """Pending and not expired: its current token can accept it."""
        return self.status is InvitationStatus.PENDING and not self.expired(now)

    def shown_status(self, now: datetime) -> str:
        """What the API says: ``expired`` for a pending invitation past its expiry."""
        if self.status is InvitationStatus.PENDING and self.expired(now):
            return "expired"
        return self.status.value

    def public(self, now: datetime) -> dict[str, Any]:
        """The invitation as the API answers it: never the token's digest."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "status": self.shown_status(now),
            "user_id": self.user_id,
            "invited_by": self.invited_by,
            "sent_count": self.sent_count,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "accepted_at": self.accepted_at,
            "revoked_at": self.revoked_at,
        }

    def to_document(self) -> dict[str, Any]:
        return {
            **self.public(self.created_at),
            "status": self.status.value,
            "token_digest": self.token_digest,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Invitation:
        return cls(
            id=str(document["id"]),
            tenant_id=str(document["tenant_id"]),
            email=str(document["email"]),
            name=str(document["name"]),
            role=Role(document["role"]),
            status=InvitationStatus(document["status"]),
            user_id=str(document["user_id"]),
            token_digest=str(document["token_digest"]),
            invited_by=str(document["invited_by"]),
            sent_count=int(document.get("sent_count", 1)),
            version=int(document["version"]),
            created_at=document["created_at"],
            updated_at=document["updated_at"],
            expires_at=document["expires_at"],
            accepted_at=document.get("accepted_at"),
            revoked_at=document.get("revoked_at"),
        )


def _not_pending(invitation: Invitation) -> ConflictError:
    return ConflictError(
        f"the invitation is {invitation.status.value}, not pending",
        code="invitation_not_pending",
        errors=[FieldError("invitation_id", "is not pending", "invitation_not_pending")],
    )


def new_invitation(
    *,
    actor_role: str,
    actor_id: str,
    tenant_id: str,
    email: str,
    name: str,
    role: Role,
    user_id: str,
    token_digest: str,
    existing: Invitation | None,
    now: datetime,
) -> Invitation:
    """The invitation of ``email`` (canonical) to the tenant; refusals raise.

    The actor may only invite with a role they may grant. An open invitation of the same
    address by the same tenant is a 409 ``invitation_pending``; a closed one (accepted,
    revoked, expired) is replaced, its version continued.
    """
    check_role_assignment(actor_role, role)
    if existing is not None and existing.open(now):
        raise ConflictError(
            "this address has a pending invitation; resend or revoke it",
            code="invitation_pending",
            errors=[FieldError("email", "has a pending invitation", "invitation_pending")],
        )
    return Invitation(
        id=invitation_id(tenant_id, email),
        tenant_id=tenant_id,
        email=email,
        name=name,
        role=role,
        status=InvitationStatus.PENDING,
        user_id=user_id,
        token_digest=token_digest,
        invited_by=actor_id,
        sent_count=1,
        version=(existing.version + 1) if existing is not None else 1,
        created_at=now,
        updated_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )


def reissued(
    invitation: Invitation, *, actor_role: str, token_digest: str, now: datetime
) -> Invitation:
    """A resend: a new token (the old one stops working) and a new expiry.

    Only a pending invitation is resent (an expired one too: the resend revives it), at
    most :data:`MAX_INVITATION_SENDS` emails in all; the actor must be allowed to manage
    a user of the invitation's role.
    """
    check_user_management(actor_role, invitation.role)
    if invitation.status is not InvitationStatus.PENDING:
        raise _not_pending(invitation)
    if invitation.sent_count >= MAX_INVITATION_SENDS:
        raise ConflictError(
            f"an invitation is sent at most {MAX_INVITATION_SENDS} times; "
            "revoke it and invite again",
            code="invitation_send_limit",
            errors=[FieldError("invitation_id", "was sent too often", "invitation_send_limit")],
        )
    return replace(
        invitation,
        token_digest=token_digest,
        sent_count=invitation.sent_count + 1,
        version=invitation.version + 1,
        updated_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )


def revoked(invitation: Invitation, *, actor_role: str, now: datetime) -> Invitation:
    """The invitation revoked: its token stops working; only a pending one is revoked."""
    check_user_management(actor_role, invitation.role)
    if invitation.status is not InvitationStatus.PENDING:
        raise _not_pending(invitation)
    return replace(
        invitation,
        status=InvitationStatus.REVOKED,
        version=invitation.version + 1,
        updated_at=now,
        revoked_at=now,
    )


def invalid_invitation_token() -> BadRequestError:
    return BadRequestError(
        INVITATION_TOKEN_INVALID_DETAIL,
        code=INVITATION_TOKEN_INVALID,
        errors=[FieldError("token", "is invalid or has expired", INVITATION_TOKEN_INVALID)],
    )


INVITATION_WITHDRAWN = "invitation_withdrawn"


def check_inviter_still_grants(invitation: Invitation, inviter: dict[str, Any] | None) -> None:
    """The inviter's grant holds only while they could still make it.

    ``inviter`` is their current access state (role, status, tenant), or None if they
    no longer exist. An inviter since disabled, moved out of the tenant or demoted below
    the role they granted has withdrawn the invitation: otherwise someone about to lose
    their access could keep it through an invitation to an address of their own.
    """
    allowed = (
        inviter is not None
        and inviter.get("tenant_id") == invitation.tenant_id
        and inviter.get("status") == "active"
    )
    if allowed:
        assert inviter is not None
        try:
            check_role_assignment(str(inviter.get("role")), invitation.role)
        except AppError:
            allowed = False
    if not allowed:
        raise ConflictError(
            "the invitation was withdrawn: whoever sent it can no longer grant its role",
            code=INVITATION_WITHDRAWN,
            errors=[FieldError("token", "the invitation was withdrawn", INVITATION_WITHDRAWN)],
        )


def accepted(invitation: Invitation | None, *, token_digest: str, now: datetime) -> Invitation:
    """The invitation accepted with the token of ``token_digest``.

    Anything but an open invitation whose current token it is (unknown, expired,
    accepted, revoked, superseded by a resend) is one 400 ``invitation_token_invalid``.
    """
    if invitation is None or not invitation.open(now) or invitation.token_digest != token_digest:
        raise invalid_invitation_token()
    return replace(
        invitation,
        status=InvitationStatus.ACCEPTED,
        version=invitation.version + 1,
        updated_at=now,
        accepted_at=now,
    )


# -- email verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredVerificationToken:
    """``email_verifications/{digest}``: the user and the address a verification email went to."""

    user_id: str
    tenant_id: str
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    @classmethod
    def new(
        cls, *, user_id: str, tenant_id: str, email: str, now: datetime
    ) -> StoredVerificationToken:
        return cls(
            user_id=user_id,
            tenant_id=tenant_id,
            email=email,
            created_at=now,
            expires_at=now + VERIFICATION_LIFETIME,
        )

    def usable(self, *, now: datetime, user_email: str, user_tenant: str) -> bool:
        """Unused, unexpired, and for the user's current address in the same tenant."""
        return (
            self.used_at is None
            and now < self.expires_at
            and self.email == user_email
            and self.tenant_id == user_tenant
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "email": self.email,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StoredVerificationToken:
        return cls(
            user_id=str(document["user_id"]),
            tenant_id=str(document["tenant_id"]),
            email=str(document["email"]),
            created_at=document["created_at"],
            expires_at=document["expires_at"],
            used_at=document.get("used_at"),
        )


def invalid_verification_token() -> BadRequestError:
    return BadRequestError(
        VERIFICATION_TOKEN_INVALID_DETAIL,
        code=VERIFICATION_TOKEN_INVALID,
        errors=[FieldError("token", "is invalid or has expired", VERIFICATION_TOKEN_INVALID)],
    )


def check_verification_needed(email_verified: bool) -> None:
    """A resend for an address already verified is a 409 ``email_already_verified``."""
    if email_verified:
        raise ConflictError(
            "the account's email address is already verified",
            code="email_already_verified",
            errors=[FieldError("email", "is already verified", "email_already_verified")],
        )
