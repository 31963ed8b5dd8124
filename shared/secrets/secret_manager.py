"""The Google Secret Manager backend.

* ``google-cloud-secret-manager`` is imported only when the first client is created,
  so functions that never read a secret do not pay for it on cold start.
* One client per instance, created on first use (``shared.instance``; the client is
  thread-safe); a client can also be injected through the constructor.
* Versions are pinned by configuration (``TRIBUTUM_SECRETS__VERSIONS``): a deploy
  names the exact version it was tested with, so rotating a secret is a deploy, and
  rolling back one is too. ``latest`` is refused unless explicitly allowed.
* Values are cached per instance for ``ttl_seconds``; with pinned versions the value
  cannot change, so the TTL bounds how long a disabled or destroyed version keeps
  working on a warm instance.
* The payload checksum (CRC32C) is verified when the service sends one.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from shared.instance import per_instance
from shared.secrets.base import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    SecretStore,
    check_secret_name,
)
from shared.secrets.cache import TtlCache

_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
LATEST = "latest"


@per_instance
def _instance_client() -> Any:
    """The instance's Secret Manager client, created once."""
    from google.cloud import secretmanager

    return secretmanager.SecretManagerServiceClient()


class SecretManagerSecretStore(SecretStore):
    def __init__(
        self,
        project_id: str,
        *,
        versions: Mapping[str, str],
        ttl_seconds: float = 300,
        client: Any = None,
        allow_latest: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not project_id:
            raise SecretConfigError("Secret Manager needs a project id")
        self._project_id = project_id
        self._versions = {
            check_secret_name(name): _check_version(name, version, allow_latest)
            for name, version in versions.items()
        }
        self._client = client
        self._client_lock = threading.Lock()
        self._cache = TtlCache(ttl_seconds, clock=clock)

    def version_name(self, name: str) -> str:
        """The resource name read for ``name``: its pinned version."""
        check_secret_name(name)
        version = self._versions.get(name)
        if version is None:
            raise SecretConfigError(
                f"secret {name!r} has no pinned version; set it in TRIBUTUM_SECRETS__VERSIONS"
            )
        return f"projects/{self._project_id}/secrets/{name}/versions/{version}"

    def get(self, name: str) -> str:
        resource = self.version_name(name)
        return self._cache.get_or_load(name, lambda: self._access(name, resource))

    def invalidate(self, name: str | None = None) -> None:
        """Drop cached values (for example after an authentication failure hints at rotation)."""
        self._cache.invalidate(name)

    def _client_instance(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = _instance_client()
        return self._client

    def _access(self, name: str, resource: str) -> str:
        try:
            response = self._client_instance().access_secret_version(request={"name": resource})
        except Exception as exc:
            raise _translate(name, exc) from exc
        payload = response.payload
        data: bytes = payload.data
        expected = getattr(payload, "data_crc32c", None)
        # An unset optional int64 reads as 0 through proto-plus: only a non-zero value
        # is a checksum to compare.
        if expected and crc32c(data) != int(expected):
            raise SecretAccessError(f"secret {name!r}: payload checksum mismatch")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretAccessError(f"secret {name!r} is not UTF-8 text") from None


def _check_version(name: str, version: str, allow_latest: bool) -> str:
    if version == LATEST:
        if not allow_latest:
            raise SecretConfigError(
                f"secret {name!r} is pinned to 'latest'; pin a numbered version"
            )
        return version
    if not _VERSION.match(version):
        raise SecretConfigError(f"secret {name!r}: version {version!r} is not a version number")
    return version


def _translate(name: str, exc: Exception) -> Exception:
    kind = type(exc).__name__
    if kind == "NotFound":
        return SecretNotFoundError(f"secret {name!r}: the pinned version does not exist")
    if kind in {"PermissionDenied", "Forbidden"}:
        return SecretAccessError(f"secret {name!r}: access denied to this service account")
    if kind == "FailedPrecondition":
        return SecretAccessError(f"secret {name!r}: the pinned version is disabled or destroyed")
    return SecretAccessError(f"secret {name!r}: Secret Manager call failed ({kind})")


def _crc32c_table() -> tuple[int, ...]:
    polynomial = 0x82F63B78  # Castagnoli, reflected
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C of ``data`` (secrets are small; a table-driven loop is fast enough)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
