"""A webhook receiver for one machine: records every delivery and shows it.

It verifies nothing (that is the receiver's job, see shared/webhooks/README.md): it
keeps each request as it came, answers 200, and can be told to fail the next N
deliveries with a status of choice, to watch retries happen.

    python -m emulator webhook-sink            # http://127.0.0.1:8790, prints each delivery

The local stack allows its functions to reach exactly this address (the manifest's
``webhook_private_hosts`` source, see emulator/runtime_contract.py); create an
endpoint with the URL ``http://127.0.0.1:8790/<any path>``. Tests start a sink on a
free port with :class:`WebhookSink`.

Control routes, under ``/_sink`` (never recorded):

* ``GET /_sink/deliveries``: every recorded delivery, oldest first;
* ``DELETE /_sink/deliveries``: forget them;
* ``POST /_sink/fail-next`` with ``{"count": N, "status": 503}``: answer the next N
  deliveries with that status (503 when left out).
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
DEFAULT_SINK_PORT = 8790
CONTROL_PREFIX = "/_sink"
_MAX_BODY = 1_048_576


@dataclass(frozen=True, slots=True)
class ReceivedDelivery:
    """One request as the sink received it, with what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    answered: int

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "received_at": self.received_at.isoformat(),
            "answered": self.answered,
        }


@dataclass
class _SinkState:
    deliveries: list[ReceivedDelivery] = field(default_factory=list)
    fail_remaining: int = 0
    fail_status: int = 503
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_delivery: Callable[[ReceivedDelivery], None] | None = None


class _Handler(BaseHTTPRequestHandler):
    server_version = "TributumWebhookSink/1"
    state: _SinkState  # set on the subclass each sink makes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sink reports deliveries through ``on_delivery`` instead."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def _answer(self, status: int, document: Any = None) -> None:
        payload = json.dumps(document).encode() if document is not None else b""
        # A sender that gave up (its deadline passed) is no error of the sink's.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def _control(self, method: str, body: bytes) -> None:
        state = self.state
        if self.path == f"{CONTROL_PREFIX}/deliveries" and method == "GET":
            with state.lock:
                listed = [d.to_json() for d in state.deliveries]
            self._answer(200, listed)
        elif self.path == f"{CONTROL_PREFIX}/deliveries" and method == "DELETE":
            with state.lock:
                state.deliveries.clear()
            self._answer(204)
        elif self.path == f"{CONTROL_PREFIX}/fail-next" and method == "POST":
            try:
                switch = json.loads(body or b"{}")
                count, status = int(switch.get("count", 1)), int(switch.get("status", 503))
            except (ValueError, TypeError, AttributeError):
                self._answer(400, {"error": 'send {"count": N, "status": S}'})
                return
            with state.lock:
                state.fail_remaining, state.fail_status = max(0, count), status
            self._answer(200, {"count": count, "status": status})
        else:
            self._answer(404, {"error": "unknown control route"})

    def _receive(self, method: str) -> None:
        body = self._body()
        if self.path.startswith(CONTROL_PREFIX):
            self._control(method, body)
            return
        state = self.state
        with state.lock:
            status = 200
            if state.fail_remaining > 0:
                state.fail_remaining -= 1
                status = state.fail_status
            delivery = ReceivedDelivery(
                method=method,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                received_at=datetime.now(UTC),
                answered=status,
            )
            state.deliveries.append(delivery)
        if state.on_delivery is not None:
            state.on_delivery(delivery)
        self._answer(status, {"received": status < 300})

    def do_POST(self) -> None:
        self._receive("POST")

    def do_GET(self) -> None:
        self._receive("GET")

    def do_DELETE(self) -> None:
        self._receive("DELETE")


class WebhookSink:
    """The sink as an object: start it (port 0 picks a free one), read what it got."""

    def __init__(
        self,
        host: str = SINK_HOST,
        port: int = DEFAULT_SINK_PORT,
        *,
        on_delivery: Callable[[ReceivedDelivery], None] | None = None,
    ) -> None:
        self._state = _SinkState(on_delivery=on_delivery)
        handler = type("SinkHandler", (_Handler,), {"state": self._state})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hooks") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def deliveries(self) -> list[ReceivedDelivery]:
        with self._state.lock:
            return list(self._state.deliveries)

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._state.lock:
            self._state.fail_remaining, self._state.fail_status = count, status

    def clear(self) -> None:
        with self._state.lock:
            self._state.deliveries.clear()

    def start(self) -> WebhookSink:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook-sink", daemon=True
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

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(delivery: ReceivedDelivery) -> str:
    """One line per delivery for the console: when, what, under which id, answered how."""
    event_type = "-"
    with contextlib.suppress(ValueError, AttributeError):
        event_type = str(json.loads(delivery.body).get("type", "-"))
    return (
        f"{delivery.received_at:%H:%M:%S} {delivery.method} {delivery.path} "
        f"type={event_type} webhook-id={delivery.webhook_id or '-'} "
        f"signature={'yes' if delivery.headers.get('webhook-signature') else 'no'} "
        f"-> {delivery.answered}"
    )
