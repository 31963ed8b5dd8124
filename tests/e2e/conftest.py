"""One whole local stack per test session, driven through ``python -m emulator``.

The stack runs the manifest in ``tests/e2e/functions/`` (the real health
function plus test functions) on its own project id and ports, so it never
meets a developer's stack. Ports and project come from ``TRIBUTUM_E2E_*``
variables when set. At the end the stack is taken down and the session fails
if any of its process groups or ports is still alive.

Tests talk to the emulators over their REST APIs with explicit addresses, so
nothing here depends on ``FIRESTORE_EMULATOR_HOST`` / ``PUBSUB_EMULATOR_HOST``
(which other fixtures of the same session may point elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.processes import group_alive, port_open
from emulator.pubsub_setup import PubSubRest

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path(__file__).resolve().parent / "functions" / "manifest.yaml"
HOST = "127.0.0.1"
T = TypeVar("T")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class StackHandle:
    project_id: str
    gateway_port: int
    firestore_port: int
    pubsub_port: int
    functions_base_port: int
    manifest: Path = MANIFEST
    extra_env: dict[str, str] = field(default_factory=dict)
    # Run the packaged archives (build/<name>/), each in a virtualenv installed only from
    # its own requirements.txt: what the cloud would deploy.
    from_build: bool = False

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"

    @property
    def firestore_address(self) -> str:
        return f"{HOST}:{self.firestore_port}"

    @property
    def pubsub_address(self) -> str:
        return f"{HOST}:{self.pubsub_port}"

    @property
    def state_path(self) -> Path:
        return REPO_ROOT / ".local" / f"stack-{self.project_id}.json"

    def flags(self) -> list[str]:
        return [
            "--project",
            self.project_id,
            "--gateway-port",
            str(self.gateway_port),
            "--firestore-port",
            str(self.firestore_port),
            "--pubsub-port",
            str(self.pubsub_port),
            "--functions-base-port",
            str(self.functions_base_port),
            "--manifest",
            str(self.manifest),
        ]

    def cli(
        self, command: str, *args: str, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m emulator <command>`` for this stack and return what it printed."""
        return subprocess.run(
            [sys.executable, "-m", "emulator", command, *self.flags(), *args],
            cwd=REPO_ROOT,
            env={**os.environ, **self.extra_env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_path.read_text()))

    def pubsub(self) -> PubSubRest:
        return PubSubRest(self.pubsub_address, self.project_id)

    def firestore(self, database: str = "(default)") -> FirestoreRest:
        """The main database, or ``database`` ("credentials") of the stack's emulator."""
        return FirestoreRest(self.firestore_address, self.project_id, database)


def primary_stack() -> StackHandle:
    return StackHandle(
        project_id=os.environ.get("TRIBUTUM_E2E_PROJECT_ID", "demo-tributum-e2e"),
        gateway_port=_env_int("TRIBUTUM_E2E_GATEWAY_PORT", 18080),
        firestore_port=_env_int("TRIBUTUM_E2E_FIRESTORE_PORT", 18681),
        pubsub_port=_env_int("TRIBUTUM_E2E_PUBSUB_PORT", 18682),
        functions_base_port=_env_int("TRIBUTUM_E2E_FUNCTIONS_BASE_PORT", 18700),
        # The e2e-ticks schedule is every minute: twelve times faster ticks every 5 s.
        extra_env={"TRIBUTUM_SCHEDULE_SPEEDUP": "12"},
    )


def shifted_stack(primary: StackHandle, step: int, suffix: str) -> StackHandle:
    """Another stack beside the first: its own project id, every port shifted by ``step``."""
    return StackHandle(
        project_id=f"{primary.project_id}-{suffix}",
        gateway_port=primary.gateway_port + 10 * step,
        # Emulators move by 100 so they never land in a stack's function port range.
        firestore_port=primary.firestore_port + 100 * step,
        pubsub_port=primary.pubsub_port + 100 * step,
        functions_base_port=primary.functions_base_port + 50 * step,
    )


def secondary_stack(primary: StackHandle) -> StackHandle:
    return shifted_stack(primary, 1, "b")


def leftovers(state: dict[str, Any]) -> list[str]:
    """Process groups still alive and ports still answering for a recorded stack."""
    found = []
    for process in state["processes"]:
        if group_alive(process["pgid"]):
            found.append(f"{process['name']}: process group {process['pgid']} alive")
        if process["port"] is not None and port_open(state["host"], process["port"]):
            found.append(f"{process['name']}: port {process['port']} answers")
    return found


def bring_down(handle: StackHandle) -> None:
    """``down`` the stack and fail unless nothing of it is left."""
    state = handle.state() if handle.state_path.exists() else None
    result = handle.cli("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not handle.state_path.exists()
    if state is not None:
        assert leftovers(state) == []


def bring_up(handle: StackHandle) -> None:
    if handle.state_path.exists():  # a previous session crashed: clean up after it first
        handle.cli("down")
    if handle.from_build:
        packaged = subprocess.run(
            [sys.executable, "infra/package.py", "--venvs"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if packaged.returncode != 0:
            pytest.fail(f"packaging failed:\n{packaged.stdout}\n{packaged.stderr}", pytrace=False)
    result = handle.cli("up", *(["--from-build"] if handle.from_build else []), timeout=600)
    if result.returncode != 0:
        pytest.fail(
            f"python -m emulator up failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


def product_stack() -> StackHandle:
    """The real manifest (every function in functions/), run from the built archives."""
    base = shifted_stack(primary_stack(), 5, "product")
    return StackHandle(
        project_id=base.project_id,
        gateway_port=base.gateway_port,
        firestore_port=base.firestore_port,
        pubsub_port=base.pubsub_port,
        functions_base_port=base.functions_base_port,
        manifest=REPO_ROOT / "functions" / "manifest.yaml",
        from_build=True,
    )


@pytest.fixture(scope="session")
def product() -> Iterator[StackHandle]:
    handle = product_stack()
    bring_up(handle)
    try:
        yield handle
    finally:
        bring_down(handle)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    handle = primary_stack()
    bring_up(handle)
    try:
        yield handle
    finally:
        bring_down(handle)


# -- HTTP and emulator helpers --------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def http(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    assert url.startswith("http://"), url
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers.items()), exc.read())


def _decode_value(value: dict[str, Any]) -> Any:
    if "mapValue" in value:
        return {k: _decode_value(v) for k, v in value["mapValue"].get("fields", {}).items()}
    if "arrayValue" in value:
        return [_decode_value(v) for v in value["arrayValue"].get("values", [])]
    if "integerValue" in value:
        return int(value["integerValue"])
    if "nullValue" in value:
        return None
    _kind, raw = next(iter(value.items()))
    return raw


def _encode_value(value: bool | int | str) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    return {"stringValue": value}


class FirestoreRest:
    """Reads from the Firestore emulator's REST API (no credentials needed there)."""

    def __init__(self, address: str, project_id: str, database: str = "(default)") -> None:
        self.base = f"http://{address}/v1/projects/{project_id}/databases/{database}/documents"

    def get(self, path: str) -> dict[str, Any] | None:
        reply = http("GET", f"{self.base}/{urllib.parse.quote(path)}")
        if reply.status == 404:
            return None
        assert reply.status == 200, reply.body
        return {k: _decode_value(v) for k, v in reply.json().get("fields", {}).items()}

    def set(self, path: str, fields: dict[str, bool | int | str]) -> None:
        """Create or replace the document at ``path`` with scalar ``fields``."""
        body = {"fields": {name: _encode_value(value) for name, value in fields.items()}}
        reply = http(
            "PATCH",
            f"{self.base}/{urllib.parse.quote(path)}",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        assert reply.status == 200, reply.body

    def list(self, collection: str) -> list[dict[str, Any]]:
        reply = http("GET", f"{self.base}/{urllib.parse.quote(collection)}?pageSize=300")
        assert reply.status == 200, reply.body
        return [
            {k: _decode_value(v) for k, v in doc.get("fields", {}).items()}
            for doc in reply.json().get("documents", [])
        ]


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(0.3)
