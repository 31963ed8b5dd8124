"""Request, response and event-data models of the signup, auth, users and projection functions.

Input models forbid unknown fields: a body that names ``role``, ``tenant_id``,
``password_hash`` or anything else not listed is a 422 naming that field, never
silently ignored. Emails and passwords are checked by ``shared.identity`` in the
service layer (so their field errors carry the identity rules' codes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.http import PageQuery
from shared.identity import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, Role
from shared.users.model import UserStatus

MAX_NAME_LENGTH = 200
# A token is a few hundred bytes; the bound only keeps garbage out.
MAX_TOKEN_LENGTH = 4096
# Generous for NFKC expansion: the password policy counts characters after normalizing.
_MAX_PASSWORD_INPUT = MAX_PASSWORD_LENGTH * 4


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _display_name(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    if any(not character.isprintable() for character in stripped):
        raise ValueError("must not contain control characters")
    return stripped


class SignupRequest(_Input):
    email: str = Field(max_length=MAX_EMAIL_LENGTH + 64, examples=["ada@example.com"])
    password: str = Field(max_length=_MAX_PASSWORD_INPUT)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["Ada Lovelace"])
    organization: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="the new tenant's name; the user's name when omitted",
    )

    @field_validator("name", "organization")
    @classmethod
    def _names_shape(cls, value: str | None) -> str | None:
        return None if value is None else _display_name(value)


class NewUserRequest(_Input):
    """An owner or admin adding a user to their own tenant."""

    email: str = Field(max_length=MAX_EMAIL_LENGTH + 64)
    password: str = Field(max_length=_MAX_PASSWORD_INPUT)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    role: Role

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        return _display_name(value)


class ProfileUpdateRequest(_Input):
    """The fields of ``PATCH /v1/users/me``: the profile only, never role, tenant or email."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("must not be null")
        return _display_name(value)


class RoleChangeRequest(_Input):
    role: Role


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


class LoginRequest(_Input):
    email: str = Field(max_length=MAX_EMAIL_LENGTH + 64)
    password: str = Field(max_length=_MAX_PASSWORD_INPUT)


class RefreshRequest(_Input):
    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


class UserOut(BaseModel):
    id: str
    tenant_id: str
    email: str
    name: str
    role: Role
    status: UserStatus
    version: int
    created_at: datetime
    updated_at: datetime


class SignupOut(UserOut):
    tenant_name: str


class TokenOut(BaseModel):
    token_type: str = Field(examples=["Bearer"])
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class JsonWebKeyOut(BaseModel):
    kty: str
    crv: str
    x: str
    y: str
    kid: str
    use: str
    alg: str


class JwksOut(BaseModel):
    keys: list[JsonWebKeyOut]


class UserSnapshot(BaseModel):
    """The data of every ``user.*`` event (schema version 1): the user without the hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    tenant_id: str = Field(min_length=1, max_length=128)
    email: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    role: Role
    status: UserStatus
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
