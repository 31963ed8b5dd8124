"""Cursor pages and iterators over every page of a list."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    items: list[JSONObject] = field(default_factory=list)
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[JSONObject]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def iterate(fetch: Callable[[str | None], Page]) -> Iterator[JSONObject]:
    """Every item of a list, page after page, fetching a page only when it is reached.

    ``fetch`` takes the cursor (None for the first page). A cursor is opaque and passed
    back as it came; the list ends at the page without one.
    """
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
