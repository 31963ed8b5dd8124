"""HTTP functions served for real: functions-framework (gunicorn) in its own process group."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from emulator.emulators import process_group_alive, stop_process_group
from tests.conftest import Emulators

REPO_ROOT = Path(__file__).resolve().parents[3]
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class ServedFunction:
    """One functions-framework process; its stdout goes to a file the test can read."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    # The variables the test set on top of the usual ones (e.g. an unreachable address).
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def request(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=15)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def stdout_lines(self) -> list[str]:
        return self.stdout_path.read_text(encoding="utf-8").splitlines()

    def diagnostics(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:]


def serve_function(
    name: str, emulators: Emulators, log_dir: Path, **environment: str
) -> ServedFunction:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        "FIRESTORE_EMULATOR_HOST": emulators.firestore_address,
        "PUBSUB_EMULATOR_HOST": emulators.pubsub_address,
        "GOOGLE_CLOUD_PROJECT": emulators.project_id,
        "TRIBUTUM_PROJECT_ID": emulators.project_id,
        "TRIBUTUM_FUNCTION_NAME": name,
        "TRIBUTUM_ENV": "local",
        "TRIBUTUM_LOG_FORMAT": "json",
        **environment,
    }
    stdout_path = log_dir / f"{name}-{port}.stdout"
    stderr_path = log_dir / f"{name}-{port}.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(REPO_ROOT / "functions" / name / "main.py"),
                "--target",
                "handle",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    served = ServedFunction(name, port, process, stdout_path, stderr_path, environment)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_function(served)
            pytest.fail(f"{name} exited with {process.returncode}:\n{served.diagnostics()}")
        try:
            if served.request("/v1/health/live").status == 200:
                return served
        except OSError:
            time.sleep(0.1)
    stop_function(served)
    pytest.fail(
        f"{name} did not answer within {START_TIMEOUT_SECONDS:.0f}s:\n{served.diagnostics()}"
    )


def stop_function(served: ServedFunction) -> None:
    stop_process_group(served.process.pid)
    try:
        served.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=10)
    assert not process_group_alive(served.process.pid), f"{served.name} group outlived its stop"


@pytest.fixture(scope="module")
def function_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("functions")


@pytest.fixture(scope="module")
def health(emulators: Emulators, function_logs: Path) -> Iterator[ServedFunction]:
    served = serve_function("health", emulators, function_logs)
    yield served
    stop_function(served)


@pytest.fixture(scope="module")
def health_without_pubsub(emulators: Emulators, function_logs: Path) -> Iterator[ServedFunction]:
    """The same function with Pub/Sub pointing at a port where nothing listens."""
    served = serve_function(
        "health", emulators, function_logs, PUBSUB_EMULATOR_HOST=f"{HOST}:{free_port()}"
    )
    yield served
    stop_function(served)
