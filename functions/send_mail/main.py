"""send_mail: hands each email event to the deployment's mail transport.

Consumes ``mail-requests``: password resets, invitations and address verifications. The
transport is the deployment setting ``TRIBUTUM_MAIL__TRANSPORT_URL``
(shared/users/mail.py): the local stack's mail sink on one machine; none in the cloud
until a provider is configured, and then each email is dropped with a WARNING naming its
metadata, never its token. A transport failure raises, so Pub/Sub redelivers with
backoff; an email older than its token's lifetime is dropped as stale (its token no
longer works).
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.logger import get_logger
from shared.users.invitation_rules import INVITATION_LIFETIME, VERIFICATION_LIFETIME
from shared.users.mail import (
    MailMessage,
    invitation_message,
    mail_transport,
    password_reset_message,
    verification_message,
)
from shared.users.model import EMAIL_VERIFICATION_REQUESTED, PASSWORD_RESET_REQUESTED, USER_INVITED
from shared.users.requests import InvitationMail, PasswordResetMail, VerificationMail
from shared.users.reset_tokens import RESET_TOKEN_LIFETIME

# How long each kind of email is worth sending: its token's lifetime.
LIFETIMES = {
    PASSWORD_RESET_REQUESTED: RESET_TOKEN_LIFETIME,
    USER_INVITED: INVITATION_LIFETIME,
    EMAIL_VERIFICATION_REQUESTED: VERIFICATION_LIFETIME,
}


def _message(envelope: EventEnvelope, context: EventContext) -> MailMessage:
    if envelope.type == USER_INVITED:
        return invitation_message(envelope.id, envelope.type, context.parse_data(InvitationMail))
    if envelope.type == EMAIL_VERIFICATION_REQUESTED:
        verification = context.parse_data(VerificationMail)
        return verification_message(envelope.id, envelope.type, verification)
    reset = context.parse_data(PasswordResetMail)
    return password_reset_message(envelope.id, envelope.type, reset)


@event_consumer(
    "send_mail",
    accepts={PASSWORD_RESET_REQUESTED: [1], USER_INVITED: [1], EMAIL_VERIFICATION_REQUESTED: [1]},
    # The longest lifetime; shorter-lived emails are checked against their own below.
    max_age=max(LIFETIMES.values()),
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    message = _message(envelope, context)
    if datetime.now(UTC) - envelope.time > LIFETIMES[envelope.type]:
        get_logger("send_mail").warning("mail.dropped_stale", **message.metadata())
        return
    mail_transport().send(message)
