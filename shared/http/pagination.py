"""Cursor pagination: opaque cursors, bounded page sizes, no unbounded lists.

A cursor is where a list stopped, as a small typed position (one pydantic model per
list shape), in the form ``v1.<payload>.<check>``:

* ``v1`` is the format: a cursor of another format is refused, so the format can
  change without old cursors being misread;
* ``payload`` is the position as JSON, base64url without padding;
* ``check`` is a BLAKE2b checksum of the list's scope and the payload. It is *not*
  a signature: no key is shared by every function that lists things, so a client
  that recomputes it can present any position it likes. What it buys is that a
  cursor of another list, a truncated or an edited one is refused as a whole.

What keeps a forged position harmless is the decoding: the payload is validated
against the list's position model in strict JSON mode, ids with the router's rule
for usable document ids, datetimes with a timezone, nothing unknown. A position
only moves a query of the caller's own tenant, which the token decides. Every
cursor that fails any step is the same 400 ``invalid_cursor`` on ``query.cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from shared.errors import BadRequestError, FieldError
from shared.http._routing import usable_parameter
from shared.moments import Moment

MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 2048
CURSOR_FORMAT = "v1"
_CHECK_BYTES = 12
_CHECK_PERSON = b"tributum-cursor"
CURSOR_FIELD = "query.cursor"

PositionT = TypeVar("PositionT", bound="CursorPosition")


class PageQuery(BaseModel):
    """Base for list routes' query models: ``limit`` and ``cursor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR_LENGTH,
        description="meta.next_cursor of the previous page, as it was given",
    )


@dataclass(frozen=True, slots=True)
class Page:
    """A page of items; ``next_cursor`` is None on the last page."""

    items: list[Any]
    next_cursor: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _document_id(value: str) -> str:
    # A path segment never holds '/', so the router's rule does not need to refuse it;
    # an id from a cursor names a document directly, where '/' would mean another path.
    if "/" in value or not usable_parameter(value):
        raise PydanticCustomError("document_id", "is not a usable document id")
    return value


DocumentId = Annotated[str, AfterValidator(_document_id)]
"""The id of a document of the list, under the router's rule for path parameters."""

FilterValue = Annotated[str, Field(max_length=512)]
FilterName = Annotated[str, Field(max_length=64)]
CursorFilters = Annotated[dict[FilterName, FilterValue | None], Field(max_length=16)]
"""The filters a list was asked with; a cursor is only good for the same filters."""


class CursorPosition(BaseModel):
    """Base of the position models: strict, closed and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TimeOrderedPosition(CursorPosition):
    """A position in a list ordered by a moment, ties broken by the document id."""

    at: Moment
    id: DocumentId


class KeyPosition(CursorPosition):
    """A position in a list ordered by one key of its own (a code, a name)."""

    key: str = Field(min_length=1, max_length=256)


def encode_cursor(position: CursorPosition, *, scope: str) -> str:
    """The opaque, URL-safe cursor of ``position`` in the list named ``scope``."""
    payload = _b64encode(position.model_dump_json().encode())
    return f"{CURSOR_FORMAT}.{payload}.{_check(scope, payload)}"


def decode_cursor(cursor: str, position: type[PositionT], *, scope: str) -> PositionT:
    """The position of a cursor that :func:`encode_cursor` made for ``scope``.

    Anything else (another format, another list, an edited or invented cursor, a
    position the model refuses) is a 400 ``invalid_cursor`` on ``query.cursor``.
    """
    parts = cursor.split(".")
    if len(parts) != 3 or parts[0] != CURSOR_FORMAT:
        raise invalid_cursor()
    _, payload, check = parts
    if not hmac.compare_digest(check.encode("ascii", "replace"), _check(scope, payload).encode()):
        raise invalid_cursor()
    try:
        document = _b64decode(payload)
        return position.model_validate_json(document, strict=True)
    except (binascii.Error, ValueError, PydanticValidationError):
        raise invalid_cursor() from None


def invalid_cursor() -> BadRequestError:
    message = "is not a cursor of this list; start again without one"
    return BadRequestError(
        f"{CURSOR_FIELD}: {message}",
        code="invalid_cursor",
        errors=[FieldError(CURSOR_FIELD, message, "invalid_cursor")],
    )


def _check(scope: str, payload: str) -> str:
    digest = hashlib.blake2b(
        f"{scope}\n{payload}".encode(), digest_size=_CHECK_BYTES, person=_CHECK_PERSON
    ).digest()
    return _b64encode(digest)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
