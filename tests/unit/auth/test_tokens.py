"""Issuing and verifying tokens, and every attack the verifier must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from shared.auth import (
    ACCESS,
    REFRESH,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    TOKEN_MISSING,
    TOKEN_REVOKED,
    TOKEN_WRONG_TYPE,
    InMemoryRevocationStore,
    KeySet,
    KeySetError,
    SigningKey,
    TokenIssuer,
    TokenSettings,
    TokenVerifier,
    revoke_token,
)
from shared.errors import ServiceUnavailableError, UnauthorizedError
from tests.unit.auth.support import (
    AUDIENCE,
    ISSUER,
    SETTINGS,
    at,
    fresh_key,
    make_issuer,
    make_verifier,
    single_key_set,
    utc,
)

KEYS = single_key_set("k1")
SIGNER = KEYS.keys[0]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def payload(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "tid": "tenant-1",
        "role": "accountant",
        "typ": "access",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "jti-1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(claims: dict[str, Any], key: SigningKey = SIGNER, **header: Any) -> str:
    """A token signed by a trusted key with exactly ``claims``: only the claims are wrong."""
    return jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, **header}
    )


def rejected(
    token: str | None, expected: str = ACCESS, verifier: TokenVerifier | None = None
) -> str:
    with pytest.raises(UnauthorizedError) as caught:
        (verifier or make_verifier(KEYS)).verify(token, expected)  # type: ignore[arg-type]
    error = caught.value
    assert error.status == 401
    assert "Bearer" in error.headers["WWW-Authenticate"]
    return error.code


# -- issuing ---------------------------------------------------------------------------------


def test_access_token_round_trip() -> None:
    issued = make_issuer(KEYS).issue_access(user_id="u-1", tenant_id="t-1", role="viewer")
    claims = make_verifier(KEYS).verify(issued.token, ACCESS)
    assert claims == issued.claims
    assert (claims.user_id, claims.tenant_id, claims.role) == ("u-1", "t-1", "viewer")
    assert (claims.issuer, claims.audience, claims.token_type) == (ISSUER, AUDIENCE, "access")
    assert claims.expires_at - claims.issued_at == 900
    assert claims.not_before == claims.issued_at
    assert jwt.get_unverified_header(issued.token) == {"alg": "ES256", "kid": "k1", "typ": "JWT"}


def test_refresh_token_carries_its_family_and_lives_seven_days() -> None:
    issued = make_issuer(KEYS).issue_refresh(
        user_id="u-1", tenant_id="t-1", role="admin", family_id="fam-1"
    )
    claims = make_verifier(KEYS).verify(issued.token, REFRESH)
    assert claims.family_id == "fam-1"
    assert claims.token_type == "refresh"
    assert claims.expires_at - claims.issued_at == 7 * 86_400


def test_tokens_carry_the_users_access_epoch() -> None:
    issuer = make_issuer(KEYS)
    access = issuer.issue_access(user_id="u-1", tenant_id="t-1", role="viewer", epoch=3)
    refresh = issuer.issue_refresh(
        user_id="u-1", tenant_id="t-1", role="viewer", family_id="f", epoch=3
    )
    assert make_verifier(KEYS).verify(access.token, ACCESS).epoch == 3
    assert make_verifier(KEYS).verify(refresh.token, REFRESH).epoch == 3
    assert jwt.decode(access.token, options={"verify_signature": False})["ep"] == 3
    with pytest.raises(ValueError, match="epoch"):
        issuer.issue_access(user_id="u-1", tenant_id="t-1", role="viewer", epoch=-1)


def test_a_token_without_an_epoch_is_from_epoch_zero() -> None:
    claims = make_verifier(KEYS).verify(signed(payload()), ACCESS)
    assert claims.epoch == 0


def test_every_token_has_a_distinct_jti() -> None:
    issuer = make_issuer(KEYS)
    jtis = {
        issuer.issue_access(user_id="u", tenant_id="t", role="viewer").claims.jti for _ in range(50)
    }
    assert len(jtis) == 50


def test_issuer_signs_with_the_newest_active_key() -> None:
    keys = KeySet([fresh_key("old"), fresh_key("new", age=timedelta(hours=1))])
    issued = make_issuer(keys).issue_access(user_id="u", tenant_id="t", role="viewer")
    assert jwt.get_unverified_header(issued.token)["kid"] == "new"


def test_issuer_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError):
        make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="superuser")


def test_lifetimes_come_from_settings() -> None:
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, access_ttl_seconds=120)
    issued = TokenIssuer(settings, lambda: KEYS).issue_access(
        user_id="u", tenant_id="t", role="viewer"
    )
    assert issued.claims.expires_at - issued.claims.issued_at == 120


# -- attacks ---------------------------------------------------------------------------------


def test_attack_alg_none() -> None:
    header = b64(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload()).encode())
    assert rejected(f"{header}.{body}.") == TOKEN_INVALID


def test_attack_alg_none_with_a_real_signature_attached() -> None:
    genuine = signed(payload())
    _, body, signature = genuine.split(".")
    header = b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    assert rejected(f"{header}.{body}.{signature}") == TOKEN_INVALID


def test_attack_hs256_signed_with_the_public_key_as_hmac_secret() -> None:
    public_pem = SIGNER.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload()).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert rejected(f"{header}.{body}.{b64(mac)}") == TOKEN_INVALID


def test_attack_tampered_signature() -> None:
    header, body, signature = signed(payload()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[5] ^= 0x01
    assert rejected(f"{header}.{body}.{b64(bytes(raw))}") == TOKEN_INVALID


def test_attack_tampered_payload_keeps_the_original_signature() -> None:
    header, _, signature = signed(payload()).split(".")
    escalated = b64(json.dumps(payload(role="owner")).encode())
    assert rejected(f"{header}.{escalated}.{signature}") == TOKEN_INVALID


def test_attack_signed_by_a_key_outside_the_set_under_a_known_kid() -> None:
    impostor = SigningKey("k1", fresh_key("x").private_key, SIGNER.created_at)
    assert rejected(signed(payload(), impostor)) == TOKEN_INVALID


def test_expired_token() -> None:
    issued = make_issuer(KEYS, clock=at(-(900 + 60))).issue_access(
        user_id="u", tenant_id="t", role="viewer"
    )
    assert rejected(issued.token) == TOKEN_EXPIRED


def test_expiry_has_a_small_leeway() -> None:
    now = int(time.time())
    just_expired = signed(payload(iat=now - 905, nbf=now - 905, exp=now - 5))
    assert make_verifier(KEYS).verify(just_expired, ACCESS).jti == "jti-1"
    assert rejected(signed(payload(iat=now - 960, nbf=now - 960, exp=now - 60))) == TOKEN_EXPIRED


def test_token_without_exp() -> None:
    assert rejected(signed(payload(exp=None))) == TOKEN_INVALID


@pytest.mark.parametrize("claim", ["iat", "nbf", "iss", "aud", "sub", "jti"])
def test_token_without_a_required_claim(claim: str) -> None:
    assert rejected(signed(payload(**{claim: None}))) == TOKEN_INVALID


def test_wrong_audience() -> None:
    assert rejected(signed(payload(aud="another-api"))) == TOKEN_INVALID


def test_audience_list_is_not_accepted() -> None:
    assert rejected(signed(payload(aud=[AUDIENCE, "another-api"]))) == TOKEN_INVALID


def test_wrong_issuer() -> None:
    assert rejected(signed(payload(iss="https://evil.example"))) == TOKEN_INVALID


def test_nbf_in_the_future() -> None:
    assert rejected(signed(payload(nbf=int(time.time()) + 300))) == TOKEN_INVALID


def test_iat_in_the_future() -> None:
    assert rejected(signed(payload(iat=int(time.time()) + 300))) == TOKEN_INVALID


def test_refresh_token_used_as_access_token() -> None:
    refresh = make_issuer(KEYS).issue_refresh(
        user_id="u", tenant_id="t", role="viewer", family_id="f"
    )
    assert rejected(refresh.token, ACCESS) == TOKEN_WRONG_TYPE


def test_access_token_used_as_refresh_token() -> None:
    access = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    assert rejected(access.token, REFRESH) == TOKEN_WRONG_TYPE


def test_token_without_typ() -> None:
    assert rejected(signed(payload(typ=None))) == TOKEN_INVALID


def test_unknown_kid() -> None:
    assert rejected(signed(payload(), kid="k-unknown")) == TOKEN_INVALID


def test_missing_kid() -> None:
    token = jwt.encode(payload(), SIGNER.private_key, algorithm="ES256")
    assert rejected(token) == TOKEN_INVALID


def test_retired_key_still_verifies_inside_the_overlap() -> None:
    issued = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    rotated = KeySet.from_secret(KEYS.to_secret()).rotated(utc(time.time() - 600))
    assert rotated.signing_key(utc(time.time())).kid != "k1"
    # Overlap 1 h, retired 10 minutes ago: the old token still verifies.
    assert make_verifier(rotated).verify(issued.token, ACCESS).jti == issued.claims.jti


def test_retired_key_fails_after_the_overlap() -> None:
    issued = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    rotated = KeySet.from_secret(KEYS.to_secret()).rotated(utc(time.time() - 600))
    short_overlap = TokenSettings(issuer=ISSUER, audience=AUDIENCE, key_overlap_seconds=300)
    assert rejected(issued.token, verifier=make_verifier(rotated, settings=short_overlap)) == (
        TOKEN_INVALID
    )


def test_revoked_token() -> None:
    revocations = InMemoryRevocationStore()
    verifier = make_verifier(KEYS, revocations)
    issued = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    assert verifier.verify(issued.token, ACCESS)
    revoke_token(revocations, issued.claims, reason="logout")
    assert rejected(issued.token, verifier=verifier) == TOKEN_REVOKED
    other = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    assert verifier.verify(other.token, ACCESS).jti == other.claims.jti


def test_revocation_is_per_issuer() -> None:
    revocations = InMemoryRevocationStore()
    issued = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    revocations.revoke(
        "https://other-issuer",
        issued.claims.jti,
        expires_at=issued.claims.expires_at_datetime,
        reason="x",
    )
    assert make_verifier(KEYS, revocations).verify(issued.token, ACCESS)


# -- malformed input and claim shapes --------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(token: str | None) -> None:
    assert rejected(token) == TOKEN_MISSING


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "a.b", "eyJhbGciOiJFUzI1NiJ9..", "x" * 9000, "é.é.é"],
)
def test_malformed_tokens(token: str) -> None:
    assert rejected(token) == TOKEN_INVALID


@pytest.mark.parametrize(
    "overrides",
    [
        {"tid": None},
        {"tid": ""},
        {"tid": 7},
        {"role": "superuser"},
        {"role": None},
        {"sub": ""},
        {"sub": "u" * 200},
        {"typ": "id"},
        {"ep": -1},
        {"ep": "3"},
        {"ep": True},
        {"ep": 1.5},
        {"ep": 2**31},
    ],
)
def test_bad_claim_shapes(overrides: dict[str, Any]) -> None:
    assert rejected(signed(payload(**overrides))) == TOKEN_INVALID


def test_refresh_token_without_family() -> None:
    assert rejected(signed(payload(typ="refresh")), REFRESH) == TOKEN_INVALID


def test_rejections_reveal_nothing_beyond_the_code() -> None:
    details = set()
    for token in [
        signed(payload(aud="x")),
        signed(payload(iss="x")),
        signed(payload(), kid="nope"),
        signed(payload(nbf=int(time.time()) + 999)),
        "garbage",
    ]:
        with pytest.raises(UnauthorizedError) as caught:
            make_verifier(KEYS).verify(token, ACCESS)
        assert caught.value.code == TOKEN_INVALID
        assert not caught.value.errors and not caught.value.extra
        details.add(caught.value.detail)
    assert details == {"the token is not valid"}


# -- failures on our side --------------------------------------------------------------------


class BrokenRevocations:
    def revoke(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unreachable")

    def is_revoked(self, issuer: str, jti: str) -> bool:
        raise ConnectionError("firestore down")


def test_unknown_revocation_status_fails_closed() -> None:
    issued = make_issuer(KEYS).issue_access(user_id="u", tenant_id="t", role="viewer")
    verifier = TokenVerifier(SETTINGS, lambda: KEYS, BrokenRevocations())
    with pytest.raises(ServiceUnavailableError) as caught:
        verifier.verify(issued.token, ACCESS)
    assert caught.value.code == "auth_unavailable"


def test_unusable_key_secret_is_a_503_not_a_401() -> None:
    def broken() -> KeySet:
        raise KeySetError("bad secret")

    with pytest.raises(ServiceUnavailableError):
        TokenVerifier(SETTINGS, broken, InMemoryRevocationStore()).verify(signed(payload()), ACCESS)
    with pytest.raises(ServiceUnavailableError):
        TokenIssuer(SETTINGS, broken).issue_access(user_id="u", tenant_id="t", role="viewer")


def test_verifier_publishes_the_jwks() -> None:
    document = make_verifier(KEYS).jwks()
    assert [key["kid"] for key in document["keys"]] == ["k1"]
