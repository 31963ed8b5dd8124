"""Privileges and sessions end on the caller's next request, not when a token expires.

Each token is checked against its user's stored access state (role, status, epoch,
ended sessions): a demotion, a promotion, a logout or a detected refresh-token reuse
applies to tokens already issued. Every refusal leaves the stored data as it was.
"""

from __future__ import annotations

from typing import Any

from tests.integration.users.conftest import Identity, snapshot_of_writes


def _add(identity: Identity, token: str, email: str, role: str) -> dict[str, Any]:
    return identity.add_user(token, email, role)


def _set_role(identity: Identity, token: str, user_id: str, role: str) -> None:
    answer = identity.users.patch(f"/v1/users/{user_id}/role", token=token, json={"role": role})
    assert answer.status == 200, answer.json


def _refused(answer: Any, status: int, code: str) -> None:
    assert (answer.status, answer.json["code"]) == (status, code), answer.json


def test_a_demoted_owners_old_token_can_no_longer_create_an_owner(identity: Identity) -> None:
    first = identity.owner("first@alpha.example")
    old_token = identity.tokens("first@alpha.example")["access_token"]
    _add(identity, old_token, "second@alpha.example", "owner")
    second_token = identity.tokens("second@alpha.example")["access_token"]
    _set_role(identity, second_token, first["id"], "admin")
    before = snapshot_of_writes(identity.db)

    as_owner = identity.users.post(
        "/v1/users",
        token=old_token,
        json={"email": "third@alpha.example", "name": "T", "role": "owner"},
    )

    _refused(as_owner, 403, "role_escalation")
    assert snapshot_of_writes(identity.db) == before
    # Nor can the old token undo the demotion, or demote the owner who made it.
    _refused(
        identity.users.patch(
            f"/v1/users/{first['id']}/role", token=old_token, json={"role": "owner"}
        ),
        403,
        "role_escalation",
    )
    assert snapshot_of_writes(identity.db) == before


def test_a_demotion_to_viewer_takes_every_management_right_at_once(identity: Identity) -> None:
    owner = identity.owner("boss@alpha.example")
    owner_token = identity.tokens("boss@alpha.example")["access_token"]
    admin = _add(identity, owner_token, "admin@alpha.example", "admin")
    admin_token = identity.tokens("admin@alpha.example")["access_token"]
    assert identity.users.get("/v1/users", token=admin_token).status == 200

    _set_role(identity, owner_token, admin["id"], "viewer")
    before = snapshot_of_writes(identity.db)

    _refused(identity.users.get("/v1/users", token=admin_token), 403, "permission_denied")
    _refused(
        identity.users.post(
            "/v1/users",
            token=admin_token,
            json={"email": "x@alpha.example", "name": "X", "role": "viewer"},
        ),
        403,
        "permission_denied",
    )
    assert snapshot_of_writes(identity.db) == before
    assert owner["role"] == "owner"


def test_a_promotion_applies_to_the_token_already_held(identity: Identity) -> None:
    identity.owner("lead@alpha.example")
    owner_token = identity.tokens("lead@alpha.example")["access_token"]
    viewer = _add(identity, owner_token, "viewer@alpha.example", "viewer")
    viewer_token = identity.tokens("viewer@alpha.example")["access_token"]
    _refused(identity.users.get("/v1/users", token=viewer_token), 403, "permission_denied")

    _set_role(identity, owner_token, viewer["id"], "admin")

    assert identity.users.get("/v1/users", token=viewer_token).status == 200


def test_logout_ends_every_access_token_of_that_session_and_only_that_session(
    identity: Identity,
) -> None:
    identity.owner("leaver@alpha.example")
    identity.project()
    laptop = identity.tokens("leaver@alpha.example")
    rotated = identity.refresh(laptop["refresh_token"]).data  # same session, newer tokens
    phone = identity.tokens("leaver@alpha.example")
    for token in (laptop["access_token"], rotated["access_token"], phone["access_token"]):
        assert identity.users.get("/v1/users/me", token=token).status == 200

    assert identity.auth.post("/v1/auth/logout", token=rotated["access_token"]).status == 204

    for token in (laptop["access_token"], rotated["access_token"]):
        _refused(identity.users.get("/v1/users/me", token=token), 401, "token_revoked")
    _refused(identity.refresh(rotated["refresh_token"]), 401, "token_revoked")
    assert identity.users.get("/v1/users/me", token=phone["access_token"]).status == 200
    assert identity.refresh(phone["refresh_token"]).status == 200


def test_a_reused_refresh_token_ends_the_sessions_access_tokens(identity: Identity) -> None:
    identity.owner("victim@alpha.example")
    identity.project()
    first = identity.tokens("victim@alpha.example")
    second = identity.refresh(first["refresh_token"]).data
    before = snapshot_of_writes(identity.db)

    _refused(identity.refresh(first["refresh_token"]), 401, "token_revoked")

    for token in (first["access_token"], second["access_token"]):
        _refused(identity.users.get("/v1/users/me", token=token), 401, "token_revoked")
    after = snapshot_of_writes(identity.db)
    # The reuse touched the session records only: no user, tenant or email changed.
    for name in ("users", "user_emails", "tenants"):
        assert after[name] == before[name]


def test_a_token_of_a_user_the_store_does_not_know_is_refused(identity: Identity) -> None:
    owner = identity.owner("gone@alpha.example")
    token = identity.tokens("gone@alpha.example")["access_token"]
    identity.db.collection("user_access").document(owner["id"]).delete()

    _refused(identity.users.get("/v1/users/me", token=token), 401, "token_revoked")
    # The next login makes the state again from the write model (as for users stored
    # before access states existed).
    fresh = identity.tokens("gone@alpha.example")["access_token"]
    identity.project()
    assert identity.users.get("/v1/users/me", token=fresh).status == 200
