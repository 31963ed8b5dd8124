"""Listing dead letters: newest first, ties by id, in an order production has an index for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.deadletters import DEAD_LETTER_COLLECTION, list_dead_letters
from tests.support.firestore_indexes import QueryRecorder, declared_indexes, missing_indexes

INDEX_CONFIG = Path(__file__).resolve().parents[3] / "infra" / "firestore_indexes.yaml"
SEEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _store(db: Any, doc_id: str, *, first_seen: datetime, status: str = "stored") -> None:
    db.collection(DEAD_LETTER_COLLECTION).document(doc_id).set(
        {
            "topic": "probe-topic",
            "tenant_id": "tenant-a",
            "reason": "delivery attempts exhausted",
            "status": status,
            "data_base64": "",
            "attributes": {},
            "first_seen": first_seen,
            "last_seen": first_seen,
        }
    )


def _walk(db: Any, **filters: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = list_dead_letters(db, "tenant-a", limit=2, cursor=cursor, **filters)
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


def test_letters_seen_at_the_same_instant_page_by_descending_id(firestore_client: Any) -> None:
    for doc_id in ("d-1", "d-2", "d-3", "d-4"):
        _store(firestore_client, doc_id, first_seen=SEEN)
    _store(firestore_client, "d-0", first_seen=SEEN + timedelta(seconds=1))
    _store(firestore_client, "d-9", first_seen=SEEN - timedelta(seconds=1))
    assert _walk(firestore_client) == ["d-0", "d-4", "d-3", "d-2", "d-1", "d-9"]


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "stored"},
        {"topic": "probe-topic"},
        {"status": "stored", "topic": "probe-topic"},
    ],
)
def test_every_listing_query_has_a_declared_index(
    firestore_client: Any, filters: dict[str, str]
) -> None:
    for doc_id in ("d-1", "d-2", "d-3"):
        _store(firestore_client, doc_id, first_seen=SEEN)
    recorder = QueryRecorder()
    recorder.install()
    try:
        assert _walk(firestore_client, **filters) == ["d-3", "d-2", "d-1"]
    finally:
        recorder.uninstall()
    shapes = {shape for shape in recorder.shapes if shape.collection == DEAD_LETTER_COLLECTION}
    assert shapes
    assert missing_indexes(shapes, declared_indexes(INDEX_CONFIG)) == []
