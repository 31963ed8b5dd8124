"""The Secret Manager backend with an injected client object (no network)."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions

from shared.secrets import (
    SecretAccessError,
    SecretConfigError,
    SecretManagerSecretStore,
    SecretNotFoundError,
    crc32c,
    secret_store,
)


@dataclass
class Payload:
    data: bytes
    data_crc32c: int | None = None


@dataclass
class Response:
    payload: Payload


@dataclass
class RecordingClient:
    """Answers access_secret_version from a dict of resource name -> bytes."""

    values: dict[str, bytes]
    requests: list[str] = field(default_factory=list)
    checksum: bool = True
    failure: Exception | None = None

    def access_secret_version(self, request: dict[str, Any]) -> Response:
        name = request["name"]
        self.requests.append(name)
        if self.failure is not None:
            raise self.failure
        if name not in self.values:
            raise api_exceptions.NotFound(name)
        data = self.values[name]
        return Response(Payload(data, crc32c(data) if self.checksum else None))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


REPO_ROOT = Path(__file__).resolve().parents[3]
PATH = "projects/demo-proj/secrets/jwt-signing-keys/versions/3"


def store(
    client: RecordingClient, clock: Clock | None = None, ttl: float = 300
) -> SecretManagerSecretStore:
    return SecretManagerSecretStore(
        "demo-proj",
        versions={"jwt-signing-keys": "3"},
        ttl_seconds=ttl,
        client=client,
        clock=clock or Clock(),
    )


def test_reads_the_pinned_version() -> None:
    client = RecordingClient({PATH: b"pem-value"})
    assert store(client).get("jwt-signing-keys") == "pem-value"
    assert client.requests == [PATH]


def test_values_are_cached_for_the_ttl() -> None:
    clock = Clock()
    client = RecordingClient({PATH: b"v"})
    secrets = store(client, clock, ttl=60)
    for _ in range(5):
        secrets.get("jwt-signing-keys")
    assert len(client.requests) == 1
    clock.now = 59.9
    secrets.get("jwt-signing-keys")
    assert len(client.requests) == 1
    clock.now = 60
    secrets.get("jwt-signing-keys")
    assert len(client.requests) == 2


def test_invalidate_forces_a_read() -> None:
    client = RecordingClient({PATH: b"v"})
    secrets = store(client)
    secrets.get("jwt-signing-keys")
    secrets.invalidate("jwt-signing-keys")
    secrets.get("jwt-signing-keys")
    assert len(client.requests) == 2


def test_concurrent_cold_reads_make_one_call() -> None:
    client = RecordingClient({PATH: b"v"})
    secrets = store(client)
    barrier = threading.Barrier(6)

    def read() -> None:
        barrier.wait()
        assert secrets.get("jwt-signing-keys") == "v"

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(client.requests) == 1


def test_unpinned_secret_is_a_configuration_error() -> None:
    with pytest.raises(SecretConfigError, match="no pinned version"):
        store(RecordingClient({})).get("other-secret")


def test_latest_is_refused_unless_allowed() -> None:
    with pytest.raises(SecretConfigError, match="latest"):
        SecretManagerSecretStore("p", versions={"api-token": "latest"}, client=RecordingClient({}))
    allowed = SecretManagerSecretStore(
        "p",
        versions={"api-token": "latest"},
        client=RecordingClient({"projects/p/secrets/api-token/versions/latest": b"x"}),
        allow_latest=True,
    )
    assert allowed.get("api-token") == "x"


@pytest.mark.parametrize("version", ["0", "-1", "v3", "3.1", ""])
def test_malformed_versions_are_refused(version: str) -> None:
    with pytest.raises(SecretConfigError, match="version"):
        SecretManagerSecretStore("p", versions={"api-token": version}, client=RecordingClient({}))


def test_missing_version_is_not_found() -> None:
    with pytest.raises(SecretNotFoundError, match="jwt-signing-keys"):
        store(RecordingClient({})).get("jwt-signing-keys")


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (api_exceptions.PermissionDenied("no"), "access denied"),
        (api_exceptions.FailedPrecondition("disabled"), "disabled or destroyed"),
        (api_exceptions.ServiceUnavailable("down"), "call failed"),
    ],
)
def test_backend_failures_are_secret_access_errors(failure: Exception, message: str) -> None:
    client = RecordingClient({PATH: b"v"}, failure=failure)
    with pytest.raises(SecretAccessError, match=message):
        store(client).get("jwt-signing-keys")


def test_failures_are_not_cached() -> None:
    client = RecordingClient({PATH: b"v"}, failure=api_exceptions.ServiceUnavailable("down"))
    secrets = store(client)
    with pytest.raises(SecretAccessError):
        secrets.get("jwt-signing-keys")
    client.failure = None
    assert secrets.get("jwt-signing-keys") == "v"


def test_corrupted_payload_is_detected_by_its_checksum() -> None:
    class Corrupting(RecordingClient):
        def access_secret_version(self, request: dict[str, Any]) -> Response:
            response = super().access_secret_version(request)
            return Response(Payload(b"tampered", response.payload.data_crc32c))

    with pytest.raises(SecretAccessError, match="checksum"):
        store(Corrupting({PATH: b"original"})).get("jwt-signing-keys")


def test_payload_without_checksum_is_accepted() -> None:
    assert store(RecordingClient({PATH: b"v"}, checksum=False)).get("jwt-signing-keys") == "v"


def test_non_utf8_payload_is_refused() -> None:
    with pytest.raises(SecretAccessError, match="UTF-8"):
        store(RecordingClient({PATH: b"\xff\xfe"})).get("jwt-signing-keys")


def test_errors_never_include_the_value() -> None:
    client = RecordingClient({PATH: b"\xffvery-secret"})
    with pytest.raises(SecretAccessError) as caught:
        store(client).get("jwt-signing-keys")
    assert "very-secret" not in str(caught.value)


def test_crc32c_known_vector() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_factory_builds_the_secret_manager_backend_without_creating_a_client() -> None:
    built = secret_store(
        "secret_manager",
        project_id="demo-proj",
        local_dir=None,
        ttl_seconds=120,
        versions={"jwt-signing-keys": "7"},
    )
    assert isinstance(built, SecretManagerSecretStore)
    assert built.version_name("jwt-signing-keys") == (
        "projects/demo-proj/secrets/jwt-signing-keys/versions/7"
    )


def test_project_id_is_required() -> None:
    with pytest.raises(SecretConfigError, match="project"):
        SecretManagerSecretStore("", versions={}, client=RecordingClient({}))


def test_importing_the_secrets_module_does_not_load_the_client_library() -> None:
    code = (
        "import sys, shared.secrets, shared.auth, shared.ratelimit\n"
        "heavy = [m for m in ('google.cloud.secretmanager', 'google.cloud.firestore') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
