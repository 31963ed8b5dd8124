"""The ledger's request models: human text, metadata and PATCH bodies, as documented."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import ValidationError
from shared.ledger.requests import (
    CreateAccountRequest,
    PostEntryRequest,
    PostPendingRequest,
    ReverseEntryRequest,
    UpdateAccountRequest,
    VoidPendingRequest,
    parse_request,
)

ACCOUNT = {"code": "1000", "name": "Cash", "type": "asset", "currency": "EUR"}
LINES = [
    {"account_id": "a", "side": "debit", "amount": "1.00"},
    {"account_id": "b", "side": "credit", "amount": "1.00"},
]
ENTRY = {"lines": LINES}


def _refusal(model: type[Any], body: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    with pytest.raises(ValidationError) as raised:
        parse_request(model, body)
    return raised.value.code, [(e.field, e.code) for e in raised.value.errors]


@pytest.mark.parametrize("key", ["__name__", "__x__", "Invoice", "a.b", "a-b", "1st", "", "k" * 41])
def test_metadata_keys_are_lower_case_identifiers(key: str) -> None:
    code, errors = _refusal(CreateAccountRequest, {**ACCOUNT, "metadata": {key: "v"}})
    assert code == "validation_error"
    assert [e for _, e in errors] == ["bad_format"]
    assert errors[0][0].startswith("metadata.")


def test_metadata_keys_values_and_counts_within_the_rules_are_kept() -> None:
    metadata = {f"key_{n}": "x" * 500 for n in range(20)}
    assert parse_request(PostEntryRequest, {**ENTRY, "metadata": metadata}).metadata == metadata
    assert parse_request(CreateAccountRequest, {**ACCOUNT, "metadata": {"k" * 40: "v"}})


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({f"k{n}": "v" for n in range(21)}, ("metadata", "too_long")),
        ({"invoice": "x" * 501}, ("metadata.invoice", "too_long")),
        ({"invoice": "INV\n1"}, ("metadata.invoice", "forbidden_character")),
        ({"invoice": "\u202eINV"}, ("metadata.invoice", "forbidden_character")),
        ({"invoice": 42}, ("metadata.invoice", "wrong_type")),
    ],
)
def test_metadata_values_and_counts_are_bounded(
    metadata: dict[str, Any], error: tuple[str, str]
) -> None:
    for model, body in ((CreateAccountRequest, ACCOUNT), (PostEntryRequest, ENTRY)):
        assert _refusal(model, {**body, "metadata": metadata})[1] == [error]


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (CreateAccountRequest, ACCOUNT, "name"),
        (UpdateAccountRequest, {}, "name"),
        (PostEntryRequest, ENTRY, "description"),
        (PostPendingRequest, {}, "description"),
        (ReverseEntryRequest, {}, "description"),
        (VoidPendingRequest, {}, "reason"),
    ],
)
@pytest.mark.parametrize("character", ["\x00", "\r", "\n", "\t", "\u2029", "\u202b", "\u2069"])
def test_human_text_refuses_control_and_bidi_characters(
    model: type[Any], body: dict[str, Any], field: str, character: str
) -> None:
    assert _refusal(model, {**body, field: f"Cash{character}box"})[1] == [
        (field, "forbidden_character")
    ]


def test_account_names_are_trimmed_and_never_blank() -> None:
    assert parse_request(CreateAccountRequest, {**ACCOUNT, "name": "  Till "}).name == "Till"
    assert _refusal(CreateAccountRequest, {**ACCOUNT, "name": "   "})[1] == [("name", "blank")]


def test_an_account_update_names_a_field_and_never_null() -> None:
    assert _refusal(UpdateAccountRequest, {}) == ("empty_update", [("body", "empty_update")])
    assert _refusal(UpdateAccountRequest, {"name": None, "status": "frozen"})[1] == [
        ("name", "null_not_allowed")
    ]
    assert parse_request(UpdateAccountRequest, {"status": "frozen"}).name is None
