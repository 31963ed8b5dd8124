"""Disabling and enabling users, and changing one's password, through the users function.

Every refusal is checked to leave users, emails, tenants, access states and the outbox
as they were.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.ratelimit import PASSWORD_CHANGE_RATE
from tests.integration.users.conftest import (
    PASSWORD,
    Identity,
    documents,
    outbox_events,
    snapshot_of_writes,
)

NEW_PASSWORD = "a violet kettle sings at dawn"


@pytest.fixture
def team(identity: Identity) -> dict[str, Any]:
    """An owner, an admin and an accountant of one tenant, each logged in."""
    owner = identity.owner("owner@gamma.example")
    owner_tokens = identity.tokens("owner@gamma.example")
    users: dict[str, Any] = {"owner": owner}
    tokens: dict[str, Any] = {"owner": owner_tokens}
    for role in ("admin", "accountant"):
        email = f"{role}@gamma.example"
        users[role] = identity.add_user(owner_tokens["access_token"], email, role)
        tokens[role] = identity.tokens(email)
    identity.project()
    return {"users": users, "tokens": tokens}


def _status(identity: Identity, token: str, user_id: str, status: str) -> Any:
    return identity.users.patch(f"/v1/users/{user_id}/status", token=token, json={"status": status})


def _change_password(identity: Identity, token: str, current: str, new: str) -> Any:
    return identity.users.post(
        "/v1/users/me/password",
        token=token,
        json={"current_password": current, "new_password": new},
    )


def _code(answer: Any) -> tuple[int, str]:
    return answer.status, answer.json["code"]


# -- disable / enable -------------------------------------------------------------------------


def test_a_disabled_users_tokens_stop_working_and_they_cannot_log_in(
    identity: Identity, team: dict[str, Any]
) -> None:
    clerk, clerk_tokens = team["users"]["accountant"], team["tokens"]["accountant"]
    second_session = identity.tokens("accountant@gamma.example")
    owner_token = team["tokens"]["owner"]["access_token"]

    answer = _status(identity, owner_token, clerk["id"], "disabled")

    assert answer.status == 200, answer.json
    assert answer.data["status"] == "disabled" and answer.data["version"] == clerk["version"] + 1
    for session in (clerk_tokens, second_session):
        me = identity.users.get("/v1/users/me", token=session["access_token"])
        assert _code(me) == (401, "token_revoked")
        assert _code(identity.refresh(session["refresh_token"])) == (401, "token_revoked")
    assert _code(identity.login("accountant@gamma.example")) == (401, "invalid_credentials")
    families = [
        f
        for f in documents(identity.db, "refresh_token_families").values()
        if f["user_id"] == clerk["id"]
    ]
    assert families and all(f["status"] == "revoked" for f in families)
    audit = [e["data"] for e in outbox_events(identity.db, "audit.recorded")]
    disabled = [a for a in audit if a["action"] == "user.disabled"]
    assert [a["resource"]["id"] for a in disabled] == [clerk["id"]]
    identity.project()
    listed = identity.users.get(f"/v1/users/{clerk['id']}", token=owner_token).data
    assert listed["status"] == "disabled"


def test_enabling_allows_login_again_but_not_the_old_tokens(
    identity: Identity, team: dict[str, Any]
) -> None:
    clerk, old = team["users"]["accountant"], team["tokens"]["accountant"]
    owner_token = team["tokens"]["owner"]["access_token"]
    assert _status(identity, owner_token, clerk["id"], "disabled").status == 200

    enabled = _status(identity, owner_token, clerk["id"], "active")

    assert enabled.status == 200 and enabled.data["status"] == "active"
    assert _code(identity.users.get("/v1/users/me", token=old["access_token"])) == (
        401,
        "token_revoked",
    )
    fresh = identity.tokens("accountant@gamma.example")
    assert identity.users.get("/v1/users/me", token=fresh["access_token"]).status == 200


@pytest.mark.parametrize(
    ("actor", "target", "status", "code"),
    [
        ("owner", "owner", 422, "last_owner"),  # the only owner, disabling themselves
        ("admin", "owner", 403, "role_escalation"),
        ("accountant", "admin", 403, "permission_denied"),
    ],
)
def test_refused_disables_change_nothing(
    identity: Identity, team: dict[str, Any], actor: str, target: str, status: int, code: str
) -> None:
    before = snapshot_of_writes(identity.db)

    answer = _status(
        identity, team["tokens"][actor]["access_token"], team["users"][target]["id"], "disabled"
    )

    assert _code(answer) == (status, code)
    assert snapshot_of_writes(identity.db) == before
    token = team["tokens"][target]["access_token"]
    assert identity.users.get("/v1/users/me", token=token).status == 200


def test_one_of_two_owners_can_be_disabled(identity: Identity, team: dict[str, Any]) -> None:
    owner_token = team["tokens"]["owner"]["access_token"]
    promoted = identity.users.patch(
        f"/v1/users/{team['users']['admin']['id']}/role", token=owner_token, json={"role": "owner"}
    )
    assert promoted.status == 200, promoted.json

    answer = _status(identity, owner_token, team["users"]["admin"]["id"], "disabled")

    assert answer.status == 200, answer.json


def test_another_tenants_user_cannot_be_disabled(identity: Identity, team: dict[str, Any]) -> None:
    identity.owner("owner@delta.example")
    stranger = identity.tokens("owner@delta.example")["access_token"]
    before = snapshot_of_writes(identity.db)

    answer = _status(identity, stranger, team["users"]["accountant"]["id"], "disabled")

    assert _code(answer) == (404, "user_not_found")
    assert snapshot_of_writes(identity.db) == before


def test_a_bad_status_is_422_naming_the_field(identity: Identity, team: dict[str, Any]) -> None:
    before = snapshot_of_writes(identity.db)
    answer = _status(
        identity, team["tokens"]["owner"]["access_token"], team["users"]["admin"]["id"], "gone"
    )
    assert answer.status == 422 and answer.json["errors"][0]["field"] == "status"
    assert snapshot_of_writes(identity.db) == before


# -- changing one's password ------------------------------------------------------------------


def test_a_password_change_ends_every_other_session_and_keeps_this_one(
    identity: Identity, team: dict[str, Any]
) -> None:
    laptop = team["tokens"]["accountant"]
    phone = identity.tokens("accountant@gamma.example")

    answer = _change_password(identity, laptop["access_token"], PASSWORD, NEW_PASSWORD)

    assert answer.status == 204, answer.json
    assert _code(identity.users.get("/v1/users/me", token=phone["access_token"])) == (
        401,
        "token_revoked",
    )
    assert _code(identity.refresh(phone["refresh_token"])) == (401, "token_revoked")
    assert identity.users.get("/v1/users/me", token=laptop["access_token"]).status == 200
    renewed = identity.refresh(laptop["refresh_token"])
    assert renewed.status == 200, renewed.json
    assert identity.users.get("/v1/users/me", token=renewed.data["access_token"]).status == 200

    assert _code(identity.login("accountant@gamma.example")) == (401, "invalid_credentials")
    assert identity.login("accountant@gamma.example", NEW_PASSWORD).status == 200
    audit = [e["data"] for e in outbox_events(identity.db, "audit.recorded")]
    changed = [a for a in audit if a["action"] == "user.password_changed"]
    assert [a["resource"]["id"] for a in changed] == [team["users"]["accountant"]["id"]]
    assert NEW_PASSWORD not in str(documents(identity.db, "outbox"))


@pytest.mark.parametrize(
    ("current", "new", "field", "code"),
    [
        ("not the password at all", NEW_PASSWORD, "current_password", "password_incorrect"),
        (PASSWORD, "Password2024!", "new_password", "password_common"),
        (PASSWORD, "short", "new_password", "password_too_short"),
        (PASSWORD, PASSWORD, "new_password", "password_unchanged"),
        (PASSWORD, "accountant@gamma.example", "new_password", "password_equals_email"),
    ],
)
def test_refused_password_changes_change_nothing(
    identity: Identity, team: dict[str, Any], current: str, new: str, field: str, code: str
) -> None:
    session = team["tokens"]["accountant"]
    other = identity.tokens("accountant@gamma.example")
    before = snapshot_of_writes(identity.db)

    answer = _change_password(identity, session["access_token"], current, new)

    assert answer.status == 422, answer.json
    assert (field, code) in {(e["field"], e["code"]) for e in answer.json["errors"]}
    assert snapshot_of_writes(identity.db) == before
    assert identity.users.get("/v1/users/me", token=other["access_token"]).status == 200
    assert identity.login("accountant@gamma.example").status == 200


def test_password_change_attempts_are_throttled_per_user(
    identity: Identity, team: dict[str, Any]
) -> None:
    token = team["tokens"]["accountant"]["access_token"]
    for attempt in range(PASSWORD_CHANGE_RATE.limit):
        guess = _change_password(identity, token, f"guess number {attempt:04d}", NEW_PASSWORD)
        assert guess.status == 422
    before = snapshot_of_writes(identity.db)

    throttled = _change_password(identity, token, PASSWORD, NEW_PASSWORD)

    assert _code(throttled) == (429, "rate_limited")
    assert int(throttled.headers["Retry-After"]) >= 1
    assert snapshot_of_writes(identity.db) == before
    # Another user's budget is their own.
    admin_token = team["tokens"]["admin"]["access_token"]
    assert _change_password(identity, admin_token, PASSWORD, NEW_PASSWORD).status == 204
