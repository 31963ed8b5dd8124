"""Who holds an email address, against the emulators: a signup holds a free address
unverified, an unverified holder blocks nobody, and proving the mailbox (verifying the
signup's token, accepting an invitation) claims the address for good. Every refusal
writes nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.cloud import firestore

from shared.ratelimit import RateLimit
from shared.users.model import email_key
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)
from tests.support.http import Answer

ADDRESS = "cfo@victim.example"
SQUATTER_PASSWORD = "a squatter's own long passphrase"
VERIFY = "/v1/auth/verify-email"


def _key(identity: Identity, email: str = ADDRESS) -> dict[str, Any]:
    key: dict[str, Any] = documents(identity.db, "user_emails")[email_key(email)]
    return key


def _squatter(identity: Identity) -> dict[str, Any]:
    answer = identity.sign_up(ADDRESS, name="Squatter", password=SQUATTER_PASSWORD)
    assert answer.status == 201, answer.json
    user: dict[str, Any] = answer.data
    return user


def _who_logs_in(identity: Identity, password: str) -> str | None:
    """The id of the user the address and ``password`` log in as; None for the 401."""
    answer = identity.login(ADDRESS, password)
    if answer.status == 401:
        assert answer.json["code"] == "invalid_credentials"
        return None
    assert answer.status == 200, answer.json
    return _me(identity, answer.data["access_token"])


def _me(identity: Identity, access: str) -> str:
    identity.project()
    answer = identity.users.get("/v1/users/me", token=access)
    assert answer.status == 200, answer.json
    user_id: str = answer.data["id"]
    return user_id


def _displacements(identity: Identity) -> list[dict[str, Any]]:
    return [
        e
        for e in outbox_events(identity.db, "audit.recorded")
        if e["data"]["action"] == "user.email_displaced"
    ]


def _refused(answer: Answer, status: int, code: str, field: str) -> None:
    assert (answer.status, answer.json["code"]) == (status, code), answer.json
    assert {e["field"] for e in answer.json["errors"]} == {field}


def test_an_unverified_signup_does_not_stop_the_owner_who_then_takes_the_address(
    identity: Identity,
) -> None:
    squatter = _squatter(identity)
    squatter_access = identity.tokens(ADDRESS, SQUATTER_PASSWORD)["access_token"]

    owner = identity.owner(ADDRESS)

    # The owner signed up without the address: the first holder still logs in by it.
    assert owner["tenant_id"] != squatter["tenant_id"]
    assert _key(identity) == {**_key(identity), "user_id": squatter["id"], "verified": False}
    assert _who_logs_in(identity, SQUATTER_PASSWORD) == squatter["id"]
    assert _who_logs_in(identity, PASSWORD) is None

    assert identity.verify(owner).status == 204

    key = _key(identity)
    assert (key["user_id"], key["tenant_id"], key["verified"]) == (
        owner["id"],
        owner["tenant_id"],
        True,
    )
    assert _who_logs_in(identity, PASSWORD) == owner["id"]
    assert _who_logs_in(identity, SQUATTER_PASSWORD) is None
    # The displaced user keeps their account and their session; their tenant's audit
    # says they lost the address, not to whom.
    assert _me(identity, squatter_access) == squatter["id"]
    [displaced] = _displacements(identity)
    assert displaced["tenant_id"] == squatter["tenant_id"]
    assert displaced["data"]["resource"] == {"type": "user", "id": squatter["id"]}
    assert displaced["data"]["details"]["by"] == "email_verification"
    assert owner["id"] not in str(displaced)


def test_the_displaced_user_can_neither_verify_nor_be_mailed_a_token(
    identity: Identity,
) -> None:
    squatter = _squatter(identity)
    squatter_access = identity.tokens(ADDRESS, SQUATTER_PASSWORD)["access_token"]
    owner = identity.owner(ADDRESS)
    squatter_token = identity.verification_token(squatter)
    assert identity.verify(owner).status == 204
    before = snapshot_of_writes(identity.db)

    refused = identity.auth.post(VERIFY, json={"token": squatter_token})
    resend = identity.auth.post("/v1/auth/verify-email/resend", token=squatter_access)

    _refused(refused, 409, "email_unavailable", "token")
    _refused(resend, 409, "email_unavailable", "email")
    assert snapshot_of_writes(identity.db) == before
    assert _key(identity)["user_id"] == owner["id"]


def test_a_verified_address_refuses_another_signup_and_writes_nothing(
    identity: Identity,
) -> None:
    holder = identity.owner(ADDRESS)
    assert identity.verify(holder).status == 204
    before = snapshot_of_writes(identity.db)

    answer = identity.sign_up(ADDRESS, name="Someone Else", password=SQUATTER_PASSWORD)

    _refused(answer, 409, "email_unavailable", "email")
    assert snapshot_of_writes(identity.db) == before
    assert len(documents(identity.db, "users")) == len(documents(identity.db, "tenants")) == 1


def test_verifying_the_address_one_holds_keeps_it_and_displaces_nobody(
    identity: Identity,
) -> None:
    holder = identity.owner(ADDRESS)
    created_at = _key(identity)["created_at"]

    assert identity.verify(holder).status == 204

    key = _key(identity)
    assert (key["user_id"], key["verified"], key["created_at"]) == (holder["id"], True, created_at)
    assert _displacements(identity) == []


def _owner_access(identity: Identity, email: str) -> str:
    identity.owner(email)
    access: str = identity.tokens(email)["access_token"]
    return access


def _invitation_token(identity: Identity, boss_access: str) -> str:
    invited = identity.users.post(
        "/v1/users", token=boss_access, json={"email": ADDRESS, "name": "Cfo", "role": "viewer"}
    )
    assert invited.status == 201, invited.json
    return identity.invitation_token(ADDRESS)


def test_accepting_an_invitation_takes_the_address_from_an_unverified_holder(
    identity: Identity,
) -> None:
    boss_access = _owner_access(identity, "boss@claims.example")
    squatter = _squatter(identity)
    token = _invitation_token(identity, boss_access)

    accepted = identity.users.post(
        "/v1/users/invitations/accept", json={"token": token, "password": PASSWORD}
    )

    assert accepted.status == 201, accepted.json
    user = accepted.data
    key = _key(identity)
    assert (key["user_id"], key["verified"]) == (user["id"], True)
    assert _who_logs_in(identity, PASSWORD) == user["id"]
    assert _who_logs_in(identity, SQUATTER_PASSWORD) is None
    [displaced] = _displacements(identity)
    assert displaced["tenant_id"] == squatter["tenant_id"]
    assert displaced["data"]["details"]["by"] == "invitation"


def test_accepting_an_invitation_of_an_address_verified_since_is_refused(
    identity: Identity,
) -> None:
    boss_access = _owner_access(identity, "boss@claims.example")
    holder = identity.owner(ADDRESS)
    # Invited while the holder was unverified (that blocks nobody), verified before the
    # acceptance.
    token = _invitation_token(identity, boss_access)
    assert identity.verify(holder).status == 204
    before = snapshot_of_writes(identity.db)

    answer = identity.users.post(
        "/v1/users/invitations/accept", json={"token": token, "password": PASSWORD}
    )

    _refused(answer, 409, "email_unavailable", "email")
    assert snapshot_of_writes(identity.db) == before
    assert _key(identity)["user_id"] == holder["id"]


def test_a_key_from_before_verification_existed_counts_as_verified(identity: Identity) -> None:
    boss_access = _owner_access(identity, "boss@claims.example")
    holder = identity.owner(ADDRESS)
    token = _invitation_token(identity, boss_access)
    identity.db.collection("user_emails").document(email_key(ADDRESS)).update(
        {"verified": firestore.DELETE_FIELD}
    )
    before = snapshot_of_writes(identity.db)

    signup = identity.sign_up(ADDRESS, name="Someone Else", password=SQUATTER_PASSWORD)
    acceptance = identity.users.post(
        "/v1/users/invitations/accept", json={"token": token, "password": PASSWORD}
    )

    _refused(signup, 409, "email_unavailable", "email")
    _refused(acceptance, 409, "email_unavailable", "email")
    assert snapshot_of_writes(identity.db) == before
    # Its holder may still verify: the key is theirs, now marked verified.
    assert identity.verify(holder).status == 204
    assert _key(identity) == {**_key(identity), "user_id": holder["id"], "verified": True}


@pytest.mark.parametrize("verifier", ["holder", "newcomer"])
def test_a_verification_racing_signups_leaves_exactly_one_holder(
    identity: Identity, verifier: str
) -> None:
    roomy = RateLimit(limit=100, window_seconds=3600)
    identity.throttle_signups(per_address=roomy, overall=roomy)
    squatter = _squatter(identity)
    newcomer = identity.owner(ADDRESS)
    proving = squatter if verifier == "holder" else newcomer
    token = identity.verification_token(proving)
    racers = 8

    def attempt(index: int) -> int:
        # Signups start one after another around the verification (each hashes its
        # password first), so some commit before the proof and some after it.
        if index == 0:
            time.sleep(0.35)
            return identity.auth.post(VERIFY, json={"token": token}).status
        time.sleep(0.05 * index)
        password = f"racer number {index} passphrase"
        return identity.sign_up(ADDRESS, name=f"Racer {index}", password=password).status

    with ThreadPoolExecutor(max_workers=racers + 1) as pool:
        statuses = list(pool.map(attempt, range(racers + 1)))

    assert statuses[0] == 204, statuses
    # A signup before the proof commits succeeds without the address; one after is refused.
    assert set(statuses[1:]) <= {201, 409}, statuses
    key = _key(identity)
    assert (key["user_id"], key["verified"]) == (proving["id"], True)
    assert len(documents(identity.db, "user_emails")) == 1
    holders = [u for u in documents(identity.db, "users").values() if u["email_verified"]]
    assert [u["id"] for u in holders] == [proving["id"]]
    assert len(documents(identity.db, "users")) == 2 + statuses.count(201)
    password = SQUATTER_PASSWORD if verifier == "holder" else PASSWORD
    assert _who_logs_in(identity, password) == proving["id"]
