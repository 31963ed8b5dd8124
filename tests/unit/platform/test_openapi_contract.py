"""The functions' OpenAPI documents say what their servers enforce."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest

from shared.identity import normalize_email
from shared.text import TEXT_PATTERN
from shared.users.requests import EMAIL_INPUT_PATTERN
from tests.unit.platform.test_openapi import load_function


@cache
def _document(function: str) -> dict[str, Any]:
    document: dict[str, Any] = load_function(function).router.openapi()
    return document


def _body_schema(function: str, path: str, method: str) -> dict[str, Any]:
    document = _document(function)
    ref = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return schema


def _error_statuses(function: str, path: str, method: str) -> set[int]:
    responses = _document(function)["paths"][path][method]["responses"]
    return {int(status) for status in responses if int(status) >= 400}


@pytest.mark.parametrize(
    ("function", "path"),
    [("accounts", "/v1/accounts/{account_id}"), ("users", "/v1/users/me")],
)
def test_patch_bodies_name_a_field_and_none_is_nullable(function: str, path: str) -> None:
    schema = _body_schema(function, path, "patch")
    assert schema["minProperties"] == 1
    for name, prop in schema["properties"].items():
        assert "default" not in prop, name
        assert {"type": "null"} not in prop.get("anyOf", []), name
        assert prop.get("type") != "null", name
    assert schema["properties"]["name"]["type"] == "string"


def test_new_passwords_and_emails_are_documented_as_enforced() -> None:
    for function, path in (("signup", "/v1/signup"), ("users", "/v1/users")):
        properties = _body_schema(function, path, "post")["properties"]
        assert properties["email"]["pattern"] == EMAIL_INPUT_PATTERN
    for function, path, field in (
        ("signup", "/v1/signup", "password"),
        ("users", "/v1/users/invitations/accept", "password"),
        ("auth", "/v1/auth/password-reset/confirm", "new_password"),
    ):
        properties = _body_schema(function, path, "post")["properties"]
        assert properties[field]["minLength"] == 12
    login = _body_schema("auth", "/v1/auth/token", "post")["properties"]
    assert login["email"]["pattern"] == EMAIL_INPUT_PATTERN
    assert "minLength" not in login["password"]  # an old, shorter password still logs in


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.com",
        "  Ada.Lovelace@Example.COM ",
        "\u3000a+b@x.org\u00a0",
        "\x85a@b.co\x1c",
        "o'brien!#$%&*/=?^_`{|}~-@sub-domain.example",
    ],
)
def test_every_email_the_identity_rule_accepts_matches_the_documented_pattern(
    email: str,
) -> None:
    normalize_email(email)  # accepted by the server's rule
    assert re.fullmatch(EMAIL_INPUT_PATTERN, email)


@pytest.mark.parametrize("email", ["", "   ", "no-at-sign", "a@@b.c", "ü@example.com", "a@b c"])
def test_the_email_pattern_refuses_what_is_never_an_address(email: str) -> None:
    assert not re.fullmatch(EMAIL_INPUT_PATTERN, email)


def test_journal_entries_document_two_lines_at_least() -> None:
    lines = _body_schema("journal", "/v1/journal-entries", "post")["properties"]["lines"]
    assert (lines["minItems"], lines["maxItems"]) == (2, 50)


@pytest.mark.parametrize(
    ("function", "path", "method", "field", "max_length"),
    [
        ("accounts", "/v1/accounts", "post", "name", 200),
        ("journal", "/v1/journal-entries", "post", "description", 500),
        ("journal", "/v1/journal-entries/{entry_id}/void", "post", "reason", 500),
        ("payments", "/v1/payments", "post", "description", 500),
        ("payments", "/v1/payments/{payment_id}/cancel", "post", "reason", 500),
        ("payments", "/v1/payments/{payment_id}/refunds", "post", "reason", 500),
        ("signup", "/v1/signup", "post", "name", 200),
        ("users", "/v1/users", "post", "name", 200),
        ("dead_letters_api", "/v1/dead-letters/{dead_letter_id}/discard", "post", "note", 500),
    ],
)
def test_human_text_fields_document_the_one_text_rule(
    function: str, path: str, method: str, field: str, max_length: int
) -> None:
    prop = _body_schema(function, path, method)["properties"][field]
    variants = prop.get("anyOf", [prop])
    text = next(v for v in variants if v.get("type") == "string")
    assert (text["pattern"], text["maxLength"]) == (TEXT_PATTERN, max_length)


@pytest.mark.parametrize(
    ("function", "path", "method"),
    [
        ("accounts", "/v1/accounts", "post"),
        ("journal", "/v1/journal-entries", "post"),
    ],
)
def test_metadata_documents_its_keys_values_and_count(
    function: str, path: str, method: str
) -> None:
    metadata = _body_schema(function, path, method)["properties"]["metadata"]
    assert metadata["maxProperties"] == 20
    assert metadata["additionalProperties"] is False
    ((key_pattern, value),) = metadata["patternProperties"].items()
    assert key_pattern == "^[a-z][a-z0-9_]{0,39}$"
    assert (value["maxLength"], value["pattern"]) == (500, TEXT_PATTERN)
    assert not re.match(key_pattern, "__name__")


def test_the_public_key_set_lists_no_body_or_credential_errors() -> None:
    assert _error_statuses("auth", "/.well-known/jwks.json", "get") == {422, 429}
    # A login answers 401 for a wrong password although the route itself is public.
    assert {400, 401, 413, 415, 422, 429} <= _error_statuses("auth", "/v1/auth/token", "post")
    assert 403 not in _error_statuses("auth", "/v1/auth/token", "post")


def test_lists_with_cursors_document_the_400_of_a_forged_cursor() -> None:
    for function, path in (
        ("accounts", "/v1/accounts"),
        ("payments", "/v1/payments"),
        ("users", "/v1/users"),
        ("tax", "/v1/tax/calculations"),
        ("dead_letters_api", "/v1/dead-letters"),
    ):
        statuses = _error_statuses(function, path, "get")
        assert 400 in statuses and not {413, 415} & statuses, path
