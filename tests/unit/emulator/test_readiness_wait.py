"""Waiting for readiness retries "not yet" answers until a deadline, and no others."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulator.readiness import NotReadyError, wait_until_ready


class _Scripted(ThreadingHTTPServer):
    """Answers ``GET /ready`` with the scripted statuses, then repeats the last one."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.answered = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/ready"


class _Handler(BaseHTTPRequestHandler):
    server: _Scripted

    def do_GET(self) -> None:
        scripted = self.server
        status = scripted.statuses[min(scripted.answered, len(scripted.statuses) - 1)]
        scripted.answered += 1
        body = f'{{"answer": {scripted.answered}}}'.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


Serve = Callable[[list[int]], _Scripted]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[_Scripted] = []

    def start(statuses: list[int]) -> _Scripted:
        server = _Scripted(statuses)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_503s_while_starting_are_waited_out(serve: Serve) -> None:
    server = serve([503, 502, 503, 200])
    wait_until_ready(server.url, timeout=30, interval=0.01)
    assert server.answered == 4


def test_a_route_that_stays_not_ready_fails_at_the_deadline_with_its_last_answer(
    serve: Serve,
) -> None:
    server = serve([503])
    with pytest.raises(NotReadyError, match=r"not ready within 0.3s; last answer 503: .*answer"):
        wait_until_ready(server.url, timeout=0.3, interval=0.05)
    assert server.answered > 1


def test_an_answer_waiting_does_not_mend_fails_at_once(serve: Serve) -> None:
    server = serve([404, 200])
    with pytest.raises(NotReadyError, match="answered 404"):
        wait_until_ready(server.url, timeout=30, interval=0.01)
    assert server.answered == 1


def test_nothing_listening_is_retried_until_the_deadline() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(NotReadyError, match="last answer nothing"):
        wait_until_ready(
            f"http://127.0.0.1:{port}/ready",
            timeout=2.0,
            interval=0.5,
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert sleeps == [0.5, 0.5, 0.5, 0.5]  # probes at 0, 0.5, 1, 1.5 and 2 s
