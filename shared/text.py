"""Human-visible text: one rule for every name, description, memo, reason and note.

Text that people read back (in a UI, on a statement, in the audit trail) must not
be able to disguise what is around it, so it refuses:

* control characters, Unicode category Cc: the C0 set (NUL to US, so TAB, LF and CR
  too), DEL and the C1 set. Text is one line everywhere in the API: none of its
  fields is meant to hold a paragraph, and a line break in a name or a memo is how
  log lines and CSV exports get forged;
* the line and paragraph separators U+2028 and U+2029, line breaks by another name;
* the bidirectional embeddings, overrides and isolates U+202A-U+202E and
  U+2066-U+2069, which reorder how everything after them is displayed.

Every other character is allowed, so names in any script, joiners and emoji
included, are kept as written. Lengths count code points and every field states
its own. The JSON Schema of each field carries the rule as ``pattern`` beside its
``maxLength``, so the OpenAPI documents say what the server enforces.

Two shapes of one rule:

* :data:`HumanText`: kept as sent, may be empty (descriptions, memos, reasons,
  notes, metadata values);
* :data:`HumanName`: surrounding whitespace trimmed, then not blank (people,
  organizations, accounts).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

MAX_TEXT_LENGTH = 500
MAX_NAME_LENGTH = 200

# One character class for the check and for the documented pattern: the JSON Schema
# pattern (ECMA-262), Python's re and pydantic's regex engine all read these escapes.
FORBIDDEN_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
TEXT_PATTERN = rf"^[^{FORBIDDEN_CHARACTERS}]*$"
_FORBIDDEN = re.compile(rf"[{FORBIDDEN_CHARACTERS}]")


def _one_line_without_formatting(value: str) -> str:
    found = _FORBIDDEN.search(value)
    if found is not None:
        raise PydanticCustomError(
            "forbidden_character",
            "must not contain control characters, line breaks or bidirectional "
            "formatting characters (found U+{code_point} at {position})",
            {"code_point": f"{ord(found.group()):04X}", "position": found.start()},
        )
    return value


def _trimmed_not_blank(value: str) -> str:
    trimmed = value.strip()
    if not trimmed:
        raise PydanticCustomError("blank", "must not be blank")
    return trimmed


_DOCUMENTED_RULE: JsonDict = {"pattern": TEXT_PATTERN}

HumanText = Annotated[
    str,
    Field(max_length=MAX_TEXT_LENGTH, json_schema_extra=_DOCUMENTED_RULE),
    AfterValidator(_one_line_without_formatting),
]
"""One line of text a person wrote, up to 500 characters; may be empty."""

HumanName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LENGTH, json_schema_extra=_DOCUMENTED_RULE),
    AfterValidator(_one_line_without_formatting),
    AfterValidator(_trimmed_not_blank),
]
"""A name of up to 200 characters, trimmed; blank is refused."""
