"""Request and event-data models of the signup, auth, users and projection functions.

Input models forbid unknown fields: a body that names ``role``, ``tenant_id``,
``password_hash`` or anything else not listed is a 422 naming that field, never
silently ignored. Emails and passwords are checked by ``shared.identity`` in the
service layer (so their field errors carry the identity rules' codes); their JSON
Schema still says what those rules refuse. Names follow the one rule of
:mod:`shared.text` for human-visible text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from shared.http.examples import body_examples
from shared.http.patch import PatchBody, patch_schema
from shared.identity import DEFAULT_MIN_PASSWORD_LENGTH, MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, Role
from shared.pagination import CursorPosition, DocumentId, PageQuery
from shared.text import MAX_NAME_LENGTH, HumanName
from shared.users.model import UserStatus

# A token is a few hundred bytes; the bound only keeps garbage out.
MAX_TOKEN_LENGTH = 4096
# A reset token is 43 characters (shared.users.reset_tokens); the bound keeps garbage out.
MAX_RESET_TOKEN_LENGTH = 256
# Generous for NFKC expansion: the password policy counts characters after normalizing.
_MAX_PASSWORD_INPUT = MAX_PASSWORD_LENGTH * 4

# What shared.identity's email rule can accept, as a JSON Schema pattern: one '@'
# between printable ASCII, inside whitespace it trims (str.strip's, which ECMA-262's
# \s lacks a few of). The rule itself (dot-atoms, labels, lengths) is the service's.
_TRIMMED = r"[\s\x1c-\x1f\x85]*"
EMAIL_INPUT_PATTERN = rf"^{_TRIMMED}[!-?A-~]+@[!-?A-~]+{_TRIMMED}$"
_EMAIL_SCHEMA: JsonDict = {"pattern": EMAIL_INPUT_PATTERN}
# The default password policy's minimum; the policy counts after NFKC normalization.
_NEW_PASSWORD_SCHEMA: JsonDict = {"minLength": DEFAULT_MIN_PASSWORD_LENGTH}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class SignupRequest(_Input):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {
                "email": "ada@example.com",
                "password": "correct horse battery staple",
                "name": "Ada Lovelace",
                "organization": "Analytical Engines Ltd",
            },
        ),
    )

    email: str = Field(
        max_length=MAX_EMAIL_LENGTH + 64,
        examples=["ada@example.com"],
        json_schema_extra=_EMAIL_SCHEMA,
    )
    password: str = Field(max_length=_MAX_PASSWORD_INPUT, json_schema_extra=_NEW_PASSWORD_SCHEMA)
    name: HumanName = Field(examples=["Ada Lovelace"])
    organization: HumanName | None = Field(
        default=None, description="the new tenant's name; the user's name when omitted"
    )


class NewUserRequest(_Input):
    """An owner or admin inviting someone to their own tenant: no password, the invitee
    chooses it when accepting (``POST /v1/users/invitations/accept``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {
                "email": "grace@example.com",
                "name": "Grace Hopper",
                "role": "accountant",
            },
        ),
    )

    email: str = Field(max_length=MAX_EMAIL_LENGTH + 64, json_schema_extra=_EMAIL_SCHEMA)
    name: HumanName
    role: Role


class InvitationAcceptRequest(_Input):
    """The token of an invitation email and the password the invitee chooses."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {
                "token": "Vb3nQ8xLw1Tz6cHk2RdJy9PmS5fGa4eUoNiXrYtKqE0",
                "password": "a long and unusual passphrase",
            },
        ),
    )

    token: str = Field(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)
    password: str = Field(max_length=_MAX_PASSWORD_INPUT, json_schema_extra=_NEW_PASSWORD_SCHEMA)


class EmailVerificationRequest(_Input):
    """The token of a verification email."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {"token": "Hk7pW2qZr9Nc4Lx1Tb6Vy3Mj8Sd5Fg0aEoUiRnYtKwQ"},
        ),
    )

    token: str = Field(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)


class InvitationPath(_Input):
    invitation_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class InvitationListQuery(PageQuery):
    """A tenant's invitations, newest first."""


# Where a page of GET /v1/users/invitations stopped.
INVITATIONS_NEWEST_FIRST_CURSOR = "users.invitations.newest_first"


class ProfileUpdateRequest(_Input, PatchBody):
    """The fields of ``PATCH /v1/users/me``: the profile only, never role, tenant or email;
    at least one of them, none null."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {"name": "Ada King"},
            then=patch_schema,
        ),
    )

    name: HumanName | None = None


class RoleChangeRequest(_Input):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {"role": "viewer"},
        ),
    )

    role: Role


class StatusChangeRequest(_Input):
    """Disable a user (every token refused at once, no login) or enable them again."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {"status": "disabled"},
            {"status": "active"},
        ),
    )

    status: UserStatus


class PasswordChangeRequest(_Input):
    """The caller's new password, with the current one as proof."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {
                "current_password": "correct horse battery staple",
                "new_password": "another long unusual passphrase",
            },
        ),
    )

    current_password: str = Field(min_length=1, max_length=_MAX_PASSWORD_INPUT)
    new_password: str = Field(
        max_length=_MAX_PASSWORD_INPUT, json_schema_extra=_NEW_PASSWORD_SCHEMA
    )


class UserPath(_Input):
    user_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


# Literal rather than the enums: query parameters' schemas are generated inline (no $defs).
RoleName = Literal["owner", "admin", "accountant", "viewer"]
StatusName = Literal["active", "disabled"]


class UserListQuery(PageQuery):
    role: RoleName | None = None
    status: StatusName | None = None
    email_prefix: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EMAIL_LENGTH,
        description="users whose (canonical, lower-case) email starts with this; "
        "the list is then in email order instead of newest first",
    )


# Where a page of GET /v1/users stopped (shared.pagination makes it a cursor): a
# cursor names its ordering, so one of the other ordering is refused.
USERS_NEWEST_FIRST_CURSOR = "users.newest_first"
USERS_BY_EMAIL_CURSOR = "users.by_email"


class UsersByEmailPosition(CursorPosition):
    """The last user of a page in email order: their canonical email, then their id."""

    email: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH)
    id: DocumentId


class LoginRequest(_Input):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {"email": "ada@example.com", "password": "correct horse battery staple"},
        ),
    )

    email: str = Field(max_length=MAX_EMAIL_LENGTH + 64, json_schema_extra=_EMAIL_SCHEMA)
    password: str = Field(max_length=_MAX_PASSWORD_INPUT)


class RefreshRequest(_Input):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {"refresh_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.e30.c2lnbmF0dXJl"},
        ),
    )

    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


class PasswordResetRequest(_Input):
    """Ask for a reset email; the answer is the same whether or not the address exists."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples({"email": "ada@example.com"}),
    )

    email: str = Field(max_length=MAX_EMAIL_LENGTH + 64, json_schema_extra=_EMAIL_SCHEMA)


class PasswordResetConfirmRequest(_Input):
    """The token of a reset email and the new password."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        json_schema_extra=body_examples(
            {
                "token": "q0Zr4mN8xT1vB6yHc2KdLw9PjS5fGa3eUoRiXnYtVbE",
                "new_password": "another long unusual passphrase",
            },
        ),
    )

    token: str = Field(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)
    new_password: str = Field(
        max_length=_MAX_PASSWORD_INPUT, json_schema_extra=_NEW_PASSWORD_SCHEMA
    )


class InvitationMail(BaseModel):
    """The data of ``user.invited`` (schema version 1): one invitation email to send.

    It carries the token itself (the email's whole point); nothing logs it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    invitation_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=64)
    tenant_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    role: Role
    token: str = Field(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)
    expires_at: datetime


class VerificationMail(BaseModel):
    """The data of ``user.email_verification_requested`` (schema version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    user_id: str = Field(min_length=1, max_length=64)
    token: str = Field(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)
    expires_at: datetime


class PasswordResetMail(BaseModel):
    """The data of ``user.password_reset_requested`` (schema version 1): one email to send.

    It carries the token itself (the email's whole point); nothing logs it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipient: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    user_id: str = Field(min_length=1, max_length=64)
    token: str = Field(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)
    expires_at: datetime


class UserSnapshot(BaseModel):
    """The data of every ``user.*`` event (schema version 1): the user without the hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    tenant_id: str = Field(min_length=1, max_length=128)
    email: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    role: Role
    status: UserStatus
    # Absent in events from before it existed: such an address is unverified.
    email_verified: bool = False
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
