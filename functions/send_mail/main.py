"""send_mail: hands each email event to the deployment's mail transport.

Consumes ``mail-requests``. The transport is the deployment setting
``TRIBUTUM_MAIL__TRANSPORT_URL`` (shared/users/mail.py): the local stack's mail sink on
one machine; none in the cloud until a provider is configured, and then each email is
dropped with a WARNING naming its metadata, never its token. A transport failure
raises, so Pub/Sub redelivers with backoff; a reset email older than its token's
lifetime is dropped as stale (its token no longer works).
"""

from __future__ import annotations

from shared.events.consumer import EventContext, event_consumer
from shared.events.envelope import EventEnvelope
from shared.users.mail import mail_transport, password_reset_message
from shared.users.model import PASSWORD_RESET_REQUESTED
from shared.users.requests import PasswordResetMail
from shared.users.reset_tokens import RESET_TOKEN_LIFETIME


@event_consumer(
    "send_mail",
    accepts={PASSWORD_RESET_REQUESTED: [1]},
    max_age=RESET_TOKEN_LIFETIME,
)
def handle(envelope: EventEnvelope, context: EventContext) -> None:
    mail = context.parse_data(PasswordResetMail)
    mail_transport().send(password_reset_message(envelope.id, envelope.type, mail))
