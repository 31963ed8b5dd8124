"""A real push: the Pub/Sub emulator pushes to a functions-framework process we start."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from emulator.emulators import stop_process_group
from emulator.processes import port_open, start_detached
from emulator.pubsub_setup import push_endpoint
from shared.events.envelope import new_event

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTION_SOURCE = Path(__file__).parent / "functions" / "push_counter" / "main.py"
PORTS = range(9190, 9200)


def _free_port() -> int:
    for port in PORTS:
        if not port_open("127.0.0.1", port):
            return port
    pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


class ServedFunction:
    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_bytes().splitlines():
            if raw.startswith(b"{"):
                lines.append(orjson.loads(raw))
        return lines


@pytest.fixture
def push_counter(emulators: Any) -> Iterator[ServedFunction]:
    port = _free_port()
    log_path = Path(tempfile.mkdtemp(prefix="push-counter-")) / "function.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "TRIBUTUM_ENV": "local",
        "TRIBUTUM_PROJECT_ID": emulators.project_id,
        "TRIBUTUM_FUNCTION_NAME": "push_counter",
        "TRIBUTUM_LOG_FORMAT": "json",
    }
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--source",
        str(FUNCTION_SOURCE),
        "--target",
        "handle",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = start_detached(command, log_path=log_path, env=env, cwd=REPO_ROOT)
    try:
        _wait_for(
            lambda: port_open("127.0.0.1", port) or process.poll() is not None,
            timeout=30,
            what="functions-framework to listen",
        )
        if process.poll() is not None:
            pytest.fail(f"functions-framework exited:\n{log_path.read_text()[-2000:]}")
        yield ServedFunction(port, log_path)
    finally:
        stop_process_group(process.pid)


def test_the_same_event_pushed_twice_has_one_effect(
    push_counter: ServedFunction,
    emulators: Any,
    firestore_client: Any,
    pubsub_publisher: Any,
    pubsub_subscriber: Any,
    unique_name: Any,
) -> None:
    topic = unique_name("push-events")
    topic_path = pubsub_publisher.topic_path(emulators.project_id, topic)
    pubsub_publisher.create_topic(name=topic_path)
    pubsub_subscriber.create_subscription(
        request={
            "name": pubsub_subscriber.subscription_path(
                emulators.project_id, f"{topic}--push_counter"
            ),
            "topic": topic_path,
            "push_config": {
                "push_endpoint": push_endpoint(
                    "127.0.0.1", push_counter.port, emulators.project_id, topic
                )
            },
            "ack_deadline_seconds": 10,
            "retry_policy": {"minimum_backoff": "1s", "maximum_backoff": "2s"},
        }
    )
    marker = uuid.uuid4().hex
    envelope = new_event(
        "test.counted", source="test", subject="counter", tenant_id="t-1", data={"marker": marker}
    )
    message_ids = [
        pubsub_publisher.publish(topic_path, envelope.to_bytes(), **envelope.attributes()).result(
            timeout=10
        )
        for _ in range(2)
    ]

    def both_handled() -> list[dict[str, Any]]:
        handled = [
            line
            for line in push_counter.log_lines()
            if line.get("message") in {"event.processed", "event.duplicate"}
            and line.get("event_id") == envelope.id
        ]
        return handled if {line["message_id"] for line in handled} >= set(message_ids) else []

    handled = _wait_for(both_handled, timeout=60, what="both pushes to be handled")

    assert sorted(line["message"] for line in handled) == ["event.duplicate", "event.processed"]
    for line in handled:
        assert line["correlation_id"] == envelope.correlation_id
        assert line["topic"] == topic
    effect = firestore_client.collection("push_effects").document(envelope.id).get().to_dict()
    assert effect == {"runs": 1, "marker": marker}
    processed = list(firestore_client.collection("processed_events").stream())
    assert [p.id for p in processed] == [f"push_counter:{envelope.id}"]
