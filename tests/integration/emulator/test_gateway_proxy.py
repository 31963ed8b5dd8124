"""The gateway proxying to stand-in upstreams on real sockets (no emulators needed)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulator.gateway import Gateway, build_server
from emulator.routing import GatewayRoute, RouteTable

UPSTREAM_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "upstream", "version": "1"},
    "paths": {"/v1/things/{thing_id}": {"get": {"summary": "A thing", "responses": {}}}},
    "components": {"schemas": {"Thing": {"type": "object"}}},
}


class Upstream(BaseHTTPRequestHandler):
    """Answers with what it received; /_meta/openapi.json with a document."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/_meta/openapi.json":
            payload = json.dumps(UPSTREAM_DOCUMENT).encode()
        else:
            payload = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body": body.decode(),
                }
            ).encode()
        self.send_response(int(self.headers.get("X-Status", "200")))
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer


ACCESS_LOG = io.StringIO()


class _DeepBacklogServer(ThreadingHTTPServer):
    # The stand-in function must not be the bottleneck (gunicorn's backlog is 2048).
    request_queue_size = 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gateway_port() -> Iterator[int]:
    upstream = _DeepBacklogServer(("127.0.0.1", 0), Upstream)
    upstream.daemon_threads = True
    upstream_port = upstream.server_address[1]
    table = RouteTable(
        [
            GatewayRoute("GET", "/v1/things/{thing_id}", "things", upstream_port),
            GatewayRoute("POST", "/v1/things", "things", upstream_port),
            GatewayRoute("GET", "/v1/gone", "gone", _free_port()),
        ]
    )
    server = build_server(Gateway(table, access_log=ACCESS_LOG), "127.0.0.1", 0)
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        for s in (upstream, server)
    ]
    for thread in threads:
        thread.start()
    yield server.server_address[1]
    for s in (server, upstream):
        s.shutdown()
        s.server_close()


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        connection.close()


def test_request_and_response_pass_through(gateway_port: int) -> None:
    status, headers, body = _request(
        gateway_port,
        "POST",
        "/v1/things?x=1",
        body=b'{"a": 1}',
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer t",
            "Idempotency-Key": "k-1",
            "X-Correlation-ID": "c-1",
            "X-Status": "202",
        },
    )
    assert status == 202
    assert headers["X-Upstream"] == "yes"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    echoed = json.loads(body)
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/v1/things?x=1"
    assert echoed["body"] == '{"a": 1}'
    received = {k.lower(): v for k, v in echoed["headers"]}
    assert received["authorization"] == "Bearer t"
    assert received["idempotency-key"] == "k-1"
    assert received["x-correlation-id"] == "c-1"
    # "<client>, <load balancer>", as Google's load balancer appends them.
    assert received["x-forwarded-for"] == "127.0.0.1, 127.0.0.1"
    assert received["via"] == "1.1 google"
    assert received["x-forwarded-host"] == f"127.0.0.1:{gateway_port}"
    assert received["content-length"] == "8"


def test_hop_by_hop_headers_stay_behind(gateway_port: int) -> None:
    _, _, body = _request(
        gateway_port,
        "GET",
        "/v1/things/t-1",
        headers={"Connection": "close, X-Private", "X-Private": "secret", "TE": "trailers"},
    )
    received = {k.lower() for k, _ in json.loads(body)["headers"]}
    assert {"connection", "x-private", "te"}.isdisjoint(received)


def test_a_chunked_request_body_is_forwarded_whole(gateway_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/things",
            body=iter([b"hello ", b"world"]),
            encode_chunked=True,
            headers={"Transfer-Encoding": "chunked"},
        )
        echoed = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert echoed["body"] == "hello world"


def test_head_keeps_the_upstream_length_and_sends_no_body(gateway_port: int) -> None:
    status, headers, body = _request(gateway_port, "HEAD", "/v1/things/t-1")
    assert status == 200
    assert body == b""
    _, _, get_body = _request(gateway_port, "GET", "/v1/things/t-1")
    # The upstream's own declared length ("HEAD" is one letter longer than "GET" in its echo).
    assert headers["Content-Length"] == str(len(get_body) + 1)


def test_unknown_path_is_a_problem_document(gateway_port: int) -> None:
    status, headers, body = _request(gateway_port, "GET", "/v1/nothing/here")
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == "route_not_found"
    assert problem["status"] == 404
    assert headers["X-Correlation-ID"] == problem["correlation_id"]


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("TRACE", "/v1/things/t-1", 405, "GET"),
        ("TRACE", "/v1/things", 405, "POST"),
        ("CONNECT", "/v1/things/t-1", 405, "GET"),
        ("BREW", "/v1/things/t-1", 405, "GET"),
        ("TRACE", "/openapi.json", 405, "GET, HEAD"),
        ("TRACE", "/v1/nothing/here", 404, None),
    ],
)
def test_a_method_the_gateway_does_not_route_is_a_problem_document(
    gateway_port: int, method: str, path: str, status: int, allow: str | None
) -> None:
    answered, headers, body = _request(gateway_port, method, path)
    assert answered == status
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["code"] == ("method_not_allowed" if allow else "route_not_found")
    assert headers["Allow"] == allow


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split(" ")[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /v1/things/t-1 HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GET /v1/things/t-1 HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_what_the_http_server_refuses_before_routing_is_a_problem_document(
    gateway_port: int, request_bytes: bytes, status: int
) -> None:
    answered, headers, body = _raw_exchange(gateway_port, request_bytes)
    assert answered == status
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Connection"] == "close"
    problem = json.loads(body)
    assert problem["status"] == status
    assert headers["X-Correlation-ID"] == problem["correlation_id"]


def test_an_unread_body_closes_the_connection(gateway_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=10)
    try:
        connection.request("POST", "/v1/nothing", body=b"x" * 100)
        response = connection.getresponse()
        response.read()
        assert response.status == 404
        assert response.getheader("Connection") == "close"
    finally:
        connection.close()


def test_a_function_that_is_down_is_a_502(gateway_port: int) -> None:
    status, _, body = _request(gateway_port, "GET", "/v1/gone")
    assert status == 502
    problem = json.loads(body)
    assert problem["code"] == "upstream_unavailable"
    assert "gone" in problem["detail"]


def test_keep_alive_serves_several_requests_on_one_connection(gateway_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=10)
    try:
        for index in range(3):
            connection.request("GET", f"/v1/things/t-{index}")
            response = connection.getresponse()
            assert json.loads(response.read())["path"] == f"/v1/things/t-{index}"
    finally:
        connection.close()


def test_openapi_docs_and_health(gateway_port: int) -> None:
    status, _, body = _request(gateway_port, "GET", "/openapi.json")
    assert status == 200
    document = json.loads(body)
    assert "/v1/things/{thing_id}" in document["paths"]
    # The function on the closed port is named, not silently dropped.
    assert set(document["x-tributum-unavailable"]) == {"gone"}
    status, headers, page = _request(gateway_port, "GET", "/docs/reference")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"/v1/things/{thing_id}" in page
    status, _, body = _request(gateway_port, "GET", "/_gateway/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, headers, _ = _request(gateway_port, "POST", "/openapi.json", body=b"")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_one_access_line_per_request(gateway_port: int) -> None:
    _request(gateway_port, "GET", "/v1/things/logged")

    def logged_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in ACCESS_LOG.getvalue().splitlines()]
        return [line for line in lines if line["path"] == "/v1/things/logged"]

    # The line is written just after the response is sent: allow the handler to finish.
    deadline = time.monotonic() + 5
    while not logged_lines() and time.monotonic() < deadline:
        time.sleep(0.01)
    logged = logged_lines()
    assert len(logged) == 1
    assert logged[0]["function"] == "things"
    assert logged[0]["status"] == 200
    assert logged[0]["method"] == "GET"


def test_sixty_four_keep_alive_clients_at_once_are_all_served(gateway_port: int) -> None:
    clients, requests_each = 64, 5
    start = threading.Barrier(clients)
    statuses: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", gateway_port, timeout=60)
        try:
            start.wait()
            for n in range(requests_each):
                connection.request("GET", f"/v1/things/burst-{n}")  # one kept-alive socket
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)
        except BaseException as exc:
            with lock:
                failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []  # no connection reset, no refused connection
    assert statuses == [200] * (clients * requests_each)


def test_the_access_line_has_cloud_loggings_shape(gateway_port: int) -> None:
    _request(gateway_port, "GET", "/v1/things/shaped", headers={"User-Agent": "probe/1"})

    def shaped() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in ACCESS_LOG.getvalue().splitlines()]
        return [line for line in lines if line["path"] == "/v1/things/shaped"]

    deadline = time.monotonic() + 5
    while not shaped() and time.monotonic() < deadline:
        time.sleep(0.01)
    [line] = shaped()
    assert (line["severity"], line["message"]) == ("INFO", "gateway.request")
    request = line["httpRequest"]
    assert (request["requestMethod"], request["requestUrl"], request["status"]) == (
        "GET",
        "/v1/things/shaped",
        200,
    )
    assert request["userAgent"] == "probe/1"
    assert request["latency"].endswith("s") and request["remoteIp"] == "127.0.0.1"
    assert line["logging.googleapis.com/labels"] == {"component": "gateway", "function": "things"}


def test_the_try_it_docs_and_the_landing_page_are_served_from_the_gateway(
    gateway_port: int,
) -> None:
    status, headers, page = _request(gateway_port, "GET", "/docs")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"http://" not in page and b"https://" not in page
    for asset in (b"/docs/assets/swagger-ui-bundle.js", b"/docs/assets/swagger-ui.css"):
        assert asset in page
        status, headers, body = _request(gateway_port, "GET", asset.decode())
        assert status == 200 and body
        assert headers["Cache-Control"] == "max-age=3600"
    status, _, body = _request(gateway_port, "GET", "/docs/openapi.json")
    assert status == 200
    assert "/v1/things/{thing_id}" in json.loads(body)["paths"]
    status, _, body = _request(gateway_port, "GET", "/docs/assets/nothing.js")
    assert (status, json.loads(body)["code"]) == (404, "route_not_found")
    status, headers, page = _request(gateway_port, "GET", "/")
    assert status == 200 and b'href="/_dashboard"' in page
    status, headers, _ = _request(gateway_port, "POST", "/docs", body=b"")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")


def test_without_a_stack_the_dashboard_is_a_404_problem(gateway_port: int) -> None:
    """A gateway built without a dashboard (as here) refuses its paths as problems."""
    for method, path in (("GET", "/_dashboard"), ("POST", "/_dashboard/api/schedules/t/run")):
        status, headers, body = _request(gateway_port, method, path, body=b"{}")
        assert status == 404
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["code"] == "route_not_found"
    status, headers, _ = _request(gateway_port, "TRACE", "/_dashboard/api/functions")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")
