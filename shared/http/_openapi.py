"""OpenAPI 3.1 from the routes' pydantic models: one document per function."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from shared.http.streaming import Streamed

if TYPE_CHECKING:
    from shared.http.context import Route

_REF = "#/components/schemas/{model}"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "code", "correlation_id"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "stable machine-readable error code"},
        "correlation_id": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}

_ERROR_DESCRIPTIONS = {
    400: "Malformed request (unreadable JSON, a body where none is taken, a forged cursor)",
    401: "Missing or invalid credentials",
    403: "Not permitted",
    404: "Not found (also for another tenant's resources)",
    409: "Conflict: a concurrent change, a state that forbids it, or a reused key",
    412: "Precondition failed: the resource changed since it was read",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Invalid input or a business rule refused it",
    429: "Too many requests",
}
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_WRITES = _METHODS_WITH_BODY | {"DELETE"}


def error_statuses(route: Route) -> list[int]:
    """The error statuses a route can answer with, from what the router does with it.

    Every route: 422 (unknown query parameters are refused everywhere) and 429 (the
    edge's rate limits cover every path). A body the router reads: 400 and 413; one
    it parses: 415 too. A cursor: 400. A bearer token: 401 and 403. A path
    parameter: 404. A write or an idempotency key: 409. A bearer token (its session
    or key is read) or a write (a transaction that meets contention): 503. Whatever
    else the handler answers with, the route declares in ``raises``.
    """
    statuses = {422, 429, *route.raises}
    if route.method in _METHODS_WITH_BODY:
        statuses |= {400, 413}
    if route.body is not None:
        statuses.add(415)
    if route.query is not None and "cursor" in route.query.model_fields:
        statuses.add(400)
    if route.auth == "token":
        statuses |= {401, 403}
    if route.template.params:
        statuses.add(404)
    if route.method in _WRITES or route.idempotency is not None:
        statuses.add(409)
    if route.auth == "token" or route.method in _WRITES:
        statuses.add(503)
    return sorted(statuses)


def _model_refs(routes: Sequence[Route]) -> tuple[dict[Any, Any], dict[str, Any]]:
    models: list[type[BaseModel]] = []
    for route in routes:
        for model in (route.body, _response_model(route)):
            if isinstance(model, type) and issubclass(model, BaseModel) and model not in models:
                models.append(model)
    if not models:
        return {}, {}
    keyed = [
        (m, "validation" if any(r.body is m for r in routes) else "serialization") for m in models
    ]
    refs, schema = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    by_model = {m: refs[(m, mode)] for m, mode in keyed}  # type: ignore[index]
    return by_model, schema.get("$defs", {})


def _response_model(route: Route) -> Any:
    response = route.response
    if isinstance(response, list | tuple) and len(response) == 1:
        return response[0]
    return response


def _data_schema(route: Route, refs: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    response = route.response
    if response is None:
        return {}
    many = isinstance(response, list | tuple)
    model = response[0] if many else response
    if model in refs:
        item = refs[model]
    else:
        # A type such as list[Item]: its models' schemas come back under $defs while its
        # $refs point at the components, so they move there (or the $refs dangle).
        item = TypeAdapter(model).json_schema(ref_template=_REF, mode="serialization")
        for name, definition in item.pop("$defs", {}).items():
            components.setdefault(name, definition)
    return {"type": "array", "items": item} if many else item


def _parameter_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A path or query model's schema; its $defs (enums, nested models) move to components."""
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    return schema


def _parameters(route: Route, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    path_props = (
        _parameter_schema(route.params, components).get("properties", {})
        if route.params is not None
        else {}
    )
    for name in route.template.params:
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": path_props.get(name, {"type": "string"}),
            }
        )
    if route.query is not None:
        schema = _parameter_schema(route.query, components)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": prop,
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
            )
    if route.idempotency is not None:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": route.idempotency == "required",
                "description": "Replays return the first response with Idempotent-Replayed: true",
                # What shared.idempotency's validate_key takes: printable ASCII.
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^[ -~]+$",
                },
            }
        )
    return params


def build_openapi(service: str, version: str, routes: Sequence[Route]) -> dict[str, Any]:
    refs, components = _model_refs(routes)
    components["Problem"] = _PROBLEM_SCHEMA
    paths: dict[str, Any] = {}
    for route in routes:
        responses: dict[str, Any] = {}
        if route.status == 204:
            responses["204"] = {"description": "No content"}
        elif isinstance(route.response, Streamed):
            responses[str(route.status)] = {
                "description": "Success, streamed (the body itself, without the envelope)",
                "content": {
                    media: {"schema": {"type": "string", "description": description}}
                    for media, description in route.response.media_types.items()
                },
            }
        elif not route.envelope:
            responses[str(route.status)] = {
                "description": "Success (the document itself, without the envelope)",
                "content": {"application/json": {"schema": _data_schema(route, refs, components)}},
            }
        else:
            responses[str(route.status)] = {
                "description": "Success",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["data", "meta"],
                            "properties": {
                                "data": _data_schema(route, refs, components),
                                "meta": {
                                    "type": "object",
                                    "properties": {
                                        "correlation_id": {"type": "string"},
                                        "next_cursor": {"type": ["string", "null"]},
                                    },
                                },
                            },
                        }
                    }
                },
            }
        for status in error_statuses(route):
            responses[str(status)] = {
                "description": _ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        operation: dict[str, Any] = {
            "operationId": f"{service}.{route.operation_id}",
            "summary": route.summary,
            "tags": list(route.tags),
            "parameters": _parameters(route, components),
            "responses": responses,
        }
        if route.description and route.description != route.summary:
            operation["description"] = route.description
        if route.auth == "token":
            operation["security"] = [{"bearerAuth": []}]
            operation["x-permission"] = route.permission
        else:
            operation["security"] = []
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[route.body]}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Tributum {service}", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
