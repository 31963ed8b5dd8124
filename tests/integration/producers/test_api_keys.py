"""Keys on the HTTP API: created, used, listed, revoked, rotated, limited and audited.

The producer_keys function itself is the API the keys call here: an admin key can
manage keys, which is where the role ceiling and the audit actor matter most. People
authenticate with static tokens (``admin``, ``owner``...); keys go through the real
``BearerAuthenticator`` and ``KeyAuthenticator`` over the Firestore emulator.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shared.audit.chain import actor_id
from tests.integration.ledger.conftest import dump
from tests.integration.producers.conftest import KeyApi
from tests.support.http import Answer


def _create(api: KeyApi, body: dict[str, Any], token: str = "admin") -> Answer:  # noqa: S107
    return api.client.post("/v1/producer-keys", json=body, token=token)


def _key(api: KeyApi, role: str = "admin", **extra: Any) -> dict[str, Any]:
    answer = _create(api, {"name": f"{role}-client", "role": role, **extra}, token="owner")
    assert answer.status == 201, answer.json
    created: dict[str, Any] = answer.data
    return created


def _keys(db: Any) -> dict[str, dict[str, Any]]:
    return {p: d for p, d in dump(db).items() if p.startswith("producer_keys/")}


def _last_used(books: Any, key_id: str) -> Any:
    """The key's noted last use, in the main database (shared/producers/usage.py)."""
    return (books.collection("producer_key_usage").document(key_id).get().to_dict() or {}).get(
        "last_used_at"
    )


def _writes(db: Any) -> dict[str, dict[str, Any]]:
    """Everything a refused request must leave as it was (keys and the outbox), but a
    valid key's ``last_used_at``: a request it authenticated used it, whatever the answer."""
    return {
        p: {k: v for k, v in d.items() if k != "last_used_at"}
        for p, d in dump(db).items()
        if p.startswith(("producer_keys/", "outbox/"))
    }


def _audit_events(db: Any, action: str) -> list[dict[str, Any]]:
    envelopes = [orjson.loads(d["data"]) for p, d in dump(db).items() if p.startswith("outbox/")]
    return [e for e in envelopes if e["type"] == "audit.recorded" and e["data"]["action"] == action]


def _assert_unauthorized(answer: Answer, code: str) -> None:
    assert answer.status == 401, answer.json
    assert answer.json["code"] == code
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="tributum"')
    assert answer.headers["Content-Type"].startswith("application/problem+json")


def test_a_key_with_a_role_is_created_once_and_works_as_a_bearer_token(
    api: KeyApi, platform: Any, firestore_client: Any
) -> None:
    created = _key(api, "admin")

    credential = created["credential"]
    assert credential.startswith(f"trb_pk_{created['id']}_")
    assert (created["role"], created["scopes"], created["status"]) == ("admin", [], "active")
    stored = _keys(platform)[f"producer_keys/{created['id']}"]
    assert stored["secret_hash"] == hashlib.sha256(credential.encode()).hexdigest()
    assert credential not in str(dump(platform))

    listed = api.client.get("/v1/producer-keys", token=credential)

    assert listed.status == 200, listed.json
    assert [k["id"] for k in listed.data] == [created["id"]]
    assert all("credential" not in k for k in listed.data)
    used = _last_used(firestore_client, created["id"])
    assert used is not None
    # Within the minute, more requests cost no further write on the key.
    api.clock.advance(30)
    assert api.client.get("/v1/producer-keys", token=credential).status == 200
    assert _last_used(firestore_client, created["id"]) == used
    listed_by_person = api.client.get(f"/v1/producer-keys/{created['id']}", token="owner")
    assert listed_by_person.data["last_used_at"] is not None


def test_the_audit_trail_names_the_key_that_acted(api: KeyApi, platform: Any) -> None:
    acting = _key(api, "admin")

    answer = _create(api, {"name": "made-by-a-key", "role": "viewer"}, token=acting["credential"])

    assert answer.status == 201, answer.json
    assert answer.data["created_by"] == {"user_id": f"key:{acting['id']}", "role": "admin"}
    [event] = [
        e
        for e in _audit_events(platform, "producer_key.created")
        if e["data"]["resource"]["id"] == answer.data["id"]
    ]
    assert event["data"]["actor"] == {"user_id": f"key:{acting['id']}", "role": "admin"}
    assert actor_id(event["data"]["actor"]) == f"key:{acting['id']}"


@pytest.mark.parametrize(
    ("who", "role"),
    [("admin-user", "owner"), ("admin-key", "owner"), ("accountant-key", "viewer")],
)
def test_nobody_creates_a_key_above_their_own_role(
    api: KeyApi, platform: Any, who: str, role: str
) -> None:
    tokens = {
        "admin-user": "admin",
        "admin-key": _key(api, "admin")["credential"],
        "accountant-key": _key(api, "accountant")["credential"],
    }
    before = _writes(platform)

    answer = _create(api, {"name": "escalated", "role": role}, token=tokens[who])

    assert answer.status == 403, answer.json
    # An accountant key lacks producer_keys:manage altogether.
    expected = "permission_denied" if who == "accountant-key" else "role_escalation"
    assert answer.json["code"] == expected
    assert _writes(platform) == before


@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_a_key_cannot_manage_a_key_with_a_higher_role(
    api: KeyApi, platform: Any, action: str
) -> None:
    owner_key = _key(api, "owner")
    admin_key = _key(api, "admin")
    before = _writes(platform)

    answer = api.client.post(
        f"/v1/producer-keys/{owner_key['id']}/{action}",
        json={} if action == "rotate" else None,
        token=admin_key["credential"],
    )

    assert answer.status == 403, answer.json
    assert answer.json["code"] == "role_escalation"
    assert _writes(platform) == before
    assert api.client.get("/v1/producer-keys", token=owner_key["credential"]).status == 200


def test_a_revoked_key_is_refused_at_once_on_the_instance_that_revoked_it(
    api: KeyApi, platform: Any
) -> None:
    key = _key(api, "admin")
    assert api.client.get("/v1/producer-keys", token=key["credential"]).status == 200

    revoked = api.client.post(f"/v1/producer-keys/{key['id']}/revoke", token="owner")
    assert revoked.status == 200 and revoked.data["status"] == "revoked"
    before = _writes(platform)

    _assert_unauthorized(
        api.client.get("/v1/producer-keys", token=key["credential"]), "token_revoked"
    )
    assert _writes(platform) == before


def test_a_revocation_elsewhere_is_seen_within_the_staleness_bound(
    api: KeyApi, platform: Any
) -> None:
    key = _key(api, "admin")
    assert api.client.get("/v1/producer-keys", token=key["credential"]).status == 200
    # Another instance revokes it: this instance's cache is not told.
    platform.collection("producer_keys").document(key["id"]).update(
        {"revoked_at": datetime.now(UTC), "revoked_by": {"user_id": "u-owner", "role": "owner"}}
    )

    api.clock.advance(1.0)
    assert api.client.get("/v1/producer-keys", token=key["credential"]).status == 200
    api.clock.advance(1.1)
    _assert_unauthorized(
        api.client.get("/v1/producer-keys", token=key["credential"]), "token_revoked"
    )


def test_rotation_keeps_the_old_secret_working_for_the_overlap_only(
    api: KeyApi, platform: Any
) -> None:
    old = _key(api, "admin", rate_limit_per_minute=120)

    answer = api.client.post(
        f"/v1/producer-keys/{old['id']}/rotate", json={"overlap_seconds": 3600}, token="owner"
    )

    assert answer.status == 201, answer.json
    assert answer.headers["Cache-Control"] == "no-store"
    new = answer.data
    assert new["credential"].startswith(f"trb_pk_{new['id']}_")
    assert (new["role"], new["name"], new["rate_limit_per_minute"]) == ("admin", old["name"], 120)
    assert new["replaces"] == old["id"]
    stored_old = api.client.get(f"/v1/producer-keys/{old['id']}", token="owner").data
    assert stored_old["replaced_by"] == new["id"]
    ends = datetime.fromisoformat(stored_old["expires_at"])
    assert timedelta(minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=1)
    assert [
        e["data"]["resource"]["id"] for e in _audit_events(platform, "producer_key.rotated")
    ] == [old["id"]]
    for credential in (old["credential"], new["credential"]):
        assert api.client.get("/v1/producer-keys", token=credential).status == 200

    api.clock.advance(3601)

    _assert_unauthorized(
        api.client.get("/v1/producer-keys", token=old["credential"]), "token_expired"
    )
    assert api.client.get("/v1/producer-keys", token=new["credential"]).status == 200


def test_rotation_without_overlap_ends_the_old_secret_at_once(api: KeyApi) -> None:
    old = _key(api, "viewer", scopes=["ledger:post"])

    answer = api.client.post(f"/v1/producer-keys/{old['id']}/rotate", json={}, token="admin")

    assert answer.status == 201, answer.json
    assert answer.data["scopes"] == ["ledger:post"]
    api.clock.advance(1)  # the authenticator's clock was set before the rotation
    _assert_unauthorized(
        api.client.get("/v1/producer-keys", token=old["credential"]), "token_expired"
    )


def test_a_key_that_was_rotated_or_revoked_is_not_rotated_again(api: KeyApi, platform: Any) -> None:
    rotated = _key(api, "admin")
    assert (
        api.client.post(
            f"/v1/producer-keys/{rotated['id']}/rotate",
            json={"overlap_seconds": 60},
            token="owner",
        ).status
        == 201
    )
    revoked = _key(api, "admin")
    assert api.client.post(f"/v1/producer-keys/{revoked['id']}/revoke", token="owner").status == 200
    before = _writes(platform)

    again = api.client.post(f"/v1/producer-keys/{rotated['id']}/rotate", json={}, token="owner")
    dead = api.client.post(f"/v1/producer-keys/{revoked['id']}/rotate", json={}, token="owner")

    assert (again.status, again.json["code"]) == (409, "producer_key_rotated")
    assert (dead.status, dead.json["code"]) == (409, "producer_key_revoked")
    assert _writes(platform) == before


def test_an_expired_key_is_refused_and_nothing_is_written(api: KeyApi, platform: Any) -> None:
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    key = _key(api, "admin", expires_at=expires)
    api.clock.advance(2 * 3600)
    before = _writes(platform)

    answer = _create(api, {"name": "late", "role": "viewer"}, token=key["credential"])

    _assert_unauthorized(answer, "token_expired")
    assert _writes(platform) == before
    listed = api.client.get(f"/v1/producer-keys/{key['id']}", token="owner").data
    assert listed["last_used_at"] is None


@pytest.mark.parametrize(
    "credential",
    [
        "trb_pk_pk" + "0" * 24 + "_" + "A" * 43,  # well formed, no such key
        "trb_pk_not-a-key",
    ],
)
def test_an_unknown_or_malformed_key_is_a_401(api: KeyApi, platform: Any, credential: str) -> None:
    before = _writes(platform)

    _assert_unauthorized(api.client.get("/v1/producer-keys", token=credential), "token_invalid")
    assert _writes(platform) == before


def test_a_forged_secret_for_a_real_key_id_is_a_401(api: KeyApi, platform: Any) -> None:
    key = _key(api, "admin")
    forged = key["credential"][:-43] + "B" * 43
    before = _writes(platform)

    _assert_unauthorized(api.client.get("/v1/producer-keys", token=forged), "token_invalid")
    assert _writes(platform) == before


def test_a_key_over_its_rate_limit_gets_429_and_writes_nothing(api: KeyApi, platform: Any) -> None:
    key = _key(api, "admin", rate_limit_per_minute=2)
    for _ in range(2):
        assert api.client.get("/v1/producer-keys", token=key["credential"]).status == 200
    before = _writes(platform)

    answer = _create(api, {"name": "one-too-many", "role": "viewer"}, token=key["credential"])

    assert answer.status == 429, answer.json
    assert answer.json["code"] == "rate_limited"
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert int(answer.headers["Retry-After"]) >= 1
    assert _writes(platform) == before
    # The bucket refills at the limit's pace: two a minute, one every 30 seconds.
    api.clock.advance(30)
    assert api.client.get("/v1/producer-keys", token=key["credential"]).status == 200


def test_a_restricted_key_holds_only_its_listed_permissions(api: KeyApi) -> None:
    key = _key(api, "admin", permissions=["journal:read"])

    answer = api.client.get("/v1/producer-keys", token=key["credential"])

    assert key["permissions"] == ["journal:read"]
    assert answer.status == 403
    assert answer.json["code"] == "permission_denied"


def test_a_topic_only_key_opens_no_http_route(api: KeyApi) -> None:
    answer = _create(api, {"name": "billing", "scopes": ["ledger:post"]})
    assert answer.status == 201

    refused = api.client.get("/v1/producer-keys", token=answer.data["credential"])

    assert refused.status == 403
    assert refused.json["code"] == "key_without_role"


BAD_BODIES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "neither_role_nor_scopes": ({"name": "nothing"}, {"role", "scopes"}),
    "unknown_role": ({"name": "x", "role": "superuser"}, {"role"}),
    "permission_outside_role": (
        {"name": "x", "role": "viewer", "permissions": ["journal:read", "journal:post"]},
        {"permissions.1"},
    ),
    "permissions_without_role": (
        {"name": "x", "scopes": ["ledger:post"], "permissions": ["journal:read"]},
        {"permissions"},
    ),
    "unknown_permission": (
        {"name": "x", "role": "admin", "permissions": ["root"]},
        {"permissions.0"},
    ),
    "no_rate": (
        {"name": "x", "role": "admin", "rate_limit_per_minute": 0},
        {"rate_limit_per_minute"},
    ),
    "string_rate": (
        {"name": "x", "role": "admin", "rate_limit_per_minute": "10"},
        {"rate_limit_per_minute"},
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_bad_key_body_names_the_field_and_writes_nothing(
    api: KeyApi, platform: Any, case: str
) -> None:
    body, fields = BAD_BODIES[case]
    before = _writes(platform)

    answer = _create(api, body)

    assert answer.status == 422, answer.json
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    named = {error["field"].removeprefix("body.") for error in answer.json["errors"]}
    assert fields <= named, named
    assert _writes(platform) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overlap_seconds": -1}, "overlap_seconds"),
        ({"overlap_seconds": 8 * 86_400}, "overlap_seconds"),
        ({"overlap_seconds": "60"}, "overlap_seconds"),
        ({"overlap": 60}, "overlap"),
    ],
)
def test_a_bad_rotation_body_names_the_field_and_writes_nothing(
    api: KeyApi, platform: Any, body: dict[str, Any], field: str
) -> None:
    key = _key(api, "viewer")
    before = _writes(platform)

    answer = api.client.post(f"/v1/producer-keys/{key['id']}/rotate", json=body, token="owner")

    assert answer.status == 422, answer.json
    assert field in {error["field"].removeprefix("body.") for error in answer.json["errors"]}
    assert _writes(platform) == before


def test_rotating_a_missing_or_foreign_key_is_a_404(api: KeyApi, platform: Any) -> None:
    key = _key(api, "viewer")
    before = _writes(platform)

    foreign = api.client.post(f"/v1/producer-keys/{key['id']}/rotate", json={}, token="other-admin")
    missing = api.client.post(
        f"/v1/producer-keys/pk{uuid.uuid4().hex[:24]}/rotate", json={}, token="owner"
    )

    assert foreign.status == missing.status == 404
    assert _writes(platform) == before
