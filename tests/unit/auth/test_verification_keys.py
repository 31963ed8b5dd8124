"""Verification-only key sets: what functions that check tokens (and never sign) hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.auth import InMemoryRevocationStore, KeySet, KeySetError, TokenVerifier
from shared.auth.keys import VerificationKeySet
from shared.auth.runtime import (
    SIGNING_KEYS_SECRET,
    VERIFICATION_KEYS_SECRET,
    SecretKeySource,
)
from shared.secrets import LocalSecretStore, SecretNotFoundError, generate_value
from tests.unit.auth.support import SETTINGS, fresh_key, make_issuer

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(hours=1)
ACCESS = "access"


def _rotated_set() -> KeySet:
    return KeySet([fresh_key("old", age=timedelta(days=3))]).rotated(
        datetime.now(UTC) - timedelta(minutes=5), kid="new"
    )


def test_the_public_secret_holds_no_private_material_and_round_trips() -> None:
    keys = _rotated_set()
    secret = keys.public().to_secret()
    assert "PRIVATE" not in secret and "private_key" not in secret
    assert all("d" not in entry for entry in json.loads(secret)["keys"])  # no JWK "d"
    parsed = VerificationKeySet.from_secret(secret)
    now = datetime.now(UTC)
    assert parsed.jwks(now, OVERLAP) == keys.jwks(now, OVERLAP)
    assert [k.kid for k in parsed.keys] == ["new", "old"]
    assert parsed.keys[1].retired_at == keys.keys[1].retired_at


def test_a_verifier_with_public_keys_only_accepts_what_the_issuer_signed() -> None:
    keys = _rotated_set()
    public = VerificationKeySet.from_secret(keys.public().to_secret())
    verifier = TokenVerifier(SETTINGS, lambda: public, InMemoryRevocationStore())
    issued = make_issuer(keys).issue_access(user_id="u-1", tenant_id="t-1", role="viewer")
    assert verifier.verify(issued.token, ACCESS) == issued.claims
    # A token from a key the verification set does not know is refused.
    stranger = make_issuer(KeySet([fresh_key("new")]))
    forged = stranger.issue_access(user_id="u-1", tenant_id="t-1", role="owner")
    with pytest.raises(Exception, match="token"):
        verifier.verify(forged.token, ACCESS)


def test_the_retirement_overlap_is_kept_in_the_public_set() -> None:
    rotated_at = datetime.now(UTC)
    keys = KeySet([fresh_key("old", age=timedelta(days=3))]).rotated(rotated_at, kid="new")
    public = keys.public()
    assert public.verification_key("old", rotated_at + OVERLAP / 2, OVERLAP) is not None
    assert public.verification_key("old", rotated_at + OVERLAP * 2, OVERLAP) is None
    assert public.verification_key("new", rotated_at + OVERLAP * 2, OVERLAP) is not None


def test_a_private_secret_is_reduced_to_its_public_halves() -> None:
    keys = _rotated_set()
    for secret in (keys.to_secret(), generate_value("ec_p256_private_key")):
        public = VerificationKeySet.from_secret(secret)
        assert all(not hasattr(key, "private_key") for key in public.keys)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not json", "not JSON"),
        ('{"keys": []}', "no keys"),
        ('{"keys": [{"kid": "k", "kty": "RSA"}]}', "EC P-256"),
        (
            '{"keys": [{"kid": "k", "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA",'
            ' "created_at": "2025-01-01T00:00:00Z"}]}',
            "32 bytes",
        ),
    ],
)
def test_malformed_verification_sets_are_refused(secret: str, message: str) -> None:
    with pytest.raises(KeySetError, match=message):
        VerificationKeySet.from_secret(secret)


def test_a_point_off_the_curve_is_refused() -> None:
    entry = {**_rotated_set().public().keys[0].to_json()}
    entry["y"] = entry["x"]
    with pytest.raises(KeySetError, match="P-256"):
        VerificationKeySet.from_secret(json.dumps({"keys": [entry]}))


def test_locally_the_verification_keys_derive_from_the_dev_signing_key(tmp_path: Path) -> None:
    store = LocalSecretStore(
        tmp_path, generate={SIGNING_KEYS_SECRET: "ec_p256_private_key"}, environ={}
    )
    signing = SecretKeySource(store, SIGNING_KEYS_SECRET, KeySet.from_secret)()
    public = SecretKeySource(
        store,
        VERIFICATION_KEYS_SECRET,
        VerificationKeySet.from_secret,
        fallback=SIGNING_KEYS_SECRET,
    )()
    assert public.jwks(NOW, OVERLAP) == signing.jwks(NOW, OVERLAP)
    # Without the fallback (the cloud), a missing verification secret is an error.
    with pytest.raises(SecretNotFoundError):
        SecretKeySource(store, VERIFICATION_KEYS_SECRET, VerificationKeySet.from_secret)()


def test_the_keytool_produces_matching_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from shared.auth import keytool

    assert keytool.main(["new"]) == 0
    first = capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(first))
    assert keytool.main(["rotate"]) == 0
    rotated = KeySet.from_secret(capsys.readouterr().out)
    assert len(rotated.keys) == 2
    assert rotated.keys[1].retired_at is not None
    monkeypatch.setattr("sys.stdin", io.StringIO(rotated.to_secret()))
    assert keytool.main(["public"]) == 0
    public = VerificationKeySet.from_secret(capsys.readouterr().out)
    now = datetime.now(UTC)
    assert public.jwks(now, OVERLAP) == rotated.jwks(now, OVERLAP)
    monkeypatch.setattr("sys.stdin", io.StringIO("garbage"))
    assert keytool.main(["public"]) == 2
    assert "error:" in capsys.readouterr().err
