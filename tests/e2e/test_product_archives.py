"""Every deployable archive, checked the way Cloud Run functions would run it.

The product stack runs each function from ``build/<name>/`` in a virtualenv installed
only from that folder's ``requirements.txt``, started with the cloud's bare command
and environment (``emulator/runtime_contract.py``). Each function is then sent what
the platform sends it, directly on its own port: HTTP functions a request, event
functions a real Pub/Sub push body, and the effect is read back from Firestore.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulator.launch import function_env
from emulator.settings import load_config
from shared.topology import Function, Manifest, load_manifest
from tests.e2e.conftest import REPO_ROOT, Reply, StackHandle, http, wait_for

pytestmark = pytest.mark.e2e

MANIFEST = load_manifest(REPO_ROOT / "functions" / "manifest.yaml")


def _record(stack: StackHandle, name: str) -> dict[str, Any]:
    return next(p for p in stack.state()["processes"] if p["name"] == name)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _expected_environment(stack: StackHandle, fn: Function, port: int) -> dict[str, str]:
    config = load_config(
        {},
        project_id=stack.project_id,
        firestore_port=stack.firestore_port,
        pubsub_port=stack.pubsub_port,
    )
    return function_env(MANIFEST, fn, config, port, base=_environ(_record(stack, fn.name)["pgid"]))


def _log_lines(stack: StackHandle, name: str) -> list[dict[str, Any]]:
    lines = []
    for raw in Path(_record(stack, name)["log"]).read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


@pytest.mark.parametrize("fn", MANIFEST.functions, ids=lambda fn: fn.name)
def test_each_archive_runs_under_the_clouds_command_and_environment(
    product: StackHandle, fn: Function
) -> None:
    record = _record(product, fn.name)
    pid = record["pgid"]  # started in a session of its own: the leader is the process
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    # The venv's interpreter running its functions-framework script, and nothing else.
    assert Path(arguments[-1]).name == "functions-framework"
    assert len(arguments) == 2
    venv = Path(arguments[-1]).parent.parent
    assert venv.parent == REPO_ROOT / "build" / "venvs"
    requirements = (REPO_ROOT / "build" / fn.name / "requirements.txt").read_text()
    installed = {
        line.split("==")[0].lower()
        for line in requirements.splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    assert "functions-framework" in installed
    assert Path(f"/proc/{pid}/cwd").resolve() == REPO_ROOT / "build" / fn.name
    assert _environ(pid) == _expected_environment(product, fn, record["port"])


@pytest.mark.parametrize(
    "fn", [f for f in MANIFEST.functions if f.kind == "http"], ids=lambda fn: fn.name
)
def test_each_http_archive_answers_with_execution_ids_in_its_logs(
    product: StackHandle, fn: Function
) -> None:
    port = _record(product, fn.name)["port"]
    route = fn.routes[0]
    path = "/".join("probe" if s.startswith("{") else s for s in route.path.split("/"))
    execution_id = f"exec{uuid.uuid4().hex[:12]}"
    reply = http(
        route.method,
        f"http://127.0.0.1:{port}{path}",
        headers={"Function-Execution-Id": execution_id, "Content-Type": "application/json"},
        body=b"{}" if route.method in ("POST", "PATCH") else None,
    )
    # Whatever the route says (200, 401, 404, 422...), it is the app's answer, not a crash.
    assert reply.status < 500, (reply.status, reply.body[:500])
    content_type = (reply.header("Content-Type") or "").split(";")[0]
    assert content_type in ("application/json", "application/problem+json")

    def labelled() -> list[dict[str, Any]] | None:
        lines = [
            line
            for line in _log_lines(product, fn.name)
            if line.get("logging.googleapis.com/labels", {}).get("execution_id") == execution_id
        ]
        return lines or None

    lines = wait_for(labelled, timeout=10, what=f"{fn.name} log lines of {execution_id}")
    assert all(line["logging.googleapis.com/labels"]["function"] == fn.name for line in lines)


def _push_body(project_id: str, subscription: str, data: bytes, **attributes: str) -> bytes:
    """The body a Pub/Sub push subscription POSTs, byte for byte in shape."""
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "attributes": attributes,
                "messageId": str(uuid.uuid4().int)[:16],
                "publishTime": "2026-01-01T00:00:00.000Z",
            },
            "subscription": f"projects/{project_id}/subscriptions/{subscription}",
        }
    ).encode()


def _push(stack: StackHandle, fn: Function, topic: str, body: bytes) -> Reply:
    """POST a push body to the function's own port, at the path push endpoints end in."""
    port = _record(stack, fn.name)["port"]
    return http(
        "POST",
        f"http://127.0.0.1:{port}/projects/{stack.project_id}/topics/{topic}",
        headers={"Content-Type": "application/json"},
        body=body,
    )


def _consumers(manifest: Manifest) -> list[tuple[Function, str]]:
    return [(fn, c.topic) for fn in manifest.functions for c in fn.consumes]


@pytest.mark.parametrize(
    ("fn", "topic"), _consumers(MANIFEST), ids=lambda v: v.name if isinstance(v, Function) else v
)
def test_each_event_archive_decodes_a_real_push_and_keeps_what_it_cannot_use(
    product: StackHandle, fn: Function, topic: str
) -> None:
    body = _push_body(product.project_id, f"{topic}--{fn.name}", b"not an event envelope")
    message_id = json.loads(body)["message"]["messageId"]
    reply = _push(product, fn, topic, body)
    # Acknowledged: a message no retry can fix must not loop until the dead-letter topic.
    assert reply.status == 200, (reply.status, reply.body[:500])
    key = hashlib.sha256(f"{fn.name}:{topic}:{message_id}".encode()).hexdigest()[:40]
    stored = product.firestore().get(f"dead_letters/rej-{key}")
    assert stored is not None
    # Messages on a public topic come from outside: their producer key is checked first,
    # before the body is read, and this one presents none.
    public = {t.name for t in MANIFEST.topics if t.public}
    expected = "credential_missing" if topic in public else "malformed envelope"
    assert stored["reason"].startswith(expected)
    assert stored["consumer"] == fn.name


def test_the_dead_letter_archive_stores_a_real_dead_letter_push(product: StackHandle) -> None:
    keeper = MANIFEST.dead_letter_consumer()
    assert keeper is not None
    body = _push_body(
        product.project_id,
        "payment-events-dlq-sub",
        b'{"id": "x"}',
        CloudPubSubDeadLetterSourceDeliveryCount="5",
        CloudPubSubDeadLetterSourceSubscription="payment-events--process_payment",
    )
    message_id = json.loads(body)["message"]["messageId"]
    reply = _push(product, keeper, "payment-events-dlq", body)
    assert reply.status == 200, (reply.status, reply.body[:500])
    stored = product.firestore().get(f"dead_letters/dlq-{message_id}")
    assert stored is not None
    assert stored["topic"] == "payment-events"
    assert stored["delivery_count"] == 5
