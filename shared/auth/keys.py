"""Token signing keys: an ES256 (P-256) key set with rotation and a JWKS view.

The signing-key secret holds a JSON key set::

    {"keys": [{"kid": "2025-06-k1", "private_key": "-----BEGIN PRIVATE KEY-----...",
               "created_at": "2025-06-01T00:00:00Z", "retired_at": null}, ...]}

* The **signing key** is the newest key whose ``created_at`` has passed and that is
  not retired. A retired key never signs.
* A key **verifies** tokens from its ``created_at`` (a key added ahead of time is
  published in the JWKS before it signs, so caches learn it first) until
  ``retired_at + overlap``: tokens it signed before rotation stay valid during the
  overlap window, then stop verifying.
* A bare PEM private key is accepted too (what the local backend generates): it is a
  one-key set whose ``kid`` is the key's RFC 7638 thumbprint.

Rotation: ``KeySet.rotated(now)`` adds a fresh key and retires the current one;
store ``to_secret()`` as a new secret version and pin it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class KeySetError(ValueError):
    """The signing-key secret cannot be used; the message never includes key material."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _coordinates(public_key: ec.EllipticCurvePublicKey) -> tuple[str, str]:
    numbers = public_key.public_numbers()
    return _b64url(numbers.x.to_bytes(32, "big")), _b64url(numbers.y.to_bytes(32, "big"))


def thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a P-256 public key."""
    x, y = _coordinates(public_key)
    canonical = json.dumps(
        {"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class VerificationKey:
    """The public half of a signing key, with the same validity: all a verifier needs."""

    kid: str
    public_key: ec.EllipticCurvePublicKey
    created_at: datetime
    retired_at: datetime | None = None

    def verifies_at(self, now: datetime, overlap: timedelta) -> bool:
        """Whether tokens signed by this key are accepted at ``now``.

        Keys not yet active verify already (published ahead of rotation); a retired key
        verifies until the end of the overlap window.
        """
        return self.retired_at is None or now < self.retired_at + overlap

    def jwk(self) -> dict[str, str]:
        x, y = _coordinates(self.public_key)
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": x,
            "y": y,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.jwk(),
            "created_at": _iso(self.created_at),
            "retired_at": _iso(self.retired_at) if self.retired_at else None,
        }


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def public(self) -> VerificationKey:
        return VerificationKey(self.kid, self.public_key, self.created_at, self.retired_at)

    def signs_at(self, now: datetime) -> bool:
        return self.created_at <= now and (self.retired_at is None or now < self.retired_at)

    def verifies_at(self, now: datetime, overlap: timedelta) -> bool:
        return self.public().verifies_at(now, overlap)

    def jwk(self) -> dict[str, str]:
        return self.public().jwk()

    def to_json(self) -> dict[str, Any]:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        return {
            "kid": self.kid,
            "private_key": pem,
            "created_at": _iso(self.created_at),
            "retired_at": _iso(self.retired_at) if self.retired_at else None,
        }


def generate_signing_key(now: datetime, *, kid: str | None = None) -> SigningKey:
    private_key = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(
        kid=kid or f"{now.strftime('%Y%m%d')}-{secrets.token_hex(4)}",
        private_key=private_key,
        created_at=now,
    )


AnyKey = TypeVar("AnyKey", SigningKey, VerificationKey)


class _KeyRing(Generic[AnyKey]):
    """Keys with unique ``kid`` values, newest first: what both key sets have in common."""

    def __init__(self, keys: Iterable[AnyKey]) -> None:
        self._keys: tuple[AnyKey, ...] = tuple(
            sorted(keys, key=lambda k: k.created_at, reverse=True)
        )
        if not self._keys:
            raise KeySetError("the key set holds no keys")
        self._by_kid: dict[str, AnyKey] = {}
        for key in self._keys:
            if key.kid in self._by_kid:
                raise KeySetError(f"duplicate kid {key.kid!r} in the key set")
            self._by_kid[key.kid] = key

    @property
    def keys(self) -> tuple[AnyKey, ...]:
        """Newest first."""
        return self._keys

    def to_secret(self) -> str:
        return json.dumps({"keys": [key.to_json() for key in self._keys]}, indent=2)

    def verification_key(self, kid: str, now: datetime, overlap: timedelta) -> AnyKey | None:
        key = self._by_kid.get(kid)
        if key is None or not key.verifies_at(now, overlap):
            return None
        return key

    def jwks(self, now: datetime, overlap: timedelta) -> dict[str, list[dict[str, str]]]:
        """The public JWKS: every key that verifies now, retired-but-in-overlap included."""
        return {"keys": [key.jwk() for key in self._keys if key.verifies_at(now, overlap)]}


class KeySet(_KeyRing[SigningKey]):
    """An immutable set of signing keys with unique ``kid`` values."""

    @classmethod
    def generate(cls, now: datetime, *, kid: str | None = None) -> KeySet:
        return cls([generate_signing_key(now, kid=kid)])

    @classmethod
    def from_secret(cls, value: str) -> KeySet:
        """Parse the secret: a JSON key set, or a single PEM private key."""
        text = value.strip()
        if text.startswith("-----BEGIN"):
            private_key = _load_private_key(text, "the PEM secret")
            return cls([SigningKey(thumbprint(private_key.public_key()), private_key, _EPOCH)])
        entries = _key_entries(text, "the key set", "neither JSON nor a PEM private key")
        return cls(_parse_key(entry, index) for index, entry in enumerate(entries))

    def signing_key(self, now: datetime) -> SigningKey:
        for key in self._keys:
            if key.signs_at(now):
                return key
        raise KeySetError("no key in the key set may sign now (all retired or not yet active)")

    def rotated(self, now: datetime, *, kid: str | None = None) -> KeySet:
        """A new key signs from ``now``; keys still signing are retired at ``now``."""
        fresh = generate_signing_key(now, kid=kid)
        kept = [replace(key, retired_at=now) if key.signs_at(now) else key for key in self._keys]
        return KeySet([fresh, *kept])

    def without_expired(self, now: datetime, overlap: timedelta) -> KeySet:
        """Drop keys whose overlap window has ended (they verify nothing any more)."""
        return KeySet(key for key in self._keys if key.verifies_at(now, overlap))

    def public(self) -> VerificationKeySet:
        """The public halves: the value of the verification-keys secret."""
        return VerificationKeySet(key.public() for key in self._keys)


class VerificationKeySet(_KeyRing[VerificationKey]):
    """Public keys only, with their validity: what functions that only verify tokens hold.

    Its secret (``jwt-verification-keys``) is ``{"keys": [JWK + created_at/retired_at]}``,
    written beside each new version of the signing keys (``python -m shared.auth.keytool``).
    A private key set is accepted too and reduced to its public halves, so a local
    stack can derive it from its development signing key.
    """

    @classmethod
    def from_secret(cls, value: str) -> VerificationKeySet:
        text = value.strip()
        if text.startswith("-----BEGIN") or '"private_key"' in text:
            return KeySet.from_secret(text).public()
        entries = _key_entries(text, "the verification key set", "not JSON")
        return cls(_parse_public_key(entry, index) for index, entry in enumerate(entries))


def _key_entries(text: str, what: str, not_json: str) -> list[object]:
    """The entries of a ``{"keys": [...]}`` secret."""
    try:
        document = json.loads(text)
    except ValueError:
        raise KeySetError(f"{what} is {not_json}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetError(f'{what} must be a JSON object {{"keys": [...]}}')
    return list(document["keys"])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise KeySetError(f"{what} must be an ISO 8601 timestamp string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise KeySetError(f"{what} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise KeySetError(f"{what} must include a timezone")
    return moment.astimezone(UTC)


def _load_private_key(pem: str, what: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise KeySetError(f"{what} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeySetError(f"{what} must be an EC P-256 key (ES256)")
    return key


def _entry_identity(entry: object, index: int) -> tuple[str, dict[str, Any], str]:
    """Where an entry is (for messages), the entry as a mapping, and its ``kid``."""
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise KeySetError(f"{where} must be an object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise KeySetError(f"{where}.kid must be a non-empty string of at most 128 characters")
    return where, entry, kid


def _validity(entry: dict[str, Any], where: str) -> tuple[datetime, datetime | None]:
    created_at = _parse_time(entry.get("created_at"), f"{where}.created_at")
    retired_raw = entry.get("retired_at")
    retired_at = None if retired_raw is None else _parse_time(retired_raw, f"{where}.retired_at")
    if retired_at is not None and retired_at < created_at:
        raise KeySetError(f"{where}.retired_at is before its created_at")
    return created_at, retired_at


def _parse_key(raw: object, index: int) -> SigningKey:
    where, entry, kid = _entry_identity(raw, index)
    pem = entry.get("private_key")
    if not isinstance(pem, str):
        raise KeySetError(f"{where}.private_key must be a PEM string")
    created_at, retired_at = _validity(entry, where)
    return SigningKey(kid, _load_private_key(pem, f"{where}.private_key"), created_at, retired_at)


def _b64url_decode(value: object, what: str) -> int:
    if not isinstance(value, str) or not value:
        raise KeySetError(f"{what} must be a base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise KeySetError(f"{what} is not base64url") from None
    if len(raw) != 32:
        raise KeySetError(f"{what} must encode 32 bytes (P-256)")
    return int.from_bytes(raw, "big")


def _parse_public_key(raw: object, index: int) -> VerificationKey:
    where, entry, kid = _entry_identity(raw, index)
    if entry.get("kty") != "EC" or entry.get("crv") != "P-256":
        raise KeySetError(f"{where} must be an EC P-256 JWK (ES256)")
    x = _b64url_decode(entry.get("x"), f"{where}.x")
    y = _b64url_decode(entry.get("y"), f"{where}.y")
    try:
        public_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise KeySetError(f"{where} is not a point on P-256") from None
    created_at, retired_at = _validity(entry, where)
    return VerificationKey(kid, public_key, created_at, retired_at)
