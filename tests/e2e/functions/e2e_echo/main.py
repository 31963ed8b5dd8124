"""e2e_echo: answers with the request it received (a bare functions-framework function).

``X-Echo-Status`` sets the status of the answer, so tests can check that the
gateway passes statuses through. It serves a small OpenAPI document of its own
at ``/_meta/openapi.json``, as the shared router does, for the merged document.
"""

from __future__ import annotations

import json
from typing import Any

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "e2e echo", "version": "1.0.0"},
    "paths": {
        "/v1/e2e/echo": {
            "get": {
                "operationId": "e2e_echo.echo",
                "summary": "Echo the request.",
                "tags": ["e2e"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "The request as received",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/EchoReply"}
                            }
                        },
                    }
                },
            }
        },
        "/v1/e2e/items/{item_id}": {
            "post": {
                "operationId": "e2e_echo.echo_item",
                "summary": "Echo a request with a path parameter.",
                "tags": ["e2e"],
                "security": [],
                "parameters": [
                    {
                        "name": "item_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": {"description": "The request as received"}},
            }
        },
    },
    "components": {
        "schemas": {
            "EchoReply": {
                "type": "object",
                "required": ["method", "path"],
                "properties": {
                    "method": {"type": "string"},
                    "path": {"type": "string"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "body": {"type": "string"},
                },
            }
        }
    },
}


def handle(request: Any) -> tuple[str, int, dict[str, str]]:
    if request.path == "/_meta/openapi.json":
        return json.dumps(OPENAPI), 200, {"Content-Type": "application/json"}
    reply = {
        "function": "e2e_echo",
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode(),
        "headers": dict(request.headers.items()),
        "body": request.get_data(as_text=True),
    }
    status = int(request.headers.get("X-Echo-Status", "200"))
    return json.dumps(reply), status, {"Content-Type": "application/json", "X-Echo": "yes"}
