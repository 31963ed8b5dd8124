"""users: profiles and roles of a tenant's users; reads from the users_read model."""

from __future__ import annotations

from typing import Any

from shared.auth.context import authorize
from shared.auth.runtime import password_hasher, password_policy
from shared.clients import firestore_client
from shared.http import Page, Reply, RequestContext, Router
from shared.identity import Permission
from shared.users import service as users
from shared.users.model import User
from shared.users.requests import (
    NewUserRequest,
    ProfileUpdateRequest,
    RoleChangeRequest,
    UserListQuery,
    UserOut,
    UserPath,
)

router = Router("users")
READ_SELF = Permission.USERS_READ_SELF.value
READ_USERS = Permission.USERS_READ.value
MANAGE_USERS = Permission.USERS_MANAGE.value


def _actor(ctx: RequestContext) -> users.Actor:
    principal = ctx.principal
    return users.Actor(user_id=principal.user_id, tenant_id=ctx.tenant_id, role=principal.role)


@router.get("/v1/users/me", permission=READ_SELF, response=UserOut)
def get_me(ctx: RequestContext) -> dict[str, Any]:
    """The caller's own user (404 until the read model has caught up with a new signup)."""
    return users.read_user(firestore_client(), ctx.tenant_id, ctx.principal.user_id)


@router.patch(
    "/v1/users/me",
    permission=READ_SELF,
    body=ProfileUpdateRequest,
    response=UserOut,
)
def update_me(ctx: RequestContext) -> User:
    """Change the caller's profile (name); role, tenant, email and the like are refused."""
    return users.update_profile(firestore_client(), _actor(ctx), ctx.body)


@router.get("/v1/users/{user_id}", permission=READ_SELF, params=UserPath, response=UserOut)
def get_user(ctx: RequestContext) -> dict[str, Any]:
    """A user of the caller's tenant (others than oneself need users:read); another
    tenant's user is a 404."""
    if ctx.params.user_id != ctx.principal.user_id:
        authorize(ctx.principal, READ_USERS)
    return users.read_user(firestore_client(), ctx.tenant_id, ctx.params.user_id)


@router.get("/v1/users", permission=READ_USERS, query=UserListQuery, response=[UserOut])
def list_users(ctx: RequestContext) -> Page:
    """The tenant's users, newest first; filters role, status and email prefix."""
    return users.list_users(firestore_client(), ctx.tenant_id, ctx.query)


@router.post(
    "/v1/users",
    permission=MANAGE_USERS,
    body=NewUserRequest,
    response=UserOut,
    status=201,
    idempotency="optional",
)
def add_user(ctx: RequestContext) -> Reply:
    """Add a user to the caller's tenant with a role the caller may grant."""
    user = users.add_user(
        firestore_client(),
        _actor(ctx),
        ctx.body,
        policy=password_policy(),
        hasher=password_hasher(),
    )
    return Reply(user, status=201, headers={"Location": f"/v1/users/{user.id}"})


@router.patch(
    "/v1/users/{user_id}/role",
    permission=MANAGE_USERS,
    params=UserPath,
    body=RoleChangeRequest,
    response=UserOut,
)
def change_role(ctx: RequestContext) -> User:
    """Grant a role to a user of the caller's tenant (owner/admin, by the granting rules)."""
    return users.change_role(firestore_client(), _actor(ctx), ctx.params.user_id, ctx.body.role)


handle = router.handler
