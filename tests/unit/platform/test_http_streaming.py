"""shared.http.Stream: a handler's body sent piece by piece, with the router's headers,
access log, problem documents before the first piece, and its OpenAPI media types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.wrappers import Request

from shared import errors
from shared.http import RequestContext, Router, Stream, Streamed
from shared.http._headers import SECURITY_HEADERS
from tests.unit.platform.support import LogCapture, RouterClient, problem


@pytest.fixture
def produced() -> list[str]:
    """What the streamed handlers produced so far, in order."""
    return []


@pytest.fixture
def router(produced: list[str]) -> Router:
    router = Router("unit")

    def rows() -> Iterator[str | bytes]:
        for n in range(3):
            produced.append(f"row {n}")
            yield f"row,{n}\r\n" if n % 2 else f"row,{n}\r\n".encode()

    @router.get(
        "/v1/export",
        auth="public",
        response=Streamed({"text/csv": "rows", "application/x-ndjson": "objects"}),
    )
    def export(ctx: RequestContext) -> Stream:
        return Stream(rows(), "text/csv; charset=utf-8", filename="rows 2026.csv")

    def refused() -> Iterator[bytes]:
        raise errors.NotFoundError("no such account", code="account_not_found")
        yield b""  # pragma: no cover - makes this a generator

    @router.get("/v1/refused", auth="public", response=Streamed({"text/csv": "rows"}))
    def refuse(ctx: RequestContext) -> Stream:
        return Stream(refused(), "text/csv")

    def breaks() -> Iterator[bytes]:
        yield b"header\r\n"
        raise RuntimeError("the database went away")

    @router.get("/v1/breaks", auth="public", response=Streamed({"text/csv": "rows"}))
    def broken(ctx: RequestContext) -> Stream:
        return Stream(breaks(), "text/csv")

    return router


def test_a_stream_is_sent_as_produced_with_the_routers_headers_and_access_log(
    router: Router, produced: list[str], logs: LogCapture
) -> None:
    client = RouterClient(router)
    app_iter, status, headers = _run(client, "/v1/export")

    # The first piece is produced before the answer starts; the rest as it is sent.
    assert status.startswith("200")
    assert produced == ["row 0"]
    assert next(app_iter) == b"row,0\r\n"
    assert list(app_iter) == [b"row,1\r\n", b"row,2\r\n"]
    assert produced == ["row 0", "row 1", "row 2"]

    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="rows2026.csv"'
    assert headers["Cache-Control"] == "no-store"
    assert "Content-Length" not in headers
    assert headers["X-Correlation-ID"]
    for name, value in SECURITY_HEADERS:
        if name != "Cache-Control":
            assert headers[name] == value
    [access] = logs.messages("http.request")
    assert (access["status"], access["route"]) == (200, "/v1/export")


def test_a_refusal_before_the_first_piece_is_a_problem_document(router: Router) -> None:
    response = RouterClient(router).get("/v1/refused")

    assert response.status_code == 404
    assert problem(response)["code"] == "account_not_found"


def test_a_failure_after_the_first_piece_breaks_the_transfer_and_is_logged(
    router: Router, logs: LogCapture
) -> None:
    app_iter, status, _ = _run(RouterClient(router), "/v1/breaks")

    assert status.startswith("200")
    assert next(app_iter) == b"header\r\n"
    with pytest.raises(RuntimeError):
        next(app_iter)
    assert logs.messages("http.stream_failed")


def test_the_openapi_document_names_the_media_types_of_a_stream(router: Router) -> None:
    operation = router.openapi()["paths"]["/v1/export"]["get"]

    content = operation["responses"]["200"]["content"]
    assert set(content) == {"text/csv", "application/x-ndjson"}
    assert content["text/csv"]["schema"] == {"type": "string", "description": "rows"}


def test_a_streamed_route_names_a_media_type() -> None:
    with pytest.raises(ValueError, match="media type"):
        Streamed({})


def _run(client: RouterClient, path: str) -> tuple[Iterator[bytes], str, dict[str, str]]:
    """The app's answer before its body is read (the test client would read it all)."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, method="GET").get_environ()
    captured: dict[str, object] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> None:
        captured["status"], captured["headers"] = status, dict(headers)

    respond: Any = start_response
    body = client.router.handler(Request(environ))(environ, respond)
    return iter(body), str(captured["status"]), dict(captured["headers"])  # type: ignore[call-overload]
