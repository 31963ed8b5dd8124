"""PasswordPolicy: length bounds, not the email, every broken rule reported."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.identity import (
    DEFAULT_PASSWORD_POLICY,
    MAX_PASSWORD_LENGTH,
    PasswordPolicy,
    normalize_password,
)

EMAIL = "alice.smith@example.com"


def codes(password: object, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        policy.check(password, email=EMAIL)
    assert all(error.field == "password" for error in caught.value.errors)
    return [error.code for error in caught.value.errors]


def test_default_minimum_is_twelve() -> None:
    DEFAULT_PASSWORD_POLICY.check("a" * 12, email=EMAIL)
    assert codes("a" * 11) == ["password_too_short"]


def test_maximum_is_128() -> None:
    DEFAULT_PASSWORD_POLICY.check("x" * MAX_PASSWORD_LENGTH, email=EMAIL)
    assert codes("x" * (MAX_PASSWORD_LENGTH + 1)) == ["password_too_long"]


def test_minimum_is_configurable() -> None:
    policy = PasswordPolicy(min_length=16)
    assert codes("fifteen chars!!", policy) == ["password_too_short"]
    policy.check("sixteen chars!!!", email=EMAIL)


@pytest.mark.parametrize("min_length", [0, 7, 129])
def test_unreasonable_minimum_is_refused(min_length: int) -> None:
    with pytest.raises(ValueError, match="min_length"):
        PasswordPolicy(min_length=min_length)


@pytest.mark.parametrize("password", [EMAIL, EMAIL.upper(), "Alice.Smith@Example.com"])
def test_password_equal_to_email_is_refused_case_insensitively(password: str) -> None:
    assert codes(password) == ["password_equals_email"]


def test_password_containing_the_email_is_allowed() -> None:
    DEFAULT_PASSWORD_POLICY.check(EMAIL + "!x", email=EMAIL)


def test_every_broken_rule_is_reported() -> None:
    policy = PasswordPolicy(min_length=30)
    assert codes(EMAIL, policy) == ["password_too_short", "password_equals_email"]


def test_length_counts_characters_after_nfkc() -> None:
    # "ﬁ" (one ligature code point) becomes "fi" under NFKC: 11 ligatures = 22 characters.
    DEFAULT_PASSWORD_POLICY.check("\ufb01" * 11, email=EMAIL)
    assert normalize_password("\ufb01") == "fi"
    # Emoji and spaces are ordinary characters.
    DEFAULT_PASSWORD_POLICY.check("correct horse 🐎 battery", email=EMAIL)


def test_non_string_is_refused() -> None:
    assert codes(None) == ["password_invalid"]


def test_no_email_known_skips_that_rule() -> None:
    DEFAULT_PASSWORD_POLICY.check(EMAIL, email=None)
