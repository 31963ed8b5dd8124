"""A mailbox for one machine: receives the emails the send_mail function would hand to a
provider, keeps them, and shows each as it arrives.

    python -m emulator mail-sink            # http://127.0.0.1:8791, prints each email

The local stack's functions post to exactly this address (the manifest's
``mail_transport_url`` source, see emulator/runtime_contract.py), and ``up`` runs a sink
there as one of the stack's parts (or uses the one already answering there), so a
password reset requested against the local stack lands, token included, in its mailbox.
:class:`Mailbox` reads that mailbox over HTTP (the seed and the e2e tests wait for their
emails with it); tests without a stack start a sink of their own on a free port with
:class:`MailSink`.

Routes:

* ``POST /messages``: one email, ``{"id", "type", "to", "subject", "text"}`` as
  ``shared.users.mail`` sends it; 202, or 400 for anything else;
* ``GET /_mail``: every email received, oldest first;
* ``DELETE /_mail``: forget them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SINK_HOST = "127.0.0.1"
DEFAULT_SINK_PORT = 8791
MESSAGES_PATH = "/messages"
MAILBOX_PATH = "/_mail"
REQUIRED_FIELDS = ("to", "subject", "text")
SERVER_NAME = "TributumMailSink"
_MAX_BODY = 262_144


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    message: dict[str, Any]
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {**self.message, "received_at": self.received_at.isoformat()}


@dataclass
class _Mailbox:
    received: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_mail: Callable[[ReceivedMail], None] | None = None


def _readable(body: bytes) -> dict[str, Any] | None:
    """The email in ``body`` if it is a JSON object with the required text fields."""
    try:
        message = json.loads(body or b"null")
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if not all(isinstance(message.get(name), str) for name in REQUIRED_FIELDS):
        return None
    return message


class _Handler(BaseHTTPRequestHandler):
    server_version = f"{SERVER_NAME}/1"
    mailbox: _Mailbox  # set on the subclass each sink makes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sink reports emails through ``on_mail`` instead."""

    def _answer(self, status: int, document: Any = None) -> None:
        payload = json.dumps(document).encode() if document is not None else b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""
        if self.path != MESSAGES_PATH:
            self._answer(404, {"error": f"post emails to {MESSAGES_PATH}"})
            return
        message = _readable(body)
        if message is None:
            fields = ", ".join(REQUIRED_FIELDS)
            self._answer(400, {"error": f"send a JSON object with string fields {fields}"})
            return
        mail = ReceivedMail(message=message, received_at=datetime.now(UTC))
        with self.mailbox.lock:
            self.mailbox.received.append(mail)
        if self.mailbox.on_mail is not None:
            self.mailbox.on_mail(mail)
        self._answer(202, {"accepted": True})

    def do_GET(self) -> None:
        if self.path != MAILBOX_PATH:
            self._answer(404, {"error": f"the mailbox is at {MAILBOX_PATH}"})
            return
        with self.mailbox.lock:
            listed = [mail.to_json() for mail in self.mailbox.received]
        self._answer(200, listed)

    def do_DELETE(self) -> None:
        if self.path != MAILBOX_PATH:
            self._answer(404, {"error": f"the mailbox is at {MAILBOX_PATH}"})
            return
        with self.mailbox.lock:
            self.mailbox.received.clear()
        self._answer(204)


class MailSink:
    """The sink as an object: start it (port 0 picks a free one), read what it got."""

    def __init__(
        self,
        host: str = SINK_HOST,
        port: int = DEFAULT_SINK_PORT,
        *,
        on_mail: Callable[[ReceivedMail], None] | None = None,
    ) -> None:
        self._mailbox = _Mailbox(on_mail=on_mail)
        handler = type("MailSinkHandler", (_Handler,), {"mailbox": self._mailbox})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = MESSAGES_PATH) -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def received(self) -> list[ReceivedMail]:
        with self._mailbox.lock:
            return list(self._mailbox.received)

    def start(self) -> MailSink:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="mail-sink", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def mailbox(self) -> Mailbox:
        """This sink's mailbox, read over HTTP as any other sink's."""
        return Mailbox(self.url(MAILBOX_PATH))


def default_transport_url() -> str:
    """The URL the local stack's functions send email to."""
    return f"http://{SINK_HOST}:{DEFAULT_SINK_PORT}{MESSAGES_PATH}"


def mailbox_url(host: str = SINK_HOST, port: int = DEFAULT_SINK_PORT) -> str:
    """Where a sink lists what it received (the stack's sink by default)."""
    return f"http://{host}:{port}{MAILBOX_PATH}"


def answers_as_mail_sink(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a mail sink (this module's server) answers there: its mailbox lists."""
    try:
        with urllib.request.urlopen(mailbox_url(host, port), timeout=timeout) as response:
            server = response.headers.get("Server", "")
            listed = json.loads(response.read() or b"null")
    except (OSError, ValueError):
        return False
    return server.startswith(f"{SERVER_NAME}/") and isinstance(listed, list)


def addressed_to(
    messages: Iterable[dict[str, Any]], recipient: str, mail_type: str | None = None
) -> list[dict[str, Any]]:
    """The emails to ``recipient`` (of ``mail_type``, the event type, when given)."""
    return [
        message
        for message in messages
        if message.get("to") == recipient
        and (mail_type is None or message.get("type") == mail_type)
    ]


class MailNotReceivedError(TimeoutError):
    """No matching email reached the mailbox in time."""


class Mailbox:
    """A running sink's mailbox, read over HTTP (``GET /_mail``).

    The stack's sink keeps every email since it started, so a reader that expects a new
    email takes a :meth:`mark` before the action that sends it and waits ``after`` it::

        mailbox = Mailbox()
        seen = mailbox.mark()
        ...  # invite someone
        invitation = mailbox.wait_for("grace@example.com", after=seen)
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or mailbox_url()

    def messages(self) -> list[dict[str, Any]]:
        """Every email the sink holds, oldest first (each with its ``received_at``)."""
        with urllib.request.urlopen(self.url, timeout=10) as response:
            listed = json.loads(response.read() or b"[]")
        if not isinstance(listed, list):
            raise ValueError(f"{self.url} did not answer with a list of emails")
        return [m for m in listed if isinstance(m, dict)]

    def received(self) -> list[ReceivedMail]:
        """The emails as the sink keeps them (for :func:`describe`)."""
        mails = []
        for message in self.messages():
            fields = dict(message)
            stamp = fields.pop("received_at", None)
            try:
                moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
            except ValueError:
                moment = None
            mails.append(ReceivedMail(message=fields, received_at=moment or datetime.now(UTC)))
        return mails

    def mark(self) -> int:
        """How many emails the mailbox holds now: pass it as ``after`` to skip them."""
        return len(self.messages())

    def wait_for(
        self,
        recipient: str,
        *,
        mail_type: str | None = None,
        after: int = 0,
        timeout: float = 90.0,
        poll: float = 0.3,
    ) -> dict[str, Any]:
        """The newest email to ``recipient`` received after the first ``after`` ones.

        A mailbox that holds fewer than ``after`` emails was emptied meanwhile
        (``DELETE /_mail``): then every email in it is new.
        """
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError):  # a sink still starting
                messages = self.messages()
                fresh = messages[after:] if len(messages) >= after else messages
                found = addressed_to(fresh, recipient, mail_type)
                if found:
                    return found[-1]
            if time.monotonic() > deadline:
                kind = f" of type {mail_type}" if mail_type else ""
                raise MailNotReceivedError(
                    f"no email{kind} to {recipient} reached the mail sink at {self.url} "
                    f"within {timeout:.0f}s"
                )
            time.sleep(poll)


def describe(mail: ReceivedMail) -> str:
    """The email for the console: a header line, then its text (this is a local mailbox)."""
    message = mail.message
    header = (
        f"{mail.received_at:%H:%M:%S} to={message.get('to')} "
        f"type={message.get('type', '-')} subject={message.get('subject')!r}"
    )
    return f"{header}\n{message.get('text', '')}\n"
