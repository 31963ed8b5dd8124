"""The client's operation table against the gateway's merged OpenAPI document.

The document is built the way the gateway builds it: each HTTP function of the
manifest serves its router's document, and ``merge_documents`` joins them.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import pytest

from emulator.openapi_merge import merge_documents
from shared.client import OPERATIONS, Tributum
from shared.topology import load_manifest
from tests.unit.platform.test_openapi import load_function

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Methods whose body the client builds from its arguments (and whose answer it keeps).
CREDENTIAL_METHODS = {"log_in": ("email", "password"), "refresh_tokens": ("refresh_token",)}
# Arguments that become headers, not query parameters.
HEADER_ARGUMENTS = {"idempotency_key", "if_match"}


@cache
def merged_document() -> dict[str, Any]:
    documents = {
        function.name: load_function(function.name).router.openapi()
        for function in load_manifest().functions
        if function.kind == "http"
    }
    return merge_documents(documents)


def document_operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in merged_document()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _parameters(operation: dict[str, Any], where: str) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == where]


def _signature(name: str) -> dict[str, inspect.Parameter]:
    parameters = dict(inspect.signature(getattr(Tributum, name)).parameters)
    parameters.pop("self")
    return parameters


def test_the_document_merges_without_conflicts() -> None:
    document = merged_document()
    assert "x-tributum-conflicts" not in document
    assert len(document_operations()) > 50


def test_every_operation_has_a_client_method_and_every_method_an_operation() -> None:
    table = {(op.method, op.path): name for name, op in OPERATIONS.items()}
    assert len(table) == len(OPERATIONS), "two methods name one operation"
    documented = set(document_operations())
    missing = sorted(f"{m} {p}" for m, p in documented - set(table))
    gone = sorted(f"{table[key]}: {key[0]} {key[1]}" for key in set(table) - documented)
    assert missing == [], f"operations without a client method: {missing}"
    assert gone == [], f"client methods naming no operation of the API: {gone}"
    for name in OPERATIONS:
        assert callable(getattr(Tributum, name, None)), f"Tributum has no method {name}"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_table_says_what_the_document_says(name: str) -> None:
    operation = OPERATIONS[name]
    documented = document_operations().get((operation.method, operation.path))
    if documented is None:
        pytest.skip("reported by the drift test above")
    assert operation.idempotent == ("Idempotency-Key" in _parameters(documented, "header"))
    assert operation.auth == bool(documented["security"])
    success = next(s for code, s in documented["responses"].items() if int(code) < 400)
    schema = success.get("content", {}).get("application/json", {}).get("schema", {})
    envelope = set(schema.get("required", [])) == {"data", "meta"}
    assert operation.envelope == (envelope or "content" not in success)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_method_takes_what_its_operation_takes(name: str) -> None:
    operation = OPERATIONS[name]
    documented = document_operations().get((operation.method, operation.path))
    if documented is None:
        pytest.skip("reported by the drift test above")
    parameters = _signature(name)
    path_names = _parameters(documented, "path")
    positional = [
        n for n, p in parameters.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    keywords = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]

    assert positional[: len(path_names)] == path_names
    if name in CREDENTIAL_METHODS:
        assert "requestBody" in documented
        properties = merged_document()["components"]["schemas"][
            documented["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit(
                "/", 1
            )[1]
        ]["properties"]
        assert set(CREDENTIAL_METHODS[name]) == set(properties)
        assert positional[len(path_names) :] == list(CREDENTIAL_METHODS[name])
    else:
        rest = positional[len(path_names) :]
        if "requestBody" in documented:
            assert rest[:1] == ["body"]
            rest = rest[1:]
        # What else is positional is a required query parameter; the optional ones are
        # keywords.
        required = {
            p["name"] for p in documented["parameters"] if p["in"] == "query" and p["required"]
        }
        assert {n.rstrip("_") for n in rest} == required
    assert ("idempotency_key" in keywords) == operation.idempotent
    # Python names a keyword-clashing parameter with a trailing underscore (from_).
    query = {n.rstrip("_") for n in [*keywords, *positional] if n not in HEADER_ARGUMENTS}
    query -= {*path_names, "body", *CREDENTIAL_METHODS.get(name, ())}
    assert query == set(_parameters(documented, "query"))


@pytest.mark.parametrize(
    "name",
    sorted(n for n, op in OPERATIONS.items() if op.method == "GET" and n.startswith("list_")),
)
def test_every_cursor_list_has_an_iterator_over_its_pages(name: str) -> None:
    operation = OPERATIONS[name]
    documented = document_operations()[(operation.method, operation.path)]
    if "cursor" not in _parameters(documented, "query"):
        assert not hasattr(Tributum, name.replace("list_", "iter_", 1))
        return
    iterator = name.replace("list_", "iter_", 1)
    assert hasattr(Tributum, iterator), f"{name} pages with a cursor: add {iterator}"
    listed = set(_signature(name)) - {"limit", "cursor"}
    assert set(_signature(iterator)) == listed | {"page_size"}
