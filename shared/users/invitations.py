"""Invitations over Firestore: an owner or admin invites someone to their tenant, the invitee
accepts with the emailed token and a password of their own.

Collections (all in the credentials database, ``shared.clients.credentials_client()``,
with the users, email keys and outbox records the same transactions write):

* ``user_invitations/{id}`` (id: a digest of tenant and address, see
  ``invitation_rules.invitation_id``): the address, name, role, status, the id the user
  will have, the current token's digest, the expiry;
* ``invitation_tokens/{sha256 of a token}``: ``invitation_id``, ``tenant_id``,
  ``created_at``, ``expires_at`` (the TTL field), ``used_at``.

Inviting claims nothing: the address's ``user_emails`` key is taken only when the
invitation is accepted, in the transaction that creates the user. Acceptance proves the
mailbox (the token came by email), so it takes the key verified, from an unverified
holder too (``shared.users.email_claims``); only a verified holder refuses it. The
rules are in :mod:`shared.users.invitation_rules`; every refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.auth.access import access_reference
from shared.errors import NotFoundError
from shared.events.audit import AUDIT_TOPIC, audit_event
from shared.events.envelope import EventEnvelope, new_event
from shared.events.outbox import add_to_outbox
from shared.events.transact import commit_in_transaction, settle, transact
from shared.identity import PasswordPolicy, check_role_assignment, normalize_email
from shared.identity.actor import Actor
from shared.pagination import DOCUMENT_ID, Page, TimeOrderedPosition, keyset_page
from shared.users.email_claims import email_unavailable
from shared.users.email_keys import (
    ADDRESS_BUSY,
    displaced_audit,
    free_key_proof,
    is_address_taken,
    read_for_proof,
    write_proof,
)
from shared.users.invitation_rules import (
    Invitation,
    accepted,
    check_inviter_still_grants,
    invalid_invitation_token,
    invitation_id,
    new_invitation,
    reissued,
    revoked,
)
from shared.users.mail_outbox import publish_with_mail, stage_mail
from shared.users.model import (
    EVENT_SOURCE,
    USER_CREATED,
    USER_EVENTS_TOPIC,
    USER_INVITED,
    User,
    new_user,
    new_user_id,
)
from shared.users.requests import (
    INVITATIONS_NEWEST_FIRST_CURSOR,
    InvitationAcceptRequest,
    InvitationListQuery,
    InvitationMail,
    NewUserRequest,
)
from shared.users.reset_tokens import IssuedToken, issue_token, token_digest
from shared.users.service import TENANTS, USERS, _new_access_document, user_event

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.auth.passwords import PasswordHasher

USER_INVITATIONS = "user_invitations"
INVITATION_TOKENS = "invitation_tokens"
# The detail of a 503 ``contention`` when an invitation's changes outlast the retries.
INVITATION_BUSY = "the invitation was changed at the same time; retry"


def _not_found() -> NotFoundError:
    return NotFoundError("no such invitation", code="invitation_not_found")


def _loaded(snapshot: Any) -> Invitation | None:
    return Invitation.from_document(snapshot.to_dict() or {}) if snapshot.exists else None


def _tenant_name(db: firestore.Client, tenant_id: str) -> str:
    snapshot = db.collection(TENANTS).document(tenant_id).get()
    return (
        str((snapshot.to_dict() or {}).get("name") or "Tributum") if snapshot.exists else "Tributum"
    )


def _mail(invitation: Invitation, issued: IssuedToken, tenant_name: str) -> EventEnvelope:
    return new_event(
        USER_INVITED,
        source=EVENT_SOURCE,
        subject=f"user_invitations/{invitation.id}",
        tenant_id=invitation.tenant_id,
        data=InvitationMail(
            recipient=invitation.email,
            invitation_id=invitation.id,
            user_id=invitation.user_id,
            tenant_name=tenant_name,
            role=invitation.role,
            token=issued.secret,
            expires_at=invitation.expires_at,
        ).model_dump(mode="json"),
    )


def _token_document(invitation: Invitation, now: datetime) -> dict[str, Any]:
    return {
        "invitation_id": invitation.id,
        "tenant_id": invitation.tenant_id,
        "created_at": now,
        "expires_at": invitation.expires_at,
        "used_at": None,
    }


def _audit(
    action: str, actor: dict[str, Any], invitation: Invitation, **details: Any
) -> EventEnvelope:
    return audit_event(
        action,
        tenant_id=invitation.tenant_id,
        actor=actor,
        resource_type="user_invitation",
        resource_id=invitation.id,
        details={"role": invitation.role.value, "user_id": invitation.user_id, **details},
        source=EVENT_SOURCE,
    )


# -- inviting ---------------------------------------------------------------------------------


def invite_user(db: firestore.Client, actor: Actor, request: NewUserRequest) -> Invitation:
    """Invite an address to the actor's tenant with a role the actor may grant.

    Refused, writing nothing: a role above the actor's (403), a malformed address (422),
    an address a verified user holds (409 ``email_unavailable``; an unverified holder
    is displaced if the invitation is accepted), an address the tenant has a pending
    invitation for (409 ``invitation_pending``).
    """
    check_role_assignment(actor.role, request.role)
    email = normalize_email(request.email)
    if is_address_taken(db, email):
        raise email_unavailable()
    tenant_name = _tenant_name(db, actor.tenant_id)
    reference = db.collection(USER_INVITATIONS).document(invitation_id(actor.tenant_id, email))

    def attempt(transaction: Any) -> Invitation:
        now = datetime.now(UTC)
        issued = issue_token()
        invitation = new_invitation(
            actor_role=actor.role,
            actor_id=actor.user_id,
            tenant_id=actor.tenant_id,
            email=email,
            name=request.name,
            role=request.role,
            user_id=new_user_id(),
            token_digest=issued.digest,
            existing=_loaded(reference.get(transaction=transaction)),
            now=now,
        )
        transaction.set(reference, invitation.to_document())
        transaction.create(
            db.collection(INVITATION_TOKENS).document(issued.digest),
            _token_document(invitation, now),
        )
        stage_mail(transaction, db, _mail(invitation, issued, tenant_name))
        audit = _audit(
            "user.invited",
            actor.to_audit(),
            invitation,
            expires_at=invitation.expires_at.isoformat(),
        )
        add_to_outbox(transaction, db, AUDIT_TOPIC, audit)
        return invitation

    return transact(
        db, attempt, name="users.invite", publisher=publish_with_mail, busy=INVITATION_BUSY
    )


def _change(
    db: firestore.Client,
    actor: Actor,
    invitation_id_: str,
    decide: Callable[[Any, Invitation, datetime], Invitation],
    *,
    name: str,
) -> Invitation:
    reference = db.collection(USER_INVITATIONS).document(invitation_id_)

    def attempt(transaction: Any) -> Invitation:
        current = _loaded(reference.get(transaction=transaction))
        if current is None or current.tenant_id != actor.tenant_id:
            raise _not_found()
        changed = decide(transaction, current, datetime.now(UTC))
        transaction.set(reference, changed.to_document())
        return changed

    return transact(db, attempt, name=name, publisher=publish_with_mail, busy=INVITATION_BUSY)


def resend_invitation(db: firestore.Client, actor: Actor, invitation_id_: str) -> Invitation:
    """A new token by email, a new expiry; the previous token stops working."""
    tenant_name = _tenant_name(db, actor.tenant_id)

    def decide(transaction: Any, current: Invitation, now: datetime) -> Invitation:
        issued = issue_token()
        changed = reissued(current, actor_role=actor.role, token_digest=issued.digest, now=now)
        transaction.create(
            db.collection(INVITATION_TOKENS).document(issued.digest),
            _token_document(changed, now),
        )
        stage_mail(transaction, db, _mail(changed, issued, tenant_name))
        audit = _audit(
            "user.invitation_resent",
            actor.to_audit(),
            changed,
            expires_at=changed.expires_at.isoformat(),
            sent_count=changed.sent_count,
        )
        add_to_outbox(transaction, db, AUDIT_TOPIC, audit)
        return changed

    return _change(db, actor, invitation_id_, decide, name="users.resend_invitation")


def revoke_invitation(db: firestore.Client, actor: Actor, invitation_id_: str) -> Invitation:
    """Revoke a pending invitation: its token stops working; the address was never claimed."""

    def decide(transaction: Any, current: Invitation, now: datetime) -> Invitation:
        changed = revoked(current, actor_role=actor.role, now=now)
        audit = _audit("user.invitation_revoked", actor.to_audit(), changed)
        add_to_outbox(transaction, db, AUDIT_TOPIC, audit)
        return changed

    return _change(db, actor, invitation_id_, decide, name="users.revoke_invitation")


# -- accepting --------------------------------------------------------------------------------


def accept_invitation(
    db: firestore.Client,
    request: InvitationAcceptRequest,
    *,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    client_ip: str | None = None,
) -> User:
    """Create the invited user with the chosen password; the address is claimed now.

    An unknown, expired, accepted, revoked or superseded token is one 400
    ``invitation_token_invalid``; an address a verified user holds (a verified signup,
    another tenant's accepted invitation) a 409 ``email_unavailable``; a password the
    policy refuses a 422 on ``password`` (the token stays usable). Each writes nothing.
    The accepted user's address is verified: the token came by email to it. An
    unverified user holding the address is displaced (audited in their tenant).
    """
    from google.api_core.exceptions import AlreadyExists

    digest = token_digest(request.token)
    token_reference = db.collection(INVITATION_TOKENS).document(digest)
    token = token_reference.get()
    invited = str((token.to_dict() or {}).get("invitation_id") or "") if token.exists else ""
    if not invited:
        raise invalid_invitation_token()
    reference = db.collection(USER_INVITATIONS).document(invited)
    invitation = accepted(_loaded(reference.get()), token_digest=digest, now=datetime.now(UTC))
    if is_address_taken(db, invitation.email):
        raise email_unavailable()
    policy.check(request.password, email=invitation.email, field="password")
    password_hash = hasher.hash(request.password)

    # The first round creates the key blind, as a signup does: no read, so no lock that
    # concurrent claims would queue on. Only if the key exists (the commit fails with
    # ALREADY_EXISTS, writing nothing) does a second round read it, to take it from an
    # unverified holder (a verified one is a 409).
    read_key = False

    def attempt(transaction: Any) -> User:
        now = datetime.now(UTC)
        # Read again in the transaction: of two acceptances, or an acceptance and a
        # revoke or a resend, exactly one commits.
        done = accepted(
            _loaded(reference.get(transaction=transaction)), token_digest=digest, now=now
        )
        inviter = access_reference(db, done.invited_by).get(transaction=transaction)
        check_inviter_still_grants(done, inviter.to_dict() if inviter.exists else None)
        proof = (
            read_for_proof(transaction, db, done.email, done.user_id)
            if read_key
            else free_key_proof(db, done.email)
        )
        user = new_user(
            tenant_id=done.tenant_id,
            email=done.email,
            name=done.name,
            role=done.role,
            password_hash=password_hash,
            now=now,
            user_id=done.user_id,
            email_verified=True,
        )
        write_proof(transaction, proof, user, now)
        transaction.create(db.collection(USERS).document(user.id), user.to_document())
        transaction.create(access_reference(db, user.id), _new_access_document(user))
        transaction.set(reference, done.to_document())
        transaction.update(token_reference, {"used_at": now})
        add_to_outbox(transaction, db, USER_EVENTS_TOPIC, user_event(USER_CREATED, user))
        actor = Actor.user(user.id).to_audit(client_ip)
        audit = _audit("user.invitation_accepted", actor, done, invited_by=done.invited_by)
        add_to_outbox(transaction, db, AUDIT_TOPIC, audit)
        displaced = displaced_audit(proof, by="invitation")
        if displaced is not None:
            add_to_outbox(transaction, db, AUDIT_TOPIC, displaced)
        return user

    def accept_round() -> User:
        nonlocal read_key
        try:
            return commit_in_transaction(
                db, attempt, name="users.accept_invitation", busy=INVITATION_BUSY
            ).result
        except AlreadyExists:
            read_key = True  # the key exists: the next round reads it
            raise

    return settle(db, accept_round, name="users.accept_invitation", busy=ADDRESS_BUSY, rounds=2)


# -- reading ----------------------------------------------------------------------------------


def get_invitation(db: firestore.Client, tenant_id: str, invitation_id_: str) -> dict[str, Any]:
    """One invitation of ``tenant_id``; another tenant's is a 404."""
    invitation = _loaded(db.collection(USER_INVITATIONS).document(invitation_id_).get())
    if invitation is None or invitation.tenant_id != tenant_id:
        raise _not_found()
    return invitation.public(datetime.now(UTC))


def list_invitations(
    db: firestore.Client, tenant_id: str, query: InvitationListQuery
) -> Page[dict[str, Any]]:
    """The tenant's invitations, newest first (composite index in infra/firestore_indexes.yaml)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = db.collection(USER_INVITATIONS)
    now = datetime.now(UTC)
    page = keyset_page(
        collection.where(filter=FieldFilter("tenant_id", "==", tenant_id)),
        order=("created_at", DOCUMENT_ID),
        descending=True,
        position=TimeOrderedPosition,
        scope=INVITATIONS_NEWEST_FIRST_CURSOR,
        cursor=query.cursor,
        limit=query.limit,
        to_item=lambda s: Invitation.from_document(s.to_dict() or {}),
        start_after=lambda p: (p.at, collection.document(p.id)),
        position_of=lambda invitation: TimeOrderedPosition(
            at=invitation.created_at, id=invitation.id
        ),
    )
    return page.with_items([i.public(now) for i in page.items])
