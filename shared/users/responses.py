"""Response models of the signup, auth and users functions.

Their OpenAPI documents are built from them: users, invitations, tokens, the JSON Web
Key Set, and the answers to requests carried out later (a reset or verification email).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.identity import Role
from shared.users.model import UserStatus


class PasswordResetAcceptedOut(BaseModel):
    status: Literal["accepted"]
    detail: str


class VerificationResentOut(BaseModel):
    status: Literal["accepted"]
    detail: str
    expires_at: datetime


class InvitationOut(BaseModel):
    id: str
    tenant_id: str
    email: str
    name: str
    role: Role
    status: Literal["pending", "accepted", "revoked", "expired"]
    user_id: str = Field(description="the id the user will have once the invitation is accepted")
    invited_by: str
    sent_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None


class UserOut(BaseModel):
    id: str
    tenant_id: str
    email: str
    name: str
    role: Role
    status: UserStatus
    email_verified: bool
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
