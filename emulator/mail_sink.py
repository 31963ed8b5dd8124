"""A mailbox for one machine: receives the emails the send_mail function would hand to a
provider, keeps them, and shows each as it arrives.

    python -m emulator mail-sink            # http://127.0.0.1:8791, prints each email

The local stack's functions post to exactly this address (the manifest's
``mail_transport_url`` source, see emulator/runtime_contract.py), so a password reset
requested against the local stack shows its email, token included, here. Tests start a
sink on a free port with :class:`MailSink`.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SINK_HOST = "127.0.0.1"
DEFAULT_SINK_PORT = 8791
MESSAGES_PATH = "/messages"
MAILBOX_PATH = "/_mail"
REQUIRED_FIELDS = ("to", "subject", "text")
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
    server_version = "TributumMailSink/1"
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


def default_transport_url() -> str:
    """The URL the local stack's functions send email to."""
    return f"http://{SINK_HOST}:{DEFAULT_SINK_PORT}{MESSAGES_PATH}"


def describe(mail: ReceivedMail) -> str:
    """The email for the console: a header line, then its text (this is a local mailbox)."""
    message = mail.message
    header = (
        f"{mail.received_at:%H:%M:%S} to={message.get('to')} "
        f"type={message.get('type', '-')} subject={message.get('subject')!r}"
    )
    return f"{header}\n{message.get('text', '')}\n"
