"""The secret-store interface and the rules every backend shares."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Literal

# How the local backend produces a development value for a secret on first use
# (the manifest's `secrets[].local` uses the same names).
GeneratedSecretKind = Literal["ec_p256_private_key", "random_token"]

# Secret names are kebab-case, as in the topology manifest: safe as a Secret Manager
# id, a file name and (upper-snake-cased) an environment variable name.
SECRET_NAME = re.compile(r"^[a-z][a-z0-9-]{2,100}$")


class SecretError(RuntimeError):
    """A secret cannot be provided; the message names the secret, never its value."""


class SecretNotFoundError(SecretError):
    """The secret (or its pinned version) does not exist in the backend."""


class SecretConfigError(SecretError):
    """The store is configured in a way that cannot work (unpinned version, bad name...)."""


class SecretAccessError(SecretError):
    """The backend refused or failed to return the secret."""


def check_secret_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise SecretConfigError(
            f"secret name {name!r} must be kebab-case: a-z, 0-9 and '-', 3-101 characters"
        )
    return name


class SecretStore(ABC):
    """Where a function's secrets come from; implementations are thread-safe."""

    @abstractmethod
    def get(self, name: str) -> str:
        """The secret's current value (UTF-8 text), or a ``SecretError`` naming it."""
