"""keyset_page: the one keyset query every list reads its pages with.

The query here is an in-memory stand-in with Firestore's ``order_by``/``start_after``/
``limit``/``stream`` and its ordering rules (every field compared in turn, the document
id last), so the tests check what the helper asks of a query and what it makes of
the answer: the order, the position it starts after, ``limit + 1`` reads, the cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import Field

from shared.errors import BadRequestError, ValidationError
from shared.pagination import (
    DOCUMENT_ID,
    CursorFilters,
    CursorPosition,
    DocumentId,
    KeyPosition,
    Page,
    TimedPosition,
    TimeOrderedPosition,
    _b64encode,
    _check,
    decode_cursor,
    encode_cursor,
    keyset_page,
    newest_first,
    ordered_after,
)

SCOPE = "test.keyset"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Ref:
    """A document reference: Firestore orders ``__name__`` by the document's id."""

    id: str


@dataclass(frozen=True)
class Snapshot:
    id: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass
class FakeQuery:
    """What a Firestore query does with an order, a start and a limit, in memory."""

    documents: list[Snapshot]
    order: list[tuple[str, str]] = field(default_factory=list)
    after: dict[str, Any] | None = None
    limit_to: int | None = None
    asked_limits: list[int] = field(default_factory=list)

    def _copy(self, **changes: Any) -> FakeQuery:
        values = {
            "documents": self.documents,
            "order": list(self.order),
            "after": self.after,
            "limit_to": self.limit_to,
            "asked_limits": self.asked_limits,
        }
        values.update(changes)
        return FakeQuery(**values)

    def order_by(self, name: str, *, direction: str) -> FakeQuery:
        return self._copy(order=[*self.order, (name, direction)])

    def start_after(self, values: dict[str, Any]) -> FakeQuery:
        assert list(values) == [name for name, _ in self.order], "start_after follows the order"
        return self._copy(after=values)

    def limit(self, count: int) -> FakeQuery:
        self.asked_limits.append(count)
        return self._copy(limit_to=count)

    def _key(self, snapshot: Snapshot) -> tuple[Any, ...]:
        return tuple(
            Ref(snapshot.id) if name == DOCUMENT_ID else snapshot.data[name]
            for name, _ in self.order
        )

    def _sorted(self) -> list[Snapshot]:
        # One direction for every field, as ordered_after asks.
        directions = {direction for _, direction in self.order}
        assert len(directions) == 1
        return sorted(self.documents, key=self._key, reverse=directions == {"DESCENDING"})

    def stream(self) -> Iterator[Snapshot]:
        found = self._sorted()
        if self.after is not None:
            start = tuple(self.after.values())
            descending = self.order[0][1] == "DESCENDING"
            found = [
                s for s in found if (self._key(s) < start if descending else self._key(s) > start)
            ]
        return iter(found[: self.limit_to])


def _documents(count: int) -> list[Snapshot]:
    # Two documents share each moment, so the id has to break the tie.
    return [
        Snapshot(f"d-{n:02d}", {"created_at": T0 + timedelta(minutes=n // 2), "n": n})
        for n in range(count)
    ]


def _newest_first(
    query: FakeQuery, *, cursor: str | None, limit: int
) -> Page[tuple[str, datetime]]:
    return keyset_page(
        query,
        order=("created_at", DOCUMENT_ID),
        descending=True,
        position=TimeOrderedPosition,
        scope=SCOPE,
        cursor=cursor,
        limit=limit,
        to_item=lambda s: (s.id, s.to_dict()["created_at"]),
        start_after=lambda p: (p.at, Ref(p.id)),
        position_of=lambda item: TimeOrderedPosition(at=item[1], id=item[0]),
    )


def _walk(query: FakeQuery, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = _newest_first(query, cursor=cursor, limit=limit)
        pages.append([item_id for item_id, _ in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_a_walk_in_descending_order_sees_every_document_once_ties_broken_by_id() -> None:
    query = FakeQuery(_documents(7))
    pages = _walk(query, limit=3)
    assert pages == [["d-06", "d-05", "d-04"], ["d-03", "d-02", "d-01"], ["d-00"]]


def test_each_page_reads_one_more_than_the_limit() -> None:
    query = FakeQuery(_documents(7))
    _walk(query, limit=3)
    assert query.asked_limits == [4, 4, 4]


def test_the_cursor_is_the_position_of_the_last_item_of_the_page() -> None:
    page = _newest_first(FakeQuery(_documents(5)), cursor=None, limit=2)
    assert page.next_cursor is not None
    position = decode_cursor(page.next_cursor, TimeOrderedPosition, scope=SCOPE)
    assert position == TimeOrderedPosition(at=T0 + timedelta(minutes=1), id="d-03")


def test_a_last_page_that_is_exactly_full_has_no_cursor() -> None:
    # limit + 1 reads are what tell "exactly full" from "more follow": no empty page.
    assert _walk(FakeQuery(_documents(4)), limit=2) == [["d-03", "d-02"], ["d-01", "d-00"]]
    only = _newest_first(FakeQuery(_documents(2)), cursor=None, limit=2)
    assert (len(only.items), only.next_cursor) == (2, None)


def test_an_empty_list_is_one_empty_page_without_cursor() -> None:
    assert _newest_first(FakeQuery([]), cursor=None, limit=5) == Page([], None)


def test_ascending_order_by_the_document_id_alone() -> None:
    query = FakeQuery([Snapshot(i, {}) for i in ("c", "a", "e", "b", "d")])

    def page(cursor: str | None) -> Page[str]:
        return keyset_page(
            query,
            order=(DOCUMENT_ID,),
            position=KeyPosition,
            scope=SCOPE,
            cursor=cursor,
            limit=2,
            to_item=lambda s: s.id,
            start_after=lambda p: (Ref(p.key),),
            position_of=lambda item: KeyPosition(key=item),
        )

    first = page(None)
    second = page(first.next_cursor)
    third = page(second.next_cursor)
    assert (first.items, second.items, third.items) == (["a", "b"], ["c", "d"], ["e"])
    assert third.next_cursor is None
    assert all(direction == "ASCENDING" for _, direction in query.order)


def test_ordered_after_orders_every_field_one_way_and_starts_after_the_values() -> None:
    query = ordered_after(
        FakeQuery([]), ("effective_date", DOCUMENT_ID), descending=True, after=("2025-01-02", "x")
    )
    assert query.order == [("effective_date", "DESCENDING"), (DOCUMENT_ID, "DESCENDING")]
    assert query.after == {"effective_date": "2025-01-02", DOCUMENT_ID: "x"}
    with pytest.raises(ValueError):
        ordered_after(FakeQuery([]), ("a", DOCUMENT_ID), after=("only one value",))


def _forged(payload: str) -> str:
    """A cursor with a correct checksum around any payload (what a client can compute)."""
    body = _b64encode(payload.encode())
    return f"v1.{body}.{_check(SCOPE, body)}"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        encode_cursor(TimeOrderedPosition(at=T0, id="d-01"), scope="another.list"),
        _forged('{"at": "2025-01-01T00:00:00Z", "id": "a/b"}'),
        _forged('{"at": "2025-01-01T00:00:00", "id": "d-01"}'),
        _forged('{"at": "2025-01-01T00:00:00Z", "id": "d-01", "extra": 1}'),
        _forged('{"key": "d-01"}'),
    ],
)
def test_a_cursor_not_of_this_list_is_refused_before_the_query_runs(cursor: str) -> None:
    query = FakeQuery(_documents(3))
    with pytest.raises(BadRequestError) as raised:
        _newest_first(query, cursor=cursor, limit=2)
    assert (raised.value.status, raised.value.code) == (400, "invalid_cursor")
    assert [(e.field, e.code) for e in raised.value.errors] == [("query.cursor", "invalid_cursor")]
    assert query.asked_limits == []


class FilteredPosition(CursorPosition):
    after: DocumentId
    filters: CursorFilters
    parent: str = Field(min_length=1)


def _filtered(
    query: FakeQuery, *, status: str | None, parent: str, cursor: str | None, **more: Any
) -> Page[str]:
    filters = {"status": status}
    return keyset_page(
        query,
        order=(DOCUMENT_ID,),
        position=FilteredPosition,
        scope=SCOPE,
        cursor=cursor,
        limit=1,
        bound={"filters": filters, "parent": parent},
        to_item=lambda s: s.id,
        start_after=lambda p: (Ref(p.after),),
        position_of=lambda item: FilteredPosition(after=item, filters=filters, parent=parent),
        **more,
    )


def test_a_cursor_bound_to_filters_and_parent_works_only_with_them() -> None:
    query = FakeQuery([Snapshot(i, {}) for i in ("a", "b", "c")])
    first = _filtered(query, status="open", parent="p-1", cursor=None)
    second = _filtered(query, status="open", parent="p-1", cursor=first.next_cursor)
    assert (first.items, second.items) == (["a"], ["b"])
    for status, parent in (("closed", "p-1"), (None, "p-1"), ("open", "p-2")):
        with pytest.raises(ValidationError) as raised:
            _filtered(query, status=status, parent=parent, cursor=first.next_cursor)
        assert [(e.field, e.code) for e in raised.value.errors] == [
            ("query.cursor", "cursor_mismatch")
        ]
    assert query.asked_limits == [2, 2]


def test_a_list_may_refuse_a_mismatched_cursor_with_its_own_error() -> None:
    query = FakeQuery([Snapshot(i, {}) for i in ("a", "b")])
    first = _filtered(query, status=None, parent="p-1", cursor=None)

    def own() -> ValidationError:
        return ValidationError("mismatch", code="cursor_mismatch")

    with pytest.raises(ValidationError) as raised:
        _filtered(query, status="x", parent="p-1", cursor=first.next_cursor, mismatch=own)
    assert raised.value.code == "cursor_mismatch"


def test_with_items_keeps_the_place_in_the_list() -> None:
    page = Page([1, 2, 3], "next", {"total": 3})
    shown = page.with_items([str(n) for n in page.items if n != 2])
    assert shown == Page(["1", "3"], "next", {"total": 3})


# -- newest_first: the preset of lists of records by a time, the most recent first ----------


class Documents:
    """A collection: names its documents by id (what a cursor's tie-break starts after)."""

    def document(self, document_id: str) -> Ref:
        return Ref(document_id)


@dataclass(frozen=True)
class Sent:
    id: str
    sent_at: datetime


def _sent(count: int) -> list[Snapshot]:
    return [
        Snapshot(f"s-{n:02d}", {"sent_at": T0 + timedelta(minutes=n // 2), "kind": "ab"[n % 2]})
        for n in range(count)
    ]


def _to_sent(snapshot: Snapshot) -> Sent:
    return Sent(snapshot.id, snapshot.to_dict()["sent_at"])


def _walk_newest_first(query: FakeQuery, limit: int, **more: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = newest_first(
            query,
            time_field="sent_at",
            scope=SCOPE,
            cursor=cursor,
            limit=limit,
            to_item=_to_sent,
            documents=Documents(),
            **more,
        )
        pages.append([item.id for item in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_newest_first_orders_by_the_time_then_the_id_both_descending() -> None:
    query = FakeQuery(_sent(5))
    assert _walk_newest_first(query, limit=2) == [["s-04", "s-03"], ["s-02", "s-01"], ["s-00"]]
    assert query.asked_limits == [3, 3, 3]
    page = newest_first(
        query,
        time_field="sent_at",
        scope=SCOPE,
        cursor=None,
        limit=2,
        to_item=_to_sent,
        documents=Documents(),
    )
    # The cursor is the item's time (its attribute named like the field) and its id.
    assert page.next_cursor is not None
    position = decode_cursor(page.next_cursor, TimeOrderedPosition, scope=SCOPE)
    assert position == TimeOrderedPosition(at=T0 + timedelta(minutes=1), id="s-03")


def test_newest_first_continues_after_the_cursors_time_and_document() -> None:
    query = FakeQuery(_sent(5))
    cursor = encode_cursor(
        TimeOrderedPosition(at=T0 + timedelta(minutes=1), id="s-03"), scope=SCOPE
    )
    page = newest_first(
        query,
        time_field="sent_at",
        scope=SCOPE,
        cursor=cursor,
        limit=10,
        to_item=_to_sent,
        documents=Documents(),
    )
    assert [item.id for item in page.items] == ["s-02", "s-01", "s-00"]
    assert query.order == []  # the helper ordered copies, not the caller's query
    assert page.next_cursor is None


class KindPosition(TimedPosition):
    """A list's own position: the time as stored text, a number naming the document."""

    sent_at: str
    number: int
    filters: CursorFilters

    def time_and_id(self) -> tuple[Any, str]:
        return datetime.fromisoformat(self.sent_at), f"s-{self.number:02d}"


def test_newest_first_with_a_lists_own_position_bound_to_its_filters() -> None:
    query = FakeQuery(_sent(6))
    filters: dict[str, str | None] = {"kind": None}

    def position_of(item: Sent) -> KindPosition:
        return KindPosition(
            sent_at=item.sent_at.isoformat(), number=int(item.id[2:]), filters=filters
        )

    pages = _walk_newest_first(
        query, limit=4, position=KindPosition, position_of=position_of, bound={"filters": filters}
    )
    assert pages == [["s-05", "s-04", "s-03", "s-02"], ["s-01", "s-00"]]
    first = newest_first(
        query,
        time_field="sent_at",
        scope=SCOPE,
        cursor=None,
        limit=4,
        to_item=_to_sent,
        documents=Documents(),
        position=KindPosition,
        position_of=position_of,
        bound={"filters": filters},
    )
    with pytest.raises(ValidationError) as raised:
        newest_first(
            query,
            time_field="sent_at",
            scope=SCOPE,
            cursor=first.next_cursor,
            limit=4,
            to_item=_to_sent,
            documents=Documents(),
            position=KindPosition,
            position_of=position_of,
            bound={"filters": {"kind": "a"}},
        )
    assert [(e.field, e.code) for e in raised.value.errors] == [("query.cursor", "cursor_mismatch")]
    assert query.asked_limits == [5, 5, 5]  # the refused cursor read nothing


def test_newest_first_refuses_an_own_position_without_saying_how_to_make_it() -> None:
    with pytest.raises(TypeError):
        newest_first(
            FakeQuery([]),
            time_field="sent_at",
            scope=SCOPE,
            cursor=None,
            limit=2,
            to_item=_to_sent,
            position=KindPosition,
        )
