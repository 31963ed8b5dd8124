"""The keys of the audit chain: each record's MAC is HMAC-SHA256 under a key named in it.

The secret ``audit-chain-keys`` holds a key set::

    {"current": "k2", "keys": {"k1": "<base64url, 32 random bytes>", "k2": "..."}}

New records are signed with ``current``; every key in the set still verifies the records
that name it, so rotation is: add a key and make it current (``rotate``), keep the old
ones as long as records name them (always, unless the trail is re-signed). A plain token
(what the local stack generates, ``random_token``) is a set of one key whose id is
derived from the token.

``python -m shared.audit.keys new`` prints a new key set; ``... rotate < current.json``
prints the set with a new current key. Store the output as a new version of the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from shared.instance import per_instance, reset_instances

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shared.secrets import SecretStore

AUDIT_KEYS_SECRET = "audit-chain-keys"  # noqa: S105 - a secret's name
_MIN_KEY_BYTES = 16


class AuditKeyError(ValueError):
    """The key set cannot be used; the message names the problem, never a key."""


@dataclass(frozen=True, slots=True)
class AuditKeySet:
    current: str
    keys: Mapping[str, bytes]
    # Whether chains still hold records written before keys (chain version 1). Off by
    # default: such records carry a plain hash anyone with Firestore access can forge.
    accept_unkeyed: bool = False

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise AuditKeyError(f"the current key {self.current!r} is not in the key set")
        if any(len(key) < _MIN_KEY_BYTES for key in self.keys.values()):
            raise AuditKeyError(f"every audit key needs at least {_MIN_KEY_BYTES} bytes")

    def sign(self, content: bytes) -> tuple[str, str]:
        """``(key id, MAC hex)`` of ``content`` under the current key."""
        return self.current, _mac(self.keys[self.current], content)

    def matches(self, key_id: str, content: bytes, mac: str) -> bool | None:
        """Whether ``mac`` is ``content``'s under ``key_id``; None when the key is unknown."""
        key = self.keys.get(key_id)
        if key is None:
            return None
        # Bytes, not str: a tampered MAC may hold any characters, and compare_digest
        # refuses non-ASCII strings.
        return hmac.compare_digest(_mac(key, content).encode(), mac.encode("utf-8", "replace"))

    @classmethod
    def from_secret(cls, value: str) -> AuditKeySet:
        text = value.strip()
        if not text.startswith("{"):
            raw = text.encode()
            key_id = "k" + hashlib.sha256(raw).hexdigest()[:8]
            return cls(key_id, {key_id: raw})
        try:
            document = orjson.loads(text)
            keys = {str(k): _decode(str(v)) for k, v in dict(document["keys"]).items()}
            accept_unkeyed = document.get("accept_unkeyed_records", False) is True
            return cls(str(document["current"]), keys, accept_unkeyed)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, AuditKeyError):
                raise
            raise AuditKeyError(
                'the audit key set must be {"current": id, "keys": {id: base64url}}'
            ) from None

    def to_secret(self) -> str:
        encoded = {
            k: base64.urlsafe_b64encode(v).decode().rstrip("=") for k, v in self.keys.items()
        }
        document: dict[str, object] = {"current": self.current, "keys": encoded}
        if self.accept_unkeyed:
            document["accept_unkeyed_records"] = True
        return orjson.dumps(document).decode()


def _mac(key: bytes, content: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key_set() -> AuditKeySet:
    return AuditKeySet("k1", {"k1": secrets.token_bytes(32)})


def rotated(keys: AuditKeySet) -> AuditKeySet:
    """The same keys plus a new current one, ``k<n+1>``."""
    numbers = [int(k[1:]) for k in keys.keys if k.startswith("k") and k[1:].isdigit()]
    key_id = f"k{max(numbers, default=0) + 1}"
    while key_id in keys.keys:
        key_id += "a"
    return AuditKeySet(key_id, {**keys.keys, key_id: secrets.token_bytes(32)}, keys.accept_unkeyed)


class AuditKeySource:
    """The key set from the secret store, re-parsed only when the secret's value changes."""

    def __init__(self, store: SecretStore, name: str = AUDIT_KEYS_SECRET) -> None:
        self._store = store
        self._name = name
        self._lock = threading.Lock()
        self._parsed: tuple[str, AuditKeySet] | None = None

    def __call__(self) -> AuditKeySet:
        value = self._store.get(self._name)
        with self._lock:
            if self._parsed is None or self._parsed[0] != value:
                self._parsed = (value, AuditKeySet.from_secret(value))
            return self._parsed[1]


@per_instance
def _key_source() -> AuditKeySource:
    return AuditKeySource(_instance_store())


def audit_keys() -> AuditKeySet:
    """This instance's audit key set (the secret store is built once per instance)."""
    return _key_source()()


def _instance_store() -> SecretStore:
    from pathlib import Path

    from shared.config import get_settings
    from shared.secrets import secret_store

    settings = get_settings()
    return secret_store(
        "secret_manager" if settings.secrets_backend == "secret_manager" else "local",
        project_id=settings.project_id,
        local_dir=Path(settings.secrets.local_dir),
        ttl_seconds=settings.secrets.cache_ttl_seconds,
        versions=settings.secrets.versions,
        generate={AUDIT_KEYS_SECRET: "random_token"},
    )


def reset_audit_keys() -> None:
    """Forget the instance's key source (tests that change the secret's backend)."""
    reset_instances(__name__)


def main(argv: list[str]) -> int:
    if argv == ["new"]:
        print(new_key_set().to_secret())
        return 0
    if argv == ["rotate"]:
        print(rotated(AuditKeySet.from_secret(sys.stdin.read())).to_secret())
        return 0
    print("usage: python -m shared.audit.keys new | rotate < current-key-set.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = [
    "AUDIT_KEYS_SECRET",
    "AuditKeyError",
    "AuditKeySet",
    "AuditKeySource",
    "audit_keys",
    "new_key_set",
    "reset_audit_keys",
    "rotated",
]
