"""Signup abuse controls: throttled per client address and for the whole application, and
common passwords refused (NIST SP 800-63B). Refusals write no user, tenant or email."""

from __future__ import annotations

from typing import Any

import pytest

from shared.ratelimit import SIGNUP_ADDRESS_RATE, RateLimit
from tests.integration.users.conftest import PASSWORD, Identity, snapshot_of_writes


def _sign_up(identity: Identity, email: str, address: str, **body: Any) -> Any:
    # One trusted proxy hop (the default): the load balancer's X-Forwarded-For entry is
    # the client's address.
    return identity.signup.post(
        "/v1/signup",
        json={"email": email, "password": PASSWORD, "name": "Sig Nup", **body},
        headers={"X-Forwarded-For": address},
    )


def test_signups_from_one_address_are_throttled_with_retry_after(identity: Identity) -> None:
    for index in range(SIGNUP_ADDRESS_RATE.limit):
        answer = _sign_up(identity, f"user{index}@flood.example", "203.0.113.7")
        assert answer.status == 201, answer.json
    before = snapshot_of_writes(identity.db)

    refused = _sign_up(identity, "one-more@flood.example", "203.0.113.7")

    assert refused.status == 429, refused.json
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= SIGNUP_ADDRESS_RATE.window_seconds
    assert snapshot_of_writes(identity.db) == before
    # Another address still signs up.
    assert _sign_up(identity, "neighbour@flood.example", "198.51.100.20").status == 201


def test_signups_are_throttled_globally_whatever_the_address(identity: Identity) -> None:
    identity.throttle_signups(
        per_address=SIGNUP_ADDRESS_RATE, overall=RateLimit(limit=3, window_seconds=300)
    )
    for index in range(3):
        answer = _sign_up(identity, f"spread{index}@flood.example", f"198.51.100.{index + 1}")
        assert answer.status == 201, answer.json
    before = snapshot_of_writes(identity.db)

    refused = _sign_up(identity, "spread9@flood.example", "198.51.100.99")

    assert refused.status == 429 and refused.json["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert snapshot_of_writes(identity.db) == before


def test_a_refused_request_never_reaches_the_idempotency_store(identity: Identity) -> None:
    identity.throttle_signups(
        per_address=RateLimit(limit=1, window_seconds=3600),
        overall=RateLimit(limit=100, window_seconds=300),
    )
    assert _sign_up(identity, "first@flood.example", "192.0.2.1").status == 201
    headers = {"X-Forwarded-For": "192.0.2.1", "Idempotency-Key": "retry-me-later"}
    body = {"email": "later@flood.example", "password": PASSWORD, "name": "Later"}

    refused = identity.signup.post("/v1/signup", json=body, headers=headers)

    assert refused.status == 429
    assert "Idempotent-Replayed" not in refused.headers
    stored = [s.to_dict() for s in identity.main.collection("idempotency_keys").stream()]
    assert stored == []


@pytest.mark.parametrize(
    "password", ["password1234", "Qwerty123456!", "iloveyou2024", "Tributum2025!"]
)
def test_a_common_password_is_refused_naming_the_rule(identity: Identity, password: str) -> None:
    answer = _sign_up(identity, "common@example.com", "192.0.2.44", password=password)

    assert answer.status == 422, answer.json
    codes = {(e["field"], e["code"]) for e in answer.json["errors"]}
    assert ("password", "password_common") in codes
    assert all(not docs for docs in snapshot_of_writes(identity.db).values())
