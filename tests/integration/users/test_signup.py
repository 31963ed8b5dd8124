"""POST /v1/signup: a tenant and its owner, one account per email, refusals that write nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.ratelimit import RateLimit
from shared.users.model import email_key
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)


def test_signup_creates_the_tenant_and_its_owner_and_publishes_user_created(
    identity: Identity,
) -> None:
    answer = identity.sign_up("  Ada.Lovelace@Example.COM ", organization="Analytical Engines")

    assert answer.status == 201, answer.json
    user = answer.data
    assert user["email"] == "ada.lovelace@example.com"
    assert user["role"] == "owner"
    assert user["status"] == "active"
    assert user["version"] == 1
    assert user["tenant_name"] == "Analytical Engines"
    assert answer.headers["Location"] == f"/v1/users/{user['id']}"
    assert b"password" not in answer.body and b"argon2" not in answer.body

    db = identity.db
    stored = documents(db, "users")[user["id"]]
    assert stored["password_hash"].startswith("$argon2id$v=19$m=47104,t=2,p=1$")
    assert stored["tenant_id"] == user["tenant_id"] and stored["role"] == "owner"
    tenant = documents(db, "tenants")[user["tenant_id"]]
    assert tenant["name"] == "Analytical Engines" and tenant["created_by"] == user["id"]
    key = documents(db, "user_emails")[email_key("ada.lovelace@example.com")]
    assert key == {**key, "user_id": user["id"], "tenant_id": user["tenant_id"]}

    [created] = outbox_events(db, "user.created")
    assert created["_topic"] == "user-events" and created["_status"] == "published"
    assert created["tenant_id"] == user["tenant_id"]
    assert created["data"]["id"] == user["id"] and created["data"]["version"] == 1
    assert "password_hash" not in created["data"]
    [audit] = outbox_events(db, "audit.recorded")
    assert audit["data"]["action"] == "user.signed_up"
    assert audit["_topic"] == "audit-events" and audit["_status"] == "published"


@pytest.mark.parametrize(
    "variant", ["grace@example.com", "GRACE@EXAMPLE.COM", "  Grace@Example.com\t"]
)
def test_a_verified_email_is_a_generic_409_in_any_spelling_and_writes_nothing(
    identity: Identity, variant: str
) -> None:
    first = identity.owner("grace@example.com")
    assert identity.verify(first).status == 204
    before = snapshot_of_writes(identity.db)

    answer = identity.sign_up(variant, name="Someone Else")

    assert answer.status == 409, answer.json
    assert answer.json["code"] == "email_unavailable"
    assert {e["field"] for e in answer.json["errors"]} == {"email"}
    assert first["tenant_id"] not in answer.body.decode()
    assert first["id"] not in answer.body.decode()
    assert snapshot_of_writes(identity.db) == before


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "A"}, "email", "email_invalid"),
        ({"email": "", "password": PASSWORD, "name": "A"}, "email", "email_missing"),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password", None),
        (
            {"email": "long.enough.address@example.com", "name": "A"}
            | {"password": "Long.Enough.Address@Example.com"},
            "password",
            "password_equals_email",
        ),
        ({"email": "a@example.com", "password": "x" * 129, "name": "A"}, "password", None),
        ({"email": "a@example.com", "password": PASSWORD}, "name", "missing"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "   "}, "name", None),
        ({"email": "a@example.com", "password": PASSWORD, "name": 7}, "name", None),
        (
            {"email": "a@example.com", "password": PASSWORD, "name": "A", "role": "admin"},
            "role",
            "unknown_field",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "name": "A", "tenant_id": "t-1"},
            "tenant_id",
            "unknown_field",
        ),
    ],
    ids=[
        "malformed-email",
        "empty-email",
        "short-password",
        "password-is-email",
        "long-password",
        "no-name",
        "blank-name",
        "name-not-a-string",
        "role-given",
        "tenant-given",
    ],
)
def test_invalid_signups_are_422_naming_the_field_and_write_nothing(
    identity: Identity, body: dict[str, Any], field: str, code: str | None
) -> None:
    answer = identity.signup.post("/v1/signup", json=body)

    assert answer.status == 422, answer.json
    errors = answer.json["errors"]
    assert field in {e["field"] for e in errors}, errors
    if code is not None:
        assert code in {e["code"] for e in errors if e["field"] == field}, errors
    assert b"password_hash" not in answer.body
    assert all(not docs for docs in snapshot_of_writes(identity.db).values())


def test_of_twenty_concurrent_signups_with_one_email_exactly_one_holds_it(
    identity: Identity,
) -> None:
    spellings = ["race@example.com", "RACE@example.com", " Race@Example.Com "]
    # Twenty signups from one address: more than its signup budget, not what this is about.
    roomy = RateLimit(limit=100, window_seconds=3600)
    identity.throttle_signups(per_address=roomy, overall=roomy)

    def attempt(index: int) -> tuple[int, str]:
        answer = identity.sign_up(spellings[index % 3], name=f"Racer {index}")
        return answer.status, answer.data["id"] if answer.status == 201 else ""

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))

    # Nobody has proven the address: no signup is refused, exactly one holds the key.
    assert [status for status, _ in results] == [201] * 20
    db = identity.db
    assert len(documents(db, "users")) == len(documents(db, "tenants")) == 20
    [key] = documents(db, "user_emails").values()
    assert key["verified"] is False and key["user_id"] in {user_id for _, user_id in results}
    assert len(outbox_events(db, "user.created")) == 20


def test_an_idempotency_key_replays_the_first_answer_without_a_second_account(
    identity: Identity,
) -> None:
    body = {"email": "once@example.com", "password": PASSWORD, "name": "Once"}
    headers = {"Idempotency-Key": "signup-once-1"}

    first = identity.signup.post("/v1/signup", json=body, headers=headers)
    again = identity.signup.post("/v1/signup", json=body, headers=headers)

    assert first.status == again.status == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.data == first.data
    assert len(documents(identity.db, "users")) == 1
