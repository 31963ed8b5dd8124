"""The password policy: what a new password must satisfy.

It follows NIST SP 800-63B rather than composition rules: length is what counts,
every printable character (spaces and emoji included) is allowed, and there is no
forced mix of character classes. Length is counted in Unicode code points after
NFKC normalization, the same form the password hasher hashes, so "the same
password" typed on two keyboards is the same password.

* at least ``min_length`` characters (12 by default, configurable, never below 8);
* at most ``MAX_PASSWORD_LENGTH`` (128) characters: long passphrases are welcome,
  unbounded input to a memory-hard hash is not;
* not the account's email address or its part before the ``@``, compared
  case-insensitively and ignoring digits and symbols around it;
* not a commonly used password (SP 800-63B 5.1.1.2: passwords from breach corpuses
  and context-specific words): the bundled list ``data/common-passwords.txt.gz``
  (its source and licence in ``data/COMMON-PASSWORDS-LICENSE.txt``) and the
  service's name, matched case-insensitively, as they are, with digits and symbols
  added before or after them (``Password2024!``), or repeated (``monkeymonkey``);
* not a run of repeated or sequential characters (``aaaaaaaaaaaa``,
  ``abababababab``, ``abcdefghijklm``).
"""

from __future__ import annotations

import functools
import gzip
import itertools
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from shared.errors import FieldError, ValidationError

DEFAULT_MIN_PASSWORD_LENGTH = 12
MIN_ALLOWED_MIN_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
# Context-specific words (SP 800-63B): the name of the service.
CONTEXT_WORDS = frozenset({"tributum"})
# What people put around a word to pass composition rules: stripped before matching.
_AFFIXES = string.digits + string.punctuation + string.whitespace
# A password repeating a unit this short, or with fewer distinct characters, is a run.
_MAX_RUN_UNIT = 4
_MIN_DISTINCT_CHARACTERS = 3


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list (lower-cased), read once per process on first use."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(word for word in (line.strip() for line in lines) if word)


def _repeated_unit(text: str) -> str:
    """The shortest string whose repetition is ``text`` (``text`` itself if none)."""
    period = (text + text).find(text, 1)
    return text[:period] if 0 < period < len(text) else text


def _is_run(folded: str) -> bool:
    if len(set(folded)) < _MIN_DISTINCT_CHARACTERS:
        return True
    if len(_repeated_unit(folded)) <= _MAX_RUN_UNIT:
        return True
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(folded)}
    return steps in ({1}, {-1})


def _cores(folded: str) -> set[str]:
    """The forms a password is matched in: itself, without affixes, its repeated unit."""
    stripped = folded.strip(_AFFIXES)
    forms = {folded, folded.rstrip(_AFFIXES), folded.lstrip(_AFFIXES), stripped}
    forms |= {_repeated_unit(form) for form in list(forms)}
    return {form for form in forms if form}


def is_common_password(password: str) -> bool:
    """Whether ``password`` (NFKC) is a common password or the service's name, dressed up."""
    cores = _cores(password.lower())
    return bool(cores & common_passwords()) or bool(cores & CONTEXT_WORDS)


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
        if email is not None and _is_email(normalized, email):
            problems.append(
                FieldError(field, "must not be the email address", "password_equals_email")
            )
        if is_common_password(normalized):
            problems.append(
                FieldError(field, "is a commonly used password; choose another", "password_common")
            )
        elif _is_run(normalized.lower()):
            problems.append(
                FieldError(
                    field,
                    "must not be a run of repeated or sequential characters",
                    "password_repetitive",
                )
            )
        if problems:
            detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
            raise ValidationError(detail, errors=problems)


def _is_email(normalized: str, email: str) -> bool:
    folded = normalized.strip().casefold()
    address = email.strip().casefold()
    if folded == address:
        return True
    local_part = address.partition("@")[0]
    return bool(local_part) and local_part in _cores(folded)


DEFAULT_PASSWORD_POLICY = PasswordPolicy()
