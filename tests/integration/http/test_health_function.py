"""The health function served by functions-framework, against the real emulators."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from tests.conftest import Emulators
from tests.integration.http.conftest import ServedFunction

CLOUD_LOGGING_KEYS = {"severity", "message", "time", "logging.googleapis.com/labels"}


def test_liveness(health: ServedFunction) -> None:
    reply = health.request("/v1/health/live", {"X-Correlation-ID": "it-live-1"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Correlation-ID"] == "it-live-1"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.json == {"data": {"status": "alive"}, "meta": {"correlation_id": "it-live-1"}}


def test_readiness_with_both_dependencies_up(health: ServedFunction) -> None:
    reply = health.request("/v1/health/ready", {"X-Correlation-ID": "it-ready-1"})
    assert reply.status == 200, reply.body
    # Public: ready or not, and nothing about what was checked or how long it took.
    assert reply.json == {"data": {"status": "ok"}, "meta": {"correlation_id": "it-ready-1"}}


def _internal_names(emulators: Emulators, pubsub_address: str) -> list[str]:
    """What a public answer must never carry: backends, project, addresses, exceptions."""
    host, _, port = pubsub_address.rpartition(":")
    return [
        "firestore", "pubsub", "pub/sub", emulators.project_id, host, port,
        emulators.firestore_address, "ServiceUnavailable", "DeadlineExceeded", "latency",
        "checks", "failed",
    ]  # fmt: skip


def test_readiness_names_no_internals_when_pubsub_is_unreachable(
    health_without_pubsub: ServedFunction, emulators: Emulators
) -> None:
    reply = health_without_pubsub.request("/v1/health/ready", {"X-Correlation-ID": "it-ready-2"})
    assert reply.status == 503, reply.body
    assert reply.headers["Content-Type"] == "application/problem+json"
    problem = reply.json
    assert problem["code"] == "not_ready"
    assert problem["correlation_id"] == "it-ready-2"
    assert set(problem) == {"type", "title", "status", "detail", "code", "correlation_id",
                            "instance"}  # fmt: skip
    body = reply.body.decode().lower()
    pubsub_address = health_without_pubsub.environment["PUBSUB_EMULATOR_HOST"]
    leaked = [name for name in _internal_names(emulators, pubsub_address) if name.lower() in body]
    assert leaked == []
    # Operators find what failed in the log, at WARNING.
    [logged] = [
        line
        for line in _log_lines(health_without_pubsub)
        if line.get("message") == "health.not_ready" and line.get("correlation_id") == "it-ready-2"
    ]
    assert logged["severity"] == "WARNING"
    assert logged["failed"] == ["pubsub"]
    assert logged["checks"]["pubsub"]["status"] == "failed"
    assert logged["checks"]["firestore"]["status"] == "ok"
    # Even the log names the failure by its class, never by connection details.
    assert pubsub_address not in str(logged)
    # Liveness does no I/O, so it stays up while a dependency is down.
    assert health_without_pubsub.request("/v1/health/live").status == 200


def test_unknown_paths_are_problem_documents(health: ServedFunction) -> None:
    reply = health.request("/v1/health/nothing")
    assert reply.status == 404
    assert reply.json["code"] == "route_not_found"


def _log_lines(served: ServedFunction) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in served.stdout_lines() if line.strip()]


def test_stdout_is_cloud_logging_json_carrying_the_correlation_id(
    health: ServedFunction, emulators: Emulators
) -> None:
    correlation_id = f"it-{uuid.uuid4().hex}"
    trace_id = uuid.uuid4().hex
    reply = health.request(
        "/v1/health/live",
        {"X-Correlation-ID": correlation_id, "X-Cloud-Trace-Context": f"{trace_id}/7;o=1"},
    )
    assert reply.status == 200
    # Every line on stdout is one JSON object in Cloud Logging's shape.
    lines = _log_lines(health)
    assert lines
    for line in lines:
        assert set(line) >= CLOUD_LOGGING_KEYS, line
        assert line["logging.googleapis.com/labels"]["function"] == "health"
    mine = [line for line in lines if line.get("correlation_id") == correlation_id]
    assert [line["message"] for line in mine] == ["http.request"]
    (access,) = mine
    assert access["severity"] == "INFO"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/v1/health/live", 200)
    assert access["route"] == "/v1/health/live"
    assert access["duration_ms"] >= 0
    # LOG_EXECUTION_ID is on, as in the cloud: the request's lines carry its execution id.
    assert access["logging.googleapis.com/labels"]["execution_id"]
    assert access["logging.googleapis.com/trace"] == (
        f"projects/{emulators.project_id}/traces/{trace_id}"
    )
    # Under LOG_EXECUTION_ID (the cloud's default) functions-framework's stdout wrapper
    # rewrites spanId with the X-Cloud-Trace-Context span as that header writes it.
    assert access["logging.googleapis.com/spanId"] == "7"
