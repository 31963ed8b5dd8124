"""Identity data lives in the credentials database, never in the main one.

Users, their password hashes, email keys, access states, sessions and single-use tokens
are read and written through ``shared.clients.credentials_client``; the main database
keeps the ``users_read`` projection, rate limits and idempotency records.
"""

from __future__ import annotations

from shared.users.model import email_key
from tests.integration.users.conftest import Identity, documents, outbox_events

IDENTITY_COLLECTIONS = (
    "tenants",
    "users",
    "user_emails",
    "user_access",
    "refresh_token_families",
    "revoked_tokens",
    "email_verifications",
)


def test_a_signup_writes_the_user_its_email_key_and_access_state_to_the_credentials_database(
    identity: Identity,
) -> None:
    answer = identity.sign_up("split@example.com", organization="Split Ltd")
    assert answer.status == 201, answer.json
    user = answer.data
    assert identity.login("split@example.com").status == 200

    credentials, main = identity.db, identity.main
    assert documents(credentials, "users")[user["id"]]["password_hash"].startswith("$argon2id$")
    assert (
        documents(credentials, "user_emails")[email_key("split@example.com")]["user_id"]
        == (user["id"])
    )
    assert documents(credentials, "user_access")[user["id"]]["tenant_id"] == user["tenant_id"]
    assert documents(credentials, "tenants")[user["tenant_id"]]["name"] == "Split Ltd"
    assert len(documents(credentials, "refresh_token_families")) == 1
    # The events of the signup were staged in the same commit, in the same database.
    assert [e["type"] for e in outbox_events(credentials, "user.created")] == ["user.created"]

    for collection in IDENTITY_COLLECTIONS:
        assert documents(main, collection) == {}, collection
    assert outbox_events(main) == []
    # The login throttle's windows stay in the main database.
    assert documents(main, "rate_limits") != {}


def test_the_users_read_model_is_projected_into_the_main_database(identity: Identity) -> None:
    user = identity.owner("projected@example.com")

    assert identity.project() == 1

    assert documents(identity.main, "users_read")[user["id"]]["email"] == "projected@example.com"
    assert documents(identity.db, "users_read") == {}
    token = identity.token_for(user)
    me = identity.users.get("/v1/users/me", token=token)
    assert (me.status, me.data["id"]) == (200, user["id"])
