"""Email verification over Firestore: the signup's owner proves they read the address's mail.

Signup stores a token's digest in ``email_verifications/{sha256}`` and stages the email
that carries it (``shared.users.verification_mail``). :func:`verify_email` takes the
token back and sets the user's ``email_verified`` (a new version and a ``user.updated``
event, so ``users_read`` and ``GET /v1/users/me`` show it); :func:`resend_verification`
sends a new token to a signed-in user whose address is not verified yet.

Verifying claims the address for good (``shared.users.email_claims``): in the same
transaction the user takes its ``user_emails`` key, verified, whether it was free,
theirs, or held by another unverified user (who is displaced: they keep their account
but log in by the address no more; audited as ``user.email_displaced`` in their
tenant). A key another verified user holds is a 409 ``email_unavailable`` and nothing
is written: the token stays unused.

What verification gates otherwise: nothing yet. An unverified owner signs in and works
as before; ``email_verified`` says whether the address is proven, for clients and for
rules that may come to need it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import settle, transact
from shared.identity.actor import Actor
from shared.ratelimit import FirestoreFixedWindowLimiter, RateLimit
from shared.users.email_claims import proof_claim
from shared.users.email_keys import (
    ADDRESS_BUSY,
    displaced_audit,
    key_holder,
    read_for_proof,
    write_proof,
)
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
from shared.users.service import _Change, _write_change, load_user, user_event
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
    """Mark the token's user's address verified and give them its key.

    An unknown, expired or used token, one for an address the user no longer has, or
    one for an address already verified, is one 400 ``verification_token_invalid`` and
    writes nothing; an address another verified user holds is a 409
    ``email_unavailable`` on ``token`` and writes nothing.
    """
    reference = db.collection(EMAIL_VERIFICATIONS).document(token_digest(request.token))
    token = _stored(reference.get())
    user = load_user(db, token.user_id) if token is not None else None
    if token is None or user is None or not _usable(token, user, datetime.now(UTC)):
        raise invalid_verification_token()
    # Refused before the transaction too, so a lost cause costs no lock on the key.
    proof_claim(key_holder(db, user.email), user.id, field="token")

    def decide(transaction: Any, current: User) -> _Change:
        # Read again in the transaction: of two verifications, exactly one commits, and
        # the key read here is locked until the commit (a racing signup waits or loses).
        now = datetime.now(UTC)
        if not _usable(_stored(reference.get(transaction=transaction)), current, now):
            raise invalid_verification_token()
        proof = read_for_proof(transaction, db, current.email, current.id, field="token")
        changed = apply_email_verified(current, now)
        if changed is None:  # verified meanwhile; _usable saw it unverified
            raise invalid_verification_token()
        transaction.update(reference, {"used_at": now})
        write_proof(transaction, proof, changed, now)
        audit = audit_event(
            "user.email_verified",
            tenant_id=current.tenant_id,
            actor=Actor.user(current.id).to_audit(client_ip),
            resource_type="user",
            resource_id=current.id,
            details={"method": "email_token"},
            source=EVENT_SOURCE,
        )
        events = [(USER_EVENTS_TOPIC, user_event(USER_UPDATED, changed)), (AUDIT_TOPIC, audit)]
        displaced = displaced_audit(proof, by="email_verification")
        if displaced is not None:
            events.append((AUDIT_TOPIC, displaced))
        return _Change(changed, events)

    def write() -> User:
        try:
            return _write_change(
                db, token.user_id, decide, token.tenant_id, name="users.verify_email"
            )
        except NotFoundError:
            raise invalid_verification_token() from None

    # A second round if a signup created the key after the transaction read it free (the
    # commit fails with ALREADY_EXISTS): it reads the key again.
    return settle(db, write, name="users.verify_email", busy=ADDRESS_BUSY, rounds=2)


def resend_verification(
    db: firestore.Client, actor: Actor, *, throttle: RateLimiter, client_ip: str | None = None
) -> datetime:
    """Email a new verification token to the caller's address; when it expires.

    An address already verified is a 409 ``email_already_verified``, one another user
    has proven a 409 ``email_unavailable`` (nothing written either way);
    more than :data:`VERIFICATION_RESEND_RATE` resends an hour a 429. Earlier tokens
    stay usable until they expire: the first one used verifies the address.
    """
    user = load_user(db, actor.user_id)
    if user is None or user.tenant_id != actor.tenant_id:
        raise NotFoundError("no such user", code="user_not_found")
    check_verification_needed(user.email_verified)
    # Another user proved the address: its mailbox gets no mail for this account.
    proof_claim(key_holder(db, user.email), user.id)
    throttle.hit(user.id, detail=VERIFICATION_RESEND_THROTTLED)

    def issue(transaction: Any) -> datetime:
        # Writes only (a new token, its email, the audit event): nothing read, nothing locked.
        stored = stage_verification(transaction, db, user, datetime.now(UTC))
        audit = audit_event(
            "user.email_verification_requested",
            tenant_id=user.tenant_id,
            actor=actor.to_audit(client_ip),
            resource_type="user",
            resource_id=user.id,
            details={"expires_at": stored.expires_at.isoformat()},
            source=EVENT_SOURCE,
        )
        add_to_outbox(transaction, db, AUDIT_TOPIC, audit)
        return stored.expires_at

    return transact(db, issue, name="users.resend_verification", publisher=publish_with_mail)
