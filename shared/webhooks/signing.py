"""Standard Webhooks signatures (standardwebhooks.com), without I/O.

A secret is ``whsec_`` followed by the base64 of 32 random bytes; the bytes are the
HMAC key. A delivery carries three headers::

    webhook-id:         msg_...            the same on every retry of the delivery
    webhook-timestamp:  1718000000         seconds since the epoch, of this attempt
    webhook-signature:  v1,<base64> v1,<base64>

Each ``v1,`` signature is the base64 HMAC-SHA256, under one secret, of
``{webhook-id}.{webhook-timestamp}.{body}`` with the body's exact bytes. While a
rotated-out secret is still in its overlap window both secrets sign, space-separated,
so a receiver holding either one verifies. The tests check these signatures with the
specification's reference implementation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class MalformedSecretError(ValueError):
    """A stored value that is not a ``whsec_`` secret (never says what it was)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise MalformedSecretError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSecretError("a signing secret is base64 after whsec_") from None
    if not key:
        raise MalformedSecretError("a signing secret is not empty")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a delivery under ``secret``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(
    signing_secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated."""
    if not signing_secrets:
        raise ValueError("a delivery is signed with at least one secret")
    return " ".join(sign(s, webhook_id, timestamp, body) for s in signing_secrets)


def delivery_headers(
    signing_secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header of a delivery request, signatures included."""
    return {
        "content-type": "application/json",
        "user-agent": "Tributum-Webhooks/1",
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(signing_secrets, webhook_id, timestamp, body),
    }
