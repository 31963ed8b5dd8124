"""shared.http.Router: routing, decoding, validation, envelopes, problems, headers, auth.

Every request goes through ``router.handler`` as functions-framework calls it. Each
rejection also checks that the route's handler never ran.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared import errors
from shared.http import Authenticator, Page, PageQuery, Reply, RequestContext, Router
from shared.http._headers import SECURITY_HEADERS
from tests.unit.platform.support import (
    LogCapture,
    RouterClient,
    envelope,
    field_errors,
    problem,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str
    amount: str


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(max_length=200)
    amount: str
    count: int
    lines: list[Line] = Field(default_factory=list)


class EntryOut(BaseModel):
    entry_id: str
    amount: Decimal


class ListQuery(PageQuery):
    status: str | None = None
    min_count: int = Field(default=0, ge=0)


class ThingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thing_id: int = Field(ge=1)


@dataclass
class Calls:
    """What the handlers received; a rejected request leaves it empty."""

    seen: list[RequestContext] = field(default_factory=list)

    def __call__(self, ctx: RequestContext) -> None:
        self.seen.append(ctx)

    @property
    def count(self) -> int:
        return len(self.seen)


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    permissions: frozenset[str]


class HeaderAuthenticator(Authenticator):
    """Accepts ``X-Test-Key: good`` (all permissions) or ``reader`` (read only)."""

    def authenticate(self, ctx: RequestContext) -> Principal:
        key = ctx.headers.get("X-Test-Key")
        if key == "good":
            return Principal("u-1", "t-1", frozenset({"things:read", "things:write"}))
        if key == "reader":
            return Principal("u-2", "t-1", frozenset({"things:read"}))
        raise errors.UnauthorizedError("missing or unknown test key", code="token_invalid")

    def authorize(self, principal: Any, permission: str) -> None:
        if permission not in principal.permissions:
            raise errors.ForbiddenError(
                f"missing permission {permission}", code="permission_denied"
            )


def build_router(calls: Calls, authenticator: Authenticator | None = None) -> Router:
    router = Router("things", authenticator=authenticator)

    @router.post("/v1/entries", auth="public", body=EntryIn, response=EntryOut, status=201)
    def create_entry(ctx: RequestContext) -> EntryOut:
        calls(ctx)
        return EntryOut(entry_id="e-1", amount=Decimal(ctx.body.amount))

    @router.get("/v1/entries", auth="public", query=ListQuery, response=[EntryOut])
    def list_entries(ctx: RequestContext) -> Page:
        calls(ctx)
        return Page(items=[{"entry_id": "e-1"}], next_cursor="next-1", meta={"total": 1})

    @router.get("/v1/entries/summary", auth="public")
    def entries_summary(ctx: RequestContext) -> dict[str, Any]:
        calls(ctx)
        return {"route": "static", "total": Decimal("10.50"), "ratio": Decimal("0.3333")}

    @router.get("/v1/entries/{entry_id}", auth="public")
    def get_entry(ctx: RequestContext) -> dict[str, Any]:
        calls(ctx)
        return {"route": "templated", "entry_id": ctx.path_params["entry_id"]}

    @router.get("/v1/things/{thing_id}", auth="public", params=ThingParams)
    def get_thing(ctx: RequestContext) -> dict[str, Any]:
        calls(ctx)
        return {"thing_id": ctx.params.thing_id}

    @router.delete("/v1/things/{thing_id}", auth="public", status=204)
    def delete_thing(ctx: RequestContext) -> None:
        calls(ctx)

    @router.post("/v1/replies", auth="public")
    def custom_reply(ctx: RequestContext) -> Reply:
        calls(ctx)
        return Reply(
            {"accepted": True},
            status=202,
            headers={"Location": "/v1/replies/r-1"},
            meta={"queued": True},
        )

    @router.get("/v1/boom", auth="public")
    def boom(ctx: RequestContext) -> None:
        calls(ctx)
        raise RuntimeError("database password is hunter2")

    @router.get("/v1/conflict", auth="public")
    def conflict(ctx: RequestContext) -> None:
        calls(ctx)
        raise errors.ConflictError("account is closed", code="account_closed")

    @router.get("/v1/secure", permission="things:read")
    def secure_read(ctx: RequestContext) -> dict[str, Any]:
        calls(ctx)
        return {"tenant": ctx.tenant_id}

    @router.post("/v1/secure", permission="things:write", body=EntryIn)
    def secure_write(ctx: RequestContext) -> dict[str, Any]:
        calls(ctx)
        return {"tenant": ctx.tenant_id}

    return router


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def client(calls: Calls, logs: LogCapture) -> RouterClient:
    return RouterClient(build_router(calls, HeaderAuthenticator()))


VALID_ENTRY = {
    "description": "coffee",
    "amount": "12.30",
    "count": 3,
    "lines": [{"account_id": "a-1", "amount": "12.30"}],
}


# -- routing ----------------------------------------------------------------------------------


def test_static_route(client: RouterClient, calls: Calls) -> None:
    response = client.get("/v1/entries/summary")
    assert response.status_code == 200
    assert envelope(response)["data"]["route"] == "static"
    assert calls.count == 1


def test_templated_route_and_its_path_parameter(client: RouterClient, calls: Calls) -> None:
    response = client.get("/v1/entries/e-42")
    assert envelope(response)["data"] == {"route": "templated", "entry_id": "e-42"}
    assert calls.seen[0].path_params == {"entry_id": "e-42"}


def test_a_trailing_slash_reaches_the_same_route(client: RouterClient) -> None:
    assert envelope(client.get("/v1/entries/summary/"))["data"]["route"] == "static"


def test_unknown_path_is_404(client: RouterClient, calls: Calls) -> None:
    document = problem(client.get("/v1/nothing-here"))
    assert (document["status"], document["code"]) == (404, "route_not_found")
    assert document["instance"] == "/v1/nothing-here"
    assert calls.count == 0


def test_a_path_deeper_than_any_template_is_404(client: RouterClient, calls: Calls) -> None:
    assert client.get("/v1/entries/e-1/extra").status_code == 404
    assert calls.count == 0


@pytest.mark.parametrize(
    "raw",
    ["__x__", "__main__", "%2e%2e", ".", "%0Ae", "a%00b", "%1b%5b31m", "x" * 257],
)
def test_a_path_parameter_that_names_no_document_is_404_before_any_io(
    client: RouterClient, calls: Calls, raw: str
) -> None:
    # Firestore refuses reserved ids (__x__), "." and ".." with an error: no such value
    # may reach a handler, whatever the route.
    document = problem(client.get(f"/v1/entries/{raw}"))
    assert (document["status"], document["code"]) == (404, "route_not_found")
    assert calls.count == 0


def test_ids_with_dots_dashes_and_underscores_still_route(client: RouterClient) -> None:
    for usable in ("e-1", "acc_06H3P93ZAFKYMGHNN06V90BYWW", "CA-QC", "a.b", "__x", "x__"):
        assert client.get(f"/v1/entries/{usable}").status_code == 200, usable


def test_wrong_method_is_405_with_allow(client: RouterClient, calls: Calls) -> None:
    response = client.open("PUT", "/v1/entries")
    document = problem(response)
    assert (document["status"], document["code"]) == (405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, POST"
    assert calls.count == 0


def test_typed_path_parameter(client: RouterClient, calls: Calls) -> None:
    assert envelope(client.get("/v1/things/7"))["data"] == {"thing_id": 7}
    for bad, code in (("seven", "wrong_type"), ("0", "out_of_range")):
        document = problem(client.get(f"/v1/things/{bad}"))
        assert document["status"] == 422
        assert field_errors(document) == {"path.thing_id": code}
    assert calls.count == 1


# -- request bodies -----------------------------------------------------------------------------


def test_a_valid_body_reaches_the_handler_as_a_model(client: RouterClient, calls: Calls) -> None:
    response = client.post_json("/v1/entries", VALID_ENTRY)
    assert response.status_code == 201
    assert envelope(response)["data"] == {"entry_id": "e-1", "amount": "12.30"}
    (ctx,) = calls.seen
    assert isinstance(ctx.body, EntryIn)
    assert ctx.body.lines == [Line(account_id="a-1", amount="12.30")]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"amount": }', b"not json", b'{"amount": "1"', b"\xff\xfe", b"[" * 5000, b"NaN"],
)
def test_malformed_json_is_400(client: RouterClient, calls: Calls, raw: bytes) -> None:
    document = problem(client.post_raw("/v1/entries", raw))
    assert (document["status"], document["code"]) == (400, "malformed_json")
    assert calls.count == 0


def test_empty_body_is_400(client: RouterClient, calls: Calls) -> None:
    document = problem(client.post_raw("/v1/entries", b""))
    assert (document["status"], document["code"]) == (400, "body_missing")
    assert calls.count == 0


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_422(
    client: RouterClient, calls: Calls, raw: bytes
) -> None:
    document = problem(client.post_raw("/v1/entries", raw))
    assert document["status"] == 422
    assert field_errors(document) == {"body": "wrong_type"}
    assert calls.count == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_wrong_content_type_is_415(client: RouterClient, calls: Calls, content_type: str) -> None:
    document = problem(client.post_raw("/v1/entries", orjson.dumps(VALID_ENTRY), content_type))
    assert (document["status"], document["code"]) == (415, "unsupported_media_type")
    assert calls.count == 0


def test_missing_content_type_is_415(client: RouterClient, calls: Calls) -> None:
    document = problem(client.post_raw("/v1/entries", orjson.dumps(VALID_ENTRY), None))
    assert (document["status"], document["code"]) == (415, "content_type_missing")
    assert calls.count == 0


def test_a_json_content_type_with_a_non_utf8_charset_is_415(
    client: RouterClient, calls: Calls
) -> None:
    raw = orjson.dumps(VALID_ENTRY)
    assert (
        problem(client.post_raw("/v1/entries", raw, "application/json; charset=latin-1"))["status"]
        == 415
    )
    assert client.post_raw("/v1/entries", raw, "application/json; charset=utf-8").status_code == 201
    assert client.post_raw("/v1/entries", raw, "application/merge-patch+json").status_code == 201
    assert calls.count == 2


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("TRIBUTUM_HTTP__MAX_BODY_BYTES", "1024")
    return 1024


def _body_of_size(size: int) -> bytes:
    padding = size - len(orjson.dumps({**VALID_ENTRY, "description": ""}))
    raw = orjson.dumps({**VALID_ENTRY, "description": "x" * padding})
    assert len(raw) == size
    return raw


def test_a_body_at_the_limit_is_read(client: RouterClient, calls: Calls, small_limit: int) -> None:
    # The description's max_length refuses it, which proves the body was read and parsed.
    document = problem(client.post_raw("/v1/entries", _body_of_size(small_limit)))
    assert field_errors(document) == {"description": "too_long"}
    assert calls.count == 0


def test_a_declared_oversized_body_is_413(
    client: RouterClient, calls: Calls, small_limit: int
) -> None:
    document = problem(client.post_raw("/v1/entries", _body_of_size(small_limit + 1)))
    assert (document["status"], document["code"]) == (413, "payload_too_large")
    assert document["max_bytes"] == small_limit
    assert calls.count == 0


def test_a_huge_declared_length_is_refused_before_reading(
    client: RouterClient, calls: Calls, small_limit: int
) -> None:
    response = client.post_with_declared_length("/v1/entries", b"{}", declared=10**9)
    assert problem(response)["status"] == 413
    assert calls.count == 0


def test_an_unframed_oversized_body_is_413(
    client: RouterClient, calls: Calls, small_limit: int
) -> None:
    response = client.post_unframed("/v1/entries", _body_of_size(50 * small_limit))
    document = problem(response)
    assert (document["status"], document["code"]) == (413, "payload_too_large")
    assert calls.count == 0


def test_an_unframed_body_within_the_limit_is_accepted(
    client: RouterClient, calls: Calls, small_limit: int
) -> None:
    assert client.post_unframed("/v1/entries", orjson.dumps(VALID_ENTRY)).status_code == 201
    assert calls.count == 1


def test_bytes_past_a_lying_content_length_never_reach_the_handler(
    client: RouterClient, calls: Calls, small_limit: int
) -> None:
    raw = _body_of_size(20 * small_limit)
    response = client.post_with_declared_length("/v1/entries", raw, declared=10)
    assert problem(response)["code"] == "malformed_json"
    assert calls.count == 0


def test_unknown_field_is_422(client: RouterClient, calls: Calls) -> None:
    document = problem(client.post_json("/v1/entries", {**VALID_ENTRY, "currency": "EUR"}))
    assert document["status"] == 422
    assert document["errors"] == [
        {"field": "currency", "message": "unknown field", "code": "unknown_field"}
    ]
    assert calls.count == 0


def test_wrong_types_are_422_naming_each_field(client: RouterClient, calls: Calls) -> None:
    document = problem(
        client.post_json("/v1/entries", {**VALID_ENTRY, "amount": 12.5, "count": "3"})
    )
    assert document["status"] == 422
    assert field_errors(document) == {"amount": "wrong_type", "count": "wrong_type"}
    assert calls.count == 0


@pytest.mark.parametrize("amount", [12, True, None, {"value": "1"}, ["1"]])
def test_a_string_field_takes_only_strings(client: RouterClient, calls: Calls, amount: Any) -> None:
    document = problem(client.post_json("/v1/entries", {**VALID_ENTRY, "amount": amount}))
    assert field_errors(document) == {"amount": "wrong_type"}
    assert calls.count == 0


@pytest.mark.parametrize("count", [3.5, "3", True, 1e300])
def test_an_int_field_takes_only_integers(client: RouterClient, calls: Calls, count: Any) -> None:
    document = problem(client.post_json("/v1/entries", {**VALID_ENTRY, "count": count}))
    assert field_errors(document) == {"count": "wrong_type"}
    assert calls.count == 0


@pytest.mark.parametrize("count", [3.0, 3e0, -0.0])
def test_an_int_field_takes_an_integral_json_number_as_that_integer(
    client: RouterClient, calls: Calls, count: float
) -> None:
    # JSON Schema's "integer" (what the OpenAPI document says) counts 3.0 as 3.
    lines = [{"account_id": "a-1", "amount": "1.00"}, {"account_id": "a-2", "amount": "2.00"}]
    response = client.post_json("/v1/entries", {**VALID_ENTRY, "count": count, "lines": lines})
    assert response.status_code == 201, response.data
    (ctx,) = calls.seen
    assert ctx.body.count == int(count)
    assert type(ctx.body.count) is int
    assert ctx.body.lines == [Line(account_id="a-1", amount="1.00"), Line(**lines[1])]


def test_missing_fields_are_422(client: RouterClient, calls: Calls) -> None:
    document = problem(client.post_json("/v1/entries", {"description": "x"}))
    assert field_errors(document) == {"amount": "missing", "count": "missing"}
    assert calls.count == 0


def test_nested_field_paths(client: RouterClient, calls: Calls) -> None:
    lines = [
        {"account_id": "a-1", "amount": "1.00"},
        {"account_id": "a-2", "amount": 1},
        {"amount": "1.00", "memo": "x"},
    ]
    document = problem(client.post_json("/v1/entries", {**VALID_ENTRY, "lines": lines}))
    assert field_errors(document) == {
        "lines.1.amount": "wrong_type",
        "lines.2.account_id": "missing",
        "lines.2.memo": "unknown_field",
    }
    assert calls.count == 0


def test_a_route_without_a_body_model_refuses_a_body(client: RouterClient, calls: Calls) -> None:
    document = problem(client.post_json("/v1/replies", {"anything": 1}))
    assert (document["status"], document["code"]) == (400, "body_not_allowed")
    assert calls.count == 0


def test_a_route_must_refuse_unknown_body_fields_even_if_its_model_forgot_to() -> None:
    class Lenient(BaseModel):  # extra="ignore", pydantic's default
        amount: str

    calls = Calls()
    router = Router("lenient")

    @router.post("/v1/lenient", auth="public", body=Lenient)
    def lenient(ctx: RequestContext) -> dict[str, str]:
        calls(ctx)
        return {"ok": "yes"}

    response = RouterClient(router).post_json("/v1/lenient", {"amount": "1", "amuont": "2"})
    assert response.status_code == 422
    assert calls.count == 0


# -- query parameters -----------------------------------------------------------------------------


def test_query_parameters_are_typed(client: RouterClient, calls: Calls) -> None:
    response = client.get(
        "/v1/entries", query_string={"limit": "5", "min_count": "2", "status": "posted"}
    )
    assert response.status_code == 200
    query = calls.seen[0].query
    assert isinstance(query, ListQuery)
    assert (query.limit, query.min_count, query.status, query.cursor) == (5, 2, "posted", None)


def test_query_defaults(client: RouterClient, calls: Calls) -> None:
    client.get("/v1/entries")
    assert calls.seen[0].query.limit == 50


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"limit": "0"}, {"query.limit": "out_of_range"}),
        ({"limit": "101"}, {"query.limit": "out_of_range"}),
        ({"limit": "ten"}, {"query.limit": "wrong_type"}),
        ({"limit": "1.5"}, {"query.limit": "wrong_type"}),
        ({"limit": ""}, {"query.limit": "wrong_type"}),
        ({"min_count": "-1"}, {"query.min_count": "out_of_range"}),
        ({"sort": "asc"}, {"query.sort": "unknown_field"}),
        ({"cursor": "c" * 2049}, {"query.cursor": "too_long"}),
    ],
)
def test_bad_query_parameters_are_422(
    client: RouterClient, calls: Calls, query: dict[str, str], expected: dict[str, str]
) -> None:
    document = problem(client.get("/v1/entries", query_string=query))
    assert document["status"] == 422
    assert field_errors(document) == expected
    assert calls.count == 0


def test_a_route_without_a_query_model_refuses_query_parameters(
    client: RouterClient, calls: Calls
) -> None:
    document = problem(client.get("/v1/entries/summary?verbose=1"))
    assert field_errors(document) == {"query.verbose": "unknown_field"}
    assert calls.count == 0


class TagQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(default_factory=list)
    status: Literal["listed", "delisted"] | None = None


def _tag_router(calls: Calls) -> RouterClient:
    router = Router("tags")

    @router.get("/v1/tagged", auth="public", query=TagQuery)
    def tagged(ctx: RequestContext) -> dict[str, Any]:
        calls(ctx)
        return ctx.query.model_dump()

    return RouterClient(router)


def test_a_list_query_parameter_collects_every_value(calls: Calls, logs: LogCapture) -> None:
    response = _tag_router(calls).get("/v1/tagged?tags=a&tags=b")
    assert envelope(response)["data"] == {"tags": ["a", "b"], "status": None}


def test_a_scalar_query_parameter_given_twice_takes_the_last(
    client: RouterClient, calls: Calls
) -> None:
    client.get("/v1/entries?limit=5&limit=7")
    assert calls.seen[0].query.limit == 7


def test_a_scalar_whose_type_mentions_list_is_still_a_scalar(
    calls: Calls, logs: LogCapture
) -> None:
    response = _tag_router(calls).get("/v1/tagged?status=listed")
    assert response.status_code == 200
    assert calls.seen[0].query.status == "listed"


# -- responses ---------------------------------------------------------------------------------


def test_success_envelope(client: RouterClient) -> None:
    response = client.get("/v1/entries/summary", headers={"X-Correlation-ID": "corr-123"})
    assert envelope(response) == {
        "data": {"route": "static", "total": "10.50", "ratio": "0.3333"},
        "meta": {"correlation_id": "corr-123"},
    }


def test_decimals_are_encoded_as_strings_never_floats(client: RouterClient) -> None:
    response = client.get("/v1/entries/summary")
    assert b'"total":"10.50"' in response.get_data()
    created = client.post_json("/v1/entries", VALID_ENTRY)
    assert b'"amount":"12.30"' in created.get_data()


def test_a_page_adds_the_next_cursor(client: RouterClient) -> None:
    document = envelope(client.get("/v1/entries", headers={"X-Correlation-ID": "c-1"}))
    assert document == {
        "data": [{"entry_id": "e-1"}],
        "meta": {"correlation_id": "c-1", "next_cursor": "next-1", "total": 1},
    }


def test_reply_sets_status_headers_and_meta(client: RouterClient) -> None:
    response = client.open("POST", "/v1/replies")
    assert response.status_code == 202
    assert response.headers["Location"] == "/v1/replies/r-1"
    document = envelope(response)
    assert document["data"] == {"accepted": True}
    assert document["meta"]["queued"] is True
    assert "correlation_id" in document["meta"]


def test_no_content(client: RouterClient, calls: Calls) -> None:
    response = client.open("DELETE", "/v1/things/3")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["X-Correlation-ID"]
    assert calls.count == 1


def test_an_app_error_from_the_handler_is_its_problem(client: RouterClient) -> None:
    document = problem(client.get("/v1/conflict"))
    assert (document["status"], document["code"], document["detail"]) == (
        409,
        "account_closed",
        "account is closed",
    )


# -- correlation, headers, CORS ----------------------------------------------------------------


@pytest.mark.parametrize("incoming", ["corr-123", "a" * 128, "req:42.7_x"])
def test_a_valid_correlation_id_is_kept(client: RouterClient, incoming: str) -> None:
    response = client.get("/v1/entries/summary", headers={"X-Correlation-ID": incoming})
    assert response.headers["X-Correlation-ID"] == incoming
    assert envelope(response)["meta"]["correlation_id"] == incoming


@pytest.mark.parametrize(
    "incoming", ["", "has space", "a" * 129, "semi;colon", "ünïcode", "<script>"]
)
def test_an_invalid_correlation_id_is_replaced(client: RouterClient, incoming: str) -> None:
    response = client.get("/v1/entries/summary", headers={"X-Correlation-ID": incoming})
    replaced = response.headers["X-Correlation-ID"]
    assert replaced != incoming
    assert uuid.UUID(replaced)
    assert envelope(response)["meta"]["correlation_id"] == replaced


def test_a_correlation_id_with_a_trailing_newline_is_replaced(client: RouterClient) -> None:
    response = client.get(
        "/v1/entries/summary", environ_overrides={"HTTP_X_CORRELATION_ID": "corr-1\n"}
    )
    assert response.status_code == 200
    assert uuid.UUID(response.headers["X-Correlation-ID"])


def test_the_correlation_id_is_generated_when_absent(client: RouterClient) -> None:
    response = client.get("/v1/entries/summary")
    assert uuid.UUID(response.headers["X-Correlation-ID"])


def test_errors_carry_the_correlation_id_too(client: RouterClient) -> None:
    response = client.get("/v1/nothing", headers={"X-Correlation-ID": "corr-err"})
    assert response.headers["X-Correlation-ID"] == "corr-err"
    assert problem(response)["correlation_id"] == "corr-err"


@pytest.mark.parametrize("path", ["/v1/entries/summary", "/v1/nothing", "/v1/boom"])
def test_security_headers_on_success_and_error(client: RouterClient, path: str) -> None:
    response = client.get(path)
    for name, value in SECURITY_HEADERS:
        assert response.headers[name] == value, name
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def cors_client(monkeypatch: pytest.MonkeyPatch, calls: Calls, logs: LogCapture) -> RouterClient:
    monkeypatch.setenv("TRIBUTUM_HTTP__CORS_ALLOW_ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("TRIBUTUM_HTTP__CORS_MAX_AGE_SECONDS", "120")
    return RouterClient(build_router(calls, HeaderAuthenticator()))


def test_cors_for_an_allowed_origin(cors_client: RouterClient) -> None:
    for path in ("/v1/entries/summary", "/v1/nothing"):
        response = cors_client.get(path, headers={"Origin": "https://app.example"})
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert response.headers["Vary"] == "Origin"
        assert "X-Correlation-ID" in response.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.evil", "null"])
def test_no_cors_headers_for_another_origin(cors_client: RouterClient, origin: str) -> None:
    response = cors_client.get("/v1/entries/summary", headers={"Origin": origin})
    assert response.status_code == 200
    assert not [name for name, _ in response.headers.items() if name.startswith("Access-Control-")]


def test_no_cors_without_configuration(client: RouterClient) -> None:
    response = client.get("/v1/entries/summary", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_allowed(cors_client: RouterClient, calls: Calls) -> None:
    response = cors_client.open(
        "OPTIONS",
        "/v1/entries",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS, POST"
    assert "Idempotency-Key" in response.headers["Access-Control-Allow-Headers"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Max-Age"] == "120"
    assert response.headers["Vary"] == "Origin"
    assert calls.count == 0


def test_preflight_of_a_token_route_needs_no_credentials(cors_client: RouterClient) -> None:
    response = cors_client.open(
        "OPTIONS",
        "/v1/secure",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204


def test_preflight_denied(cors_client: RouterClient, calls: Calls) -> None:
    response = cors_client.open(
        "OPTIONS",
        "/v1/entries",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    document = problem(response)
    assert (document["status"], document["code"]) == (403, "cors_origin_denied")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert calls.count == 0


def test_preflight_of_an_unknown_path_is_404(cors_client: RouterClient) -> None:
    response = cors_client.open("OPTIONS", "/v1/nothing", headers={"Origin": "https://app.example"})
    assert response.status_code == 404


# -- unexpected failures -----------------------------------------------------------------------


def test_an_unexpected_exception_is_a_bare_500(client: RouterClient, logs: LogCapture) -> None:
    response = client.get("/v1/boom", headers={"X-Correlation-ID": "corr-500"})
    document = problem(response)
    assert (document["status"], document["code"]) == (500, "internal_error")
    assert document["correlation_id"] == "corr-500"
    body = response.get_data(as_text=True)
    for leak in ("RuntimeError", "hunter2", "Traceback", "password", "router.py"):
        assert leak not in body
    assert "debug" not in document
    # The traceback goes to the log, under the same correlation id.
    (logged,) = logs.messages("http.unhandled_exception")
    assert logged["severity"] == "ERROR"
    assert logged["correlation_id"] == "corr-500"
    assert "RuntimeError" in logged["exception"]


def test_debug_errors_add_the_exception_locally(
    monkeypatch: pytest.MonkeyPatch, calls: Calls, logs: LogCapture
) -> None:
    monkeypatch.setenv("TRIBUTUM_FEATURES__DEBUG_ERRORS", "true")
    client = RouterClient(build_router(calls))
    document = problem(client.get("/v1/boom"))
    assert document["status"] == 500
    assert document["debug"] == {
        "exception": "RuntimeError",
        "message": "database password is hunter2",
    }


# -- access log -----------------------------------------------------------------------------------


def test_one_access_log_line_per_request(client: RouterClient, logs: LogCapture) -> None:
    client.get("/v1/entries/summary", headers={"X-Correlation-ID": "c-ok"})
    client.post_raw("/v1/entries", b"{", "application/json")
    client.get("/v1/nothing")
    client.get("/v1/boom")
    lines = logs.messages("http.request")
    assert [line["status"] for line in lines] == [200, 400, 404, 500]
    assert [line["method"] for line in lines] == ["GET", "POST", "GET", "GET"]
    assert [line["path"] for line in lines] == [
        "/v1/entries/summary",
        "/v1/entries",
        "/v1/nothing",
        "/v1/boom",
    ]
    for line in lines:
        assert isinstance(line["duration_ms"], int | float)
        assert line["duration_ms"] >= 0
        assert line["service"] == "things"
        assert line["correlation_id"]
    assert lines[0]["correlation_id"] == "c-ok"
    assert lines[0]["route"] == "/v1/entries/summary"


def test_the_access_log_line_of_a_5xx_is_an_error(client: RouterClient, logs: LogCapture) -> None:
    client.get("/v1/entries/summary")
    client.post_raw("/v1/entries", b"{", "application/json")
    client.get("/v1/nothing")
    client.get("/v1/boom")
    severities = {line["status"]: line["severity"] for line in logs.messages("http.request")}
    assert severities == {200: "INFO", 400: "INFO", 404: "INFO", 500: "ERROR"}


def test_the_access_log_carries_the_trace(client: RouterClient, logs: LogCapture) -> None:
    client.get("/v1/entries/summary", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    (line,) = logs.messages("http.request")
    assert line["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert line["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"


def test_the_access_log_names_the_route_of_a_rejected_request(
    client: RouterClient, logs: LogCapture
) -> None:
    client.post_raw("/v1/entries", b"{")
    client.get("/v1/entries/e-9", query_string={"bogus": "1"})
    assert [line["route"] for line in logs.messages("http.request")] == [
        "/v1/entries",
        "/v1/entries/{entry_id}",
    ]


def test_client_errors_are_logged_quietly_and_ours_loudly(
    client: RouterClient, logs: LogCapture
) -> None:
    client.get("/v1/nothing")
    client.get("/v1/secure")
    (not_found, unauthorized) = logs.messages("http.error")
    assert (not_found["severity"], not_found["code"]) == ("INFO", "route_not_found")
    assert (unauthorized["severity"], unauthorized["code"]) == ("WARNING", "token_invalid")


# -- authentication and authorization ----------------------------------------------------------


def test_a_token_route_with_credentials(
    client: RouterClient, calls: Calls, logs: LogCapture
) -> None:
    response = client.get("/v1/secure", headers={"X-Test-Key": "reader"})
    assert envelope(response)["data"] == {"tenant": "t-1"}
    assert calls.seen[0].principal.user_id == "u-2"
    (line,) = logs.messages("http.request")
    assert (line["tenant_id"], line["user_id"]) == ("t-1", "u-2")


def test_authentication_failure_is_401(client: RouterClient, calls: Calls) -> None:
    for headers in ({}, {"X-Test-Key": "forged"}):
        response = client.get("/v1/secure", headers=headers)
        document = problem(response)
        assert (document["status"], document["code"]) == (401, "token_invalid")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="tributum"'
    assert calls.count == 0


def test_authentication_comes_before_reading_the_body(client: RouterClient, calls: Calls) -> None:
    assert problem(client.post_raw("/v1/secure", b"{"))["status"] == 401
    assert calls.count == 0


def test_authorization_failure_is_403(client: RouterClient, calls: Calls) -> None:
    response = client.post_json("/v1/secure", VALID_ENTRY, headers={"X-Test-Key": "reader"})
    document = problem(response)
    assert (document["status"], document["code"]) == (403, "permission_denied")
    assert calls.count == 0
    allowed = client.post_json("/v1/secure", VALID_ENTRY, headers={"X-Test-Key": "good"})
    assert allowed.status_code == 200
    assert calls.count == 1


def test_a_token_route_without_an_authenticator_is_not_reachable_anonymously(
    calls: Calls, logs: LogCapture
) -> None:
    client = RouterClient(build_router(calls, authenticator=None))
    response = client.get("/v1/secure")
    document = problem(response)
    # 503 while no identity module is deployed with the function; 401 once one is.
    assert document["status"] in (401, 503)
    assert document["code"] in ("auth_unavailable", "token_missing", "token_invalid")
    assert calls.count == 0
    # Public routes of the same router still answer.
    assert client.get("/v1/entries/summary").status_code == 200


def test_tenant_id_needs_a_principal() -> None:
    router = Router("anon")
    seen: list[BaseException] = []

    @router.get("/v1/anon", auth="public")
    def anon(ctx: RequestContext) -> None:
        try:
            ctx.tenant_id  # noqa: B018 - reading it is the point
        except errors.UnauthorizedError as exc:
            seen.append(exc)
            raise

    assert problem(RouterClient(router).get("/v1/anon"))["status"] == 401
    assert len(seen) == 1


def test_idempotency_key_required_but_missing_is_422(logs: LogCapture) -> None:
    calls = Calls()
    router = Router("payments")

    @router.post("/v1/payments", auth="public", body=EntryIn, idempotency="required")
    def pay(ctx: RequestContext) -> None:
        calls(ctx)

    document = problem(RouterClient(router).post_json("/v1/payments", VALID_ENTRY))
    assert document["status"] == 422
    assert field_errors(document) == {"Idempotency-Key": "missing"}
    assert calls.count == 0


# -- registration ---------------------------------------------------------------------------------


def _noop(ctx: RequestContext) -> None:
    return None


def test_a_token_route_must_name_its_permission() -> None:
    with pytest.raises(ValueError, match="permission"):
        Router("x").get("/v1/x")(_noop)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_only_post_put_patch_take_a_body(method: str) -> None:
    with pytest.raises(ValueError, match="body"):
        Router("x").route(method, "/v1/x", auth="public", body=EntryIn)(_noop)


@pytest.mark.parametrize(
    ("first", "second"),
    [("/v1/x", "/v1/x"), ("/v1/x/{item_id}", "/v1/x/{item_id}")],
)
def test_a_duplicate_route_is_refused(first: str, second: str) -> None:
    router = Router("x")
    router.get(first, auth="public")(_noop)
    with pytest.raises(ValueError, match="duplicate route"):
        router.get(second, auth="public")(_noop)
    assert len(router.routes) == 1
    router.post(second, auth="public")(_noop)
    assert len(router.routes) == 2


@pytest.mark.parametrize("path", ["v1/x", "/v1/{a}/{a}"])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        Router("x").get(path, auth="public")(_noop)


def test_the_handler_is_a_plain_function_named_after_the_service() -> None:
    router = Router("journal")
    handler = router.handler
    assert handler is router.handler
    assert handler.__name__ == "journal_handler"


# -- bare documents and client addresses -------------------------------------------------------


def test_a_bare_route_answers_its_data_alone_with_the_usual_headers() -> None:
    router = Router("bare")

    @router.get("/.well-known/keys", auth="public", envelope=False)
    def keys(ctx: RequestContext) -> Reply:
        return Reply({"keys": [{"kid": "k1"}]}, headers={"Cache-Control": "public, max-age=300"})

    response = RouterClient(router).get("/.well-known/keys", headers={"X-Correlation-ID": "c-9"})
    assert response.status_code == 200
    assert orjson.loads(response.get_data()) == {"keys": [{"kid": "k1"}]}
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Correlation-ID"] == "c-9"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        # What the client wrote comes first; the front end appends the address it saw.
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),
        ("203.0.113.7", 1, "203.0.113.7"),
        # Behind a load balancer too: the client as the load balancer saw it.
        ("6.6.6.6, 203.0.113.7, 35.191.0.1", 2, "203.0.113.7"),
        # Fewer entries than trusted hops: nothing in the header can be trusted, so the
        # socket peer it is (the test client has none).
        ("203.0.113.7", 2, None),
        ("", 1, None),
        ("6.6.6.6", 0, None),
    ],
)
def test_the_client_address_is_the_one_our_proxies_saw(
    forwarded: str, hops: int, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config import reset_settings

    monkeypatch.setenv("TRIBUTUM_HTTP__TRUSTED_PROXY_HOPS", str(hops))
    reset_settings()
    seen: list[str | None] = []
    router = Router("addresses")

    @router.get("/v1/whoami", auth="public")
    def whoami(ctx: RequestContext) -> dict[str, str]:
        seen.append(ctx.client_ip)
        return {}

    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert RouterClient(router).get("/v1/whoami", headers=headers).status_code == 200
    reset_settings()
    assert seen == [expected]
