"""The OpenAPI 3.1 document each Router generates from its routes' models."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import openapi_spec_validator
import orjson
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from pydantic import BaseModel, ConfigDict, Field

from shared.http import PageQuery, RequestContext, Router
from shared.topology import load_manifest
from tests.unit.platform.support import LogCapture, RouterClient, problem

REPO_ROOT = Path(__file__).resolve().parents[3]


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(description="the account the line posts to")
    amount: str = Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$")


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    lines: list[Line] = Field(min_length=2)


class EntryOut(BaseModel):
    entry_id: str
    total: Decimal


class EntryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: int = Field(ge=1)


class EntryQuery(PageQuery):
    status: str | None = Field(default=None, description="posted or pending")


def _handler(ctx: RequestContext) -> None:
    return None


def build_router() -> Router:
    router = Router("journal", version="2.3.4")

    @router.post(
        "/v1/journal-entries",
        body=EntryIn,
        response=EntryOut,
        status=201,
        permission="journal:post",
        idempotency="required",
    )
    def post_entry(ctx: RequestContext) -> None:
        """Post a balanced journal entry.

        Lines must balance per currency.
        """

    @router.get(
        "/v1/journal-entries", query=EntryQuery, response=[EntryOut], permission="journal:read"
    )
    def list_entries(ctx: RequestContext) -> None:
        """List journal entries."""

    @router.get(
        "/v1/journal-entries/{entry_id}",
        params=EntryParams,
        response=EntryOut,
        permission="journal:read",
    )
    def get_entry(ctx: RequestContext) -> None:
        """One journal entry."""

    @router.post(
        "/v1/journal-entries/{entry_id}/void", auth="public", status=204, idempotency="optional"
    )
    def void_entry(ctx: RequestContext) -> None:
        """Void a pending entry."""

    return router


@cache
def openapi_31_schema() -> dict[str, Any]:
    """The JSON Schema of OpenAPI 3.1 documents, as the validator package ships it."""
    resources = Path(openapi_spec_validator.__file__).parent / "resources" / "schemas"
    loaded: dict[str, Any] = json.loads((resources / "v3.1" / "schema.json").read_text())
    return loaded


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def assert_valid_openapi_31(document: dict[str, Any]) -> None:
    # The document survives a JSON round trip (it is served as JSON).
    document = orjson.loads(orjson.dumps(document))
    Draft202012Validator(openapi_31_schema()).validate(document)
    OpenAPIV31SpecValidator(document).validate()
    schemas = document.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    for ref in refs_in(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, f"dangling {ref}"


@pytest.fixture
def document() -> dict[str, Any]:
    return build_router().openapi()


def test_the_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Tributum journal", "version": "2.3.4"}
    assert_valid_openapi_31(document)


def test_paths_and_operations(document: dict[str, Any]) -> None:
    assert set(document["paths"]) == {
        "/v1/journal-entries",
        "/v1/journal-entries/{entry_id}",
        "/v1/journal-entries/{entry_id}/void",
    }
    assert set(document["paths"]["/v1/journal-entries"]) == {"get", "post"}
    post = document["paths"]["/v1/journal-entries"]["post"]
    assert post["operationId"] == "journal.post_entry"
    assert post["summary"] == "Post a balanced journal entry."
    assert "Lines must balance per currency." in post["description"]
    assert post["tags"] == ["journal"]
    operation_ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids)) == 4


def test_request_and_response_models_are_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert {"EntryIn", "EntryOut", "Line", "Problem"} <= set(schemas)
    post = document["paths"]["/v1/journal-entries"]["post"]
    assert post["requestBody"]["required"] is True
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EntryIn"
    }
    created = post["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["required"] == ["data", "meta"]
    assert created["properties"]["data"] == {"$ref": "#/components/schemas/EntryOut"}
    # Nested models are their own component, referenced from the parent.
    assert schemas["EntryIn"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/Line"
    }
    assert schemas["Line"]["properties"]["amount"]["pattern"]
    # Money leaves as a decimal string.
    assert schemas["EntryOut"]["properties"]["total"]["type"] == "string"


def test_a_list_response_is_an_array_of_the_model(document: dict[str, Any]) -> None:
    listed = document["paths"]["/v1/journal-entries"]["get"]["responses"]["200"]
    schema = listed["content"]["application/json"]["schema"]
    assert schema["properties"]["data"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/EntryOut"},
    }
    assert schema["properties"]["meta"]["properties"]["next_cursor"] == {"type": ["string", "null"]}


def test_error_responses_use_the_problem_schema(document: dict[str, Any]) -> None:
    problem_schema = document["components"]["schemas"]["Problem"]
    assert set(problem_schema["required"]) == {"type", "title", "status", "code", "correlation_id"}
    assert problem_schema["properties"]["errors"]["items"]["required"] == [
        "field",
        "message",
        "code",
    ]
    for item in document["paths"].values():
        for operation in item.values():
            errors = [status for status in operation["responses"] if int(status) >= 400]
            assert {"422", "429"} <= set(errors)
            for status in errors:
                content = operation["responses"][status]["content"]
                assert content == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }


def _error_statuses(document: dict[str, Any], path: str, method: str) -> set[int]:
    responses = document["paths"][path][method]["responses"]
    return {int(status) for status in responses if int(status) >= 400}


def test_each_operation_lists_only_the_errors_its_route_can_answer(
    document: dict[str, Any],
) -> None:
    # A token, a JSON body and an idempotency key: everything but a path parameter.
    assert _error_statuses(document, "/v1/journal-entries", "post") == {
        400,
        401,
        403,
        409,
        413,
        415,
        422,
        429,
        503,
    }
    # A token and a cursor: no body, nothing to conflict with; the session is read.
    assert _error_statuses(document, "/v1/journal-entries", "get") == {
        400,
        401,
        403,
        422,
        429,
        503,
    }
    assert _error_statuses(document, "/v1/journal-entries/{entry_id}", "get") == {
        401,
        403,
        404,
        422,
        429,
        503,
    }
    # Public, bodyless POST: the router still reads (and refuses) a body it was sent, and
    # its transaction may meet contention.
    assert _error_statuses(document, "/v1/journal-entries/{entry_id}/void", "post") == {
        400,
        404,
        409,
        413,
        422,
        429,
        503,
    }


def test_a_public_bodyless_document_route_lists_no_body_or_credential_errors() -> None:
    class KeySetOut(BaseModel):
        keys: list[dict[str, str]]

    router = Router("bare")
    router.get("/.well-known/keys", auth="public", response=KeySetOut, envelope=False)(_handler)

    def log_in(ctx: RequestContext) -> None:
        return None

    router.post("/v1/login", auth="public", body=EntryIn, raises=(401,))(log_in)
    document = router.openapi()
    assert_valid_openapi_31(document)
    assert _error_statuses(document, "/.well-known/keys", "get") == {422, 429}
    # What the handler answers with beyond the route's shape is declared on the route.
    assert 401 in _error_statuses(document, "/v1/login", "post")


def test_security(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    post = document["paths"]["/v1/journal-entries"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    assert post["x-permission"] == "journal:post"
    void = document["paths"]["/v1/journal-entries/{entry_id}/void"]["post"]
    assert void["security"] == []
    assert "x-permission" not in void


def _parameters(document: dict[str, Any], path: str, method: str) -> dict[tuple[str, str], Any]:
    operation = document["paths"][path][method]
    return {(p["in"], p["name"]): p for p in operation["parameters"]}


def test_path_parameters(document: dict[str, Any]) -> None:
    typed = _parameters(document, "/v1/journal-entries/{entry_id}", "get")[("path", "entry_id")]
    assert typed["required"] is True
    assert typed["schema"]["type"] == "integer"
    assert typed["schema"]["minimum"] == 1
    untyped = _parameters(document, "/v1/journal-entries/{entry_id}/void", "post")
    assert untyped[("path", "entry_id")]["schema"] == {"type": "string"}


def test_query_parameters(document: dict[str, Any]) -> None:
    params = _parameters(document, "/v1/journal-entries", "get")
    assert set(params) == {("query", "limit"), ("query", "cursor"), ("query", "status")}
    limit = params[("query", "limit")]
    assert limit["required"] is False
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert params[("query", "status")]["description"] == "posted or pending"


def test_idempotency_key_header(document: dict[str, Any]) -> None:
    required = _parameters(document, "/v1/journal-entries", "post")[("header", "Idempotency-Key")]
    assert required["required"] is True
    assert required["schema"]["maxLength"] == 255
    optional = _parameters(document, "/v1/journal-entries/{entry_id}/void", "post")
    assert optional[("header", "Idempotency-Key")]["required"] is False
    assert ("header", "Idempotency-Key") not in _parameters(document, "/v1/journal-entries", "get")


def test_no_content_has_no_body(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/journal-entries/{entry_id}/void"]["post"]["responses"]
    assert responses["204"] == {"description": "No content"}
    assert "200" not in responses


def test_a_generic_response_type_keeps_the_document_valid() -> None:
    class Item(BaseModel):
        name: str

    router = Router("generic")
    router.get("/v1/items", auth="public", response=list[Item])(_handler)
    assert_valid_openapi_31(router.openapi())


def load_function(name: str) -> ModuleType:
    module_name = f"platform_openapi_test_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, REPO_ROOT / "functions" / name / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def test_the_health_function_document_validates() -> None:
    document = load_function("health").router.openapi()
    assert_valid_openapi_31(document)
    assert set(document["paths"]) == {"/v1/health/live", "/v1/health/ready"}
    for item in document["paths"].values():
        assert item["get"]["security"] == []
    assert {"Liveness", "Readiness"} <= set(document["components"]["schemas"])


def test_the_document_is_served(logs: LogCapture) -> None:
    router = build_router()
    response = RouterClient(router).get("/_meta/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert orjson.loads(response.get_data()) == orjson.loads(orjson.dumps(router.openapi()))


def test_serving_the_document_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    monkeypatch.setenv("TRIBUTUM_FEATURES__SERVE_OPENAPI", "false")
    assert problem(RouterClient(build_router()).get("/_meta/openapi.json"))["status"] == 404


def test_enum_query_and_path_parameters_keep_the_document_valid() -> None:
    from enum import StrEnum

    class Colour(StrEnum):
        RED = "red"
        BLUE = "blue"

    class ColourQuery(BaseModel):
        model_config = ConfigDict(extra="forbid")
        colour: Colour | None = None

    class ColourPath(BaseModel):
        model_config = ConfigDict(extra="forbid")
        colour: Colour

    def list_paints(ctx: RequestContext) -> None:
        return None

    def get_paint(ctx: RequestContext) -> None:
        return None

    router = Router("enums")
    router.get("/v1/paints", auth="public", query=ColourQuery)(list_paints)
    router.get("/v1/paints/{colour}", auth="public", params=ColourPath)(get_paint)
    document = router.openapi()
    assert_valid_openapi_31(document)
    assert document["components"]["schemas"]["Colour"]["enum"] == ["red", "blue"]


def test_a_bare_route_documents_its_data_without_the_envelope() -> None:
    class KeySetOut(BaseModel):
        keys: list[dict[str, str]]

    router = Router("bare")
    router.get("/.well-known/keys", auth="public", response=KeySetOut, envelope=False)(_handler)
    document = router.openapi()
    assert_valid_openapi_31(document)
    schema = document["paths"]["/.well-known/keys"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    assert schema == {"$ref": "#/components/schemas/KeySetOut"}


HTTP_FUNCTIONS = [f.name for f in load_manifest().functions if f.kind == "http"]


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_every_http_function_documents_valid_openapi(name: str) -> None:
    """The gateway merges these documents; each must be valid on its own, with every route."""
    router = load_function(name).router
    document = router.openapi()
    assert_valid_openapi_31(document)
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    assert documented == {(route.path, route.method) for route in router.routes}
