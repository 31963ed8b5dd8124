"""The users function: read model, tenant isolation, profile edits, roles, adding users."""

from __future__ import annotations

from typing import Any

import pytest

from shared.audit.chain import actor_id
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)


@pytest.fixture
def tenant(identity: Identity) -> dict[str, Any]:
    """An owner with a projected admin, accountant and viewer in one tenant, and their tokens."""
    owner = identity.owner("owner@alpha.example")
    owner_token = identity.token_for(owner)
    members = {"owner": owner}
    for role in ("admin", "accountant", "viewer"):
        members[role] = identity.add_user(owner_token, f"{role}@alpha.example", role)
    identity.project()
    tokens = {role: identity.token_for(user) for role, user in members.items()}
    return {"users": members, "tokens": tokens}


def test_me_and_by_id_come_from_the_read_model(identity: Identity) -> None:
    owner = identity.owner("reader@example.com")
    token = identity.token_for(owner)

    # Not projected yet: the read model does not know the user.
    before = identity.users.get("/v1/users/me", token=token)
    assert before.status == 404 and before.json["code"] == "user_not_found"

    identity.project()
    me = identity.users.get("/v1/users/me", token=token)
    by_id = identity.users.get(f"/v1/users/{owner['id']}", token=token)
    assert me.status == by_id.status == 200
    assert me.data == by_id.data
    expected = {k: owner[k] for k in ("id", "tenant_id", "email", "name", "role", "version")}
    assert {k: me.data[k] for k in expected} == expected
    assert b"password" not in me.body


def test_another_tenants_user_is_404(identity: Identity, tenant: dict[str, Any]) -> None:
    stranger = identity.owner("owner@beta.example")
    identity.project()
    stranger_token = identity.token_for(stranger)

    for user in tenant["users"].values():
        answer = identity.users.get(f"/v1/users/{user['id']}", token=stranger_token)
        assert answer.status == 404 and answer.json["code"] == "user_not_found"
    missing = identity.users.get("/v1/users/no-such-user", token=stranger_token)
    assert missing.status == 404


def test_a_viewer_reads_itself_but_not_colleagues_or_the_list(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    token, users = tenant["tokens"]["viewer"], tenant["users"]
    assert identity.users.get(f"/v1/users/{users['viewer']['id']}", token=token).status == 200
    colleague = identity.users.get(f"/v1/users/{users['admin']['id']}", token=token)
    assert colleague.status == 403 and colleague.json["code"] == "permission_denied"
    listing = identity.users.get("/v1/users", token=token)
    assert listing.status == 403


def test_list_pages_through_every_user_newest_first(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    token = tenant["tokens"]["admin"]
    identity.owner("outsider@beta.example")
    identity.project()

    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = identity.users.get("/v1/users", token=token, query=query)
        assert page.status == 200, page.json
        seen.extend(page.data)
        cursor = page.json["meta"]["next_cursor"]
        if cursor is None:
            break

    emails = [u["email"] for u in seen]
    assert emails == [
        "viewer@alpha.example",
        "accountant@alpha.example",
        "admin@alpha.example",
        "owner@alpha.example",
    ]
    assert all("password_hash" not in u for u in seen)


def test_list_filters_by_role_status_and_email_prefix(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    token = tenant["tokens"]["owner"]

    def emails(**query: Any) -> list[str]:
        answer = identity.users.get("/v1/users", token=token, query=query)
        assert answer.status == 200, answer.json
        return [u["email"] for u in answer.data]

    assert emails(role="viewer") == ["viewer@alpha.example"]
    assert emails(status="active", role="owner") == ["owner@alpha.example"]
    assert emails(status="disabled") == []
    assert emails(email_prefix="A") == ["accountant@alpha.example", "admin@alpha.example"]
    assert emails(email_prefix="ad", role="admin") == ["admin@alpha.example"]

    first = identity.users.get("/v1/users", token=token, query={"email_prefix": "a", "limit": 1})
    second = identity.users.get(
        "/v1/users",
        token=token,
        query={"email_prefix": "a", "limit": 1, "cursor": first.json["meta"]["next_cursor"]},
    )
    assert [u["email"] for u in first.data + second.data] == [
        "accountant@alpha.example",
        "admin@alpha.example",
    ]
    assert second.json["meta"]["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"role": "emperor"}, "query.role"),
        ({"status": "sleeping"}, "query.status"),
        ({"limit": "0"}, "query.limit"),
        ({"tenant_id": "other"}, "query.tenant_id"),
    ],
)
def test_bad_list_queries_are_422_naming_the_parameter(
    identity: Identity, tenant: dict[str, Any], query: dict[str, str], field: str
) -> None:
    answer = identity.users.get("/v1/users", token=tenant["tokens"]["owner"], query=query)
    assert answer.status == 422, answer.json
    assert field in {e["field"] for e in answer.json["errors"]}


@pytest.mark.parametrize("cursor", ["!!not-a-cursor", "eyJpZCI6ICJhL2IifQ"])
def test_a_cursor_the_list_did_not_issue_is_a_400(
    identity: Identity, tenant: dict[str, Any], cursor: str
) -> None:
    answer = identity.users.get(
        "/v1/users", token=tenant["tokens"]["owner"], query={"cursor": cursor}
    )
    assert (answer.status, answer.json["code"]) == (400, "invalid_cursor"), answer.json
    assert {e["field"] for e in answer.json["errors"]} == {"query.cursor"}


def test_a_cursor_of_the_other_ordering_is_refused(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    owner = tenant["tokens"]["owner"]
    newest = identity.users.get("/v1/users", token=owner, query={"limit": 1})
    cursor = newest.json["meta"]["next_cursor"]
    assert cursor
    by_email = identity.users.get(
        "/v1/users", token=owner, query={"email_prefix": "a", "cursor": cursor}
    )
    assert (by_email.status, by_email.json["code"]) == (400, "invalid_cursor")


def test_patch_me_changes_the_name_with_a_new_version_and_event(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    viewer = tenant["users"]["viewer"]
    token = tenant["tokens"]["viewer"]

    answer = identity.users.patch("/v1/users/me", token=token, json={"name": "  Vera Viewer "})

    assert answer.status == 200, answer.json
    assert answer.data["name"] == "Vera Viewer" and answer.data["version"] == 2
    assert b"password" not in answer.body
    [updated] = outbox_events(identity.db, "user.updated")
    assert updated["data"]["version"] == 2 and updated["data"]["id"] == viewer["id"]
    identity.project()
    me = identity.users.get("/v1/users/me", token=token).data
    assert me["name"] == "Vera Viewer" and me["version"] == 2

    unchanged = identity.users.patch("/v1/users/me", token=token, json={"name": "Vera Viewer"})
    assert unchanged.status == 200 and unchanged.data["version"] == 2
    assert len(outbox_events(identity.db, "user.updated")) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"role": "owner"},
        {"tenant_id": "another-tenant"},
        {"password_hash": "$argon2id$forged"},
        {"email": "new@example.com"},
        {"status": "active"},
        {"version": 99},
        {"id": "someone-else"},
        {"name": "Fine", "role": "admin"},
    ],
    ids=lambda body: "+".join(body),
)
def test_patch_me_refuses_fields_that_are_not_the_profile(
    identity: Identity, tenant: dict[str, Any], body: dict[str, Any]
) -> None:
    before = snapshot_of_writes(identity.db)

    answer = identity.users.patch("/v1/users/me", token=tenant["tokens"]["viewer"], json=body)

    assert answer.status == 422, answer.json
    refused = {e["field"] for e in answer.json["errors"] if e["code"] == "unknown_field"}
    assert refused == set(body) - {"name"}
    assert snapshot_of_writes(identity.db) == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": None},
        {"name": 5},
        {"name": "Vera\u202eareV"},
        {"name": "Vera\nViewer"},
    ],
)
def test_patch_me_refuses_an_invalid_name(
    identity: Identity, tenant: dict[str, Any], body: dict[str, Any]
) -> None:
    before = snapshot_of_writes(identity.db)
    answer = identity.users.patch("/v1/users/me", token=tenant["tokens"]["viewer"], json=body)
    assert answer.status == 422 and answer.json["errors"][0]["field"] == "name"
    assert snapshot_of_writes(identity.db) == before


def test_patch_me_refuses_an_empty_body_as_accounts_do(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    before = snapshot_of_writes(identity.db)
    answer = identity.users.patch("/v1/users/me", token=tenant["tokens"]["viewer"], json={})
    assert (answer.status, answer.json["code"]) == (422, "empty_update"), answer.json
    assert [(e["field"], e["code"]) for e in answer.json["errors"]] == [("body", "empty_update")]
    assert snapshot_of_writes(identity.db) == before


def _change_role(identity: Identity, token: str, user_id: str, role: str) -> Any:
    return identity.users.patch(f"/v1/users/{user_id}/role", token=token, json={"role": role})


def test_owner_promotes_and_the_change_is_versioned_audited_and_projected(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    viewer = tenant["users"]["viewer"]

    answer = _change_role(identity, tenant["tokens"]["owner"], viewer["id"], "admin")

    assert answer.status == 200, answer.json
    assert answer.data["role"] == "admin" and answer.data["version"] == 2
    [changed] = outbox_events(identity.db, "user.role_changed")
    assert changed["data"]["role"] == "admin" and changed["data"]["version"] == 2
    [audit] = [
        e
        for e in outbox_events(identity.db, "audit.recorded")
        if e["data"]["action"] == "user.role_changed"
    ]
    assert audit["data"]["details"] == {"from": "viewer", "to": "admin"}
    assert actor_id(audit["data"]["actor"]) == tenant["users"]["owner"]["id"]
    identity.project()
    read = documents(identity.main, "users_read")[viewer["id"]]
    assert read["role"] == "admin" and read["version"] == 2


@pytest.mark.parametrize(
    ("actor", "target", "role", "status", "code"),
    [
        ("viewer", "accountant", "viewer", 403, "permission_denied"),
        ("accountant", "viewer", "accountant", 403, "permission_denied"),
        ("admin", "viewer", "owner", 403, "role_escalation"),
        ("admin", "admin", "owner", 403, "role_escalation"),
        ("admin", "owner", "viewer", 403, "role_escalation"),
        ("owner", "owner", "admin", 422, "last_owner"),
        ("owner", "viewer", "emperor", 422, "validation_error"),
    ],
    ids=[
        "viewer-cannot",
        "accountant-cannot",
        "admin-cannot-make-owner",
        "admin-cannot-raise-self",
        "admin-cannot-demote-owner",
        "last-owner-stays",
        "unknown-role",
    ],
)
def test_forbidden_role_changes_are_refused_and_write_nothing(
    identity: Identity,
    tenant: dict[str, Any],
    actor: str,
    target: str,
    role: str,
    status: int,
    code: str,
) -> None:
    before = snapshot_of_writes(identity.db)

    answer = _change_role(identity, tenant["tokens"][actor], tenant["users"][target]["id"], role)

    assert answer.status == status, answer.json
    assert answer.json["code"] == code
    assert snapshot_of_writes(identity.db) == before


def test_an_owner_may_step_down_once_another_owner_exists(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    owner_token = tenant["tokens"]["owner"]
    admin = tenant["users"]["admin"]
    assert _change_role(identity, owner_token, admin["id"], "owner").status == 200

    stepped_down = _change_role(identity, owner_token, tenant["users"]["owner"]["id"], "admin")

    assert stepped_down.status == 200, stepped_down.json
    assert stepped_down.data["role"] == "admin"


def test_a_role_change_on_another_tenants_user_is_404_and_writes_nothing(
    identity: Identity, tenant: dict[str, Any]
) -> None:
    stranger = identity.owner("boss@beta.example")
    before = snapshot_of_writes(identity.db)

    answer = _change_role(identity, tenant["tokens"]["owner"], stranger["id"], "viewer")

    assert answer.status == 404
    assert snapshot_of_writes(identity.db) == before


def test_admin_adds_a_user_to_its_own_tenant(identity: Identity, tenant: dict[str, Any]) -> None:
    admin = tenant["users"]["admin"]

    answer = identity.users.post(
        "/v1/users",
        token=tenant["tokens"]["admin"],
        json={"email": "New@Alpha.example", "name": "New", "role": "admin"},
    )

    assert answer.status == 201, answer.json
    assert answer.data["tenant_id"] == admin["tenant_id"]
    assert answer.data["email"] == "new@alpha.example" and answer.data["role"] == "admin"
    assert answer.data["status"] == "pending"
    # An invitation until accepted: no login, and the address is not claimed.
    assert identity.login("new@alpha.example", PASSWORD).status == 401
    accepted = identity.users.post(
        "/v1/users/invitations/accept",
        json={"token": identity.invitation_token("new@alpha.example"), "password": PASSWORD},
    )
    assert accepted.status == 201, accepted.json
    assert accepted.data["id"] == answer.data["user_id"]
    assert accepted.data["email_verified"] is True
    assert b"password" not in accepted.body
    login = identity.login("new@alpha.example")
    assert login.status == 200


@pytest.mark.parametrize(
    ("actor", "body", "status", "field_or_code"),
    [
        ("admin", {"role": "owner"}, 403, "role_escalation"),
        ("viewer", {"role": "viewer"}, 403, "permission_denied"),
        ("accountant", {"role": "viewer"}, 403, "permission_denied"),
        # The admin joined by invitation: a verified address (an unverified one is no refusal).
        ("owner", {"email": "admin@alpha.example"}, 409, "email_unavailable"),
        ("owner", {"email": "bad"}, 422, "email"),
        ("owner", {"password": PASSWORD}, 422, "password"),
        ("owner", {"role": "emperor"}, 422, "role"),
        ("owner", {"tenant_id": "elsewhere"}, 422, "tenant_id"),
    ],
    ids=[
        "admin-cannot-add-owner",
        "viewer-cannot-add",
        "accountant-cannot-add",
        "taken-email",
        "bad-email",
        "password-given",
        "unknown-role",
        "tenant-given",
    ],
)
def test_refused_additions_write_nothing(
    identity: Identity,
    tenant: dict[str, Any],
    actor: str,
    body: dict[str, Any],
    status: int,
    field_or_code: str,
) -> None:
    request = {"email": "fresh@alpha.example", "name": "Fresh", "role": "viewer", **body}
    before = snapshot_of_writes(identity.db)

    answer = identity.users.post("/v1/users", token=tenant["tokens"][actor], json=request)

    assert answer.status == status, answer.json
    if status == 422:
        assert field_or_code in {e["field"] for e in answer.json["errors"]}
    else:
        assert answer.json["code"] == field_or_code
    assert snapshot_of_writes(identity.db) == before


def test_every_route_needs_a_valid_token(identity: Identity) -> None:
    for method, path in [
        ("GET", "/v1/users/me"),
        ("GET", "/v1/users"),
        ("GET", "/v1/users/someone"),
        ("PATCH", "/v1/users/me"),
        ("POST", "/v1/users"),
        ("PATCH", "/v1/users/someone/role"),
    ]:
        answer = identity.users.request(method, path, json={} if method != "GET" else None)
        assert answer.status == 401, (method, path)
        forged = identity.users.request(method, path, token="eyJhbGciOiJub25lIn0.e30.")
        assert forged.status == 401 and forged.json["code"] == "token_invalid", (method, path)
