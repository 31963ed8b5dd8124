"""Pushes are accepted only with the OIDC token Pub/Sub signs for the push invoker.

Tokens here are signed with a key made for the test and checked against its
certificate, exactly as Google's published certificates are used in the cloud.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from functions_framework import _function_registry
from google.auth import crypt, jwt

from shared.config import reset_settings
from shared.events import push_auth
from shared.events.push_auth import (
    REFETCH_INTERVAL_SECONDS,
    GoogleCerts,
    PushTokenError,
    PushVerifier,
    verify_push_token,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
INVOKER = "push-invoker@demo-tributum.iam.gserviceaccount.com"
HOST = "event-consumer-abc123-ew.a.run.app"
AUDIENCE = f"https://{HOST}"


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = _key_pair()
OTHER_PRIVATE, _ = _key_pair()
CERTS = {"key-1": PUBLIC}


def _token(
    *,
    key: str = PRIVATE,
    key_id: str = "key-1",
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": INVOKER,
        "email_verified": True,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    signer = crypt.RSASigner.from_string(key, key_id=key_id)
    return jwt.encode(signer, claims).decode()


def _verify(authorization: str | None, certs: Mapping[str, str] = CERTS) -> Mapping[str, Any]:
    return verify_push_token(
        authorization, invoker=INVOKER, audience=AUDIENCE, certs=lambda _kid: certs
    )


def test_a_token_signed_for_the_invoker_and_this_function_passes() -> None:
    claims = _verify(f"Bearer {_token()}")
    assert claims["email"] == INVOKER
    assert claims["aud"] == AUDIENCE


@pytest.mark.parametrize("authorization", [None, "", "Bearer ", "Basic dXNlcjpwYXNz"])
def test_a_push_without_a_bearer_token_is_missing_one(authorization: str | None) -> None:
    with pytest.raises(PushTokenError) as refused:
        _verify(authorization)
    assert refused.value.missing
    assert refused.value.as_app_error().status == 401


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (_token(aud="https://another-service-ew.a.run.app"), "audience"),
        (_token(email="someone@evil.example"), "another account"),
        (_token(email_verified=False), "unverified email"),
        (_token(email=None), "no email"),
        (_token(iss="https://evil.example"), "issuer"),
        (_token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), "expired"),
        (_token(key=OTHER_PRIVATE), "signed by another key"),
        (_token(key_id="unknown-key"), "unknown key id"),
        ("not-a-jwt", "not a JWT"),
        (_token()[:-8] + "AAAAAAAA", "signature altered"),
    ],
)
def test_a_token_that_does_not_prove_the_push_is_refused(token: str, why: str) -> None:
    with pytest.raises(PushTokenError) as refused:
        _verify(f"Bearer {token}")
    assert not refused.value.missing, why
    error = refused.value.as_app_error()
    assert (error.status, error.code) == (403, "push_token_invalid"), why


def test_claims_altered_after_signing_are_refused() -> None:
    header, payload, signature = _token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["aud"] = "https://another-service-ew.a.run.app"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(PushTokenError):
        _verify(f"Bearer {header}.{forged}.{signature}")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_certificates_are_fetched_once_and_again_when_they_expire() -> None:
    fetches: list[float] = []
    clock = _Clock()

    def fetch() -> tuple[Mapping[str, str], float | None]:
        fetches.append(clock.now)
        return CERTS, 300.0

    certs = GoogleCerts(fetch, clock=clock)
    assert certs(None) == CERTS
    clock.now += 299
    certs(None)
    assert len(fetches) == 1
    clock.now += 2
    certs(None)
    assert len(fetches) == 2


def test_an_unknown_key_id_refetches_at_most_once_a_minute() -> None:
    answers = [{"old": PUBLIC}, {"old": PUBLIC, "key-1": PUBLIC}]
    clock = _Clock()
    fetched: list[int] = []

    def fetch() -> tuple[Mapping[str, str], float | None]:
        fetched.append(1)
        return answers[min(len(fetched) - 1, 1)], None

    certs = GoogleCerts(fetch, clock=clock)
    certs(None)
    # A rotation: the token names a key the cached answer lacks. Too soon to refetch...
    assert "key-1" not in certs("key-1")
    clock.now += REFETCH_INTERVAL_SECONDS
    # ...and a minute later the new key is fetched.
    assert "key-1" in certs("key-1")
    assert len(fetched) == 2
    # A forged key id does not make every push fetch again.
    certs("forged")
    certs("forged")
    assert len(fetched) == 2


def test_a_rotated_google_key_is_picked_up_for_a_token_naming_it() -> None:
    clock = _Clock()
    answers = iter([({"old": PUBLIC}, None), (CERTS, None)])
    certs = GoogleCerts(lambda: next(answers), clock=clock)
    certs(None)
    clock.now += REFETCH_INTERVAL_SECONDS
    claims = verify_push_token(
        f"Bearer {_token()}", invoker=INVOKER, audience=AUDIENCE, certs=certs
    )
    assert claims["email"] == INVOKER


def test_without_an_invoker_nothing_is_checked_and_the_mode_is_logged_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    verifier = PushVerifier("", certs=lambda _kid: pytest.fail("no certificate is needed"))
    verifier.check(None, HOST)
    verifier.check("Bearer junk", HOST)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    [mode] = [line for line in lines if line.get("message") == "push_auth.mode"]
    assert mode["verified"] is False
    assert mode["severity"] == "WARNING"


def test_with_an_invoker_the_audience_is_this_functions_own_url() -> None:
    verifier = PushVerifier(INVOKER, certs=lambda _kid: CERTS)
    verifier.check(f"Bearer {_token()}", HOST)
    with pytest.raises(PushTokenError):
        verifier.check(f"Bearer {_token()}", "another-host.a.run.app")


# -- under functions-framework, as the cloud serves a consumer -----------------------------


@pytest.fixture
def cloud_consumer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """dead_letters served as Cloud Run serves it, with the invoker configured."""
    for name in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRIBUTUM_PUSH__INVOKER", INVOKER)
    monkeypatch.setenv("TRIBUTUM_SECRETS__LOCAL_DIR", str(tmp_path / "secrets"))
    monkeypatch.setattr(_function_registry, "REGISTRY_MAP", {})
    reset_settings()
    push_auth.reset_push_verifier()
    monkeypatch.setattr(push_auth, "GoogleCerts", lambda: lambda _kid: CERTS, raising=True)
    source = REPO_ROOT / "functions" / "dead_letters" / "main.py"
    app = functions_framework.create_app("handle", str(source), "http")
    yield app.test_client()
    push_auth.reset_push_verifier()
    reset_settings()


def _push_body() -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(b'{"not": "read"}').decode(),
            "attributes": {},
            "messageId": "1",
            "publishTime": "2026-12-03T10:00:00Z",
        },
        "subscription": "projects/demo-tributum/subscriptions/ledger-events-dlq-sub",
    }


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "push_token_missing"),
        (
            {"Authorization": f"Bearer {_token(email='someone@evil.example')}"},
            403,
            "push_token_invalid",
        ),
        (
            {"Authorization": f"Bearer {_token(aud='https://elsewhere.a.run.app')}"},
            403,
            "push_token_invalid",
        ),
    ],
)
def test_a_push_without_a_valid_token_is_refused_before_its_body_is_read(
    cloud_consumer: Any, headers: dict[str, str], status: int, code: str
) -> None:
    # No Firestore is reachable here: a push that got past the check would fail with a
    # 500 while storing its dead letter, so the 401/403 shows nothing was read or written.
    answer = cloud_consumer.post(
        "/projects/demo-tributum/topics/ledger-events-dlq",
        json=_push_body(),
        headers={"Host": HOST, **headers},
    )
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.get_json()["code"] == code
