"""signup: a new tenant and its first user, the owner.

The tenant, the user and everything staged with them go to the credentials database;
the signup throttle's windows stay in the main database's ``rate_limits``.
"""

from __future__ import annotations

import threading

from shared.auth.runtime import password_hasher, password_policy
from shared.clients import credentials_client, firestore_client
from shared.http import Reply, RequestContext, Router
from shared.ratelimit import SignupThrottle, count_signup
from shared.users import service as users
from shared.users.requests import SignupRequest
from shared.users.responses import SignupOut

router = Router("signup")

_throttle_lock = threading.Lock()
_throttle: SignupThrottle | None = None


def _signup_throttle() -> SignupThrottle:
    global _throttle
    with _throttle_lock:
        if _throttle is None:
            _throttle = SignupThrottle.firestore(firestore_client())
        return _throttle


@router.post(
    "/v1/signup",
    auth="public",
    body=SignupRequest,
    response=SignupOut,
    status=201,
    idempotency="optional",
    before=[count_signup(_signup_throttle)],
)
def sign_up(ctx: RequestContext) -> Reply:
    """Create a tenant with the caller as its owner; a taken email is a 409 that says no more.

    Throttled per client address and for the whole application (429 with Retry-After).
    """
    result = users.signup(
        credentials_client(),
        ctx.body,
        policy=password_policy(),
        hasher=password_hasher(),
        client_ip=ctx.client_ip,
    )
    return Reply(result, status=201, headers={"Location": f"/v1/users/{result.user.id}"})


handle = router.handler
