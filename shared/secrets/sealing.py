"""Sealing: secrets the service must read back (webhook signing secrets), encrypted at rest.

A secret the service hands out and must use again (to sign webhooks) cannot be kept as
a hash. Firestore encrypts at rest, but every function's identity may read any
document; sealing each such secret with a key only its users may use narrows that to
them. Each sealed value is bound to a context (its tenant and owner) as additional
authenticated data, so a sealed value copied under another record does not unseal.

Two backends, one interface:

* :class:`KmsSealer` (the cloud): Cloud KMS ``encrypt``/``decrypt`` with the key named
  by ``TRIBUTUM_WEBHOOKS__SECRETS_KEY`` (``projects/.../cryptoKeys/...``, infra/kms.tf),
  with the CRC32C integrity checks Cloud KMS recommends. The client is imported lazily
  and created once per instance.
* :class:`LocalSealer` (the local stack and tests, where no KMS emulator exists):
  AES-256-GCM with a key kept in the local secrets directory, generated on first use.

Unsealed values are kept per instance for a few minutes (:class:`UnsealCache`), so a
busy deliverer does not call KMS for every delivery.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from shared.secrets.base import SecretAccessError, SecretConfigError
from shared.secrets.local import LocalSecretStore
from shared.secrets.secret_manager import crc32c

LOCAL_KEY_SECRET = "webhook-sealing-key"  # noqa: S105 (the name of a local secret)
KMS_KEY_PREFIX = "projects/"
_NONCE_BYTES = 12
_LOCAL_FORMAT = b"\x01"


class Sealer(Protocol):
    """Encrypts small secrets bound to a context, and decrypts them."""

    key_name: str

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def unseal(self, sealed: bytes, *, context: bytes) -> bytes: ...


class LocalSealer:
    """AES-256-GCM with a key from the local secrets directory (no KMS emulator exists)."""

    key_name = "local"

    def __init__(self, store: LocalSecretStore) -> None:
        self._store = store
        self._aead: Any = None
        self._lock = threading.Lock()

    def _cipher(self) -> Any:
        with self._lock:
            if self._aead is None:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM

                material = self._store.get(LOCAL_KEY_SECRET).encode()
                self._aead = AESGCM(hashlib.sha256(material).digest())
            return self._aead

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        body: bytes = self._cipher().encrypt(nonce, plaintext, context)
        return _LOCAL_FORMAT + nonce + body

    def unseal(self, sealed: bytes, *, context: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        if not sealed.startswith(_LOCAL_FORMAT) or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SecretAccessError("a sealed secret is not in the local format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            plaintext: bytes = self._cipher().decrypt(nonce, body, context)
        except InvalidTag:
            raise SecretAccessError("a sealed secret does not unseal in its context") from None
        return plaintext


class KmsSealer:
    """Cloud KMS symmetric encryption with the key ``key_name``."""

    def __init__(self, key_name: str, client_factory: Callable[[], Any] | None = None) -> None:
        if not key_name.startswith(KMS_KEY_PREFIX) or "/cryptoKeys/" not in key_name:
            raise SecretConfigError(
                "a KMS key is named projects/P/locations/L/keyRings/R/cryptoKeys/K"
            )
        self.key_name = key_name
        self._client_factory = client_factory or _kms_client
        self._client: Any = None
        self._lock = threading.Lock()

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        response = self._call(
            "encrypt",
            {
                "name": self.key_name,
                "plaintext": plaintext,
                "plaintext_crc32c": crc32c(plaintext),
                "additional_authenticated_data": context,
                "additional_authenticated_data_crc32c": crc32c(context),
            },
        )
        ciphertext: bytes = response.ciphertext
        if (
            not response.verified_plaintext_crc32c
            or not response.verified_additional_authenticated_data_crc32c
            or int(response.ciphertext_crc32c) != crc32c(ciphertext)
        ):
            raise SecretAccessError("Cloud KMS encryption failed its integrity check")
        return ciphertext

    def unseal(self, sealed: bytes, *, context: bytes) -> bytes:
        response = self._call(
            "decrypt",
            {
                "name": self.key_name,
                "ciphertext": sealed,
                "ciphertext_crc32c": crc32c(sealed),
                "additional_authenticated_data": context,
                "additional_authenticated_data_crc32c": crc32c(context),
            },
        )
        plaintext: bytes = response.plaintext
        if int(response.plaintext_crc32c) != crc32c(plaintext):
            raise SecretAccessError("Cloud KMS decryption failed its integrity check")
        return plaintext

    def _call(self, method: str, request: dict[str, Any]) -> Any:
        """One KMS call; an outage is a 503 the client may retry, not a crash."""
        from google.api_core.exceptions import GoogleAPICallError, RetryError

        try:
            return getattr(self._kms(), method)(request=request)
        except (GoogleAPICallError, RetryError) as exc:
            from shared.errors import ServiceUnavailableError

            raise ServiceUnavailableError(
                "the key that protects signing secrets is unavailable; retry shortly",
                code="secrets_unavailable",
                headers={"Retry-After": "5"},
            ) from exc


def _kms_client() -> Any:
    from google.cloud import kms

    return kms.KeyManagementServiceClient()


class UnsealCache:
    """Unsealed values per instance, each kept ``ttl_seconds``, at most ``max_entries``.

    A sealed value never changes meaning (a rotation writes a new one), so the bound is
    only how long a plaintext stays in memory after its last read.
    """

    def __init__(
        self, sealer: Sealer, *, ttl_seconds: float = 300.0, max_entries: int = 1024
    ) -> None:
        from shared.stale_cache import ReadThroughCache

        self.sealer = sealer
        self._cache: ReadThroughCache[bytes] = ReadThroughCache(
            self._unseal_key,
            group="sealed-secrets",
            ttl_seconds=ttl_seconds,
            max_entries=max_entries,
        )

    def _unseal_key(self, key: str) -> bytes:
        context, _, sealed = key.partition("\n")
        return self.sealer.unseal(decode(sealed), context=context.encode("utf-8"))

    def unseal(self, sealed: bytes, *, context: bytes) -> bytes:
        plaintext = self._cache.get(context.decode("utf-8") + "\n" + encode(sealed))
        if plaintext is None:  # an unseal never answers None; a failure raises
            raise SecretAccessError("a sealed secret did not unseal")
        return plaintext


def sealer_for(key_name: str, *, local_dir: Path | str | None) -> Sealer:
    """The backend the setting names: a KMS key, or empty for the local sealer."""
    if key_name:
        return KmsSealer(key_name)
    return LocalSealer(LocalSecretStore(local_dir, generate={LOCAL_KEY_SECRET: "random_token"}))


def encode(sealed: bytes) -> str:
    return base64.b64encode(sealed).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
