"""Email verification over Firestore: the signup's owner proves they read the address's mail.

Signup stores a token's digest in ``email_verifications/{sha256}`` and stages the email
that carries it (``shared.users.verification_mail``). :func:`verify_email` takes the
token back and sets the user's ``email_verified`` (a new version and a ``user.updated``
event, so ``users_read`` and ``GET /v1/users/me`` show it); :func:`resend_verification`
sends a new token to a signed-in user whose address is not verified yet.

What verification gates: nothing yet. An unverified owner signs in and works as before;
``email_verified`` says whether the address is proven, for clients and for rules that
may come to need it. The address is claimed by the signup either way (the tenant needs
its owner); verification is what proves its holder controls it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import add_to_outbox
from shared.ratelimit import FirestoreFixedWindowLimiter, RateLimit
from shared.users.invitation_rules import (
    StoredVerificationToken,
    check_verification_needed,
    invalid_verification_token,
)
from shared.users.mail_outbox import publish_with_mail
from shared.users.model import (
    EVENT_SOURCE,
    USER_EVENTS_TOPIC,
    USER_UPDATED,
    User,
    apply_email_verified,
)
from shared.users.requests import EmailVerificationRequest
from shared.users.reset_tokens import token_digest
from shared.users.service import Actor, _Change, _write_change, load_user, user_event
from shared.users.verification_mail import EMAIL_VERIFICATIONS, stage_verification

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.ratelimit import RateLimiter

# Per user: a few lost emails, not a mailbomb of one's own address.
VERIFICATION_RESEND_RATE = RateLimit(limit=5, window_seconds=3600)
VERIFICATION_RESEND_THROTTLED = "too many verification emails; try again later"
VERIFICATION_SENT_DETAIL = "an email with a verification token is on its way to the address"


def verification_resend_limiter(client: firestore.Client) -> FirestoreFixedWindowLimiter:
    """The per-user limiter of verification resends (key: the user id)."""
    return FirestoreFixedWindowLimiter(client, "email-verification", VERIFICATION_RESEND_RATE)


def _stored(snapshot: Any) -> StoredVerificationToken | None:
    return (
        StoredVerificationToken.from_document(snapshot.to_dict() or {}) if snapshot.exists else None
    )


def _usable(token: StoredVerificationToken | None, user: User | None, now: datetime) -> bool:
    return (
        token is not None
        and user is not None
        and not user.email_verified
        and token.usable(now=now, user_email=user.email, user_tenant=user.tenant_id)
    )


def verify_email(
    db: firestore.Client, request: EmailVerificationRequest, *, client_ip: str | None = None
) -> User:
    """Mark the token's user's address verified.

    An unknown, expired or used token, one for an address the user no longer has, or
    one for an address already verified, is one 400 ``verification_token_invalid`` and
    writes nothing.
    """
    reference = db.collection(EMAIL_VERIFICATIONS).document(token_digest(request.token))
    token = _stored(reference.get())
    user = load_user(db, token.user_id) if token is not None else None
    if token is None or not _usable(token, user, datetime.now(UTC)):
        raise invalid_verification_token()

    def decide(transaction: Any, current: User) -> _Change:
        # Read again in the transaction: of two verifications, exactly one commits.
        now = datetime.now(UTC)
        if not _usable(_stored(reference.get(transaction=transaction)), current, now):
            raise invalid_verification_token()
        changed = apply_email_verified(current, now)
        if changed is None:  # verified meanwhile; _usable saw it unverified
            raise invalid_verification_token()
        transaction.update(reference, {"used_at": now})
        audit = audit_event(
            "user.email_verified",
            tenant_id=current.tenant_id,
            actor={"user_id": current.id, **({"ip": client_ip} if client_ip else {})},
            resource_type="user",
            resource_id=current.id,
            details={"method": "email_token"},
            source=EVENT_SOURCE,
        )
        return _Change(
            changed,
            [(USER_EVENTS_TOPIC, user_event(USER_UPDATED, changed)), (AUDIT_TOPIC, audit)],
        )

    try:
        return _write_change(db, token.user_id, decide, token.tenant_id)
    except NotFoundError:
        raise invalid_verification_token() from None


def resend_verification(
    db: firestore.Client, actor: Actor, *, throttle: RateLimiter, client_ip: str | None = None
) -> datetime:
    """Email a new verification token to the caller's address; when it expires.

    An address already verified is a 409 ``email_already_verified`` (nothing written);
    more than :data:`VERIFICATION_RESEND_RATE` resends an hour a 429. Earlier tokens
    stay usable until they expire: the first one used verifies the address.
    """
    user = load_user(db, actor.user_id)
    if user is None or user.tenant_id != actor.tenant_id:
        raise NotFoundError("no such user", code="user_not_found")
    check_verification_needed(user.email_verified)
    throttle.hit(user.id, detail=VERIFICATION_RESEND_THROTTLED)
    batch = db.batch()
    staged_mail, mail, stored = stage_verification(batch, db, user, datetime.now(UTC))
    audit = audit_event(
        "user.email_verification_requested",
        tenant_id=user.tenant_id,
        actor={**actor.to_audit(client_ip)},
        resource_type="user",
        resource_id=user.id,
        details={"expires_at": stored.expires_at.isoformat()},
        source=EVENT_SOURCE,
    )
    staged = [staged_mail, add_to_outbox(batch, db, AUDIT_TOPIC, audit)]
    batch.commit()
    publish_with_mail(db, staged, [mail.id])
    return stored.expires_at
