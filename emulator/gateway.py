"""The local gateway: one port in front of every HTTP function.

A threaded reverse proxy (standard library only). It routes the manifest's
public paths to the owning function and passes method, headers, body and
status through unchanged, adding ``X-Forwarded-For`` / ``-Host`` / ``-Proto``
as a load balancer would. Every answer of its own is a problem document: a 404
for an unknown path, a 405 with ``Allow`` for a method it does not route (TRACE,
CONNECT, anything invented), and whatever the HTTP server refuses before routing
(a malformed request line, oversized headers). It also serves the merged OpenAPI
document at ``/openapi.json``, try-it docs of it at ``/docs`` (Swagger UI, every asset
served here), a static page of it at ``/docs/reference``, a landing page at ``/`` and,
in a running stack, the local dashboard at ``/_dashboard`` (:mod:`emulator.dashboard`).
None of these paths is one the manifest routes.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO

from emulator import apidocs
from emulator.dashboard.api import allowed_methods as dashboard_methods
from emulator.dashboard.api import is_dashboard_path
from emulator.docs_page import render_docs
from emulator.openapi_merge import is_openapi_document, merge_documents
from emulator.routing import RouteMatch, RouteTable
from shared import errors

if TYPE_CHECKING:
    from emulator.dashboard.api import DashboardApi

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
HEALTH_PATH = "/_gateway/health"
LANDING_PATH = "/"
# The gateway's own pages (GET and HEAD); the dashboard's paths are matched apart.
OWN_PAGES = frozenset(
    {
        OPENAPI_PATH,
        DOCS_PATH,
        HEALTH_PATH,
        LANDING_PATH,
        apidocs.REFERENCE_PATH,
        apidocs.DOCS_OPENAPI_PATH,
        apidocs.FAVICON_PATH,
    }
)
FUNCTION_OPENAPI_PATH = "/_meta/openapi.json"
# The methods the gateway forwards (a function answers 405 itself if its route lacks one).
ROUTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_OWN_PAGE_METHODS = ("GET", "HEAD")
UPSTREAM_TIMEOUT_SECONDS = 120.0
OPENAPI_FETCH_TIMEOUT_SECONDS = 5.0
MAX_BODY_BYTES = 32 * 1024 * 1024
# Pending connections the kernel queues while every handler thread is busy.
LISTEN_BACKLOG = 1024
# Open client connections served at once (a thread each); more wait in the backlog.
MAX_CONNECTIONS = 256

# What Google's load balancer adds to every request it forwards.
VIA = "1.1 google"
# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BadGatewayError(errors.AppError):
    status, code, title, severity = 502, "upstream_unavailable", "Bad gateway", errors.Severity.HIGH


class GatewayTimeoutError(errors.AppError):
    status, code, title, severity = (
        504,
        "upstream_timeout",
        "Gateway timeout",
        errors.Severity.HIGH,
    )


class Gateway:
    """What the request handler needs: the route table and where functions listen."""

    def __init__(
        self,
        table: RouteTable,
        upstream_host: str = "127.0.0.1",
        access_log: TextIO | None = None,
        dashboard: DashboardApi | None = None,
    ) -> None:
        self.table = table
        self.upstream_host = upstream_host
        self.access_log = access_log
        # Only a running stack's gateway has one (it reads that stack's state and emulators).
        self.dashboard = dashboard
        self._log_lock = threading.Lock()

    def log_access(self, line: dict[str, Any]) -> None:
        if self.access_log is None:
            return
        with self._log_lock:  # one line per request, never interleaved across threads
            self.access_log.write(json.dumps(line) + "\n")
            self.access_log.flush()

    def function_documents(self) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """Each HTTP function's own OpenAPI document, fetched now (functions may restart)."""
        functions = self.table.http_functions()

        def fetch(port: int) -> dict[str, Any] | str:
            connection = http.client.HTTPConnection(
                self.upstream_host, port, timeout=OPENAPI_FETCH_TIMEOUT_SECONDS
            )
            try:
                connection.request("GET", FUNCTION_OPENAPI_PATH)
                response = connection.getresponse()
                payload = response.read()
            except OSError as exc:
                return f"not reachable ({type(exc).__name__})"
            finally:
                connection.close()
            if response.status != 200:
                return f"{FUNCTION_OPENAPI_PATH} answered {response.status}"
            try:
                document = json.loads(payload)
            except ValueError:
                return f"{FUNCTION_OPENAPI_PATH} is not JSON"
            return document if is_openapi_document(document) else "not an OpenAPI document"

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(functions)))) as pool:
            results = dict(zip(functions, pool.map(fetch, functions.values()), strict=True))
        documents = {name: r for name, r in results.items() if isinstance(r, dict)}
        unavailable = {name: r for name, r in results.items() if isinstance(r, str)}
        return documents, unavailable

    def merged_openapi(self) -> dict[str, Any]:
        documents, unavailable = self.function_documents()
        return merge_documents(documents, unavailable=unavailable)


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tributum-gateway"
    gateway: Gateway  # set on the subclass build_server() makes

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """The access log is written by _handle as JSON; silence the default stderr lines."""

    def parse_request(self) -> bool:
        """Answer a method the gateway does not route here: the standard library would
        send an HTML 501. False tells it the request has been answered."""
        if not super().parse_request():
            return False
        if self.command in ROUTED_METHODS:
            return True
        self._handle()
        return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The HTTP server's own refusals, before any routing (a malformed request line,
        headers too large, an unsupported version), as problem documents too."""
        started = time.perf_counter()
        self._body_read = False
        # Nothing says where this request ends: the connection cannot carry another.
        self.close_connection = True
        if getattr(self, "request_version", "") == "HTTP/0.9":
            # A refused request line leaves the default version, under which the status
            # line and headers would not be written at all.
            self.request_version = self.protocol_version
        path = getattr(self, "path", "").split("?", 1)[0]
        status = self._problem(errors.ProtocolError(code, explain or message), path)
        self._log_line(started, path, status, "-")

    def _handle(self) -> None:
        started = time.perf_counter()
        self._body_read = False
        path = self.path.split("?", 1)[0]
        upstream = "-"
        try:
            if self.command not in ROUTED_METHODS:
                raise self._unrouted_method(path)
            if _is_own_path(path):
                status = self._serve_own(path)
            else:
                match = self.gateway.table.match(self.command, path)
                if match is None:
                    raise errors.NotFoundError(f"no function serves {path}", code="route_not_found")
                upstream = match.route.function
                status = self._forward(match)
        except errors.AppError as exc:
            status = self._problem(exc, path)
        except (BrokenPipeError, ConnectionResetError):
            status = 499  # the client went away; nothing left to answer
            self.close_connection = True
        except Exception as exc:
            traceback.print_exc()  # into the gateway's log; the client gets a problem document
            internal = errors.InternalError(f"the gateway failed: {type(exc).__name__}")
            status = self._problem(internal, path)
        self._log_line(started, path, status, upstream)

    def _log_line(self, started: float, path: str, status: int, upstream: str) -> None:
        """One access line in Cloud Logging's shape, as the load balancer writes its own:
        ``severity``, ``message``, ``time`` and the ``httpRequest`` object."""
        elapsed = time.perf_counter() - started
        line = {
            "severity": "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO",
            "message": "gateway.request",
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "httpRequest": {
                "requestMethod": self.command or "-",
                "requestUrl": self.path if isinstance(self.path, str) else path,
                "status": status,
                "latency": f"{elapsed:.6f}s",
                "remoteIp": self.client_address[0],
                "protocol": self.request_version or "-",
                "userAgent": self.headers.get("User-Agent", "") if self.headers else "",
            },
            # Flat copies, for a person reading the local log and for filters.
            "method": self.command or "-",
            "path": path,
            "status": status,
            "function": upstream,
            "duration_ms": round(elapsed * 1000, 2),
            "logging.googleapis.com/labels": {"component": "gateway", "function": upstream},
        }
        self.gateway.log_access(line)

    def _unrouted_method(self, path: str) -> errors.AppError:
        if is_dashboard_path(path):
            return errors.MethodNotAllowedError(dashboard_methods(path))
        if _is_own_path(path):
            return errors.MethodNotAllowedError(_OWN_PAGE_METHODS)
        methods = self.gateway.table.methods_for(path)
        if not methods:
            return errors.NotFoundError(f"no function serves {path}", code="route_not_found")
        return errors.MethodNotAllowedError(sorted(methods))

    # -- the gateway's own pages ----------------------------------------------------------

    def _serve_own(self, path: str) -> int:
        if is_dashboard_path(path):
            return self._serve_dashboard(path)
        if self.command not in _OWN_PAGE_METHODS:
            raise errors.MethodNotAllowedError(_OWN_PAGE_METHODS)
        self._drain_body()
        html = "text/html; charset=utf-8"
        if path == HEALTH_PATH:
            return self._send(200, "application/json", json.dumps({"status": "ok"}).encode())
        if path == LANDING_PATH:
            dashboard = self.gateway.dashboard
            project = dashboard.project_id if dashboard is not None else None
            return self._send(200, html, apidocs.landing_page(project).encode())
        if path == DOCS_PATH:
            installed = apidocs.swagger_dir() is not None
            page = apidocs.swagger_page() if installed else apidocs.missing_swagger_page()
            return self._send(200, html, page.encode())
        if path.startswith(apidocs.DOCS_ASSETS_PREFIX) or path == apidocs.FAVICON_PATH:
            name = path.removeprefix(apidocs.DOCS_ASSETS_PREFIX)
            found = apidocs.asset("favicon.png" if path == apidocs.FAVICON_PATH else name)
            if found is None:
                raise errors.NotFoundError(f"no docs asset {name}", code="route_not_found")
            return self._send(200, found[1], found[0], {"Cache-Control": "max-age=3600"})
        document = self.gateway.merged_openapi()
        if path == OPENAPI_PATH:
            return self._send(200, "application/json", json.dumps(document, indent=2).encode())
        if path == apidocs.DOCS_OPENAPI_PATH:
            shown = apidocs.with_visible_examples(document)
            return self._send(200, "application/json", json.dumps(shown).encode())
        return self._send(200, html, render_docs(document, OPENAPI_PATH).encode())

    def _serve_dashboard(self, path: str) -> int:
        dashboard = self.gateway.dashboard
        body = self._read_body()
        if dashboard is None:
            raise errors.NotFoundError(
                "the dashboard is served by a running stack's gateway (python -m emulator up)",
                code="route_not_found",
            )
        headers = dict(self.headers.items())
        answer = dashboard.handle(self.command, self.path, headers, body)
        return self._send(answer.status, answer.content_type, answer.body)

    def _send(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if "Cache-Control" not in (headers or {}):
            self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _problem(self, error: errors.AppError, path: str) -> int:
        # headers is missing when the request line itself was refused.
        received = getattr(self, "headers", None)
        incoming = received.get("X-Correlation-ID", "") if received is not None else ""
        correlation_id = incoming if _CORRELATION_ID.match(incoming) else str(uuid.uuid4())
        document = errors.problem_document(error, correlation_id=correlation_id, instance=path)
        headers = {"X-Correlation-ID": correlation_id, **error.headers}
        if not self._body_read and self.command not in ("GET", "HEAD"):
            # An unread body would be parsed as the next request on this connection.
            self.close_connection = True
            headers["Connection"] = "close"
        body = json.dumps(document).encode()
        return self._send(error.status, errors.PROBLEM_CONTENT_TYPE, body, headers)

    # -- proxying -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        self._body_read = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise errors.BadRequestError(
                "Content-Length is not a number", code="invalid_content_length"
            ) from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise errors.PayloadTooLargeError(f"the gateway accepts at most {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise errors.BadRequestError(
                    "malformed chunked body", code="invalid_chunked_body"
                ) from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are hop-by-hop: dropped
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                self.close_connection = True
                raise errors.PayloadTooLargeError(
                    f"the gateway accepts at most {MAX_BODY_BYTES} bytes"
                )
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _drain_body(self) -> None:
        self._read_body()

    def _forward(self, match: RouteMatch) -> int:
        body = self._read_body()
        connection_tokens = {
            token.strip().lower() for token in self.headers.get("Connection", "").split(",")
        }
        skipped = _HOP_BY_HOP | connection_tokens | {"content-length", "x-forwarded-for"}
        # As Google's external Application Load Balancer does: append the client's
        # address and then its own, so functions trust the same two hops in both places.
        hops = f"{self.client_address[0]}, {self.connection.getsockname()[0]}"
        previous = ", ".join(self.headers.get_all("X-Forwarded-For") or [])
        forwarded_for = f"{previous}, {hops}" if previous else hops
        upstream = http.client.HTTPConnection(
            self.gateway.upstream_host, match.route.port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in skipped:
                    upstream.putheader(name, value)
            if "Host" not in self.headers:
                upstream.putheader("Host", f"{self.gateway.upstream_host}:{match.route.port}")
            upstream.putheader("X-Forwarded-For", forwarded_for)
            if "X-Forwarded-Host" not in self.headers and "Host" in self.headers:
                upstream.putheader("X-Forwarded-Host", self.headers["Host"])
            if "X-Forwarded-Proto" not in self.headers:
                upstream.putheader("X-Forwarded-Proto", "http")
            upstream.putheader("Via", VIA)
            if body or self.command in ("POST", "PUT", "PATCH"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            payload = response.read()
            response_headers = response.getheaders()
        except ConnectionRefusedError:
            raise BadGatewayError(
                f"function {match.route.function} is not answering on port {match.route.port}"
            ) from None
        except TimeoutError:
            raise GatewayTimeoutError(
                f"function {match.route.function} did not answer within "
                f"{UPSTREAM_TIMEOUT_SECONDS:.0f}s"
            ) from None
        except (http.client.HTTPException, OSError) as exc:
            raise BadGatewayError(
                f"function {match.route.function} broke the connection ({type(exc).__name__})"
            ) from None
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)
        upstream_tokens = {
            token.strip().lower()
            for name, value in response_headers
            if name.lower() == "connection"
            for token in value.split(",")
        }
        declared_length: str | None = None
        for name, value in response_headers:
            lowered = name.lower()
            if lowered == "content-length":
                declared_length = value
            elif lowered not in _HOP_BY_HOP and lowered not in upstream_tokens:
                self.send_header(name, value)
        if self.command == "HEAD" and declared_length is not None:
            self.send_header("Content-Length", declared_length)
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        return response.status


class GatewayServer(ThreadingHTTPServer):
    """Threads per connection, as many as :data:`MAX_CONNECTIONS`, behind a deep backlog.

    socketserver's default backlog of 5 reset connections under a modest burst; the load
    balancer it stands in for never does. Past ``MAX_CONNECTIONS`` open connections the
    accept loop waits for one to close, and new ones queue in the backlog (not threads).
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _is_own_path(path: str) -> bool:
    """The gateway's pages: none is a path of the manifest (a unit test keeps it so)."""
    return (
        path in OWN_PAGES or path.startswith(apidocs.DOCS_ASSETS_PREFIX) or is_dashboard_path(path)
    )


def build_server(gateway: Gateway, host: str, port: int) -> GatewayServer:
    handler = type("BoundGatewayHandler", (GatewayHandler,), {"gateway": gateway})
    return GatewayServer((host, port), handler)


def serve(gateway: Gateway, host: str, port: int) -> None:
    server = build_server(gateway, host, port)
    started = {
        "severity": "INFO",
        "message": "gateway.started",
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "address": f"http://{host}:{port}",
        "logging.googleapis.com/labels": {"component": "gateway"},
    }
    sys.stdout.write(json.dumps(started) + "\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
