"""Readiness: each dependency's round trip gets the whole deadline; only the round trip counts.

The public answer says ready or not and nothing else; the details go to the log.
"""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from google.api_core import exceptions

from shared import errors
from shared.health import (
    CHECKS,
    READINESS_DEADLINE_SECONDS,
    DependencyCheck,
    check_dependencies,
    readiness,
)
from tests.unit.platform.support import LogCapture

REPO = Path(__file__).resolve().parents[3]
# What the health function needs besides the round trips: clients on a cold instance, the answer.
COLD_START_ALLOWANCE_SECONDS = 3.0


class _Recorder:
    """Stands in for a Google client: records the keyword arguments of every call."""

    def __init__(self, raises: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.raises = raises

    def collection(self, _name: str) -> _Recorder:
        return self

    def document(self, _name: str) -> _Recorder:
        return self

    def get(self, **kwargs: Any) -> None:
        self._record(kwargs)

    def get_topic(self, **kwargs: Any) -> None:
        self._record(kwargs)

    def _record(self, kwargs: dict[str, Any]) -> None:
        self.calls.append(kwargs)
        if self.raises is not None:
            raise self.raises


def _with_clients(**clients: _Recorder) -> dict[str, DependencyCheck]:
    """The real probes, over recorders instead of the instance's clients."""
    return {
        name: DependencyCheck(functools.partial(_returning, client), CHECKS[name].probe)
        for name, client in clients.items()
    }


def _returning(client: _Recorder) -> _Recorder:
    return client


def test_each_round_trip_gets_the_whole_deadline_and_no_retry() -> None:
    firestore, pubsub = _Recorder(), _Recorder(exceptions.NotFound("no probe topic"))
    report = readiness(_with_clients(firestore=firestore, pubsub=pubsub))
    assert report == {"status": "ok"}
    assert [call["timeout"] for call in firestore.calls + pubsub.calls] == [
        READINESS_DEADLINE_SECONDS,
        READINESS_DEADLINE_SECONDS,
    ]
    assert all(call["retry"] is None for call in firestore.calls + pubsub.calls)


def test_the_deadline_fits_in_the_health_functions_timeout() -> None:
    manifest = yaml.safe_load((REPO / "functions" / "manifest.yaml").read_text())
    (health,) = [fn for fn in manifest["functions"] if fn["name"] == "health"]
    timeout = health["scaling"]["timeout_seconds"]
    # Long enough for a cold dependency on a busy machine, short enough to answer a 503.
    assert 5.0 <= READINESS_DEADLINE_SECONDS <= timeout - COLD_START_ALLOWANCE_SECONDS


def test_slow_client_creation_is_not_charged_to_the_deadline() -> None:
    given: list[float] = []

    def slow_client() -> object:
        time.sleep(0.3)  # imports and channel set-up on a busy cold instance
        return object()

    def probe(_client: object, timeout: float) -> None:
        given.append(timeout)

    results = check_dependencies(
        {"firestore": DependencyCheck(slow_client, probe)}, deadline_seconds=0.1
    )
    assert given == [0.1]
    assert results["firestore"].ok
    assert results["firestore"].latency_ms < 300


def test_a_dependency_that_does_not_answer_in_time_is_not_ready() -> None:
    firestore = _Recorder(exceptions.DeadlineExceeded("deadline"))
    results = check_dependencies(_with_clients(firestore=firestore, pubsub=_Recorder()))
    assert results["firestore"].error == "DeadlineExceeded"
    assert results["pubsub"].ok
    with pytest.raises(errors.ServiceUnavailableError):
        readiness(_with_clients(firestore=_Recorder(firestore.raises), pubsub=_Recorder()))


def test_a_client_that_cannot_be_created_is_not_ready() -> None:
    def no_credentials() -> object:
        raise exceptions.Unauthenticated("no credentials")

    check = DependencyCheck(no_credentials, CHECKS["firestore"].probe)
    assert check_dependencies({"firestore": check})["firestore"].error == "Unauthenticated"
    with pytest.raises(errors.ServiceUnavailableError):
        readiness({"firestore": check})


# What the public answer must never carry: dependency names, the exception's class and
# text, the project and the address a client was pointed at.
_INTERNALS = ("firestore", "pubsub", "DeadlineExceeded", "10.1.2.3", "secret-project", "latency")


def _failing_checks() -> dict[str, DependencyCheck]:
    failure = exceptions.DeadlineExceeded("secret-project at 10.1.2.3:8681 did not answer")
    return _with_clients(firestore=_Recorder(failure), pubsub=_Recorder())


def test_a_failed_readiness_names_no_internals() -> None:
    with pytest.raises(errors.ServiceUnavailableError) as raised:
        readiness(_failing_checks())
    problem = errors.problem_document(raised.value, correlation_id="c-1", instance="/ready")
    assert problem["status"] == 503
    assert problem["code"] == "not_ready"
    assert set(problem) == {"type", "title", "status", "detail", "code", "correlation_id",
                            "instance"}  # fmt: skip
    shown = orjson.dumps(problem).decode().lower()
    assert [word for word in _INTERNALS if word.lower() in shown] == []


def test_a_failed_readiness_logs_what_failed_at_warning(logs: LogCapture) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        readiness(_failing_checks())
    [line] = logs.messages("health.not_ready")
    assert line["severity"] == "WARNING"
    assert line["failed"] == ["firestore"]
    firestore, pubsub = line["checks"]["firestore"], line["checks"]["pubsub"]
    assert (firestore["status"], firestore["error"]) == ("failed", "DeadlineExceeded")
    assert firestore["latency_ms"] >= 0
    assert pubsub["status"] == "ok"


def test_concurrent_readiness_calls_do_not_wait_behind_each_other() -> None:
    callers, checks_per_call = 4, 2
    # Passes only once every probe of every call runs at the same time.
    everyone = threading.Barrier(callers * checks_per_call, timeout=10)

    def probe(_client: object, _timeout: float) -> None:
        everyone.wait()

    checks = {f"dependency-{n}": DependencyCheck(object, probe) for n in range(checks_per_call)}
    reports: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: reports.append(readiness(checks))) for _ in range(callers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert reports == [{"status": "ok"}] * callers
