"""The input models: unknown fields refused, names cleaned, no null where a value is required."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.identity import Role
from shared.users.requests import (
    NewUserRequest,
    ProfileUpdateRequest,
    SignupRequest,
    UserListQuery,
    UserSnapshot,
)

PASSWORD = "correct horse battery staple"


def _error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


@pytest.mark.parametrize(
    "field", ["role", "tenant_id", "password_hash", "email", "status", "version", "id"]
)
def test_profile_updates_refuse_everything_but_the_profile(field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProfileUpdateRequest.model_validate({field: "x"})
    assert _error_fields(refused.value) == {field}
    assert refused.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("name", ["", "   ", None, "bad\x00name", 3])
def test_profile_names_must_be_printable_text(name: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        ProfileUpdateRequest.model_validate({"name": name})
    assert _error_fields(refused.value) == {"name"}


def test_names_are_trimmed_and_an_empty_update_is_refused() -> None:
    assert ProfileUpdateRequest.model_validate({"name": "  Ada  "}).name == "Ada"
    with pytest.raises(ValidationError) as refused:
        ProfileUpdateRequest.model_validate({})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [((), "empty_update")]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Ada\u202eecalevol", "forbidden_character"),
        ("Ada\u2066", "forbidden_character"),
        ("Ada\nLovelace", "forbidden_character"),
        ("  ", "blank"),
    ],
)
def test_every_name_follows_the_one_text_rule(name: str, code: str) -> None:
    body = {"email": "a@example.com", "password": PASSWORD, "name": name}
    for model, payload in (
        (ProfileUpdateRequest, {"name": name}),
        (SignupRequest, body),
        (SignupRequest, {**body, "name": "A", "organization": name}),
        (NewUserRequest, {"email": "a@example.com", "name": name, "role": "viewer"}),
    ):
        with pytest.raises(ValidationError) as refused:
            model.model_validate(payload)
        assert [e["type"] for e in refused.value.errors()] == [code], model


def test_a_profile_update_refuses_null_rather_than_reading_it_as_absent() -> None:
    with pytest.raises(ValidationError) as refused:
        ProfileUpdateRequest.model_validate({"name": None})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        (("name",), "null_not_allowed")
    ]


def test_signup_takes_no_role_or_tenant() -> None:
    with pytest.raises(ValidationError) as refused:
        SignupRequest.model_validate(
            {"email": "a@example.com", "password": PASSWORD, "name": "A", "role": "owner"}
        )
    assert _error_fields(refused.value) == {"role"}
    signup = SignupRequest.model_validate(
        {"email": "a@example.com", "password": PASSWORD, "name": " A ", "organization": " Org "}
    )
    assert signup.name == "A" and signup.organization == "Org"


def test_a_new_user_needs_a_known_role() -> None:
    body = {"email": "a@example.com", "name": "A"}
    assert NewUserRequest.model_validate({**body, "role": "admin"}).role is Role.ADMIN
    with pytest.raises(ValidationError) as refused:
        NewUserRequest.model_validate({**body, "role": "superuser"})
    assert _error_fields(refused.value) == {"role"}


def test_an_invitation_takes_no_password_the_invitee_chooses_it() -> None:
    with pytest.raises(ValidationError) as refused:
        NewUserRequest.model_validate(
            {"email": "a@example.com", "name": "A", "role": "viewer", "password": PASSWORD}
        )
    assert _error_fields(refused.value) == {"password"}


def test_list_queries_accept_filters_and_refuse_unknown_parameters() -> None:
    query = UserListQuery.model_validate({"role": "viewer", "status": "active", "limit": "5"})
    assert query.role == "viewer" and query.limit == 5
    with pytest.raises(ValidationError):
        UserListQuery.model_validate({"tenant_id": "t"})


def test_event_snapshots_never_carry_a_hash() -> None:
    snapshot = {
        "id": "u",
        "tenant_id": "t",
        "email": "a@example.com",
        "name": "A",
        "role": "viewer",
        "status": "active",
        "version": 1,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }
    assert UserSnapshot.model_validate(snapshot).version == 1
    with pytest.raises(ValidationError):
        UserSnapshot.model_validate({**snapshot, "password_hash": "$argon2id$"})
