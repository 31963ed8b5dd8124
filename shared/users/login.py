"""Login, refresh and logout: the auth function's use cases, wired from shared/auth.

Login answers one way for an unknown email, a disabled account and a wrong password
(401 ``invalid_credentials``, after a full argon2 verification in every case), and
counts the attempt in the login throttle before checking anything. Audit events:
``auth.login`` (success or failure), ``auth.logout``, ``auth.refresh_reuse``.
Failures for an email nobody registered have no tenant; they are audited under
:data:`NO_TENANT`, a tenant id no real tenant can have (real ones are uuid hex).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from shared.auth.families import REASON_REUSE, FirestoreRefreshTokenFamilies
from shared.auth.tokens import REFRESH, TOKEN_REVOKED, TokenClaims, token_error
from shared.errors import UnauthorizedError
from shared.events.audit import audit_event
from shared.identity import normalize_email
from shared.users.model import EVENT_SOURCE
from shared.users.service import find_by_email, load_user, record_audit, store_rehash

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.context import AuthContext
    from shared.auth.passwords import PasswordHasher
    from shared.auth.sessions import SessionService, TokenPair
    from shared.auth.tokens import TokenVerifier
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
    user = find_by_email(db, email)
    usable = user if user is not None and user.can_log_in else None
    check = hasher.verify(usable.password_hash if usable else None, password)
    if usable is None or not check.matched:
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
    throttle.succeeded(account=email)
    if check.needs_rehash:
        store_rehash(db, usable, hasher.hash(password))
    pair = sessions.start(user_id=usable.id, tenant_id=usable.tenant_id, role=usable.role.value)
    record_audit(
        db,
        audit_event(
            "auth.login",
            tenant_id=usable.tenant_id,
            actor=_with_ip({"user_id": usable.id}, client_ip),
            resource_type="user",
            resource_id=usable.id,
            details={"session": pair.family_id},
            source=EVENT_SOURCE,
        ),
    )
    return pair


def refresh(
    db: firestore.Client,
    refresh_token: str,
    *,
    sessions: SessionService,
    verifier: TokenVerifier,
    client_ip: str | None = None,
) -> TokenPair:
    """Rotate a refresh token; the new access token carries the user's current role.

    A user deleted, disabled or moved since the login gets 401 ``token_revoked``. A
    refresh token already rotated revokes its whole family (shared/auth) and is
    audited as ``auth.refresh_reuse``.
    """

    def current_role(claims: TokenClaims) -> str:
        user = load_user(db, claims.user_id)
        if user is None or user.tenant_id != claims.tenant_id or not user.can_log_in:
            raise token_error(TOKEN_REVOKED)
        return user.role.value

    try:
        return sessions.refresh(refresh_token, current_role=current_role)
    except UnauthorizedError as exc:
        if exc.code == TOKEN_REVOKED:
            _audit_if_reused(db, refresh_token, verifier, client_ip)
        raise


def _audit_if_reused(
    db: firestore.Client, refresh_token: str, verifier: TokenVerifier, client_ip: str | None
) -> None:
    claims = verifier.verify(refresh_token, REFRESH)  # authentic: refresh() got past this
    assert claims.family_id is not None
    family = FirestoreRefreshTokenFamilies(db).get(claims.family_id) or {}
    if family.get("revoke_reason") != REASON_REUSE:
        return
    record_audit(
        db,
        audit_event(
            "auth.refresh_reuse",
            tenant_id=claims.tenant_id,
            actor={
                "type": "token",
                "user_id": claims.user_id,
                **({"ip": client_ip} if client_ip else {}),
            },
            resource_type="session",
            resource_id=claims.family_id,
            outcome="failure",
            details={"family_revoked": True},
            source=EVENT_SOURCE,
        ),
    )


def log_out(db: firestore.Client, principal: AuthContext, *, sessions: SessionService) -> None:
    """Revoke the presented access token and end its session (the refresh-token family)."""
    if principal.family_id is not None:
        FirestoreRefreshTokenFamilies(db).revoke(principal.family_id, reason="logout")
    sessions.revoke_access(principal)
    record_audit(
        db,
        audit_event(
            "auth.logout",
            tenant_id=principal.tenant_id,
            actor={"user_id": principal.user_id, "role": principal.role},
            resource_type="session",
            resource_id=principal.family_id or principal.jti,
            source=EVENT_SOURCE,
        ),
    )
