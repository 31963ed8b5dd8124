"""Sealed secrets: bound to their context, integrity-checked, unsealed once per instance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.secrets import SecretAccessError, SecretConfigError, crc32c
from shared.secrets.sealing import (
    KmsSealer,
    LocalSealer,
    UnsealCache,
    decode,
    encode,
    sealer_for,
)

SECRET = b"whsec_" + b"A" * 44
CONTEXT = b"webhook-secret:tenant-a/wh0123"


def test_a_local_seal_unseals_in_its_context_only(tmp_path: Path) -> None:
    sealer = sealer_for("", local_dir=tmp_path)
    assert isinstance(sealer, LocalSealer)
    sealed = sealer.seal(SECRET, context=CONTEXT)
    assert SECRET not in sealed
    assert sealer.unseal(sealed, context=CONTEXT) == SECRET
    with pytest.raises(SecretAccessError):
        sealer.unseal(sealed, context=b"webhook-secret:tenant-b/wh0123")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SecretAccessError):
        sealer.unseal(tampered, context=CONTEXT)
    with pytest.raises(SecretAccessError):
        sealer.unseal(b"not sealed", context=CONTEXT)


def test_each_seal_is_fresh_and_the_local_key_outlives_the_instance(tmp_path: Path) -> None:
    first = sealer_for("", local_dir=tmp_path)
    one, two = first.seal(SECRET, context=CONTEXT), first.seal(SECRET, context=CONTEXT)
    assert one != two  # a new nonce each time
    # Another process of the local stack reads the same generated key.
    assert sealer_for("", local_dir=tmp_path).unseal(one, context=CONTEXT) == SECRET
    assert (tmp_path / "webhook-sealing-key").stat().st_mode & 0o777 == 0o600
    assert sealer_for("", local_dir=tmp_path / "elsewhere").seal(SECRET, context=CONTEXT)
    with pytest.raises(SecretAccessError):
        sealer_for("", local_dir=tmp_path / "elsewhere").unseal(one, context=CONTEXT)


@dataclass
class _Encrypted:
    ciphertext: bytes
    ciphertext_crc32c: int
    verified_plaintext_crc32c: bool = True
    verified_additional_authenticated_data_crc32c: bool = True


@dataclass
class _Decrypted:
    plaintext: bytes
    plaintext_crc32c: int


class _KeyService:
    """Cloud KMS's answers for one key, checking what a request must carry."""

    def __init__(self, *, corrupt: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.corrupt = corrupt

    def encrypt(self, request: dict[str, Any]) -> _Encrypted:
        self.requests.append(request)
        assert request["plaintext_crc32c"] == crc32c(request["plaintext"])
        assert request["additional_authenticated_data_crc32c"] == crc32c(
            request["additional_authenticated_data"]
        )
        ciphertext = request["additional_authenticated_data"] + b"|" + request["plaintext"][::-1]
        crc = crc32c(ciphertext) ^ (1 if self.corrupt else 0)
        return _Encrypted(ciphertext, crc)

    def decrypt(self, request: dict[str, Any]) -> _Decrypted:
        self.requests.append(request)
        assert request["ciphertext_crc32c"] == crc32c(request["ciphertext"])
        context, _, body = request["ciphertext"].partition(b"|")
        assert context == request["additional_authenticated_data"]
        plaintext = body[::-1]
        return _Decrypted(plaintext, crc32c(plaintext) ^ (1 if self.corrupt else 0))


KEY = "projects/p/locations/europe-west1/keyRings/tributum/cryptoKeys/webhook-secrets"


def test_kms_requests_name_the_key_and_carry_crc32c_both_ways() -> None:
    service = _KeyService()
    sealer = KmsSealer(KEY, client_factory=lambda: service)
    sealed = sealer.seal(SECRET, context=CONTEXT)
    assert sealer.unseal(sealed, context=CONTEXT) == SECRET
    assert [r["name"] for r in service.requests] == [KEY, KEY]


def test_a_kms_answer_that_fails_its_checksum_is_refused() -> None:
    sealer = KmsSealer(KEY, client_factory=lambda: _KeyService(corrupt=True))
    with pytest.raises(SecretAccessError):
        sealer.seal(SECRET, context=CONTEXT)
    good = KmsSealer(KEY, client_factory=_KeyService).seal(SECRET, context=CONTEXT)
    with pytest.raises(SecretAccessError):
        sealer.unseal(good, context=CONTEXT)


@pytest.mark.parametrize("name", ["webhook-secrets", "projects/p/secrets/x", "keyRings/r"])
def test_a_key_setting_that_names_no_kms_key_is_refused(name: str) -> None:
    with pytest.raises(SecretConfigError):
        sealer_for(name, local_dir=None)


def test_unsealed_values_are_reused_within_the_instance(tmp_path: Path) -> None:
    calls: list[bytes] = []
    local = sealer_for("", local_dir=tmp_path)

    class Counting:
        key_name = "local"

        def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
            return local.seal(plaintext, context=context)

        def unseal(self, sealed: bytes, *, context: bytes) -> bytes:
            calls.append(sealed)
            return local.unseal(sealed, context=context)

    cache = UnsealCache(Counting())
    sealed = local.seal(SECRET, context=CONTEXT)
    assert cache.unseal(sealed, context=CONTEXT) == SECRET
    assert cache.unseal(sealed, context=CONTEXT) == SECRET
    assert len(calls) == 1
    with pytest.raises(SecretAccessError):
        cache.unseal(sealed, context=b"webhook-secret:tenant-b/wh0123")


def test_sealed_values_travel_as_base64_text() -> None:
    assert decode(encode(b"\x00\xffsealed")) == b"\x00\xffsealed"


def test_a_kms_outage_is_a_retryable_503_not_a_crash() -> None:
    from google.api_core.exceptions import ServiceUnavailable

    from shared.errors import ServiceUnavailableError

    class Down:
        def encrypt(self, request: dict[str, Any]) -> Any:
            raise ServiceUnavailable("kms is down")

    with pytest.raises(ServiceUnavailableError) as refused:
        KmsSealer(KEY, client_factory=Down).seal(SECRET, context=CONTEXT)
    assert (refused.value.status, refused.value.code) == (503, "secrets_unavailable")
    assert refused.value.headers["Retry-After"] == "5"
