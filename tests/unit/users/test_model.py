"""The pure user rules: versions, profile, role and status changes, what the projection
keeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shared.errors import BusinessRuleError, ForbiddenError
from shared.http import dumps
from shared.identity import Role
from shared.users.model import (
    READ_MODEL_FIELDS,
    User,
    UserStatus,
    apply_profile_update,
    apply_role_change,
    apply_status_change,
    email_key,
    new_user,
    projected_document,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def _user(role: Role = Role.VIEWER, **changes: Any) -> User:
    user = new_user(
        tenant_id="t-1",
        email="u@example.com",
        name="Una",
        role=role,
        password_hash="$argon2id$v=19$m=47104,t=2,p=1$c2FsdA$aGFzaA",
        now=NOW,
    )
    return replace(user, **changes)


def test_a_new_user_is_active_at_version_one() -> None:
    user = _user()
    assert user.status is UserStatus.ACTIVE and user.can_log_in
    assert user.version == 1 and user.created_at == user.updated_at == NOW
    assert len(user.id) == 32


def test_the_hash_is_stored_but_never_encoded_for_clients_or_events() -> None:
    user = _user()
    assert "password_hash" in user.to_document()
    assert "password_hash" not in user.public()
    encoded = orjson.loads(dumps({"data": user}))
    assert "password_hash" not in encoded["data"]
    assert encoded["data"]["role"] == "viewer"


def test_documents_round_trip() -> None:
    user = _user(Role.ADMIN)
    assert User.from_document(user.to_document()) == user


def test_a_profile_update_increments_the_version() -> None:
    changed = apply_profile_update(_user(), {"name": "Una Updated"}, LATER)
    assert changed is not None
    assert changed.name == "Una Updated" and changed.version == 2
    assert changed.updated_at == LATER and changed.created_at == NOW


def test_a_profile_update_that_changes_nothing_is_none() -> None:
    assert apply_profile_update(_user(), {"name": "Una"}, LATER) is None
    assert apply_profile_update(_user(), {}, LATER) is None


@pytest.mark.parametrize("field", ["role", "tenant_id", "password_hash", "email", "version"])
def test_a_profile_update_refuses_fields_that_are_not_the_profile(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        apply_profile_update(_user(), {field: "x"}, LATER)


def test_an_owner_grants_a_role_with_a_new_version() -> None:
    changed = apply_role_change(
        _user(), actor_role="owner", new_role=Role.ADMIN, owner_count=None, now=LATER
    )
    assert changed is not None and changed.role is Role.ADMIN and changed.version == 2


def test_granting_the_current_role_changes_nothing() -> None:
    unchanged = apply_role_change(
        _user(), actor_role="admin", new_role=Role.VIEWER, owner_count=None, now=LATER
    )
    assert unchanged is None


@pytest.mark.parametrize(
    ("actor", "current", "new", "code"),
    [
        ("viewer", Role.VIEWER, Role.ACCOUNTANT, "forbidden"),
        ("accountant", Role.VIEWER, Role.VIEWER, "forbidden"),
        ("admin", Role.VIEWER, Role.OWNER, "role_escalation"),
        ("admin", Role.OWNER, Role.ADMIN, "role_escalation"),
        ("admin", Role.ADMIN, Role.OWNER, "role_escalation"),
    ],
)
def test_role_grants_beyond_the_actors_rank_are_forbidden(
    actor: str, current: Role, new: Role, code: str
) -> None:
    with pytest.raises(ForbiddenError) as refused:
        apply_role_change(_user(current), actor_role=actor, new_role=new, owner_count=2, now=LATER)
    assert refused.value.code == code


def test_the_last_owner_cannot_be_demoted_but_one_of_two_can() -> None:
    owner = _user(Role.OWNER)
    with pytest.raises(BusinessRuleError) as refused:
        apply_role_change(owner, actor_role="owner", new_role=Role.ADMIN, owner_count=1, now=LATER)
    assert refused.value.code == "last_owner"
    demoted = apply_role_change(
        owner, actor_role="owner", new_role=Role.ADMIN, owner_count=2, now=LATER
    )
    assert demoted is not None and demoted.role is Role.ADMIN


def test_a_disabled_users_role_cannot_change() -> None:
    with pytest.raises(BusinessRuleError) as refused:
        apply_role_change(
            _user(status=UserStatus.DISABLED),
            actor_role="owner",
            new_role=Role.ADMIN,
            owner_count=None,
            now=LATER,
        )
    assert refused.value.code == "user_disabled"


def test_disabling_and_enabling_make_new_versions() -> None:
    user = _user(Role.ACCOUNTANT)
    disabled = apply_status_change(
        user, actor_role="admin", new_status=UserStatus.DISABLED, owner_count=None, now=LATER
    )
    assert disabled is not None and not disabled.can_log_in
    assert (disabled.version, disabled.updated_at) == (2, LATER)
    enabled = apply_status_change(
        disabled, actor_role="owner", new_status=UserStatus.ACTIVE, owner_count=None, now=LATER
    )
    assert enabled is not None and enabled.can_log_in and enabled.version == 3
    assert (
        apply_status_change(
            enabled, actor_role="owner", new_status=UserStatus.ACTIVE, owner_count=None, now=LATER
        )
        is None
    )


@pytest.mark.parametrize(
    ("actor", "target", "code"),
    [
        ("accountant", Role.VIEWER, "forbidden"),
        ("viewer", Role.VIEWER, "forbidden"),
        ("admin", Role.OWNER, "role_escalation"),
    ],
)
def test_status_changes_need_users_manage_and_rank(actor: str, target: Role, code: str) -> None:
    with pytest.raises(ForbiddenError) as caught:
        apply_status_change(
            _user(target),
            actor_role=actor,
            new_status=UserStatus.DISABLED,
            owner_count=2,
            now=LATER,
        )
    assert caught.value.code == code


def test_the_last_owner_cannot_be_disabled_but_one_of_two_can() -> None:
    owner = _user(Role.OWNER)
    with pytest.raises(BusinessRuleError) as caught:
        apply_status_change(
            owner, actor_role="owner", new_status=UserStatus.DISABLED, owner_count=1, now=LATER
        )
    assert caught.value.code == "last_owner"
    with pytest.raises(ValueError, match="owner_count"):
        apply_status_change(
            owner, actor_role="owner", new_status=UserStatus.DISABLED, owner_count=None, now=LATER
        )
    disabled = apply_status_change(
        owner, actor_role="owner", new_status=UserStatus.DISABLED, owner_count=2, now=LATER
    )
    assert disabled is not None and disabled.status is UserStatus.DISABLED


def _snapshot(version: int) -> dict[str, Any]:
    return {**_user(version=version).public(), "role": "viewer", "status": "active"}


def test_the_projection_keeps_the_listing_fields_only() -> None:
    snapshot = {**_snapshot(1), "password_hash": "must not be copied"}
    document = projected_document(None, snapshot)
    assert document is not None
    assert set(document) == set(READ_MODEL_FIELDS)
    assert "password_hash" not in document


@pytest.mark.parametrize(
    ("stored", "incoming", "applied"), [(1, 2, True), (2, 2, False), (3, 2, False)]
)
def test_the_projection_applies_only_newer_versions(
    stored: int, incoming: int, applied: bool
) -> None:
    document = projected_document(_snapshot(stored), _snapshot(incoming))
    assert (document is not None) is applied


def test_email_keys_are_stable_digests_usable_as_document_ids() -> None:
    key = email_key("a/b@example.com")
    assert key == email_key("a/b@example.com") != email_key("ab@example.com")
    assert len(key) == 64 and "/" not in key


def test_users_and_events_from_before_email_verification_read_as_unverified() -> None:
    from datetime import UTC, datetime

    from shared.identity import Role
    from shared.users.model import User, apply_email_verified, new_user, projected_document

    now = datetime(2026, 3, 1, tzinfo=UTC)
    user = new_user(
        tenant_id="t1", email="a@example.com", name="A", role=Role.OWNER, password_hash="h", now=now
    )
    old_document = {k: v for k, v in user.to_document().items() if k != "email_verified"}
    assert User.from_document(old_document).email_verified is False
    old_snapshot = {k: v for k, v in user.public().items() if k != "email_verified"}
    projected = projected_document(None, old_snapshot)
    assert projected is not None and projected["email_verified"] is False

    verified = apply_email_verified(user, now)
    assert verified is not None
    assert (verified.email_verified, verified.version) == (True, user.version + 1)
    assert apply_email_verified(verified, now) is None
