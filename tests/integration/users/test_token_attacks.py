"""Forged and misused tokens against a real route (GET /v1/users/me), with the instance's key.

The verifier's rules are unit-tested in tests/unit/auth; these prove the deployed path
(router → BearerAuthenticator → runtime verifier with the key from the secrets backend)
refuses each attack, and that a well-formed token signed the same way is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from shared.auth.runtime import key_source, token_settings
from tests.integration.users.conftest import Identity


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    settings = token_settings()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": user["id"],
        "tid": user["tenant_id"],
        "role": user["role"],
        "typ": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "attack-" + hashlib.sha256(str(overrides).encode()).hexdigest()[:16],
        "fam": "family-attack",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict[str, Any]) -> str:
    key = key_source()().signing_key(datetime.now(UTC))
    return jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"}
    )


def _alg_none(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _hs256_with_public_key(claims: dict[str, Any]) -> str:
    key = key_source()().keys[0]
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _tampered_signature(claims: dict[str, Any]) -> str:
    token = _signed(claims)
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{body}.{flipped}"


def _tampered_payload(claims: dict[str, Any]) -> str:
    head, _, signature = _signed(claims).split(".")
    escalated = _b64(json.dumps({**claims, "role": "owner", "tid": "another-tenant"}).encode())
    return f"{head}.{escalated}.{signature}"


Attack = Callable[[dict[str, Any]], str]
ATTACKS: dict[str, tuple[Attack, dict[str, Any], str]] = {
    "alg-none": (_alg_none, {}, "token_invalid"),
    "hs256-with-public-key": (_hs256_with_public_key, {}, "token_invalid"),
    "tampered-signature": (_tampered_signature, {}, "token_invalid"),
    "tampered-payload": (_tampered_payload, {}, "token_invalid"),
    "expired": (_signed, {"iat": 1_000, "nbf": 1_000, "exp": 2_000}, "token_expired"),
    "no-exp": (_signed, {"exp": None}, "token_invalid"),
    "wrong-aud": (_signed, {"aud": "someone-else"}, "token_invalid"),
    "wrong-iss": (_signed, {"iss": "https://evil.example"}, "token_invalid"),
    "nbf-in-future": (_signed, {"nbf": int(time.time()) + 3_600}, "token_invalid"),
    "refresh-as-access": (_signed, {"typ": "refresh"}, "token_wrong_type"),
}


def test_a_token_signed_like_the_attacks_but_honest_is_accepted(identity: Identity) -> None:
    owner = identity.owner("honest@example.com")
    identity.project()
    answer = identity.users.get("/v1/users/me", token=_signed(_claims(owner)))
    assert answer.status == 200, answer.json


@pytest.mark.parametrize("name", list(ATTACKS))
def test_forged_or_misused_tokens_are_refused(identity: Identity, name: str) -> None:
    owner = identity.owner("victim@example.com")
    identity.project()
    attack, overrides, code = ATTACKS[name]

    answer = identity.users.get("/v1/users/me", token=attack(_claims(owner, **overrides)))

    assert answer.status == 401, answer.json
    assert answer.json["code"] == code
    assert "owner" not in answer.body.decode()
