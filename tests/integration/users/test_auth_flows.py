"""The auth function: login, refresh rotation and reuse, logout, throttling, JWKS, rehash."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from shared.audit.chain import actor_id
from shared.auth.passwords import PasswordHasher
from shared.ratelimit import LOGIN_ACCOUNT_RATE
from tests.integration.users.conftest import PASSWORD, Identity, documents, outbox_events


def _problem_without_request_ids(answer: Any) -> dict[str, Any]:
    return {k: v for k, v in answer.json.items() if k not in {"correlation_id", "instance"}}


def test_signup_projection_login_me_refresh_logout(identity: Identity) -> None:
    owner = identity.owner("flow@example.com")
    assert identity.project() == 1
    assert documents(identity.main, "users_read")[owner["id"]]["email"] == "flow@example.com"

    login = identity.login("FLOW@example.com")
    assert login.status == 200, login.json
    tokens = login.data
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900 and tokens["refresh_expires_in"] == 7 * 86_400
    assert login.headers["Cache-Control"] == "no-store"

    me = identity.users.get("/v1/users/me", token=tokens["access_token"])
    assert me.status == 200, me.json
    assert me.data["id"] == owner["id"] and me.data["role"] == "owner"

    refreshed = identity.auth.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status == 200, refreshed.json
    new_tokens = refreshed.data
    assert new_tokens["refresh_token"] != tokens["refresh_token"]
    assert identity.users.get("/v1/users/me", token=new_tokens["access_token"]).status == 200

    logout = identity.auth.post("/v1/auth/logout", token=new_tokens["access_token"])
    assert logout.status == 204, logout.json
    after = identity.users.get("/v1/users/me", token=new_tokens["access_token"])
    assert after.status == 401 and after.json["code"] == "token_revoked"
    refused = identity.auth.post(
        "/v1/auth/refresh", json={"refresh_token": new_tokens["refresh_token"]}
    )
    assert refused.status == 401 and refused.json["code"] == "token_revoked"

    audits = outbox_events(identity.db, "audit.recorded")
    assert [e["data"]["action"] for e in audits] == ["user.signed_up", "auth.login", "auth.logout"]
    # Each record names the user who acted, so GET /v1/audit?actor=<user id> finds them.
    assert [actor_id(e["data"]["actor"]) for e in audits] == [owner["id"]] * 3


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(identity: Identity) -> None:
    identity.owner("reuse@example.com")
    first = identity.login("reuse@example.com").data
    second = identity.auth.post(
        "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).data

    replay = identity.auth.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status == 401 and replay.json["code"] == "token_revoked"

    # The legitimate holder's newer token dies with the family: both must log in again.
    newer = identity.auth.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert newer.status == 401 and newer.json["code"] == "token_revoked"
    [family] = documents(identity.db, "refresh_token_families").values()
    assert family["status"] == "revoked" and family["revoke_reason"] == "reuse_detected"
    reuse = [
        e
        for e in outbox_events(identity.db, "audit.recorded")
        if e["data"]["action"] == "auth.refresh_reuse"
    ]
    assert reuse and reuse[0]["data"]["outcome"] == "failure"


def test_access_and_refresh_tokens_cannot_stand_in_for_each_other(identity: Identity) -> None:
    identity.owner("types@example.com")
    identity.project()
    tokens = identity.login("types@example.com").data

    as_access = identity.users.get("/v1/users/me", token=tokens["refresh_token"])
    assert as_access.status == 401 and as_access.json["code"] == "token_wrong_type"
    as_refresh = identity.auth.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    assert as_refresh.status == 401 and as_refresh.json["code"] == "token_wrong_type"


def test_unknown_email_and_wrong_password_answer_identically(identity: Identity) -> None:
    identity.owner("known@example.com")

    wrong_password = identity.login("known@example.com", "not the right password")
    unknown_email = identity.login("nobody@example.com", "not the right password")

    assert wrong_password.status == unknown_email.status == 401
    assert _problem_without_request_ids(wrong_password) == _problem_without_request_ids(
        unknown_email
    )
    assert wrong_password.json["code"] == "invalid_credentials"
    assert wrong_password.headers.get("WWW-Authenticate") == unknown_email.headers.get(
        "WWW-Authenticate"
    )
    failures = [
        e["data"]
        for e in outbox_events(identity.db, "audit.recorded")
        if e["data"]["action"] == "auth.login"
    ]
    assert [f["outcome"] for f in failures] == ["failure", "failure"]
    assert all("nobody@example.com" not in str(f) for f in failures)


def test_a_disabled_user_cannot_log_in_and_answers_like_a_wrong_password(
    identity: Identity,
) -> None:
    owner = identity.owner("disabled@example.com")
    identity.db.collection("users").document(owner["id"]).update({"status": "disabled"})

    answer = identity.login("disabled@example.com")

    assert answer.status == 401 and answer.json["code"] == "invalid_credentials"


def test_brute_force_on_one_account_is_throttled_with_retry_after(identity: Identity) -> None:
    identity.owner("target@example.com")
    statuses = [
        identity.login("target@example.com", f"guess number {i:04d}").status
        for i in range(LOGIN_ACCOUNT_RATE.limit)
    ]
    assert statuses == [401] * LOGIN_ACCOUNT_RATE.limit

    # Even the right password is refused once the account's budget is spent.
    throttled = identity.login("TARGET@example.com")
    assert throttled.status == 429, throttled.json
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json["code"] == "rate_limited"


def test_a_successful_login_resets_the_account_budget(identity: Identity) -> None:
    identity.owner("fumble@example.com")
    for i in range(LOGIN_ACCOUNT_RATE.limit - 1):
        assert identity.login("fumble@example.com", f"typo number {i:04d}").status == 401
    assert identity.login("fumble@example.com").status == 200
    assert identity.login("fumble@example.com", "one more typo!!").status == 401
    assert identity.login("fumble@example.com").status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "no-at-sign", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": PASSWORD, "tenant_id": "t"}, "tenant_id"),
    ],
)
def test_malformed_login_requests_are_422_and_write_nothing(
    identity: Identity, body: dict[str, Any], field: str
) -> None:
    answer = identity.auth.post("/v1/auth/token", json=body)

    assert answer.status == 422, answer.json
    assert field in {e["field"] for e in answer.json["errors"]}
    for db in (identity.db, identity.main):
        for collection in ("outbox", "refresh_token_families", "rate_limits"):
            assert documents(db, collection) == {}, collection


def test_refresh_and_logout_refuse_malformed_requests(identity: Identity) -> None:
    missing = identity.auth.post("/v1/auth/refresh", json={})
    assert missing.status == 422 and missing.json["errors"][0]["field"] == "refresh_token"
    garbage = identity.auth.post("/v1/auth/refresh", json={"refresh_token": "not.a.jwt"})
    assert garbage.status == 401 and garbage.json["code"] == "token_invalid"
    anonymous = identity.auth.post("/v1/auth/logout")
    assert anonymous.status == 401 and anonymous.json["code"] == "token_missing"
    assert documents(identity.db, "outbox") == {}
    assert documents(identity.db, "revoked_tokens") == {}


def test_jwks_is_a_bare_key_set_that_verifies_issued_tokens(identity: Identity) -> None:
    identity.owner("keys@example.com")
    tokens = identity.login("keys@example.com").data

    answer = identity.auth.get("/.well-known/jwks.json")

    assert answer.status == 200
    assert answer.headers["Cache-Control"].startswith("public, max-age=")
    document = answer.json
    assert set(document) == {"keys"}
    [key] = document["keys"]
    assert key["kty"] == "EC" and key["alg"] == "ES256" and "d" not in key
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["kid"] == key["kid"]
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(
        tokens["access_token"], public_key, algorithms=["ES256"], audience="tributum-api"
    )
    assert claims["typ"] == "access"


def test_login_rehashes_a_password_hashed_with_older_parameters(identity: Identity) -> None:
    owner = identity.owner("rehash@example.com")
    weaker = PasswordHasher(memory_cost_kib=19_456, time_cost=2).hash(PASSWORD)
    identity.db.collection("users").document(owner["id"]).update({"password_hash": weaker})

    assert identity.login("rehash@example.com").status == 200

    stored = documents(identity.db, "users")[owner["id"]]["password_hash"]
    assert stored != weaker and "$m=47104,t=2,p=1$" in stored
    assert identity.login("rehash@example.com").status == 200


def test_refresh_carries_the_current_role_and_refuses_a_disabled_user(
    identity: Identity,
) -> None:
    owner = identity.owner("current@example.com")
    owner_token = identity.tokens("current@example.com")["access_token"]
    added = identity.add_user(owner_token, "clerk@example.com", "admin", name="C")
    tokens = identity.tokens("clerk@example.com")
    demoted = identity.users.patch(
        f"/v1/users/{added['id']}/role", token=owner_token, json={"role": "viewer"}
    )
    assert demoted.status == 200, demoted.json

    refreshed = identity.refresh(tokens["refresh_token"]).data
    claims = jwt.decode(refreshed["access_token"], options={"verify_signature": False})
    assert claims["role"] == "viewer"

    disabled = identity.users.patch(
        f"/v1/users/{added['id']}/status", token=owner_token, json={"status": "disabled"}
    )
    assert disabled.status == 200, disabled.json
    refused = identity.refresh(refreshed["refresh_token"])
    assert refused.status == 401 and refused.json["code"] == "token_revoked"
    assert owner["role"] == "owner"
