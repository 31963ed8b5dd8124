"""Cursor pagination: opaque cursors, bounded page sizes, one keyset query for every list.

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
against the list's position model in strict JSON mode, ids with the rule for usable
document ids (``shared.ids``), datetimes with a timezone, nothing unknown. A position
only moves a query of the caller's own tenant, which the token decides. Every
cursor that fails any step is the same 400 ``invalid_cursor`` on ``query.cursor``.

Every list reads its pages with :func:`keyset_page`: the query in the list's order,
started after the decoded position, ``limit + 1`` documents read so that the extra one
says whether a next page exists, and the next cursor made from the page's last item.
:func:`newest_first` is that query for the common list of records by a time, the most
recent first, ties broken by the document id.
Nothing here imports a database client or the web framework: the query is any object
with Firestore's ``order_by``/``start_after``/``limit``/``stream``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from shared.errors import AppError, BadRequestError, FieldError, ValidationError
from shared.ids import usable_document_id
from shared.moments import Moment

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_LENGTH = 2048
CURSOR_FORMAT = "v1"
_CHECK_BYTES = 12
_CHECK_PERSON = b"tributum-cursor"
CURSOR_FIELD = "query.cursor"
DOCUMENT_ID = "__name__"
"""The order field of the document id (what ``FieldPath.document_id()`` names)."""

PositionT = TypeVar("PositionT", bound="CursorPosition")
ItemT = TypeVar("ItemT")
OtherT = TypeVar("OtherT")


class PageQuery(BaseModel):
    """Base for list routes' query models: ``limit`` and ``cursor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR_LENGTH,
        description="meta.next_cursor of the previous page, as it was given",
    )


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """A page of items; ``next_cursor`` is None on the last page."""

    items: list[ItemT]
    next_cursor: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def with_items(self, items: list[OtherT]) -> Page[OtherT]:
        """The same place in the list showing other items (the read ones filtered or
        presented): the next cursor still follows the items that were read."""
        return Page(items, self.next_cursor, self.meta)


def _document_id(value: str) -> str:
    # A path segment never holds '/', so the path rule does not need to refuse it; an
    # id from a cursor names a document directly, where '/' would mean another path.
    if "/" in value or not usable_document_id(value):
        raise PydanticCustomError("document_id", "is not a usable document id")
    return value


DocumentId = Annotated[str, AfterValidator(_document_id)]
"""The id of a document of the list, under the same rule as path parameters."""

FilterValue = Annotated[str, Field(max_length=512)]
FilterName = Annotated[str, Field(max_length=64)]
CursorFilters = Annotated[dict[FilterName, FilterValue | None], Field(max_length=16)]
"""The filters a list was asked with; a cursor is only good for the same filters."""


class CursorPosition(BaseModel):
    """Base of the position models: strict, closed and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TimedPosition(CursorPosition):
    """Base of the positions of lists ordered by a time field, ties broken by the document id."""

    def time_and_id(self) -> tuple[Any, str]:
        """The time field's value and the document id the list continues after."""
        raise NotImplementedError


class TimeOrderedPosition(TimedPosition):
    """A position in a list ordered by a moment, ties broken by the document id."""

    at: Moment
    id: DocumentId

    def time_and_id(self) -> tuple[Any, str]:
        return self.at, self.id


class KeyPosition(CursorPosition):
    """A position in a list ordered by one key of its own (a code, a name)."""

    key: str = Field(min_length=1, max_length=256)


# -- cursors ----------------------------------------------------------------------------------


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


def cursor_mismatch() -> ValidationError:
    """A well-formed cursor of this list asked with other filters (or another parent)."""
    return ValidationError.for_field(
        CURSOR_FIELD, "belongs to a list with other filters", "cursor_mismatch"
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


# -- keyset queries ---------------------------------------------------------------------------


def ordered_after(
    query: Any,
    order: Sequence[str],
    *,
    descending: bool = False,
    after: Sequence[Any] | None = None,
) -> Any:
    """``query`` ordered by the ``order`` fields (the last one breaks ties, normally
    :data:`DOCUMENT_ID`), all in one direction, started after the values ``after``.

    One direction for every field is what the declared indexes serve: Firestore sorts
    an index's implicit id like its last field, so an ascending id after a descending
    field would need an index of its own.
    """
    direction = "DESCENDING" if descending else "ASCENDING"
    for name in order:
        query = query.order_by(name, direction=direction)
    if after is not None:
        query = query.start_after(dict(zip(order, after, strict=True)))
    return query


def keyset_page(
    query: Any,
    *,
    order: Sequence[str],
    position: type[PositionT],
    scope: str,
    cursor: str | None,
    limit: int,
    to_item: Callable[[Any], ItemT],
    start_after: Callable[[PositionT], Sequence[Any]],
    position_of: Callable[[ItemT], PositionT],
    descending: bool = False,
    bound: Mapping[str, Any] | None = None,
    mismatch: Callable[[], AppError] = cursor_mismatch,
) -> Page[ItemT]:
    """One page of ``query`` (its filters applied, no order yet) in keyset order.

    * ``order``/``descending``: the fields the list is sorted by, the tie-breaker last;
    * ``position``/``scope``: the cursor's model and the list's name in its checksum;
      a cursor that is not one of this list is a 400 ``invalid_cursor``;
    * ``start_after``: the values of the ``order`` fields at a decoded position (a
      document reference for :data:`DOCUMENT_ID`);
    * ``bound``: fields of the position that must equal these values (the filters,
      the parent the list is under); otherwise ``mismatch()`` is raised;
    * ``to_item``: a read snapshot as an item; ``position_of``: where a page ending on
      that item stopped, which becomes ``next_cursor``.

    ``limit + 1`` documents are read: the extra one only says that another page
    follows, so the last page has no cursor and no empty page is ever announced.
    """
    after: Sequence[Any] | None = None
    if cursor:
        decoded = decode_cursor(cursor, position, scope=scope)
        if bound and any(getattr(decoded, name) != value for name, value in bound.items()):
            raise mismatch()
        after = start_after(decoded)
    ordered = ordered_after(query, order, descending=descending, after=after)
    snapshots = list(ordered.limit(limit + 1).stream())
    items = [to_item(snapshot) for snapshot in snapshots[:limit]]
    next_cursor = None
    if len(snapshots) > limit and items:
        next_cursor = encode_cursor(position_of(items[-1]), scope=scope)
    return Page(items, next_cursor)


def newest_first(
    query: Any,
    *,
    time_field: str,
    scope: str,
    cursor: str | None,
    limit: int,
    to_item: Callable[[Any], ItemT],
    documents: Any = None,
    position: type[TimedPosition] = TimeOrderedPosition,
    position_of: Callable[[ItemT], TimedPosition] | None = None,
    bound: Mapping[str, Any] | None = None,
) -> Page[ItemT]:
    """One page of ``query``, the most recent ``time_field`` first, ties broken by the id.

    The id breaks ties in the same direction as the time: Firestore's single-field
    index on ``time_field`` (and a composite index ending in ``time_field``
    descending) serves that order, with no index of its own.

    * ``documents``: the collection the listed documents are in, which names the
      document a cursor continues after; ``query`` itself when it is that collection;
    * ``position``/``position_of``: by default the cursor is a
      :class:`TimeOrderedPosition` of the item's attribute named ``time_field`` and
      its ``id``; a list whose cursor says more (its filters) gives its own
      :class:`TimedPosition` and how to make it from an item;
    * ``scope``, ``cursor``, ``limit``, ``to_item``, ``bound``: as for :func:`keyset_page`.
    """
    collection = query if documents is None else documents
    if position_of is None:
        if position is not TimeOrderedPosition:
            raise TypeError("a list with its own position model says how to make it")

        time_and_id = attrgetter(time_field, "id")

        def position_of(item: ItemT) -> TimedPosition:
            at, document_id = time_and_id(item)
            return TimeOrderedPosition(at=at, id=document_id)

    def start_after(decoded: TimedPosition) -> tuple[Any, Any]:
        time, document_id = decoded.time_and_id()
        return time, collection.document(document_id)

    return keyset_page(
        query,
        order=(time_field, DOCUMENT_ID),
        descending=True,
        position=position,
        scope=scope,
        cursor=cursor,
        limit=limit,
        to_item=to_item,
        start_after=start_after,
        position_of=position_of,
        bound=bound,
    )
