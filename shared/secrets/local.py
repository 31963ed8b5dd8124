"""The local backend (emulator mode): environment variables, then a git-ignored directory.

Lookup order for a secret ``jwt-signing-keys``:

1. the environment variable ``TRIBUTUM_SECRET_JWT_SIGNING_KEYS`` (used as is);
2. the file ``<directory>/jwt-signing-keys`` (trailing newlines dropped);
3. if the secret is declared generatable, a development value written to that file
   with mode 0600 (directory 0700) and returned: an EC P-256 private key in PEM for
   signing keys, a random URL-safe token otherwise.

Generation is race-free across the local stack's processes: the value is written to
a private temporary file and hard-linked into place, which fails if another process
got there first; the loser reads the winner's value.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path

from shared.secrets.base import (
    GeneratedSecretKind,
    SecretConfigError,
    SecretNotFoundError,
    SecretStore,
    check_secret_name,
)

ENV_PREFIX = "TRIBUTUM_SECRET_"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def environment_variable(name: str) -> str:
    """``jwt-signing-keys`` -> ``TRIBUTUM_SECRET_JWT_SIGNING_KEYS``."""
    return ENV_PREFIX + check_secret_name(name).upper().replace("-", "_")


def generate_value(kind: GeneratedSecretKind) -> str:
    """A fresh development value of ``kind``."""
    if kind == "ec_p256_private_key":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
    if kind == "random_token":
        return secrets.token_urlsafe(32)
    raise SecretConfigError(f"unknown generated secret kind {kind!r}")


class LocalSecretStore(SecretStore):
    def __init__(
        self,
        directory: Path | str | None,
        *,
        generate: Mapping[str, GeneratedSecretKind] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._directory = Path(directory) if directory is not None else None
        self._generate = {check_secret_name(name): kind for name, kind in (generate or {}).items()}
        self._environ = environ if environ is not None else os.environ
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        variable = environment_variable(name)
        from_env = self._environ.get(variable)
        if from_env:
            return from_env
        if self._directory is None:
            raise SecretNotFoundError(
                f"secret {name!r} not found: set {variable} (no local secrets directory)"
            )
        path = self._directory / name
        value = _read(path)
        if value is not None:
            return value
        kind = self._generate.get(name)
        if kind is None:
            raise SecretNotFoundError(f"secret {name!r} not found: set {variable} or create {path}")
        with self._lock:
            return _create_once(path, generate_value(kind))


def _read(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        return None
    if not value:
        raise SecretConfigError(f"secret file {path} is empty")
    return value


def _create_once(path: Path, value: str) -> str:
    """Write ``value`` to ``path`` unless it exists; return what ``path`` then holds."""
    value = value.rstrip("\r\n")  # the form `_read` returns, whoever wins the race
    path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            existing = _read(path)
            if existing is None:  # removed between link and read: nothing sane to return
                raise SecretNotFoundError(f"secret file {path} vanished while created") from None
            return existing
        return value
    finally:
        temporary.unlink(missing_ok=True)
