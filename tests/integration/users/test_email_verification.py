"""Email verification of a signup through the signup, auth and users functions, against the
emulators: the signup emails a token, the token marks the address verified once, a signed-in
user may ask for another. Every refusal writes nothing."""

from __future__ import annotations

import hashlib
from typing import Any

from shared.ratelimit import FirestoreFixedWindowLimiter, RateLimit
from shared.users.model import EMAIL_VERIFICATION_REQUESTED
from shared.users.verification_mail import EMAIL_VERIFICATIONS
from tests.integration.users.conftest import (
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)
from tests.support.http import Answer, load_function

VERIFY = "/v1/auth/verify-email"
RESEND = "/v1/auth/verify-email/resend"


def _verify(identity: Identity, token: str) -> Answer:
    return identity.auth.post(VERIFY, json={"token": token})


def _token(identity: Identity, email: str) -> str:
    token: str = identity.mail_to(email, EMAIL_VERIFICATION_REQUESTED)["data"]["token"]
    return token


def _me(identity: Identity, access: str) -> dict[str, Any]:
    identity.project()
    answer = identity.users.get("/v1/users/me", token=access)
    assert answer.status == 200, answer.json
    me: dict[str, Any] = answer.data
    return me


def test_a_signup_is_unverified_until_its_emailed_token_comes_back_once(
    identity: Identity,
) -> None:
    owner = identity.owner("ada@verify.example")
    assert owner["email_verified"] is False
    token = _token(identity, "ada@verify.example")
    assert list(documents(identity.db, EMAIL_VERIFICATIONS)) == [
        hashlib.sha256(token.encode()).hexdigest()
    ]
    assert token not in str(documents(identity.db, "outbox"))
    access = identity.tokens("ada@verify.example")["access_token"]
    # Unverified owners sign in and work: the flag gates nothing.
    assert _me(identity, access)["email_verified"] is False

    assert _verify(identity, token).status == 204

    assert _me(identity, access)["email_verified"] is True
    updated = [
        e for e in outbox_events(identity.db, "user.updated") if e["data"]["id"] == owner["id"]
    ]
    assert [e["data"]["email_verified"] for e in updated] == [True]
    audit = [e["data"]["action"] for e in outbox_events(identity.db, "audit.recorded")]
    assert "user.email_verified" in audit
    before = snapshot_of_writes(identity.db)
    answer = _verify(identity, token)
    assert (answer.status, answer.json["code"]) == (400, "verification_token_invalid")
    assert {e["field"] for e in answer.json["errors"]} == {"token"}
    assert snapshot_of_writes(identity.db) == before


def test_an_unknown_token_is_refused_and_writes_nothing(identity: Identity) -> None:
    identity.owner("bob@verify.example")
    before = snapshot_of_writes(identity.db)

    answer = _verify(identity, "a-token-nobody-was-sent")

    assert (answer.status, answer.json["code"]) == (400, "verification_token_invalid")
    assert snapshot_of_writes(identity.db) == before


def test_a_resend_sends_a_new_token_until_the_address_is_verified(identity: Identity) -> None:
    identity.owner("cleo@verify.example")
    first = _token(identity, "cleo@verify.example")
    access = identity.tokens("cleo@verify.example")["access_token"]

    resent = identity.auth.post(RESEND, token=access)

    assert resent.status == 202, resent.json
    assert resent.data["status"] == "accepted" and resent.data["expires_at"]
    identity.mails.clear()
    second = _token(identity, "cleo@verify.example")
    assert second != first
    assert _verify(identity, second).status == 204
    before = snapshot_of_writes(identity.db)

    # Verified: the earlier token is void and no more emails are sent.
    answer = _verify(identity, first)
    assert (answer.status, answer.json["code"]) == (400, "verification_token_invalid")
    again = identity.auth.post(RESEND, token=access)
    assert (again.status, again.json["code"]) == (409, "email_already_verified")
    assert {e["field"] for e in again.json["errors"]} == {"email"}
    assert snapshot_of_writes(identity.db) == before


def test_resends_are_throttled_per_user(identity: Identity) -> None:
    auth = load_function("auth")
    auth._verification_throttle = FirestoreFixedWindowLimiter(
        identity.db, "email-verification", RateLimit(limit=1, window_seconds=3600)
    )
    identity.owner("dan@verify.example")
    access = identity.tokens("dan@verify.example")["access_token"]
    assert identity.auth.post(RESEND, token=access).status == 202
    before = snapshot_of_writes(identity.db)

    refused = identity.auth.post(RESEND, token=access)

    assert (refused.status, refused.json["code"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert snapshot_of_writes(identity.db) == before


def test_an_accepted_invitation_is_verified_already(identity: Identity) -> None:
    identity.owner("boss@verify.example")
    owner_access = identity.tokens("boss@verify.example")["access_token"]
    user = identity.add_user(owner_access, "eve@verify.example", "viewer")
    access = identity.tokens("eve@verify.example")["access_token"]
    assert user["email_verified"] is True
    before = snapshot_of_writes(identity.db)

    answer = identity.auth.post(RESEND, token=access)

    assert (answer.status, answer.json["code"]) == (409, "email_already_verified")
    assert snapshot_of_writes(identity.db) == before
