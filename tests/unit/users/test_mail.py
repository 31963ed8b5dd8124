"""Emails and their transports: the sink gets the whole email, logs never see its token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulator.mail_sink import MailSink
from shared.config import ConfigError, Settings
from shared.users.mail import (
    HttpMailTransport,
    MailMessage,
    MailTransportError,
    NoTransport,
    mail_transport,
    password_reset_message,
)
from shared.users.requests import PasswordResetMail
from tests.support.cloud import set_cloud_values

TOKEN = "q0Zr4mN8xT1vB6yHc2KdLw9PjS5fGa3eUoRiXnYtVbE"


def _message() -> MailMessage:
    mail = PasswordResetMail(
        recipient="ada@example.com",
        user_id="u1",
        token=TOKEN,
        expires_at=datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    )
    return password_reset_message("event-1", "user.password_reset_requested", mail)


def test_the_email_carries_the_token_and_its_metadata_does_not() -> None:
    message = _message()

    assert TOKEN in message.text
    assert "2026-03-01 12:30 UTC" in message.text
    metadata = message.metadata()
    assert metadata == {
        "mail_id": "event-1",
        "mail_type": "user.password_reset_requested",
        "user_id": "u1",
        "recipient_domain": "example.com",
    }


def test_without_a_transport_the_email_is_dropped_with_a_warning_and_no_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    NoTransport().send(_message())

    out = capsys.readouterr()
    logged = out.out + out.err
    assert "mail.dropped_no_transport" in logged
    assert "warning" in logged.lower()
    assert TOKEN not in logged and "ada@example.com" not in logged


def test_the_http_transport_posts_the_email_with_its_id_as_idempotency_key() -> None:
    with MailSink(port=0) as sink:
        HttpMailTransport(sink.url()).send(_message())

        (mail,) = sink.received
    assert mail.message["to"] == "ada@example.com"
    assert mail.message["id"] == "event-1"
    assert TOKEN in mail.message["text"]


def test_a_refusing_or_absent_transport_raises_without_the_content() -> None:
    with MailSink(port=0) as sink:
        wrong_path = HttpMailTransport(sink.url("/elsewhere"))
        with pytest.raises(MailTransportError) as refused:
            wrong_path.send(_message())
        port = sink.port
    assert str(refused.value) == "mail transport answered 404"
    with pytest.raises(MailTransportError) as unreachable:
        HttpMailTransport(f"http://127.0.0.1:{port}/messages", timeout=2).send(_message())
    assert TOKEN not in str(unreachable.value)


def test_the_transport_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.config import reset_settings

    monkeypatch.setenv("TRIBUTUM_MAIL__TRANSPORT_URL", "")
    reset_settings()
    assert isinstance(mail_transport(), NoTransport)
    monkeypatch.setenv("TRIBUTUM_MAIL__TRANSPORT_URL", "http://127.0.0.1:8791/messages")
    reset_settings()
    assert isinstance(mail_transport(), HttpMailTransport)
    reset_settings()


def test_the_cloud_refuses_a_plain_http_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTUM_ENV", "cloud")
    set_cloud_values(monkeypatch)
    monkeypatch.setenv("TRIBUTUM_MAIL__TRANSPORT_URL", "http://mail.internal/messages")

    with pytest.raises(ConfigError, match="MAIL__TRANSPORT_URL must be https"):
        Settings().check_consistency()


def test_the_mail_sink_lists_what_it_received_and_refuses_what_is_no_email() -> None:
    import requests

    with MailSink(port=0) as sink:
        HttpMailTransport(sink.url()).send(_message())
        malformed = requests.post(sink.url(), json={"to": "x@example.com"}, timeout=5)
        listed = requests.get(sink.url("/_mail"), timeout=5).json()
        cleared = requests.delete(sink.url("/_mail"), timeout=5)
        after = requests.get(sink.url("/_mail"), timeout=5).json()

    assert malformed.status_code == 400
    assert [m["to"] for m in listed] == ["ada@example.com"]
    assert listed[0]["subject"] == "Reset your Tributum password" and "received_at" in listed[0]
    assert (cleared.status_code, after) == (204, [])


def test_the_cli_runs_the_sink_where_the_local_stack_sends_email() -> None:
    from emulator.__main__ import build_parser
    from emulator.mail_sink import DEFAULT_SINK_PORT, SINK_HOST
    from emulator.runtime_contract import deployment_environment
    from shared.topology import load_manifest

    args = build_parser().parse_args(["mail-sink"])
    manifest = load_manifest()
    urls = {
        deployment_environment(manifest, fn, project_id="demo-x")["TRIBUTUM_MAIL__TRANSPORT_URL"]
        for fn in manifest.functions
    }

    assert (args.host, args.port) == (SINK_HOST, DEFAULT_SINK_PORT) == ("127.0.0.1", 8791)
    assert urls == {f"http://{SINK_HOST}:{DEFAULT_SINK_PORT}/messages"}


def test_invitation_and_verification_emails_carry_their_token_and_route() -> None:
    from shared.identity import Role
    from shared.users.mail import invitation_message, verification_message
    from shared.users.requests import InvitationMail, VerificationMail

    expires = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    invitation = invitation_message(
        "event-2",
        "user.invited",
        InvitationMail(
            recipient="grace@example.com",
            invitation_id="i1",
            user_id="u2",
            tenant_name="Analytical Engines Ltd",
            role=Role.ACCOUNTANT,
            token=TOKEN,
            expires_at=expires,
        ),
    )
    verification = verification_message(
        "event-3",
        "user.email_verification_requested",
        VerificationMail(
            recipient="ada@example.com", user_id="u1", token=TOKEN, expires_at=expires
        ),
    )

    assert TOKEN in invitation.text and "/v1/users/invitations/accept" in invitation.text
    assert "Analytical Engines Ltd" in invitation.subject and "accountant" in invitation.text
    assert TOKEN in verification.text and "/v1/auth/verify-email" in verification.text
    assert (invitation.to, verification.to) == ("grace@example.com", "ada@example.com")
    for message in (invitation, verification):
        assert TOKEN not in str(message.metadata())
