"""Helpers for the platform tests: a WSGI client around a Router and captured log lines."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from werkzeug.test import Client, EnvironBuilder, TestResponse, run_wsgi_app
from werkzeug.wrappers import Request, Response

from shared import logger as shared_logger
from shared.http import Router


@dataclass
class LogCapture:
    """The shared logger's JSON output, written to memory instead of stdout."""

    stream: io.BytesIO = field(default_factory=io.BytesIO)

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def messages(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("message") == message]

    def text(self) -> str:
        return self.stream.getvalue().decode("utf-8")


@contextmanager
def preserved_logging() -> Iterator[None]:
    """Put structlog's configuration back as it was, whatever the test configured."""
    saved = structlog.get_config()
    was_configured = shared_logger._configured
    try:
        yield
    finally:
        structlog.configure(**saved)
        shared_logger._configured = was_configured
        structlog.contextvars.clear_contextvars()


def capture_json_logs(
    *, project_id: str = "demo-project", function_name: str = "unit-fn", level: str = "DEBUG"
) -> LogCapture:
    capture = LogCapture()
    shared_logger.configure_logging(
        project_id=project_id,
        function_name=function_name,
        level=level,
        fmt="json",
        stream=capture.stream,
    )
    return capture


class RouterClient:
    """Calls ``router.handler`` exactly as functions-framework does: one werkzeug Request."""

    def __init__(self, router: Router) -> None:
        self.router = router

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            return router.handler(Request(environ))(environ, start_response)

        self.app = app
        self.client = Client(app)

    def open(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        return self.client.open(path, method=method, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("GET", path, **kwargs)

    def post_json(
        self, path: str, document: Any, headers: dict[str, str] | None = None
    ) -> TestResponse:
        return self.open(
            "POST",
            path,
            data=orjson.dumps(document),
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def post_raw(
        self, path: str, data: bytes, content_type: str | None = "application/json"
    ) -> TestResponse:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        return self.open("POST", path, data=data, headers=headers)

    def post_unframed(self, path: str, data: bytes) -> Response:
        """A body with no Content-Length, as a chunked request reaches the app through
        gunicorn: the server marks the input as terminated and the app reads to its end."""
        builder = EnvironBuilder(
            path=path,
            method="POST",
            input_stream=io.BytesIO(data),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        environ = builder.get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        return self.call(environ)

    def post_with_declared_length(self, path: str, data: bytes, declared: int) -> Response:
        builder = EnvironBuilder(
            path=path,
            method="POST",
            input_stream=io.BytesIO(data),
            headers={"Content-Type": "application/json"},
        )
        environ = builder.get_environ()
        environ["CONTENT_LENGTH"] = str(declared)
        return self.call(environ)

    def call(self, environ: dict[str, Any]) -> Response:
        """Run the app on this exact environ (the test client would rebuild it)."""
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        return Response(app_iter, status=status, headers=headers)


def problem(response: Response) -> dict[str, Any]:
    """The RFC 9457 document of an error response (and proof that it is one)."""
    assert response.headers["Content-Type"] == "application/problem+json", response.get_data()
    document: dict[str, Any] = orjson.loads(response.get_data())
    assert document["status"] == response.status_code
    return document


def envelope(response: Response) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json", response.get_data()
    document: dict[str, Any] = orjson.loads(response.get_data())
    return document


def field_errors(document: dict[str, Any]) -> dict[str, str]:
    """``{field: code}`` of a validation problem."""
    return {error["field"]: error["code"] for error in document.get("errors", [])}
