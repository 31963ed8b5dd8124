"""Pages and iterators over every page of a list."""

from __future__ import annotations

import httpx

from tests.unit.client.support import FakeApi, envelope

PAGES = {
    None: ([{"id": "a1"}, {"id": "a2"}], "v1.cursor-one"),
    "v1.cursor-one": ([{"id": "a3"}, {"id": "a4"}], "v1.cursor-two"),
    "v1.cursor-two": ([{"id": "a5"}], None),
}


def _lists(request: httpx.Request) -> httpx.Response:
    items, next_cursor = PAGES[request.url.params.get("cursor")]
    return envelope(items, next_cursor=next_cursor)


def test_a_page_carries_its_items_and_the_next_cursor() -> None:
    api = FakeApi([_lists])
    page = api.client(api_key="k").list_accounts(limit=2)
    assert [a["id"] for a in page] == ["a1", "a2"]
    assert len(page) == 2
    assert page.next_cursor == "v1.cursor-one"


def test_the_iterator_follows_the_cursors_to_the_last_page() -> None:
    api = FakeApi([_lists])
    accounts = api.client(api_key="k").iter_accounts(type="asset", page_size=2)
    assert api.requests == []  # nothing is fetched before it is needed

    assert [a["id"] for a in accounts] == ["a1", "a2", "a3", "a4", "a5"]
    sent = [dict(r.url.params) for r in api.requests]
    assert sent == [
        {"type": "asset", "limit": "2"},
        {"type": "asset", "limit": "2", "cursor": "v1.cursor-one"},
        {"type": "asset", "limit": "2", "cursor": "v1.cursor-two"},
    ]


def test_the_iterator_fetches_a_page_only_when_it_is_reached() -> None:
    api = FakeApi([_lists])
    entries = api.client(api_key="k").iter_account_entries("acc-1", page_size=2)
    assert [next(entries)["id"] for _ in range(2)] == ["a1", "a2"]
    assert len(api.requests) == 1
    assert api.requests[0].url.path == "/v1/accounts/acc-1/entries"


def test_a_list_without_cursors_is_a_plain_list() -> None:
    api = FakeApi([lambda _r: envelope([{"id": "ep-1"}])])
    assert api.client(api_key="k").list_webhook_endpoints() == [{"id": "ep-1"}]
