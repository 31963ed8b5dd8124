"""Liveness and readiness checks (readiness: Firestore and Pub/Sub answer).

Each dependency check first gets its client (the instance's, created on first use:
imports, credentials and channel set-up, which take seconds on a busy cold instance
but say nothing about the dependency), then makes one round trip within
``READINESS_DEADLINE_SECONDS``. Only the round trip is timed and bounded: a slow
first client creation must not read as an unreachable dependency, while a
dependency that refuses connections or never answers in time is reported not ready.
Callers that wait for readiness (a deployment, the local stack, tests) poll until
their own deadline: one 503 from a starting instance is not a verdict.

The answer is public, so it says only ready or not: which backends exist, how they
failed and how long they took would map the deployment for anyone asking. The details
of a failure go to the log (WARNING ``health.not_ready``), where operators look.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared import errors
from shared.clients import firestore_client, publisher_client
from shared.config import get_settings
from shared.logger import get_logger

# Each check's round trip. The health function's timeout is 10 s (functions/manifest.yaml):
# this leaves room for creating the clients on a cold instance and for answering. The first
# request to a cold dependency (and any request on a busy machine) can take seconds, so
# a deadline of a couple of seconds reports a dependency that answers as unreachable.
READINESS_DEADLINE_SECONDS = 7.0
# The public answers: nothing in them names a dependency, an error or a duration.
READY = {"status": "ok"}
NOT_READY_DETAIL = "the service is not ready to take requests; retry shortly"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "status": "ok" if self.ok else "failed",
            "latency_ms": self.latency_ms,
        }
        if self.error:
            result["error"] = self.error
        return result


@dataclass(frozen=True, slots=True)
class DependencyCheck:
    """``client`` returns the client to check (no round trip); ``probe`` makes one.

    ``probe`` gets the client and the seconds its round trip may take, and raises if
    the dependency does not answer in time.
    """

    client: Callable[[], Any]
    probe: Callable[[Any, float], None]


def _firestore_probe(client: Any, timeout: float) -> None:
    # Reading a missing document is the cheapest round trip that proves access.
    client.collection("_health").document("probe").get(timeout=timeout, retry=None)


def _pubsub_probe(client: Any, timeout: float) -> None:
    # Any answer from the service proves it reachable. NotFound (or PermissionDenied) for a
    # probe topic is such an answer and needs no permission beyond what every function has.
    from google.api_core import exceptions

    topic = f"projects/{get_settings().project_id}/topics/tributum-readiness-probe"
    try:
        client.get_topic(request={"topic": topic}, timeout=timeout, retry=None)
    except (exceptions.NotFound, exceptions.PermissionDenied):
        return


CHECKS: dict[str, DependencyCheck] = {
    "firestore": DependencyCheck(firestore_client, _firestore_probe),
    "pubsub": DependencyCheck(publisher_client, _pubsub_probe),
}


def _failed(name: str, started: float, exc: Exception) -> CheckResult:
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    # The class name says what failed without echoing connection details.
    return CheckResult(name, False, elapsed, type(exc).__name__)


def _run(name: str, check: DependencyCheck, deadline_seconds: float) -> CheckResult:
    started = time.perf_counter()
    try:
        client = check.client()
    except Exception as exc:
        return _failed(name, started, exc)
    started = time.perf_counter()
    try:
        check.probe(client, deadline_seconds)
    except Exception as exc:
        return _failed(name, started, exc)
    return CheckResult(name, True, round((time.perf_counter() - started) * 1000, 1))


def check_dependencies(
    checks: dict[str, DependencyCheck] | None = None,
    *,
    deadline_seconds: float = READINESS_DEADLINE_SECONDS,
) -> dict[str, CheckResult]:
    """Run every dependency check in parallel; each one's result by name (for operators)."""
    selected = checks or CHECKS
    # Threads of this call only: concurrent probes never wait behind each other's deadlines.
    with ThreadPoolExecutor(max_workers=len(selected), thread_name_prefix="readiness") as pool:
        futures = {
            name: pool.submit(_run, name, check, deadline_seconds)
            for name, check in selected.items()
        }
        return {name: future.result() for name, future in futures.items()}


def readiness(
    checks: dict[str, DependencyCheck] | None = None,
    *,
    deadline_seconds: float = READINESS_DEADLINE_SECONDS,
) -> dict[str, str]:
    """``{"status": "ok"}`` when every dependency answers; a bare 503 otherwise.

    What failed, how and how fast is logged at WARNING, never answered.
    """
    results = check_dependencies(checks, deadline_seconds=deadline_seconds)
    failed = sorted(name for name, r in results.items() if not r.ok)
    if failed:
        get_logger("health").warning(
            "health.not_ready",
            failed=failed,
            checks={name: r.to_json() for name, r in results.items()},
        )
        raise errors.ServiceUnavailableError(NOT_READY_DETAIL, code="not_ready")
    return dict(READY)
