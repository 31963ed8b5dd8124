"""users: profiles, roles and status of a tenant's users, invitations, password changes; reads
from the users_read model.

Users, their access states and invitations are written in the credentials database;
the ``users_read`` model and the rate limits' windows are in the main database.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.auth.context import authorize
from shared.auth.runtime import password_hasher, password_policy
from shared.clients import credentials_client, firestore_client
from shared.http import Page, Reply, RequestContext, Router
from shared.identity import Permission
from shared.ratelimit import FirestoreFixedWindowLimiter, RateLimit, password_change_limiter
from shared.users import invitations
from shared.users import service as users
from shared.users.model import User
from shared.users.requests import (
    InvitationAcceptRequest,
    InvitationListQuery,
    InvitationPath,
    NewUserRequest,
    PasswordChangeRequest,
    ProfileUpdateRequest,
    RoleChangeRequest,
    StatusChangeRequest,
    UserListQuery,
    UserPath,
)
from shared.users.responses import InvitationOut, UserOut

router = Router("users")
READ_SELF = Permission.USERS_READ_SELF.value
READ_USERS = Permission.USERS_READ.value
MANAGE_USERS = Permission.USERS_MANAGE.value

_limiter_lock = threading.Lock()
_password_limiter: FirestoreFixedWindowLimiter | None = None


def _password_change_limiter() -> FirestoreFixedWindowLimiter:
    global _password_limiter
    with _limiter_lock:
        if _password_limiter is None:
            _password_limiter = password_change_limiter(firestore_client())
        return _password_limiter


# Invitations email addresses the caller names: a tenant sends at most this many an
# hour (invites and resends together), across every instance.
INVITATION_RATE = RateLimit(limit=50, window_seconds=3600)
_invitation_limiter: FirestoreFixedWindowLimiter | None = None


def _limit_invitations(ctx: RequestContext) -> None:
    global _invitation_limiter
    with _limiter_lock:
        if _invitation_limiter is None:
            _invitation_limiter = FirestoreFixedWindowLimiter(
                firestore_client(), "invitations", INVITATION_RATE
            )
        limiter = _invitation_limiter
    limiter.hit(f"tenant:{ctx.tenant_id}")


@router.get("/v1/users/me", permission=READ_SELF, response=UserOut, raises=(404,))
def get_me(ctx: RequestContext) -> dict[str, Any]:
    """The caller's own user (404 until the read model has caught up with a new signup)."""
    return users.read_user(firestore_client(), ctx.tenant_id, ctx.principal.user_id)


@router.patch(
    "/v1/users/me",
    permission=READ_SELF,
    body=ProfileUpdateRequest,
    response=UserOut,
    raises=(404,),
)
def update_me(ctx: RequestContext) -> User:
    """Change the caller's profile (name); role, tenant, email and the like are refused."""
    return users.update_profile(credentials_client(), ctx.actor, ctx.body)


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
    response=InvitationOut,
    status=201,
    idempotency="optional",
    before=[_limit_invitations],
)
def invite_user(ctx: RequestContext) -> Reply:
    """Invite someone to the caller's tenant with a role the caller may grant.

    No user exists and the address is not claimed until the invitee accepts with the
    emailed token (``POST /v1/users/invitations/accept``); a pending invitation of the
    address in this tenant is a 409 ``invitation_pending``.
    """
    invitation = invitations.invite_user(credentials_client(), ctx.actor, ctx.body)
    return Reply(
        invitation.public(invitation.created_at),
        status=201,
        headers={"Location": f"/v1/users/invitations/{invitation.id}"},
    )


@router.get(
    "/v1/users/invitations",
    permission=MANAGE_USERS,
    query=InvitationListQuery,
    response=[InvitationOut],
)
def list_invitations(ctx: RequestContext) -> Page:
    """The tenant's invitations, newest first (pending, expired, accepted, revoked)."""
    return invitations.list_invitations(credentials_client(), ctx.tenant_id, ctx.query)


@router.post(
    "/v1/users/invitations/accept",
    auth="public",
    body=InvitationAcceptRequest,
    response=UserOut,
    status=201,
)
def accept_invitation(ctx: RequestContext) -> Reply:
    """Accept an invitation with its emailed token and a password of one's own: the user
    is created, its address claimed and verified. A token that is unknown, expired,
    used, revoked or superseded is a 400 ``invitation_token_invalid``."""
    user = invitations.accept_invitation(
        credentials_client(),
        ctx.body,
        policy=password_policy(),
        hasher=password_hasher(),
        client_ip=ctx.client_ip,
    )
    return Reply(user, status=201, headers={"Location": f"/v1/users/{user.id}"})


@router.get(
    "/v1/users/invitations/{invitation_id}",
    permission=MANAGE_USERS,
    params=InvitationPath,
    response=InvitationOut,
)
def get_invitation(ctx: RequestContext) -> dict[str, Any]:
    """One invitation of the caller's tenant; another tenant's is a 404."""
    return invitations.get_invitation(credentials_client(), ctx.tenant_id, ctx.params.invitation_id)


@router.post(
    "/v1/users/invitations/{invitation_id}/resend",
    permission=MANAGE_USERS,
    params=InvitationPath,
    response=InvitationOut,
    before=[_limit_invitations],
)
def resend_invitation(ctx: RequestContext) -> dict[str, Any]:
    """Email a new token (the previous one stops working) and start a new 7 days."""
    invitation = invitations.resend_invitation(
        credentials_client(), ctx.actor, ctx.params.invitation_id
    )
    return invitation.public(invitation.updated_at)


@router.post(
    "/v1/users/invitations/{invitation_id}/revoke",
    permission=MANAGE_USERS,
    params=InvitationPath,
    response=InvitationOut,
)
def revoke_invitation(ctx: RequestContext) -> dict[str, Any]:
    """Revoke a pending invitation: its token stops working."""
    invitation = invitations.revoke_invitation(
        credentials_client(), ctx.actor, ctx.params.invitation_id
    )
    return invitation.public(invitation.updated_at)


@router.patch(
    "/v1/users/{user_id}/role",
    permission=MANAGE_USERS,
    params=UserPath,
    body=RoleChangeRequest,
    response=UserOut,
)
def change_role(ctx: RequestContext) -> User:
    """Grant a role to a user of the caller's tenant (owner/admin, by the granting rules)."""
    return users.change_role(credentials_client(), ctx.actor, ctx.params.user_id, ctx.body.role)


@router.patch(
    "/v1/users/{user_id}/status",
    permission=MANAGE_USERS,
    params=UserPath,
    body=StatusChangeRequest,
    response=UserOut,
)
def change_status(ctx: RequestContext) -> User:
    """Disable a user (their tokens stop working on their next request, login is refused)
    or enable them again; the tenant's last active owner cannot be disabled."""
    return users.change_status(credentials_client(), ctx.actor, ctx.params.user_id, ctx.body.status)


@router.post("/v1/users/me/password", permission=READ_SELF, body=PasswordChangeRequest, status=204)
def change_password(ctx: RequestContext) -> Reply:
    """Change the caller's password (the current one is required); every other session of
    the caller ends, this one stays. Throttled per user (429 with Retry-After)."""
    users.change_password(
        credentials_client(),
        ctx.actor,
        ctx.body,
        session_id=ctx.principal.family_id,
        policy=password_policy(),
        hasher=password_hasher(),
        throttle=_password_change_limiter(),
    )
    return Reply(None, status=204)


handle = router.handler
