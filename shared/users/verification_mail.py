"""What a signup (or a resend) writes to verify an address: the token's digest in
``email_verifications/{sha256}`` and the email event that carries the token, staged in the
caller's batch or transaction so both commit with the change that asks for them.

Kept apart from ``shared.users.verification`` (the use cases) so that the signup in
``shared.users.service`` can stage it without importing the use cases that import it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.events.envelope import new_event
from shared.users.invitation_rules import StoredVerificationToken
from shared.users.mail_outbox import stage_mail
from shared.users.model import EMAIL_VERIFICATION_REQUESTED, EVENT_SOURCE, User
from shared.users.requests import VerificationMail
from shared.users.reset_tokens import issue_token

if TYPE_CHECKING:
    from google.cloud import firestore

EMAIL_VERIFICATIONS = "email_verifications"


def stage_verification(
    writer: Any, db: firestore.Client, user: User, now: datetime
) -> StoredVerificationToken:
    """Create a verification token for ``user``'s address and stage its email in ``writer``.

    Returns the stored token (its expiry). The email is published after the commit by
    ``shared.users.mail_outbox.publish_with_mail``, which then deletes its outbox record.
    """
    issued = issue_token()
    stored = StoredVerificationToken.new(
        user_id=user.id, tenant_id=user.tenant_id, email=user.email, now=now
    )
    writer.create(db.collection(EMAIL_VERIFICATIONS).document(issued.digest), stored.to_document())
    mail = new_event(
        EMAIL_VERIFICATION_REQUESTED,
        source=EVENT_SOURCE,
        subject=f"users/{user.id}",
        tenant_id=user.tenant_id,
        data=VerificationMail(
            recipient=user.email,
            user_id=user.id,
            token=issued.secret,
            expires_at=stored.expires_at,
        ).model_dump(mode="json"),
    )
    stage_mail(writer, db, mail)
    return stored
