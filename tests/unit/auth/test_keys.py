"""The signing key set: parsing, signing-key choice, overlap window, rotation, JWKS."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth import KeySet, KeySetError, SigningKey, generate_signing_key, thumbprint
from shared.secrets import generate_value

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(hours=24)


def key(kid: str, created: timedelta, retired: timedelta | None = None) -> SigningKey:
    base = generate_signing_key(NOW + created, kid=kid)
    return SigningKey(kid, base.private_key, NOW + created, NOW + retired if retired else None)


def test_newest_active_key_signs() -> None:
    keys = KeySet([key("old", -timedelta(days=30)), key("new", -timedelta(days=1))])
    assert keys.signing_key(NOW).kid == "new"


def test_retired_key_never_signs_even_if_newest() -> None:
    keys = KeySet(
        [key("a", -timedelta(days=30)), key("b", -timedelta(days=1), retired=-timedelta(hours=1))]
    )
    assert keys.signing_key(NOW).kid == "a"


def test_key_not_yet_active_does_not_sign_but_is_published() -> None:
    keys = KeySet([key("current", -timedelta(days=3)), key("next", timedelta(days=1))])
    assert keys.signing_key(NOW).kid == "current"
    assert {k["kid"] for k in keys.jwks(NOW, OVERLAP)["keys"]} == {"current", "next"}
    assert keys.signing_key(NOW + timedelta(days=2)).kid == "next"


def test_no_signing_key_is_an_error() -> None:
    keys = KeySet([key("gone", -timedelta(days=3), retired=-timedelta(days=1))])
    with pytest.raises(KeySetError, match="no key"):
        keys.signing_key(NOW)


def test_retired_key_verifies_until_the_overlap_ends() -> None:
    retired = key("r", -timedelta(days=10), retired=-timedelta(hours=2))
    keys = KeySet([retired, key("n", -timedelta(hours=2))])
    assert keys.verification_key("r", NOW, OVERLAP) is retired
    assert keys.verification_key("r", NOW + timedelta(hours=22, seconds=-1), OVERLAP) is retired
    assert keys.verification_key("r", NOW + timedelta(hours=22), OVERLAP) is None
    assert keys.verification_key("unknown", NOW, OVERLAP) is None


def test_jwks_lists_public_parts_of_keys_in_overlap() -> None:
    keys = KeySet(
        [
            key("active", -timedelta(days=1)),
            key("overlap", -timedelta(days=5), retired=-timedelta(hours=1)),
            key("expired", -timedelta(days=9), retired=-timedelta(days=3)),
        ]
    )
    document = keys.jwks(NOW, OVERLAP)
    assert [k["kid"] for k in document["keys"]] == ["active", "overlap"]
    for jwk in document["keys"]:
        assert set(jwk) == {"kid", "kty", "crv", "x", "y", "alg", "use"}
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
        assert "d" not in jwk
        x = base64.urlsafe_b64decode(jwk["x"] + "=")
        y = base64.urlsafe_b64decode(jwk["y"] + "=")
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
        assert public == keys.verification_key(jwk["kid"], NOW, OVERLAP).public_key  # type: ignore[union-attr]


def test_json_round_trip() -> None:
    original = KeySet(
        [key("a", -timedelta(days=5), retired=-timedelta(hours=1)), key("b", -timedelta(hours=1))]
    )
    parsed = KeySet.from_secret(original.to_secret())
    assert [(k.kid, k.created_at, k.retired_at) for k in parsed.keys] == [
        (k.kid, k.created_at, k.retired_at) for k in original.keys
    ]
    assert parsed.keys[0].public_key == original.keys[0].public_key


def test_bare_pem_from_the_local_backend_is_a_one_key_set() -> None:
    pem = generate_value("ec_p256_private_key")
    keys = KeySet.from_secret(pem)
    (only,) = keys.keys
    assert only.kid == thumbprint(only.public_key)
    assert keys.signing_key(NOW) is only
    assert KeySet.from_secret(pem).keys[0].kid == only.kid  # stable across instances


def test_rotation_retires_the_current_key_and_signs_with_the_new() -> None:
    first = KeySet([key("first", -timedelta(days=30))])
    rotated = first.rotated(NOW, kid="second")
    assert rotated.signing_key(NOW).kid == "second"
    old = rotated.verification_key("first", NOW, OVERLAP)
    assert old is not None and old.retired_at == NOW
    assert rotated.verification_key("first", NOW + OVERLAP, OVERLAP) is None
    assert [k.kid for k in rotated.without_expired(NOW + OVERLAP, OVERLAP).keys] == ["second"]


def test_rotation_leaves_pre_published_keys_alone() -> None:
    keys = KeySet([key("current", -timedelta(days=1)), key("next", timedelta(days=1))])
    rotated = keys.rotated(NOW, kid="now")
    by_kid = {k.kid: k for k in rotated.keys}
    assert by_kid["next"].retired_at is None
    assert by_kid["current"].retired_at == NOW


def _entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "kid": "k",
        "private_key": generate_value("ec_p256_private_key"),
        "created_at": "2025-01-01T00:00:00Z",
        "retired_at": None,
    }
    entry.update(overrides)
    return entry


def _secret(*entries: dict[str, object]) -> str:
    return json.dumps({"keys": list(entries)})


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not json", "neither JSON nor a PEM"),
        ("[]", "JSON object"),
        ('{"keys": []}', "no keys"),
        (_secret(_entry(kid="")), "kid"),
        (_secret(_entry(), _entry()), "duplicate kid"),
        (_secret(_entry(private_key="nope")), "PEM private key"),
        (_secret(_entry(created_at="yesterday")), "created_at"),
        (_secret(_entry(created_at="2025-01-01T00:00:00")), "timezone"),
        (_secret(_entry(retired_at="2024-01-01T00:00:00Z")), "before its created_at"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "PEM private key"),
    ],
)
def test_malformed_key_sets_are_refused(secret: str, message: str) -> None:
    with pytest.raises(KeySetError, match=message):
        KeySet.from_secret(secret)


def test_keys_of_the_wrong_type_are_refused() -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    p384_pem = (
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    for pem in (rsa_pem, p384_pem):
        with pytest.raises(KeySetError, match="P-256"):
            KeySet.from_secret(_secret(_entry(private_key=pem)))


def test_errors_never_contain_key_material() -> None:
    pem = generate_value("ec_p256_private_key")
    with pytest.raises(KeySetError) as caught:
        KeySet.from_secret(_secret(_entry(private_key=pem, created_at="bad")))
    assert "PRIVATE KEY" not in str(caught.value)
