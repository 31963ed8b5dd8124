"""Cursor pagination: opaque cursors that round-trip, and a 422 for any other string."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from pydantic import ValidationError as PydanticValidationError

from shared.errors import ValidationError
from shared.http import Page, PageQuery, RequestContext, Router, decode_cursor, encode_cursor
from tests.unit.platform.support import LogCapture, RouterClient, envelope, field_errors, problem


@pytest.mark.parametrize(
    "position",
    [
        {"created_at": "2025-01-31T10:00:00Z", "id": "e-1"},
        {"id": "ü-é/+=", "n": 0},
        {"offset": 123456789, "nested": {"a": [1, 2]}},
        {},
    ],
)
def test_encode_decode_round_trip(position: dict[str, Any]) -> None:
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    # URL-safe and unpadded: it can travel in a query string as is.
    assert "=" not in cursor
    assert "+" not in cursor
    assert "/" not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%",
        "not base64 at all",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(orjson.dumps([1, 2])).decode(),  # JSON, but not an object
        base64.urlsafe_b64encode(orjson.dumps("text")).decode(),
        "ü",
        "a",
    ],
)
def test_a_cursor_that_is_not_ours_is_422_on_query_cursor(cursor: str) -> None:
    with pytest.raises(ValidationError) as raised:
        decode_cursor(cursor)
    error = raised.value
    assert error.status == 422
    assert [(e.field, e.code) for e in error.errors] == [("query.cursor", "bad_format")]


def test_required_keys_must_be_in_the_cursor() -> None:
    cursor = encode_cursor({"id": "e-1"})
    assert decode_cursor(cursor, required_keys=("id",)) == {"id": "e-1"}
    with pytest.raises(ValidationError):
        decode_cursor(cursor, required_keys=("id", "created_at"))


def test_page_query_bounds() -> None:
    assert PageQuery().limit == 50
    assert PageQuery(limit=100).limit == 100
    for limit in (0, 101, -1):
        with pytest.raises(PydanticValidationError):
            PageQuery(limit=limit)
    with pytest.raises(PydanticValidationError):
        PageQuery.model_validate({"limit": 10, "offset": 5})


def _listing_router(seen: list[dict[str, Any]]) -> Router:
    items = [{"id": f"e-{n}"} for n in range(5)]
    router = Router("listing")

    @router.get("/v1/items", auth="public", query=PageQuery)
    def list_items(ctx: RequestContext) -> Page:
        start = 0
        if ctx.query.cursor is not None:
            position = decode_cursor(ctx.query.cursor, required_keys=("after",))
            seen.append(position)
            start = int(position["after"])
        chunk = items[start : start + ctx.query.limit]
        end = start + len(chunk)
        return Page(items=chunk, next_cursor=encode_cursor({"after": end}) if end < 5 else None)

    return router


def test_walking_pages_through_the_router(logs: LogCapture) -> None:
    seen: list[dict[str, Any]] = []
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
    assert seen == [{"after": 2}, {"after": 4}]


def test_a_garbage_cursor_through_the_router_is_422(logs: LogCapture) -> None:
    response = RouterClient(_listing_router([])).get("/v1/items?cursor=garbage!")
    document = problem(response)
    assert document["status"] == 422
    assert field_errors(document) == {"query.cursor": "bad_format"}
