"""Liveness and readiness checks (readiness: Firestore and Pub/Sub answer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared import errors
from shared.clients import firestore_client, publisher_client
from shared.config import get_settings

CHECK_TIMEOUT_SECONDS = 2.0


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


def _firestore_check() -> None:
    # Reading a missing document is the cheapest round trip that proves access.
    firestore_client().collection("_health").document("probe").get(
        timeout=CHECK_TIMEOUT_SECONDS, retry=None
    )


def _pubsub_check() -> None:
    # Any answer from the service proves it reachable. NotFound (or PermissionDenied) for a
    # probe topic is such an answer and needs no permission beyond what every function has.
    from google.api_core import exceptions

    topic = f"projects/{get_settings().project_id}/topics/tributum-readiness-probe"
    try:
        publisher_client().get_topic(
            request={"topic": topic}, timeout=CHECK_TIMEOUT_SECONDS, retry=None
        )
    except (exceptions.NotFound, exceptions.PermissionDenied):
        return


CHECKS: dict[str, Callable[[], None]] = {"firestore": _firestore_check, "pubsub": _pubsub_check}


def _run(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        # The class name says what failed without echoing connection details.
        return CheckResult(name, False, elapsed, type(exc).__name__)
    return CheckResult(name, True, round((time.perf_counter() - started) * 1000, 1))


_pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readiness")


def readiness(checks: dict[str, Callable[[], None]] | None = None) -> dict[str, Any]:
    """Run every dependency check in parallel; raise a 503 naming the ones that failed."""
    selected = checks or CHECKS
    futures = {name: _pool.submit(_run, name, check) for name, check in selected.items()}
    results = {name: future.result() for name, future in futures.items()}
    report = {name: r.to_json() for name, r in results.items()}
    failed = sorted(name for name, r in results.items() if not r.ok)
    if failed:
        raise errors.ServiceUnavailableError(
            f"not ready: {', '.join(failed)} unreachable",
            code="not_ready",
            extra={"failed": failed, "checks": report},
        )
    return {"status": "ready", "checks": report}
