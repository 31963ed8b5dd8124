"""Merging the functions' OpenAPI documents into one."""

from __future__ import annotations

from typing import Any

from emulator.openapi_merge import is_openapi_document, merge_documents

PROBLEM = {"type": "object", "properties": {"code": {"type": "string"}}}


def _operation(ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "operationId": ref.lower(),
        "responses": {
            "200": {
                "description": "ok",
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}
                },
            },
            "404": {
                "description": "missing",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        },
        **extra,
    }


def _document(paths: dict[str, Any], schemas: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
        **extra,
    }


def test_paths_and_identical_components_merge() -> None:
    accounts = _document(
        {"/v1/accounts": {"get": _operation("Account")}},
        {"Account": {"type": "object"}, "Problem": PROBLEM},
    )
    payments = _document(
        {"/v1/payments": {"post": _operation("Payment")}},
        {"Payment": {"type": "object"}, "Problem": PROBLEM},
    )
    merged = merge_documents({"accounts": accounts, "payments": payments})
    assert merged["openapi"] == "3.1.0"
    assert list(merged["paths"]) == ["/v1/accounts", "/v1/payments"]
    assert set(merged["components"]["schemas"]) == {"Account", "Payment", "Problem"}
    assert merged["paths"]["/v1/payments"]["post"]["x-tributum-function"] == "payments"
    assert "x-tributum-conflicts" not in merged
    assert "payments" in merged["info"]["description"]


def test_two_functions_sharing_a_path_with_different_methods() -> None:
    reader = _document({"/v1/things": {"get": _operation("Thing")}}, {"Thing": {}})
    writer = _document({"/v1/things": {"post": _operation("Thing")}}, {"Thing": {}})
    merged = merge_documents({"reader": reader, "writer": writer})
    assert set(merged["paths"]["/v1/things"]) == {"get", "post"}


def test_a_conflicting_component_is_renamed_with_its_references() -> None:
    first = _document(
        {"/v1/a": {"get": _operation("Item")}}, {"Item": {"type": "object", "title": "A"}}
    )
    second = _document(
        {"/v1/b": {"get": _operation("Item")}}, {"Item": {"type": "object", "title": "B"}}
    )
    merged = merge_documents({"first": first, "second": second})
    schemas = merged["components"]["schemas"]
    assert schemas["Item"]["title"] == "A"
    assert schemas["second__Item"]["title"] == "B"

    def ref(path: str) -> str:
        content = merged["paths"][path]["get"]["responses"]["200"]["content"]
        return str(content["application/json"]["schema"]["$ref"])

    assert ref("/v1/a") == "#/components/schemas/Item"
    assert ref("/v1/b") == "#/components/schemas/second__Item"
    # The caller's own documents are left as they were.
    assert (
        second["paths"]["/v1/b"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]["$ref"]
        == "#/components/schemas/Item"
    )


def test_the_same_operation_twice_is_reported_not_overwritten() -> None:
    one = _document({"/v1/x": {"get": _operation("X", summary="one")}}, {"X": {}})
    two = _document({"/v1/x": {"get": _operation("X", summary="two")}}, {"X": {}})
    merged = merge_documents({"one": one, "two": two})
    assert merged["paths"]["/v1/x"]["get"]["summary"] == "one"
    assert merged["x-tributum-conflicts"] == ["GET /v1/x (two)"]


def test_document_level_security_moves_onto_operations() -> None:
    secured = _document(
        {
            "/v1/private": {"get": _operation("P")},
            "/v1/public": {"get": _operation("P", security=[])},
        },
        {"P": {}},
        security=[{"bearer": []}],
    )
    merged = merge_documents({"secured": secured})
    assert merged["paths"]["/v1/private"]["get"]["security"] == [{"bearer": []}]
    assert merged["paths"]["/v1/public"]["get"]["security"] == []
    assert "security" not in merged


def test_tags_and_other_component_sections_are_unioned() -> None:
    first = _document({}, {}, tags=[{"name": "a"}])
    first["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    second = _document({}, {}, tags=[{"name": "a"}, {"name": "b"}])
    second["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    merged = merge_documents({"first": first, "second": second})
    assert merged["tags"] == [{"name": "a"}, {"name": "b"}]
    assert merged["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"}
    }


def test_unavailable_functions_are_named() -> None:
    merged = merge_documents({}, unavailable={"ledger": "not reachable (ConnectionRefusedError)"})
    assert merged["paths"] == {}
    assert merged["x-tributum-unavailable"] == {"ledger": "not reachable (ConnectionRefusedError)"}


def test_is_openapi_document() -> None:
    assert is_openapi_document({"openapi": "3.1.0", "paths": {}})
    assert not is_openapi_document({"paths": {}})
    assert not is_openapi_document({"openapi": "3.1.0"})
    assert not is_openapi_document(["openapi"])
