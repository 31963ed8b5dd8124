"""Emails of the users domain: what the send_mail function makes of an email event, and
how it hands the email on.

The transport is a deployment setting, ``TRIBUTUM_MAIL__TRANSPORT_URL`` (the manifest's
``mail_transport_url`` source): each email is POSTed there as JSON, with the event id
as ``Idempotency-Key`` so a receiver can drop a redelivery. The local stack points it
at its mail sink (``python -m emulator mail-sink``); the cloud has no provider
configured, so it is empty and every email is dropped with a WARNING that names its
metadata only. Nothing here ever logs an email's text or token.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from shared.config import get_settings
from shared.logger import get_logger
from shared.users.requests import InvitationMail, PasswordResetMail, VerificationMail

TRANSPORT_TIMEOUT_SECONDS = 10.0
_log = get_logger("shared.users.mail")


class MailTransportError(Exception):
    """The transport did not take the email; the delivery is retried. The message never
    holds the email's content."""


@dataclass(frozen=True, slots=True)
class MailMessage:
    id: str  # the event id: the same email on every redelivery
    type: str
    user_id: str
    to: str
    subject: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
        }

    def metadata(self) -> dict[str, str]:
        """What logs may say about the email: never its text, nor the full address."""
        return {
            "mail_id": self.id,
            "mail_type": self.type,
            "user_id": self.user_id,
            "recipient_domain": self.to.rpartition("@")[2],
        }


def password_reset_message(event_id: str, event_type: str, mail: PasswordResetMail) -> MailMessage:
    expires = mail.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"Someone asked to reset the Tributum password of {mail.recipient}.\n\n"
        f"To choose a new one, send this token with POST /v1/auth/password-reset/confirm "
        f"before {expires}; it works once:\n\n"
        f"    {mail.token}\n\n"
        "Resetting ends every session of the account. If you did not ask for this, ignore "
        "this email: your password stays as it is.\n"
    )
    return MailMessage(
        id=event_id,
        type=event_type,
        user_id=mail.user_id,
        to=mail.recipient,
        subject="Reset your Tributum password",
        text=text,
    )


def invitation_message(event_id: str, event_type: str, mail: InvitationMail) -> MailMessage:
    expires = mail.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"You are invited to join {mail.tenant_name} on Tributum as {mail.role.value}, "
        f"with the address {mail.recipient}.\n\n"
        "To accept, choose a password and send it with this token to "
        f"POST /v1/users/invitations/accept before {expires}; it works once:\n\n"
        f"    {mail.token}\n\n"
        "If you do not know why you got this, ignore this email: no account is made "
        "and the address stays yours.\n"
    )
    return MailMessage(
        id=event_id,
        type=event_type,
        user_id=mail.user_id,
        to=mail.recipient,
        subject=f"You are invited to {mail.tenant_name} on Tributum",
        text=text,
    )


def verification_message(event_id: str, event_type: str, mail: VerificationMail) -> MailMessage:
    expires = mail.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"Confirm that {mail.recipient} is your address: send this token with "
        f"POST /v1/auth/verify-email before {expires}; it works once:\n\n"
        f"    {mail.token}\n\n"
        "If you did not sign up for Tributum, ignore this email.\n"
    )
    return MailMessage(
        id=event_id,
        type=event_type,
        user_id=mail.user_id,
        to=mail.recipient,
        subject="Verify your Tributum email address",
        text=text,
    )


class MailTransport(Protocol):
    def send(self, message: MailMessage) -> None:
        """Hand ``message`` on, or raise ``MailTransportError`` to have it retried."""
        ...


class NoTransport:
    """No transport configured: the email is dropped, loudly, and nothing secret is logged."""

    def send(self, message: MailMessage) -> None:
        _log.warning("mail.dropped_no_transport", **message.metadata())


class HttpMailTransport:
    """POSTs each email as JSON to one URL; a 2xx answer means it was taken."""

    def __init__(self, url: str, *, timeout: float = TRANSPORT_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the mail transport URL must be an http(s) URL with a host")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def send(self, message: MailMessage) -> None:
        body = orjson.dumps(message.to_json())
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.id}
        connection = self._connection()
        try:
            connection.request("POST", self._path, body=body, headers=headers)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            raise MailTransportError(f"mail transport unreachable: {type(exc).__name__}") from None
        finally:
            connection.close()
        if not 200 <= status < 300:
            raise MailTransportError(f"mail transport answered {status}")
        _log.info("mail.sent", status=status, **message.metadata())


def mail_transport() -> MailTransport:
    """The deployment's transport (``TRIBUTUM_MAIL__TRANSPORT_URL``)."""
    url = get_settings().mail.transport_url
    return HttpMailTransport(url) if url else NoTransport()
