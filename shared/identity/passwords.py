"""The password policy: what a new password must satisfy.

It follows NIST SP 800-63B rather than composition rules: length is what counts,
every printable character (spaces and emoji included) is allowed, and there is no
forced mix of character classes. Length is counted in Unicode code points after
NFKC normalization, the same form the password hasher hashes, so "the same
password" typed on two keyboards is the same password.

* at least ``min_length`` characters (12 by default, configurable, never below 8);
* at most ``MAX_PASSWORD_LENGTH`` (128) characters: long passphrases are welcome,
  unbounded input to a memory-hard hash is not;
* not the account's email address, compared case-insensitively.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from shared.errors import FieldError, ValidationError

DEFAULT_MIN_PASSWORD_LENGTH = 12
MIN_ALLOWED_MIN_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def normalize_password(password: str) -> str:
    """The form a password is measured and hashed in (NFKC, as SP 800-63B advises)."""
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int = DEFAULT_MIN_PASSWORD_LENGTH
    max_length: int = MAX_PASSWORD_LENGTH

    def __post_init__(self) -> None:
        if not MIN_ALLOWED_MIN_LENGTH <= self.min_length <= self.max_length:
            raise ValueError(
                f"min_length must be between {MIN_ALLOWED_MIN_LENGTH} and max_length "
                f"({self.max_length}), got {self.min_length}"
            )
        if self.max_length > MAX_PASSWORD_LENGTH:
            raise ValueError(f"max_length must be at most {MAX_PASSWORD_LENGTH}")

    def check(self, password: object, *, email: str | None, field: str = "password") -> None:
        """Raise ``ValidationError`` listing every rule ``password`` breaks, on ``field``."""
        if not isinstance(password, str):
            raise ValidationError.for_field(field, "must be a string", "password_invalid")
        normalized = normalize_password(password)
        problems: list[FieldError] = []
        if len(normalized) < self.min_length:
            problems.append(
                FieldError(
                    field,
                    f"must be at least {self.min_length} characters",
                    "password_too_short",
                )
            )
        if len(normalized) > self.max_length:
            problems.append(
                FieldError(
                    field, f"must be at most {self.max_length} characters", "password_too_long"
                )
            )
        if email is not None and normalized.strip().casefold() == email.strip().casefold():
            problems.append(
                FieldError(field, "must not be the email address", "password_equals_email")
            )
        if problems:
            detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
            raise ValidationError(detail, errors=problems)


DEFAULT_PASSWORD_POLICY = PasswordPolicy()
