"""One attempt over a real local HTTP server: answers, timeouts, redirects, the breaker."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.resilience import BreakerPolicy
from shared.webhooks.rules import RESPONSE_BODY_LIMIT, AttemptKind, Outcome
from shared.webhooks.transport import Transport
from shared.webhooks.urls import UnresolvableHostError, UrlPolicy, resolve_target

BODY = b'{"type":"payment.settled"}'
HEADERS = {"content-type": "application/json", "webhook-id": "msg_" + "1" * 32}


class Receiver(BaseHTTPRequestHandler):
    """Answers by path: /status/<n>, /redirect, /slow, /big; records what it got."""

    received: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append({"path": self.path, "host": self.headers["Host"], "body": body})
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        payload = b"y" * 5000 if self.path == "/big" else b'{"ok":true}'
        # A client that stopped reading (a timeout, a bounded read) is not an error here.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(server.server_address[1]), received
    server.shutdown()
    server.server_close()


def _policy(port: int, names: dict[str, Sequence[str]] | None = None) -> UrlPolicy:
    table = dict(names or {})

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise UnresolvableHostError("url_unresolvable", "the host name does not resolve")
        return table[host]

    allowed = {f"127.0.0.1:{port}", *(f"{name}:{port}" for name in table)}
    return UrlPolicy(allowed_private_hosts=frozenset(allowed), resolver=resolve)


def test_a_2xx_is_delivered_with_latency_and_the_answer(receiver: Any) -> None:
    port, received = receiver

    result = Transport().attempt("wh1", f"http://127.0.0.1:{port}/ok", BODY, HEADERS, _policy(port))

    assert (result.kind, result.status_code, result.outcome) == (
        AttemptKind.RESPONSE, 200, Outcome.DELIVERED,
    )  # fmt: skip
    assert result.response_body == '{"ok":true}'
    assert result.latency_ms > 0
    assert received[0]["body"] == BODY


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, Outcome.RETRIABLE), (503, Outcome.RETRIABLE), (408, Outcome.RETRIABLE),
     (429, Outcome.RETRIABLE), (400, Outcome.PERMANENT), (404, Outcome.PERMANENT),
     (410, Outcome.PERMANENT)],
)  # fmt: skip
def test_answers_are_classified(receiver: Any, status: int, outcome: Outcome) -> None:
    port, _ = receiver
    url = f"http://127.0.0.1:{port}/status/{status}"

    result = Transport().attempt("wh1", url, BODY, HEADERS, _policy(port))

    assert (result.status_code, result.outcome) == (status, outcome)


def test_a_redirect_is_not_followed(receiver: Any) -> None:
    port, received = receiver

    result = Transport().attempt(
        "wh1", f"http://127.0.0.1:{port}/redirect", BODY, HEADERS, _policy(port)
    )

    assert (result.status_code, result.outcome) == (302, Outcome.PERMANENT)
    assert [r["path"] for r in received] == ["/redirect"]


def test_a_slow_endpoint_times_out(receiver: Any) -> None:
    port, _ = receiver
    transport = Transport(timeout_seconds=0.3)

    result = transport.attempt("wh1", f"http://127.0.0.1:{port}/slow", BODY, HEADERS, _policy(port))

    assert (result.kind, result.outcome) == (AttemptKind.TIMEOUT, Outcome.RETRIABLE)
    assert result.latency_ms < 1400


def test_a_refused_connection_is_retriable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    result = Transport().attempt(
        "wh1", f"http://127.0.0.1:{closed_port}/x", BODY, HEADERS, _policy(closed_port)
    )

    assert (result.kind, result.outcome) == (AttemptKind.CONNECTION_ERROR, Outcome.RETRIABLE)


def test_only_a_kilobyte_of_the_answer_is_kept(receiver: Any) -> None:
    port, _ = receiver

    result = Transport().attempt(
        "wh1", f"http://127.0.0.1:{port}/big", BODY, HEADERS, _policy(port)
    )

    assert result.response_body == "y" * RESPONSE_BODY_LIMIT


def test_the_connection_goes_to_the_checked_address_under_the_urls_host(receiver: Any) -> None:
    port, received = receiver
    policy = _policy(port, {"hooks.test": ["127.0.0.1"]})

    result = Transport().attempt("wh1", f"http://hooks.test:{port}/ok", BODY, HEADERS, policy)

    assert result.status_code == 200
    assert received[0]["host"] == f"hooks.test:{port}"


def test_a_name_rebound_to_a_private_address_is_never_connected(receiver: Any) -> None:
    port, received = receiver
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> Sequence[str]:
        return next(answers)

    policy = UrlPolicy(resolver=rebinding)
    url = f"https://hooks.example.com:{port}/ok"
    # The name passed when the endpoint was saved; by the attempt it points inside.
    assert resolve_target(url, policy).address == "93.184.215.14"

    result = Transport().attempt("wh1", url, BODY, HEADERS, policy)

    assert (result.kind, result.outcome) == (AttemptKind.URL_REFUSED, Outcome.PERMANENT)
    assert received == []


def test_the_name_is_resolved_once_per_attempt(receiver: Any) -> None:
    port, received = receiver
    lookups: list[str] = []

    def counting(host: str, port: int) -> Sequence[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    allowed = UrlPolicy(allowed_private_hosts=frozenset({"hooks.test"}), resolver=counting)

    result = Transport().attempt("wh1", f"http://hooks.test:{port}/ok", BODY, HEADERS, allowed)

    # "hooks.test" resolves nowhere but in this resolver: the request reached the
    # receiver only because it went to the address the check resolved.
    assert result.status_code == 200
    assert lookups == ["hooks.test"]
    assert [r["host"] for r in received] == [f"hooks.test:{port}"]


def test_the_breaker_opens_per_endpoint(receiver: Any) -> None:
    port, received = receiver
    transport = Transport(
        breaker_policy=BreakerPolicy(consecutive_failures=2, cool_down_seconds=60.0)
    )
    failing = f"http://127.0.0.1:{port}/status/503"

    kinds = [transport.attempt("wh1", failing, BODY, HEADERS, _policy(port)).kind for _ in range(3)]
    other = transport.attempt("wh2", f"http://127.0.0.1:{port}/ok", BODY, HEADERS, _policy(port))

    assert kinds == [AttemptKind.RESPONSE, AttemptKind.RESPONSE, AttemptKind.CIRCUIT_OPEN]
    assert len([r for r in received if r["path"] == "/status/503"]) == 2
    assert other.outcome is Outcome.DELIVERED


def test_each_attempt_may_have_its_own_deadline(receiver: Any) -> None:
    port, _ = receiver
    transport = Transport(timeout_seconds=5.0)  # the slow lane's, say
    slow = f"http://127.0.0.1:{port}/slow"

    cut = transport.attempt("wh1", slow, BODY, HEADERS, _policy(port), timeout_seconds=0.3)
    waited = transport.attempt("wh1", slow, BODY, HEADERS, _policy(port))

    assert (cut.kind, cut.latency_ms < 1400) == (AttemptKind.TIMEOUT, True)
    assert (waited.kind, waited.status_code) == (AttemptKind.RESPONSE, 200)


def test_one_breaker_per_endpoint_whatever_the_deadline(receiver: Any) -> None:
    port, _ = receiver
    transport = Transport(
        breaker_policy=BreakerPolicy(consecutive_failures=2, cool_down_seconds=60.0)
    )
    failing = f"http://127.0.0.1:{port}/status/503"

    transport.attempt("wh1", failing, BODY, HEADERS, _policy(port), timeout_seconds=0.5)
    transport.attempt("wh1", failing, BODY, HEADERS, _policy(port), timeout_seconds=2.0)
    third = transport.attempt("wh1", failing, BODY, HEADERS, _policy(port))

    assert third.kind is AttemptKind.CIRCUIT_OPEN
