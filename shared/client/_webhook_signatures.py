"""Verifying a webhook delivery (Standard Webhooks), as a receiver does.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (seconds since the epoch)
and ``webhook-signature``: space-separated ``v1,<base64>`` HMAC-SHA256 signatures of
``{id}.{timestamp}.{body}`` under the endpoint's ``whsec_`` secret (two while a
rotated-out secret still signs). Verify the raw body bytes before parsing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from shared.client._errors import TributumError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the specification's prefix, not a secret
SIGNATURE_VERSION = "v1"
# Older or newer than this is refused: a captured delivery cannot be replayed later.
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(TributumError):
    """Not a delivery signed with this secret, or outside the timestamp tolerance."""


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not a whsec_ secret") from None
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def _signatures(header: str) -> list[bytes]:
    found = []
    for item in header.split():
        version, _, encoded = item.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # a version this receiver does not know; another may still match
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """The delivery's JSON payload, once its signature and timestamp check out.

    ``secret`` is the endpoint's ``whsec_`` secret, or several (during a rotation,
    either one verifies). ``now`` is seconds since the epoch (default: the clock).
    Raises :class:`WebhookVerificationError` otherwise.
    """
    webhook_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    presented = _signatures(_header(headers, "webhook-signature"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    keys = [_key(secret)] if isinstance(secret, str) else [_key(s) for s in secret]
    for key in keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        # Every candidate is compared, in constant time, whatever matched before.
        if any(hmac.compare_digest(expected, candidate) for candidate in presented):
            try:
                return json.loads(body)
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
    raise WebhookVerificationError("no signature matches the secret")
