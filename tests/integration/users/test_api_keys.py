"""API keys on the users function, through the router's default authenticator.

A key acts with its own role: it never creates a user above that role, it has no
self (the people-only routes refuse it), and the audit trail names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared import producers
from shared.audit.chain import actor_id
from shared.identity.actor import Actor
from shared.producers.http import reset_key_authenticator
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    outbox_events,
    snapshot_of_writes,
)


@pytest.fixture
def owner(identity: Identity) -> Iterator[dict[str, Any]]:
    reset_key_authenticator()
    yield identity.owner("keys-owner@alpha.example")
    reset_key_authenticator()


def _key(identity: Identity, owner: dict[str, Any], role: str) -> producers.CreatedProducerKey:
    return producers.create_key(
        identity.db,
        owner["tenant_id"],
        producers.CreateProducerKeyRequest.model_validate({"name": f"{role}-client", "role": role}),
        actor=Actor.user(owner["id"], role="owner"),
    )


def _new_user(role: str) -> dict[str, Any]:
    return {
        "email": f"{role}-by-key@alpha.example",
        "name": "Made By Key",
        "role": role,
    }


def test_a_key_never_creates_a_user_above_its_role(
    identity: Identity, owner: dict[str, Any]
) -> None:
    key = _key(identity, owner, "admin")
    before = snapshot_of_writes(identity.db)

    answer = identity.users.post("/v1/users", token=key.credential, json=_new_user("owner"))

    assert answer.status == 403, answer.json
    assert answer.json["code"] == "role_escalation"
    assert snapshot_of_writes(identity.db) == before


def test_a_user_a_key_creates_is_audited_as_the_keys_act(
    identity: Identity, owner: dict[str, Any]
) -> None:
    key = _key(identity, owner, "admin")

    answer = identity.users.post("/v1/users", token=key.credential, json=_new_user("viewer"))

    assert answer.status == 201, answer.json
    assert answer.data["tenant_id"] == owner["tenant_id"]
    audits = [
        e["data"]
        for e in outbox_events(identity.db, "audit.recorded")
        if e["data"]["resource"]["id"] == answer.data["id"]
    ]
    assert audits, "the user's creation is audited"
    for audit in audits:
        assert actor_id(audit["actor"]) == f"key:{key.key.id}"
        assert audit["actor"]["role"] == "admin"


def test_the_people_only_routes_refuse_a_key(identity: Identity, owner: dict[str, Any]) -> None:
    key = _key(identity, owner, "owner")
    before = snapshot_of_writes(identity.db)

    me = identity.users.get("/v1/users/me", token=key.credential)
    password = identity.users.post(
        "/v1/users/me/password",
        token=key.credential,
        json={"current_password": PASSWORD, "new_password": "another horse battery staple"},
    )
    logout = identity.auth.post("/v1/auth/logout", token=key.credential)

    for answer in (me, password, logout):
        assert answer.status == 403, answer.json
        assert answer.json["code"] == "permission_denied"
    assert snapshot_of_writes(identity.db) == before
    # What the owner role holds otherwise works: the tenant's users.
    assert identity.users.get("/v1/users", token=key.credential).status == 200


def test_a_revoked_key_is_a_401_with_a_bearer_challenge(
    identity: Identity, owner: dict[str, Any]
) -> None:
    key = _key(identity, owner, "viewer")
    assert identity.users.get("/v1/users", token=key.credential).status == 403  # viewer
    producers.revoke_key(
        identity.db,
        owner["tenant_id"],
        key.key.id,
        actor=Actor.user(owner["id"], role="owner"),
    )

    answer = identity.users.get("/v1/users", token=key.credential)

    assert answer.status == 401
    assert answer.json["code"] == "token_revoked"
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="tributum"')
