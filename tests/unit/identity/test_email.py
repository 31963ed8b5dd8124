"""normalize_email: one canonical form per mailbox, clear rejections."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.identity import MAX_EMAIL_LENGTH, normalize_email


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Smith@Example.COM \n", "alice.smith@example.com"),
        ("BOB+invoices@Sub.Example.co.uk", "bob+invoices@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("a_b-c@a-b.io", "a_b-c@a-b.io"),
    ],
)
def test_canonical_form(raw: str, canonical: str) -> None:
    assert normalize_email(raw) == canonical


def test_spellings_of_one_mailbox_are_one_identity() -> None:
    assert normalize_email(" ALICE@EXAMPLE.COM") == normalize_email("alice@example.com ")


@pytest.mark.parametrize(
    ("raw", "code", "message_part"),
    [
        ("", "email_missing", "required"),
        ("   ", "email_missing", "required"),
        ("alice", "email_invalid", "exactly one '@'"),
        ("a@b@example.com", "email_invalid", "exactly one '@'"),
        ("@example.com", "email_invalid", "nothing before"),
        ("alice@", "email_invalid", "no domain"),
        ("alice@localhost", "email_invalid", "two labels"),
        ("alice@example..com", "email_invalid", "labels"),
        ("alice@-example.com", "email_invalid", "labels"),
        ("alice@example-.com", "email_invalid", "labels"),
        ("alice@exa_mple.com", "email_invalid", "labels"),
        ("alice@192.168.0.1", "email_invalid", "top-level domain"),
        ("alice@[192.168.0.1]", "email_invalid", "labels"),
        (".alice@example.com", "email_invalid", "single dots"),
        ("alice.@example.com", "email_invalid", "single dots"),
        ("al..ice@example.com", "email_invalid", "single dots"),
        ('"al ice"@example.com', "email_invalid", "before the '@'"),
        ("al ice@example.com", "email_invalid", "before the '@'"),
        ("ålice@example.com", "email_not_ascii", "ASCII"),
        ("alice@exämple.com", "email_not_ascii", "ASCII"),
        ("a" * 65 + "@example.com", "email_too_long", "at most 64"),
        ("alice@" + "a" * 64 + ".com", "email_invalid", "1-63"),
    ],
)
def test_rejections_name_the_rule(raw: str, code: str, message_part: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_email(raw)
    (error,) = caught.value.errors
    assert error.field == "email"
    assert error.code == code
    assert message_part in error.message


def test_whole_address_length_is_capped() -> None:
    domain = ".".join(["a" * 61] * 4) + ".com"  # 251 characters, every label valid
    assert len(f"bob@{domain}") == MAX_EMAIL_LENGTH + 1
    with pytest.raises(ValidationError) as caught:
        normalize_email(f"bob@{domain}")
    assert caught.value.errors[0].code == "email_too_long"


def test_longest_valid_address_is_accepted() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 63, "c" * 63, "d" * 57, "com"])
    address = f"{local}@{domain}"
    assert len(address) == MAX_EMAIL_LENGTH
    assert normalize_email(address) == address


def test_non_string_input_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_email(42)
    assert caught.value.errors[0].code == "email_invalid"


def test_field_path_is_the_callers() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_email("nope", field="invitations.2.email")
    assert caught.value.errors[0].field == "invitations.2.email"
