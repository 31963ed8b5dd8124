"""Every kind of bad input is a 4xx problem document naming the field, and runs nothing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared.http import Page, PageQuery, RequestContext, Router
from tests.support.http import Principal, RouterClient, StaticAuthenticator

WRITER = Principal("u1", "t1", "admin", frozenset({"things:write"}))
READER = Principal("u2", "t1", "viewer", frozenset())


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount: str = Field(pattern=r"^\d+\.\d{2}$")


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1)
    count: int
    lines: list[Line] = []


class ThingQuery(PageQuery):
    kind: str | None = None


@pytest.fixture
def calls() -> list[Any]:
    return []


@pytest.fixture
def client(calls: list[Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[RouterClient]:
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("TRIBUTUM_HTTP__CORS_ALLOW_ORIGINS", '["https://app.example"]')
    from shared.config import reset_settings

    reset_settings()
    router = Router("things", authenticator=StaticAuthenticator({"w": WRITER, "r": READER}))

    @router.post("/v1/things", body=Thing, permission="things:write", status=201)
    def create(ctx: RequestContext) -> dict[str, Any]:
        calls.append(ctx.body)
        return {"name": ctx.body.name, "price": Decimal("12.30")}

    @router.get("/v1/things", query=ThingQuery, auth="public")
    def listing(ctx: RequestContext) -> Page:
        calls.append(ctx.query)
        return Page(items=[{"limit": ctx.query.limit}], next_cursor="abc")

    @router.get("/v1/things/{thing_id}", auth="public")
    def boom(ctx: RequestContext) -> None:
        calls.append(ctx.path_params)
        raise RuntimeError("secret internals")

    yield RouterClient(router)
    reset_settings()


def _problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    body = answer.json
    assert body["code"] == code
    assert body["correlation_id"] == answer.headers["X-Correlation-ID"]
    assert "Traceback" not in answer.body.decode()
    return body


GOOD = {"name": "a", "count": 1, "lines": [{"amount": "1.00"}]}


def test_a_good_request_gets_the_envelope(client: RouterClient, calls: list[Any]) -> None:
    answer = client.post("/v1/things", json=GOOD, token="w")
    assert answer.status == 201
    assert answer.data == {"name": "a", "price": "12.30"}  # Decimal as a string, never a float
    assert answer.json["meta"]["correlation_id"] == answer.headers["X-Correlation-ID"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "field"),
    [
        (
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "malformed_json",
            None,
        ),
        ({"data": b"", "headers": {"Content-Type": "application/json"}}, 400, "body_missing", None),
        (
            {"data": b"name=a", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported_media_type",
            None,
        ),
        ({"data": b'{"name":"a","count":1}'}, 415, "content_type_missing", None),
        ({"json": {**GOOD, "admin": True}}, 422, "validation_error", "admin"),
        ({"json": {**GOOD, "count": "1"}}, 422, "validation_error", "count"),
        ({"json": {"name": "a"}}, 422, "validation_error", "count"),
        (
            {"json": {**GOOD, "lines": [{"amount": "1.00"}, {"amount": 1.5}]}},
            422,
            "validation_error",
            "lines.1.amount",
        ),
        ({"json": [GOOD]}, 422, "validation_error", "body"),
    ],
)
def test_bad_bodies_are_rejected_naming_the_problem(
    client: RouterClient,
    calls: list[Any],
    kwargs: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    body = _problem(client.post("/v1/things", token="w", **kwargs), status, code)
    if field is not None:
        assert field in [e["field"] for e in body["errors"]]
    assert calls == []


def test_oversized_bodies_are_413(client: RouterClient, calls: list[Any]) -> None:
    big = {**GOOD, "name": "x" * 4096}
    _problem(client.post("/v1/things", json=big, token="w"), 413, "payload_too_large")
    assert calls == []


def test_unknown_paths_and_methods(client: RouterClient, calls: list[Any]) -> None:
    _problem(client.get("/v1/nothing"), 404, "route_not_found")
    answer = client.request("DELETE", "/v1/things")
    _problem(answer, 405, "method_not_allowed")
    assert answer.headers["Allow"] == "GET, POST"
    assert calls == []


def test_authentication_and_permission(client: RouterClient, calls: list[Any]) -> None:
    _problem(client.post("/v1/things", json=GOOD), 401, "token_invalid")
    _problem(client.post("/v1/things", json=GOOD, token="r"), 403, "forbidden")
    assert calls == []


def test_query_parameters_are_typed_and_bounded(client: RouterClient, calls: list[Any]) -> None:
    ok = client.get("/v1/things", query={"limit": "5"})
    assert ok.data == [{"limit": 5}]
    assert ok.json["meta"]["next_cursor"] == "abc"
    _problem(client.get("/v1/things", query={"limit": "500"}), 422, "validation_error")
    body = _problem(client.get("/v1/things", query={"colour": "red"}), 422, "validation_error")
    assert body["errors"][0]["field"] == "query.colour"
    assert len(calls) == 1


def test_an_unexpected_error_is_a_500_without_internals(client: RouterClient) -> None:
    body = _problem(client.get("/v1/things/42"), 500, "internal_error")
    assert "secret internals" not in str(body)
    assert "debug" not in body


def test_correlation_ids_are_echoed_or_replaced(client: RouterClient) -> None:
    mine = client.get("/v1/things", headers={"X-Correlation-ID": "req-123"})
    assert mine.headers["X-Correlation-ID"] == "req-123"
    hostile = client.get("/v1/things", headers={"X-Correlation-ID": "<script>"})
    assert hostile.headers["X-Correlation-ID"] != "<script>"


def test_cors_from_the_allow_list_only(client: RouterClient) -> None:
    allowed = client.get("/v1/things", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = client.get("/v1/things", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.request("OPTIONS", "/v1/things", headers={"Origin": "https://app.example"})
    assert preflight.status == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    denied = client.request("OPTIONS", "/v1/things", headers={"Origin": "https://evil.example"})
    _problem(denied, 403, "cors_origin_denied")


def test_openapi_is_generated_from_the_routes(client: RouterClient) -> None:
    document = client.get("/_meta/openapi.json").json
    assert document["openapi"] == "3.1.0"
    post = document["paths"]["/v1/things"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("Thing")
    assert post["security"] == [{"bearerAuth": []}]
    assert "Thing" in document["components"]["schemas"]
    params = {p["name"] for p in document["paths"]["/v1/things"]["get"]["parameters"]}
    assert {"limit", "cursor", "kind"} <= params
