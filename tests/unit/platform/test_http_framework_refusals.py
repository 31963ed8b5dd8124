"""What werkzeug and functions-framework refuse before the router runs is a problem document too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import functions_framework
import orjson
import pytest
from functions_framework import _function_registry

from shared.config import reset_settings
from shared.http import RequestContext, Router
from tests.unit.platform.support import LogCapture

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def framework(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """functions-framework loading a function as a fresh instance would."""
    for name in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRIBUTUM_ENV", "local")
    monkeypatch.setenv("TRIBUTUM_SECRETS__LOCAL_DIR", str(tmp_path / "secrets"))
    monkeypatch.setattr(_function_registry, "REGISTRY_MAP", {})
    reset_settings()
    yield
    reset_settings()


def _client(function: str) -> Any:
    source = REPO_ROOT / "functions" / function / "main.py"
    return functions_framework.create_app("handle", str(source), "http").test_client()


def _problem(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json", response.data
    document: dict[str, Any] = orjson.loads(response.data)
    assert document["status"] == response.status_code
    return document


@pytest.mark.parametrize(
    "path", ["/v1/accounts/%0Ae/entries", "/v1/accounts/%0A/entries", "/robots.txt"]
)
def test_a_path_werkzeug_cannot_route_is_a_404_problem(
    framework: None, logs: LogCapture, path: str
) -> None:
    response = _client("journal").get(path, headers={"X-Correlation-ID": "corr-404"})
    document = _problem(response)
    assert (document["status"], document["code"]) == (404, "route_not_found")
    assert document["correlation_id"] == response.headers["X-Correlation-ID"] == "corr-404"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    (line,) = logs.messages("http.request")
    assert (line["status"], line["route"], line["severity"]) == (404, "unmatched", "INFO")


def test_werkzeugs_405_is_a_problem_with_allow(logs: LogCapture) -> None:
    router = Router("things")

    @router.get("/v1/things", auth="public")
    def list_things(ctx: RequestContext) -> list[str]:
        return []

    app = flask.Flask("things")
    with app.app_context():
        handle = router.handler  # what a function's module does at import
    app.add_url_rule("/v1/things", "things", lambda: handle(flask.request), methods=["GET"])
    response = app.test_client().delete("/v1/things")
    document = _problem(response)
    assert (document["status"], document["code"]) == (405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}


def test_a_crash_outside_the_router_is_a_500_problem_still_marked_as_a_crash(
    framework: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client("journal")
    # Settings load on the first request, before the router's own error handling: a
    # value that does not validate escapes to functions-framework's handler for 500.
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTES", "plenty")
    reset_settings()
    response = client.get("/v1/journal-entries/e-1", headers={"X-Correlation-ID": "corr-500"})
    document = _problem(response)
    assert (document["status"], document["code"]) == (500, "internal_error")
    assert document["correlation_id"] == response.headers["X-Correlation-ID"] == "corr-500"
    assert "plenty" not in response.get_data(as_text=True)
    assert response.headers["X-Google-Status"] == "crash"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
