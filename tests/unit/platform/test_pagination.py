"""Cursor pagination: opaque, versioned, checked cursors that decode into typed positions."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from shared.errors import BadRequestError
from shared.http import RequestContext, Router
from shared.pagination import (
    CursorFilters,
    CursorPosition,
    DocumentId,
    KeyPosition,
    Page,
    PageQuery,
    TimeOrderedPosition,
    _b64encode,
    _check,
    decode_cursor,
    encode_cursor,
)
from tests.unit.platform.support import LogCapture, RouterClient, envelope, field_errors, problem

SCOPE = "test.items"


class ItemsPosition(CursorPosition):
    after: DocumentId
    day: date
    filters: CursorFilters = Field(default_factory=dict)


def _forged(payload: object, scope: str = SCOPE) -> str:
    """A cursor with a correct checksum around any payload: what a client that
    recomputes the checksum can send."""
    body = _b64encode(orjson.dumps(payload))
    return f"v1.{body}.{_check(scope, body)}"


def _assert_invalid_cursor(cursor: str, position: type[CursorPosition] = ItemsPosition) -> None:
    with pytest.raises(BadRequestError) as raised:
        decode_cursor(cursor, position, scope=SCOPE)
    error = raised.value
    assert (error.status, error.code) == (400, "invalid_cursor")
    assert [(e.field, e.code) for e in error.errors] == [("query.cursor", "invalid_cursor")]


@pytest.mark.parametrize(
    "position",
    [
        ItemsPosition(after="e-1", day=date(2025, 1, 31)),
        ItemsPosition(after="ü-é+=", day=date(1999, 12, 31), filters={"status": None, "a": "b"}),
    ],
)
def test_a_position_round_trips_through_a_url_safe_cursor(position: ItemsPosition) -> None:
    cursor = encode_cursor(position, scope=SCOPE)
    assert decode_cursor(cursor, ItemsPosition, scope=SCOPE) == position
    assert cursor.startswith("v1.")
    assert not set(cursor) & set("=+/%?&# ")


def test_time_ordered_positions_keep_the_moment_and_its_zone() -> None:
    moment = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    cursor = encode_cursor(TimeOrderedPosition(at=moment, id="calc_1"), scope=SCOPE)
    decoded = decode_cursor(cursor, TimeOrderedPosition, scope=SCOPE)
    assert decoded.at == moment and decoded.id == "calc_1"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "%%%",
        "a",
        "ü",
        "v1",
        "v1..",
        "v1.a.b.c",
        # The old, unchecked format: a bare base64 JSON object.
        base64.urlsafe_b64encode(b'{"after": "e-1"}').decode().rstrip("="),
        # Another format version, with a checksum that would otherwise be right.
        _forged({"after": "e-1", "day": "2025-01-01"}).replace("v1.", "v2.", 1),
    ],
)
def test_a_string_that_is_not_a_cursor_is_400_invalid_cursor(cursor: str) -> None:
    _assert_invalid_cursor(cursor)


def test_an_edited_cursor_is_refused_by_its_checksum() -> None:
    cursor = encode_cursor(ItemsPosition(after="e-1", day=date(2025, 1, 1)), scope=SCOPE)
    version, payload, check = cursor.split(".")
    edited = _b64encode(orjson.dumps({"after": "e-9", "day": "2025-01-01", "filters": {}}))
    _assert_invalid_cursor(f"{version}.{edited}.{check}")
    _assert_invalid_cursor(f"{version}.{payload}.{check[:-1]}")
    _assert_invalid_cursor(f"{version}.{payload[:-2]}.{check}")


def test_a_cursor_of_another_list_is_refused() -> None:
    cursor = encode_cursor(KeyPosition(key="DE"), scope="other.list")
    _assert_invalid_cursor(cursor, KeyPosition)


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        "text",
        {},
        {"after": "e-1"},  # a field missing
        {"after": "e-1", "day": "2025-01-01", "extra": 1},  # an unknown field
        {"after": 7, "day": "2025-01-01"},  # an id of the wrong type
        {"after": "a/b", "day": "2025-01-01"},  # another path: Firestore's odd-segment error
        {"after": "__x__", "day": "2025-01-01"},  # a reserved id
        {"after": "..", "day": "2025-01-01"},
        {"after": "e\n1", "day": "2025-01-01"},
        {"after": "", "day": "2025-01-01"},
        {"after": "e" * 257, "day": "2025-01-01"},
        {"after": "e-1", "day": "yesterday"},  # not a date: the old isoformat 500
        {"after": "e-1", "day": "2025-1-1"},
        {"after": "e-1", "day": 20250101},
        {"after": "e-1", "day": "2025-01-01", "filters": {"a": 1}},
        {"after": "e-1", "day": "2025-01-01", "filters": {f"f{n}": "x" for n in range(17)}},
    ],
)
def test_a_forged_position_the_model_refuses_is_400_invalid_cursor(payload: object) -> None:
    _assert_invalid_cursor(_forged(payload))


@pytest.mark.parametrize(
    "at",
    [
        "2025-01-01T00:00:00",
        "not a time",
        "2025-13-01T00:00:00Z",
        1735689600,
        None,
        # Aware, but their UTC form falls outside years 1..9999: Firestore's conversion
        # raised OverflowError, a 500.
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_time_positions_need_an_aware_iso_moment(at: object) -> None:
    _assert_invalid_cursor(_forged({"at": at, "id": "x"}), TimeOrderedPosition)
    accepted = decode_cursor(
        _forged({"at": "2025-01-01T00:00:00Z", "id": "x"}), TimeOrderedPosition, scope=SCOPE
    )
    assert accepted.at == datetime(2025, 1, 1, tzinfo=UTC)


def test_page_query_bounds() -> None:
    assert PageQuery().limit == 50
    assert PageQuery(limit=100).limit == 100
    for limit in (0, 101, -1):
        with pytest.raises(PydanticValidationError):
            PageQuery(limit=limit)
    with pytest.raises(PydanticValidationError):
        PageQuery.model_validate({"limit": 10, "offset": 5})


class AfterPosition(CursorPosition):
    after: int = Field(ge=0)


def _listing_router(seen: list[int]) -> Router:
    items = [{"id": f"e-{n}"} for n in range(5)]
    router = Router("listing")

    @router.get("/v1/items", auth="public", query=PageQuery)
    def list_items(ctx: RequestContext) -> Page:
        start = 0
        if ctx.query.cursor is not None:
            start = decode_cursor(ctx.query.cursor, AfterPosition, scope=SCOPE).after
            seen.append(start)
        chunk = items[start : start + ctx.query.limit]
        end = start + len(chunk)
        following = encode_cursor(AfterPosition(after=end), scope=SCOPE) if end < 5 else None
        return Page(items=chunk, next_cursor=following)

    return router


def test_walking_pages_through_the_router(logs: LogCapture) -> None:
    seen: list[int] = []
    client = RouterClient(_listing_router(seen))
    collected: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        document = envelope(client.get("/v1/items", query_string=query))
        collected += [item["id"] for item in document["data"]]
        cursor = document["meta"]["next_cursor"]
        if cursor is None:
            break
    assert collected == ["e-0", "e-1", "e-2", "e-3", "e-4"]
    assert seen == [2, 4]


@pytest.mark.parametrize("cursor", ["garbage!", _forged({"after": -1}), _forged({"after": "2"})])
def test_a_bad_cursor_through_the_router_is_a_400_problem(logs: LogCapture, cursor: str) -> None:
    response = RouterClient(_listing_router([])).get("/v1/items", query_string={"cursor": cursor})
    document = problem(response)
    assert (document["status"], document["code"]) == (400, "invalid_cursor")
    assert field_errors(document) == {"query.cursor": "invalid_cursor"}
