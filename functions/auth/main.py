"""auth: login (token pair), refresh-token rotation, logout, password reset, email
verification, and the public signing keys.

Users, sessions and single-use tokens are read and written in the credentials database;
the throttles' windows live in the main database's ``rate_limits``.
"""

from __future__ import annotations

import threading

from shared.auth.runtime import password_hasher, password_policy, session_service, token_verifier
from shared.clients import credentials_client, firestore_client
from shared.http import Reply, RequestContext, Router
from shared.ratelimit import FirestoreFixedWindowLimiter, LoginThrottle
from shared.users import login, reset, verification
from shared.users.requests import (
    EmailVerificationRequest,
    LoginRequest,
    PasswordResetConfirmRequest,
    PasswordResetRequest,
    RefreshRequest,
)
from shared.users.responses import (
    JwksOut,
    PasswordResetAcceptedOut,
    TokenOut,
    VerificationResentOut,
)

router = Router("auth")
JWKS_PATH = "/.well-known/jwks.json"
# Verifiers may cache the keys this long; a new key is published ahead of its use.
JWKS_MAX_AGE_SECONDS = 300

_throttle_lock = threading.Lock()
_throttle: LoginThrottle | None = None
_reset_throttle: reset.ResetThrottle | None = None
_verification_throttle: FirestoreFixedWindowLimiter | None = None


def _login_throttle() -> LoginThrottle:
    global _throttle
    with _throttle_lock:
        if _throttle is None:
            _throttle = LoginThrottle.firestore(firestore_client())
        return _throttle


def _password_reset_throttle() -> reset.ResetThrottle:
    global _reset_throttle
    with _throttle_lock:
        if _reset_throttle is None:
            _reset_throttle = reset.ResetThrottle.firestore(firestore_client())
        return _reset_throttle


def _verification_resend_throttle() -> FirestoreFixedWindowLimiter:
    global _verification_throttle
    with _throttle_lock:
        if _verification_throttle is None:
            _verification_throttle = verification.verification_resend_limiter(firestore_client())
        return _verification_throttle


@router.post("/v1/auth/token", auth="public", body=LoginRequest, response=TokenOut, raises=(401,))
def issue_tokens(ctx: RequestContext) -> Reply:
    """Email and password for an access token and a refresh token (429 when throttled)."""
    pair = login.log_in(
        credentials_client(),
        raw_email=ctx.body.email,
        password=ctx.body.password,
        client_ip=ctx.client_ip,
        throttle=_login_throttle(),
        hasher=password_hasher(),
        sessions=session_service(),
    )
    return Reply(pair, headers={"Cache-Control": "no-store"})


@router.post(
    "/v1/auth/refresh", auth="public", body=RefreshRequest, response=TokenOut, raises=(401,)
)
def refresh_tokens(ctx: RequestContext) -> Reply:
    """A new token pair for a refresh token; a reused one ends its whole session."""
    pair = login.refresh(
        credentials_client(),
        ctx.body.refresh_token,
        sessions=session_service(),
        client_ip=ctx.client_ip,
    )
    return Reply(pair, headers={"Cache-Control": "no-store"})


@router.post("/v1/auth/logout", permission="users:read_self", status=204)
def log_out(ctx: RequestContext) -> Reply:
    """End the session: this access token at once, the session's refresh token and its
    other access tokens from their next request on."""
    login.log_out(credentials_client(), ctx.principal, sessions=session_service())
    return Reply(None, status=204)


@router.post(
    "/v1/auth/password-reset",
    auth="public",
    body=PasswordResetRequest,
    response=PasswordResetAcceptedOut,
    status=202,
)
def request_password_reset(ctx: RequestContext) -> Reply:
    """Email a single-use reset token (valid 30 minutes) if the address is an active user's.

    The answer is the same whether or not it is; throttled per address and per client
    (429 with Retry-After).
    """
    reset.request_password_reset(
        credentials_client(),
        raw_email=ctx.body.email,
        client_ip=ctx.client_ip,
        throttle=_password_reset_throttle(),
    )
    return Reply(
        {"status": "accepted", "detail": reset.RESET_ACCEPTED_DETAIL},
        status=202,
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/v1/auth/password-reset/confirm", auth="public", body=PasswordResetConfirmRequest, status=204
)
def confirm_password_reset(ctx: RequestContext) -> Reply:
    """Set a new password with a reset token; every session of the user ends.

    An unknown, expired or used token is a 400 ``reset_token_invalid``.
    """
    reset.confirm_password_reset(
        credentials_client(),
        ctx.body,
        policy=password_policy(),
        hasher=password_hasher(),
        client_ip=ctx.client_ip,
    )
    return Reply(None, status=204)


@router.post("/v1/auth/verify-email", auth="public", body=EmailVerificationRequest, status=204)
def verify_email(ctx: RequestContext) -> Reply:
    """Prove control of the account's address with the token of its verification email.

    An unknown, expired or used token is a 400 ``verification_token_invalid``; an address
    another user proved first is a 409 ``email_unavailable``. Proving it takes the address
    from an unverified holder.
    """
    verification.verify_email(credentials_client(), ctx.body, client_ip=ctx.client_ip)
    return Reply(None, status=204)


@router.post(
    "/v1/auth/verify-email/resend",
    permission="users:read_self",
    response=VerificationResentOut,
    status=202,
)
def resend_verification_email(ctx: RequestContext) -> Reply:
    """Email the caller a new verification token; 409 ``email_already_verified`` when the
    address is verified, 409 ``email_unavailable`` when another user proved it first; 5 per
    user per hour (429 with Retry-After)."""
    expires_at = verification.resend_verification(
        credentials_client(),
        ctx.actor,
        throttle=_verification_resend_throttle(),
        client_ip=ctx.client_ip,
    )
    return Reply(
        {
            "status": "accepted",
            "detail": verification.VERIFICATION_SENT_DETAIL,
            "expires_at": expires_at,
        },
        status=202,
    )


# JWT libraries and gateways fetch the JWKS as a bare {"keys": [...]} document.
@router.get(JWKS_PATH, auth="public", response=JwksOut, envelope=False)
def signing_keys(ctx: RequestContext) -> Reply:
    """The public keys that verify tokens now (JWKS), including keys in a rotation overlap."""
    return Reply(
        token_verifier().jwks(),
        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"},
    )


handle = router.handler
