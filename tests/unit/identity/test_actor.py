"""One actor type: each kind's audit JSON is the shape records have always stored."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from shared.audit.chain import actor_id
from shared.auth.context import AuthContext, KeyPrincipal
from shared.identity.actor import Actor

PERMISSIONS = frozenset({"ledger:write"})


def person(role: str = "accountant") -> AuthContext:
    return AuthContext(
        user_id="u-7",
        tenant_id="tenant-a",
        role=role,
        permissions=PERMISSIONS,
        jti="j-1",
        issuer="tributum",
        expires_at=2_000_000_000,
    )


def api_key() -> KeyPrincipal:
    return KeyPrincipal(
        key_id="pk_0123",
        tenant_id="tenant-a",
        name="billing",
        role="accountant",
        permissions=PERMISSIONS,
    )


@pytest.mark.parametrize(
    ("actor", "client_ip", "stored"),
    [
        # What the users, ledger, payments and tax use cases recorded before, byte for byte.
        (Actor.user("u-7", role="admin"), None, b'{"user_id":"u-7","role":"admin"}'),
        (
            Actor.user("u-7", role="admin", tenant_id="tenant-a"),
            "203.0.113.9",
            b'{"user_id":"u-7","role":"admin","ip":"203.0.113.9"}',
        ),
        # A user who has just signed up or accepted an invitation: no role recorded.
        (Actor.user("u-7"), "203.0.113.9", b'{"user_id":"u-7","ip":"203.0.113.9"}'),
        (Actor.user("u-7"), None, b'{"user_id":"u-7"}'),
        (Actor.key("pk_0123", role="admin"), None, b'{"user_id":"key:pk_0123","role":"admin"}'),
        (Actor.system("ledger.reconcile"), None, b'{"system":"ledger.reconcile"}'),
        (Actor.system("ledger.reconcile"), "203.0.113.9", b'{"system":"ledger.reconcile"}'),
        (
            Actor.system(
                "ledger_postings", source="billing", producer_key_id="pk_1", producer="shop"
            ),
            None,
            b'{"system":"ledger_postings","source":"billing","producer_key_id":"pk_1",'
            b'"producer":"shop"}',
        ),
    ],
)
def test_to_audit_gives_the_stored_shape(
    actor: Actor, client_ip: str | None, stored: bytes
) -> None:
    assert orjson.dumps(actor.to_audit(client_ip)) == stored


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (Actor.user("u-7", role="viewer", tenant_id="tenant-a"), "u-7"),
        (Actor.user("u-7"), "u-7"),
        (Actor.key("pk_0123", role="accountant", tenant_id="tenant-a"), "key:pk_0123"),
        (Actor.system("payments.processor"), "system:payments.processor"),
        (Actor.system("ledger_postings", source="billing"), "system:ledger_postings"),
    ],
)
def test_the_audit_chain_files_each_kind_under_its_id(actor: Actor, expected: str) -> None:
    assert actor_id(actor.to_audit()) == expected
    assert actor_id(actor.to_audit("203.0.113.9")) == expected
    assert actor.user_id == expected


def test_a_person_principal_acts_as_its_user() -> None:
    actor = Actor.from_principal(person())

    assert actor == Actor.user("u-7", role="accountant", tenant_id="tenant-a")
    assert actor.to_audit() == {"user_id": "u-7", "role": "accountant"}


def test_a_key_principal_acts_as_its_key_never_a_user() -> None:
    principal = api_key()
    actor = Actor.from_principal(principal)

    assert actor == Actor.key("pk_0123", role="accountant", tenant_id="tenant-a")
    # The same string the request pipeline gives the key (rate limits, handlers).
    assert actor.user_id == principal.user_id == "key:pk_0123"
    assert actor.to_audit() == {"user_id": "key:pk_0123", "role": "accountant"}


def test_an_actor_is_immutable_and_needs_a_name() -> None:
    actor = Actor.user("u-7", role="admin")
    with pytest.raises(dataclasses.FrozenInstanceError):
        actor.role = "owner"  # type: ignore[misc]
    with pytest.raises(TypeError, match="non-empty name"):
        Actor.user("")
    with pytest.raises(TypeError, match="non-empty name"):
        Actor.system("")


def test_to_audit_returns_a_fresh_dict_each_time() -> None:
    # Use cases store and send the dict: changing one copy must not change the actor.
    actor = Actor.system("ledger_postings", source="billing")
    first = actor.to_audit()
    first["source"] = "changed"

    assert actor.to_audit() == {"system": "ledger_postings", "source": "billing"}
