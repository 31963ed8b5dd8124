"""The rule for noting a key's last use (shared/producers/usage.py), without Firestore."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import reset_settings
from shared.producers.model import ProducerKey
from shared.producers.usage import (
    LAST_USED_RESOLUTION,
    UsageRecorder,
    may_record_usage,
    with_last_use,
)

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class FakeDocument:
    def __init__(self, writes: list[tuple[str, dict[str, Any]]], key_id: str) -> None:
        self._writes = writes
        self._key_id = key_id

    def set(self, data: dict[str, Any], merge: bool = False) -> None:
        assert merge
        self._writes.append((self._key_id, data))


class FakeBooks:
    """Just enough of a Firestore client to see the notes written."""

    def __init__(self, fail: bool = False) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def collection(self, name: str) -> Any:
        assert name == "producer_key_usage"
        if self.fail:
            raise RuntimeError("the database is unavailable")
        books = self

        class Collection:
            def document(self, key_id: str) -> FakeDocument:
                return FakeDocument(books.writes, key_id)

        return Collection()


class Clock:
    def __init__(self) -> None:
        self.tick = 100.0

    def __call__(self) -> float:
        return self.tick


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("TRIBUTUM_FIRESTORE__ACCESS", raising=False)
    reset_settings()
    yield monkeypatch
    reset_settings()


def _key(key_id: str, last_used_at: datetime | None = None) -> ProducerKey:
    return ProducerKey(
        id=key_id,
        tenant_id="t-1",
        name="reporting",
        scopes=(),
        secret_hash="0" * 64,
        created_at=AT - timedelta(days=1),
        created_by={"user_id": "u-1"},
        last_used_at=last_used_at,
        role="viewer",
    )


def test_a_use_is_noted_once_a_minute_per_key() -> None:
    books, clock = FakeBooks(), Clock()
    recorder = UsageRecorder(monotonic=clock)

    assert recorder.record(lambda: books, "pk1", AT)
    clock.tick += LAST_USED_RESOLUTION.total_seconds() - 1
    assert not recorder.record(lambda: books, "pk1", AT + timedelta(seconds=59))
    assert recorder.record(lambda: books, "pk2", AT)  # another key: its own minute
    clock.tick += 1
    assert recorder.record(lambda: books, "pk1", AT + timedelta(minutes=1))

    assert books.writes == [
        ("pk1", {"last_used_at": AT}),
        ("pk2", {"last_used_at": AT}),
        ("pk1", {"last_used_at": AT + timedelta(minutes=1)}),
    ]


def test_a_failed_note_is_swallowed() -> None:
    recorder = UsageRecorder(monotonic=Clock())

    assert recorder.record(lambda: FakeBooks(fail=True), "pk1", AT)


@pytest.mark.parametrize(
    ("access", "allowed"),
    [
        (None, True),
        ('{"main": "write", "credentials": "read"}', True),
        ('{"main": "write", "credentials": "none"}', True),
        ('{"main": "read", "credentials": "read"}', False),
    ],
)
def test_a_note_is_not_attempted_where_the_main_database_is_read_only(
    settings: pytest.MonkeyPatch, access: str | None, allowed: bool
) -> None:
    if access is not None:
        settings.setenv("TRIBUTUM_FIRESTORE__ACCESS", access)
    reset_settings()
    asked: list[bool] = []

    def books() -> FakeBooks:
        asked.append(True)
        return FakeBooks()

    assert may_record_usage() is allowed
    assert UsageRecorder(monotonic=Clock()).record(books, "pk1", AT) is allowed
    assert asked == ([True] if allowed else [])


def test_the_later_of_the_record_and_the_note_is_the_last_use() -> None:
    earlier, later = AT - timedelta(hours=1), AT
    keys = [_key("pk1", earlier), _key("pk2", later), _key("pk3"), _key("pk4")]

    merged = with_last_use(keys, {"pk1": later, "pk2": earlier, "pk3": later})

    assert [k.last_used_at for k in merged] == [later, later, later, None]
    assert [k.id for k in merged] == ["pk1", "pk2", "pk3", "pk4"]
