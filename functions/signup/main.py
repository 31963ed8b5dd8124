"""signup: a new tenant and its first user, the owner."""

from __future__ import annotations

from shared.auth.runtime import password_hasher, password_policy
from shared.clients import firestore_client
from shared.http import Reply, RequestContext, Router
from shared.users import service as users
from shared.users.requests import SignupOut, SignupRequest

router = Router("signup")


@router.post(
    "/v1/signup",
    auth="public",
    body=SignupRequest,
    response=SignupOut,
    status=201,
    idempotency="optional",
)
def sign_up(ctx: RequestContext) -> Reply:
    """Create a tenant with the caller as its owner; a taken email is a 409 that says no more."""
    result = users.signup(
        firestore_client(),
        ctx.body,
        policy=password_policy(),
        hasher=password_hasher(),
        client_ip=ctx.client_ip,
    )
    return Reply(result, status=201, headers={"Location": f"/v1/users/{result.user.id}"})


handle = router.handler
