"""Secrets: one ``SecretStore`` interface, a Secret Manager backend and a local one.

    store = secret_store(settings.secrets_backend, project_id=settings.project_id,
                         local_dir=settings.secrets.local_dir,
                         ttl_seconds=settings.secrets.cache_ttl_seconds,
                         versions=settings.secrets.versions)
    pem = store.get("jwt-signing-keys")

Create the store once per instance: the Secret Manager backend's cache and client live
in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from shared.secrets.base import (
    GeneratedSecretKind,
    SecretAccessError,
    SecretConfigError,
    SecretError,
    SecretNotFoundError,
    SecretStore,
    check_secret_name,
)
from shared.secrets.cache import TtlCache
from shared.secrets.local import LocalSecretStore, environment_variable, generate_value
from shared.secrets.secret_manager import SecretManagerSecretStore, crc32c

SecretBackend = Literal["local", "secret_manager"]


def secret_store(
    backend: SecretBackend,
    *,
    project_id: str,
    local_dir: Path | str | None,
    ttl_seconds: float,
    versions: Mapping[str, str],
    generate: Mapping[str, GeneratedSecretKind] | None = None,
) -> SecretStore:
    """Build the configured backend.

    ``generate`` (local backend only) declares which secrets get a development value
    on first use and of which kind; the Secret Manager backend never invents values.
    """
    if backend == "local":
        return LocalSecretStore(local_dir, generate=generate)
    if backend == "secret_manager":
        return SecretManagerSecretStore(project_id, versions=versions, ttl_seconds=ttl_seconds)
    raise SecretConfigError(f"unknown secrets backend {backend!r}")


__all__ = [
    "GeneratedSecretKind",
    "LocalSecretStore",
    "SecretAccessError",
    "SecretBackend",
    "SecretConfigError",
    "SecretError",
    "SecretManagerSecretStore",
    "SecretNotFoundError",
    "SecretStore",
    "TtlCache",
    "check_secret_name",
    "crc32c",
    "environment_variable",
    "generate_value",
    "secret_store",
]
