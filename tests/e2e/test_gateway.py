"""The gateway in front of the running functions."""

from __future__ import annotations

import json

from tests.e2e.conftest import StackHandle, http


def test_liveness_through_the_gateway(stack: StackHandle) -> None:
    reply = http("GET", f"{stack.gateway_url}/v1/health/live")
    assert reply.status == 200
    assert reply.json()["data"] == {"status": "alive"}
    assert reply.header("X-Correlation-ID")


def test_readiness_through_the_gateway_sees_both_emulators(stack: StackHandle) -> None:
    reply = http("GET", f"{stack.gateway_url}/v1/health/ready")
    assert reply.status == 200, reply.body
    # Both emulators answered; the public answer names neither.
    assert reply.json()["data"] == {"status": "ok"}


def test_unknown_path_is_a_404_problem_document(stack: StackHandle) -> None:
    reply = http(
        "GET", f"{stack.gateway_url}/v1/no-such-thing", headers={"X-Correlation-ID": "c-1"}
    )
    assert reply.status == 404
    assert reply.header("Content-Type") == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == 404
    assert problem["code"] == "route_not_found"
    assert problem["instance"] == "/v1/no-such-thing"
    assert problem["correlation_id"] == "c-1"
    assert reply.header("X-Correlation-ID") == "c-1"


def test_unknown_method_on_a_known_path_reaches_the_function(stack: StackHandle) -> None:
    reply = http("DELETE", f"{stack.gateway_url}/v1/health/live")
    assert reply.status == 405
    assert reply.header("Allow") == "GET"
    assert reply.json()["code"] == "method_not_allowed"


def test_method_headers_body_and_status_pass_through(stack: StackHandle) -> None:
    body = json.dumps({"amount": "12.34", "currency": "EUR"}).encode()
    reply = http(
        "POST",
        f"{stack.gateway_url}/v1/e2e/items/item-42?expand=lines",
        headers={
            "Authorization": "Bearer a.b.c",
            "X-Correlation-ID": "corr-123",
            "Idempotency-Key": "key-7",
            "Content-Type": "application/json",
            "X-Echo-Status": "201",
            "X-Forwarded-For": "203.0.113.9",
        },
        body=body,
    )
    assert reply.status == 201
    assert reply.header("X-Echo") == "yes"
    echoed = reply.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/v1/e2e/items/item-42"
    assert echoed["query"] == "expand=lines"
    assert echoed["body"] == body.decode()
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert headers["authorization"] == "Bearer a.b.c"
    assert headers["x-correlation-id"] == "corr-123"
    assert headers["idempotency-key"] == "key-7"
    assert headers["content-type"] == "application/json"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["host"] == f"127.0.0.1:{stack.gateway_port}"


def test_client_error_statuses_pass_through_untouched(stack: StackHandle) -> None:
    reply = http("GET", f"{stack.gateway_url}/v1/e2e/echo", headers={"X-Echo-Status": "418"})
    assert reply.status == 418
    assert reply.json()["function"] == "e2e_echo"


def test_well_known_paths_are_routed(stack: StackHandle) -> None:
    reply = http("GET", f"{stack.gateway_url}/.well-known/e2e-echo")
    assert reply.status == 200
    assert reply.json()["path"] == "/.well-known/e2e-echo"


def test_merged_openapi_document(stack: StackHandle) -> None:
    reply = http("GET", f"{stack.gateway_url}/openapi.json")
    assert reply.status == 200
    document = reply.json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/health/live", "/v1/health/ready", "/v1/e2e/echo"} <= set(document["paths"])
    assert document["paths"]["/v1/health/live"]["get"]["x-tributum-function"] == "health"
    schemas = document["components"]["schemas"]
    assert {"Liveness", "EchoReply", "Problem"} <= set(schemas)
    assert "x-tributum-unavailable" not in document


def test_docs_page_renders_every_operation_without_external_assets(stack: StackHandle) -> None:
    reply = http("GET", f"{stack.gateway_url}/docs/reference")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    page = reply.body.decode()
    for path in ("/v1/health/live", "/v1/health/ready", "/v1/e2e/echo", "/v1/e2e/items/{item_id}"):
        assert path in page
    assert 'id="schema-EchoReply"' in page
    # Self-contained: nothing is loaded from anywhere else.
    assert "<script" not in page
    assert "<link" not in page
    assert "src=" not in page
