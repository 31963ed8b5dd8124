"""Every request body documents at least one example, and each example is valid.

Valid twice over: against the JSON Schema the OpenAPI document publishes, and against
the request model the router validates with (strict JSON mode). The end-to-end test of
the examples then sends each one to the running system and sees it accepted.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from tests.unit.platform.test_openapi import HTTP_FUNCTIONS, load_function


def _body_operations() -> list[tuple[str, str, str]]:
    return [
        (name, route.method, route.path)
        for name in HTTP_FUNCTIONS
        for route in load_function(name).router.routes
        if route.body is not None
    ]


BODY_OPERATIONS = _body_operations()


def _route(name: str, method: str, path: str) -> Any:
    (route,) = [
        r for r in load_function(name).router.routes if (r.method, r.path) == (method, path)
    ]
    return route


def test_the_functions_take_request_bodies() -> None:
    assert len(BODY_OPERATIONS) >= 30


@pytest.mark.parametrize(("name", "method", "path"), BODY_OPERATIONS)
def test_every_request_body_has_examples_its_schema_and_model_accept(
    name: str, method: str, path: str
) -> None:
    document = load_function(name).router.openapi()
    reference = document["paths"][path][method.lower()]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    examples = schema.get("examples")
    assert examples, f"{method} {path} documents no example body"
    validator = Draft202012Validator(
        {**schema, "components": document["components"]},
    )
    model = _route(name, method, path).body
    for example in examples:
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, f"{method} {path}: {example} breaks its schema: {errors}"
        model.model_validate_json(orjson.dumps(example))
