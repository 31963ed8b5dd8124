"""Login, refresh and logout: the auth function's use cases, wired from shared/auth.

Login answers one way for an unknown email, a disabled account and a wrong password
(401 ``invalid_credentials``, after a full argon2 verification in every case), and
counts the attempt in the login throttle before checking anything. Tokens carry the
user's stored role and access epoch (``shared.auth.access``). Audit events:
``auth.login`` (success or failure), ``auth.logout``, ``auth.refresh_reuse``.
Failures for an email nobody registered have no tenant; they are audited under
:data:`NO_TENANT`, a tenant id no real tenant can have (real ones are uuid hex).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NoReturn

from shared.auth.families import RefreshTokenReused
from shared.errors import UnauthorizedError
from shared.events.audit import audit_event
from shared.identity import normalize_email
from shared.identity.actor import Actor
from shared.users.model import EVENT_SOURCE, User
from shared.users.service import access_state_of, find_for_login, record_audit, store_rehash

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.context import AuthContext
    from shared.auth.passwords import PasswordHasher
    from shared.auth.sessions import SessionService, TokenPair
    from shared.ratelimit import LoginThrottle

NO_TENANT = "no-tenant"
INVALID_CREDENTIALS = "wrong email or password"


def _email_digest(email: str) -> str:
    # Audit records of failed logins must not turn into a list of probed addresses.
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


def _with_ip(actor: dict[str, Any], client_ip: str | None) -> dict[str, Any]:
    return {**actor, "ip": client_ip} if client_ip else actor


def log_in(
    db: firestore.Client,
    *,
    raw_email: str,
    password: str,
    client_ip: str | None,
    throttle: LoginThrottle,
    hasher: PasswordHasher,
    sessions: SessionService,
) -> TokenPair:
    """A token pair for the right email and password; 429 when throttled, else a uniform 401."""
    email = normalize_email(raw_email)
    throttle.attempt(account=email, address=client_ip)
    user, state = find_for_login(db, email)
    usable = user if user is not None and user.can_log_in else None
    check = hasher.verify(usable.password_hash if usable else None, password)
    if usable is None or not check.matched:
        _refuse_login(db, email, user, client_ip)
    if state is None:
        state = access_state_of(db, usable)
    if not state.active or state.tenant_id != usable.tenant_id:
        _refuse_login(db, email, usable, client_ip)
    throttle.succeeded(account=email)
    if check.needs_rehash:
        store_rehash(db, usable, hasher.hash(password))
    pair = sessions.start(
        user_id=usable.id, tenant_id=usable.tenant_id, role=state.role, epoch=state.epoch
    )
    record_audit(
        db,
        audit_event(
            "auth.login",
            tenant_id=usable.tenant_id,
            actor=Actor.user(usable.id).to_audit(client_ip),
            resource_type="user",
            resource_id=usable.id,
            details={"session": pair.family_id},
            source=EVENT_SOURCE,
        ),
    )
    return pair


def _refuse_login(
    db: firestore.Client, email: str, user: User | None, client_ip: str | None
) -> NoReturn:
    actor = _with_ip({"type": "anonymous", "email_sha256": _email_digest(email)}, client_ip)
    record_audit(
        db,
        audit_event(
            "auth.login",
            tenant_id=user.tenant_id if user else NO_TENANT,
            actor=actor,
            resource_type="user",
            resource_id=user.id if user else "unknown",
            outcome="failure",
            details={"reason": "invalid_credentials"},
            source=EVENT_SOURCE,
        ),
    )
    raise UnauthorizedError(INVALID_CREDENTIALS, code="invalid_credentials")


def refresh(
    db: firestore.Client,
    refresh_token: str,
    *,
    sessions: SessionService,
    client_ip: str | None = None,
) -> TokenPair:
    """Rotate a refresh token; the new tokens carry the user's stored role and epoch.

    A user deleted, disabled or whose sessions ended since the token was issued gets
    401 ``token_revoked`` (the session service reads the access state). A refresh token
    already rotated revokes its whole family and its access tokens (shared/auth) and is
    audited as ``auth.refresh_reuse``.
    """
    try:
        return sessions.refresh(refresh_token)
    except RefreshTokenReused as reused:
        record_audit(
            db,
            audit_event(
                "auth.refresh_reuse",
                tenant_id=reused.tenant_id,
                actor={
                    "type": "token",
                    "user_id": reused.user_id,
                    **({"ip": client_ip} if client_ip else {}),
                },
                resource_type="session",
                resource_id=reused.family_id,
                outcome="failure",
                details={"family_revoked": True},
                source=EVENT_SOURCE,
            ),
        )
        raise


def log_out(db: firestore.Client, principal: AuthContext, *, sessions: SessionService) -> None:
    """Revoke the presented access token and end its session: the refresh-token family
    and every other access token of that session, from their next request on."""
    sessions.end_access_session(principal)
    record_audit(
        db,
        audit_event(
            "auth.logout",
            tenant_id=principal.tenant_id,
            actor=Actor.user(principal.user_id, role=principal.role).to_audit(),
            resource_type="session",
            resource_id=principal.family_id or principal.jti,
            source=EVENT_SOURCE,
        ),
    )
