"""Email addresses as account identifiers: one canonical form per mailbox.

The canonical form is what uniqueness, login lookups and rate-limit keys use, so
two spellings of one address never become two accounts. Rules (documented in
``shared/identity/README.md``):

* surrounding whitespace is removed;
* the whole address is lower-cased, the local part included: RFC 5321 lets a server
  treat ``Alice`` and ``alice`` as different mailboxes, but no mainstream provider
  does, and treating them as one account is what users expect;
* only unquoted ASCII addresses are accepted (``local@domain.tld``); quoted local
  parts, IP-literal domains and internationalized addresses are refused with a
  clear error rather than half-supported.
"""

from __future__ import annotations

import re

from shared.errors import ValidationError

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit (256) minus the angle brackets
MAX_LOCAL_PART_LENGTH = 64
MAX_DOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63

# RFC 5322 dot-atom: atext characters, dots only between them.
_LOCAL_PART = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def normalize_email(raw: object, *, field: str = "email") -> str:
    """Return the canonical form of ``raw`` or raise ``ValidationError`` on ``field``."""
    if not isinstance(raw, str):
        raise ValidationError.for_field(field, "must be a string", "email_invalid")
    email = raw.strip()
    if not email:
        raise ValidationError.for_field(field, "is required", "email_missing")
    if not email.isascii():
        raise ValidationError.for_field(
            field, "must contain ASCII characters only", "email_not_ascii"
        )
    email = email.lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError.for_field(
            field, f"must be at most {MAX_EMAIL_LENGTH} characters", "email_too_long"
        )
    if email.count("@") != 1:
        raise ValidationError.for_field(field, "must contain exactly one '@'", "email_invalid")
    local, domain = email.split("@")
    _check_local_part(local, field)
    _check_domain(domain, field)
    return f"{local}@{domain}"


def _check_local_part(local: str, field: str) -> None:
    if not local:
        raise ValidationError.for_field(field, "has nothing before the '@'", "email_invalid")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValidationError.for_field(
            field,
            f"part before the '@' must be at most {MAX_LOCAL_PART_LENGTH} characters",
            "email_too_long",
        )
    if not _LOCAL_PART.match(local):
        raise ValidationError.for_field(
            field,
            "part before the '@' may use letters, digits and !#$%&'*+/=?^_`{|}~- "
            "with single dots between them",
            "email_invalid",
        )


def _check_domain(domain: str, field: str) -> None:
    if not domain:
        raise ValidationError.for_field(field, "has no domain after the '@'", "email_invalid")
    if len(domain) > MAX_DOMAIN_LENGTH:
        raise ValidationError.for_field(
            field, f"domain must be at most {MAX_DOMAIN_LENGTH} characters", "email_too_long"
        )
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValidationError.for_field(
            field, "domain must have at least two labels (example.com)", "email_invalid"
        )
    for label in labels:
        if not label or len(label) > MAX_LABEL_LENGTH or not _LABEL.match(label):
            raise ValidationError.for_field(
                field,
                "domain labels must be 1-63 letters, digits or inner hyphens",
                "email_invalid",
            )
    if labels[-1].isdigit():
        raise ValidationError.for_field(
            field, "domain must end in a top-level domain, not a number", "email_invalid"
        )
