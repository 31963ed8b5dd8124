"""Cursor pagination: opaque cursors, bounded page sizes, no unbounded lists."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ValidationError

MAX_PAGE_SIZE = 100


class PageQuery(BaseModel):
    """Base for list routes' query models: ``limit`` and ``cursor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=2048)


@dataclass(frozen=True, slots=True)
class Page:
    """A page of items; ``next_cursor`` is None on the last page."""

    items: list[Any]
    next_cursor: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def encode_cursor(position: dict[str, Any]) -> str:
    """Opaque, URL-safe cursor for a position (e.g. the last item's sort key and id)."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, required_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Inverse of :func:`encode_cursor`; a cursor that was not ours is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, orjson.JSONDecodeError, UnicodeEncodeError, ValueError):
        raise ValidationError.for_field(
            "query.cursor", "is not a valid cursor", "bad_format"
        ) from None
    if not isinstance(position, dict) or any(k not in position for k in required_keys):
        raise ValidationError.for_field("query.cursor", "is not a valid cursor", "bad_format")
    return position
