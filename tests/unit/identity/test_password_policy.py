"""PasswordPolicy: length bounds, not the email, not common, not a run of characters,
every broken rule reported."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.identity import (
    DEFAULT_PASSWORD_POLICY,
    MAX_PASSWORD_LENGTH,
    PasswordPolicy,
    normalize_password,
)
from shared.identity.passwords import COMMON_PASSWORDS_FILE, common_passwords

EMAIL = "alice.smith@example.com"


def codes(password: object, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        policy.check(password, email=EMAIL)
    assert all(error.field == "password" for error in caught.value.errors)
    return [error.code for error in caught.value.errors]


def test_default_minimum_is_twelve() -> None:
    DEFAULT_PASSWORD_POLICY.check("vg7#kq2mzpw4", email=EMAIL)
    assert codes("vg7#kq2mzpw") == ["password_too_short"]


def test_maximum_is_128() -> None:
    long_phrase = "".join(chr(ord("a") + (i * 7) % 26) for i in range(MAX_PASSWORD_LENGTH))
    DEFAULT_PASSWORD_POLICY.check(long_phrase, email=EMAIL)
    assert codes(long_phrase + "q") == ["password_too_long"]


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
    # "ﬁ" (one ligature code point) becomes "fi" under NFKC: 6 ligatures + 5 = 17 characters.
    DEFAULT_PASSWORD_POLICY.check("\ufb01" * 6 + "vq7#k", email=EMAIL)
    assert codes("\ufb01" * 5 + "q") == ["password_too_short"]  # 6 code points, 11 after NFKC
    assert normalize_password("\ufb01") == "fi"
    # Emoji and spaces are ordinary characters.
    DEFAULT_PASSWORD_POLICY.check("correct horse 🐎 battery", email=EMAIL)


def test_non_string_is_refused() -> None:
    assert codes(None) == ["password_invalid"]


def test_no_email_known_skips_that_rule() -> None:
    DEFAULT_PASSWORD_POLICY.check(EMAIL, email=None)


# -- common passwords (NIST SP 800-63B 5.1.1.2) -------------------------------------------------


def test_the_bundled_list_is_shipped_with_its_licence() -> None:
    words = common_passwords()
    assert len(words) > 19_000
    assert {"password", "iloveyou", "qwerty123456"} <= words
    assert all(word == word.strip().lower() for word in words)
    notice = COMMON_PASSWORDS_FILE.with_name("COMMON-PASSWORDS-LICENSE.txt").read_text()
    assert "Django" in notice and "Redistribution and use" in notice


@pytest.mark.parametrize(
    "password",
    [
        "qwerty123456",  # in the list as it is
        "QWERTY123456",  # case does not hide it
        "Password2024!",  # a listed word dressed with digits and symbols
        "!!2024iloveyou",
        "monkeymonkey",  # a listed word repeated
        "Tributum2024!!",  # the service's own name
    ],
)
def test_common_passwords_are_refused_naming_the_rule(password: str) -> None:
    assert codes(password) == ["password_common"]


@pytest.mark.parametrize(
    "password",
    ["zzzzzzzzzzzzzz", "abababababab", "xyzxyzxyzxyz", "abcdefghijklm", "zyxwvutsrqpo"],
)
def test_runs_of_repeated_or_sequential_characters_are_refused(password: str) -> None:
    assert set(codes(password)) & {"password_repetitive", "password_common"}


def test_a_run_is_reported_as_its_own_rule() -> None:
    assert codes("xyzxyzxyzxyz") == ["password_repetitive"]
    assert codes("lmnopqrstuvw") == ["password_repetitive"]


def test_the_emails_name_part_is_refused_with_digits_around_it() -> None:
    assert codes("alice.smith2024!") == ["password_equals_email"]


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "Zebra crossing 2024!", "vg7#kq2mzpw4", "s3cure-phrase-42"],
)
def test_uncommon_passwords_pass(password: str) -> None:
    DEFAULT_PASSWORD_POLICY.check(password, email=EMAIL)


def test_every_broken_rule_is_reported_together() -> None:
    assert codes("password") == ["password_too_short", "password_common"]
