"""The wait of a duplicate for the request holding its key: doubling polls, then a 409.

The store runs over the in-memory Firestore; the wait's clock is a fake whose time
moves only when the store sleeps, so the schedule is exact and nothing really waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest

from shared import errors
from shared.config import IdempotencySettings
from shared.idempotency import (
    IDEMPOTENCY_COLLECTION,
    IdempotencyStore,
    record_id,
    request_fingerprint,
)
from shared.idempotency.store import STATUS_COMPLETED
from tests.unit.firestore_memory import MemoryFirestore

SCOPE = "tenant-a:POST /v1/payments"
FINGERPRINT = request_fingerprint("POST", "/v1/payments", b'{"amount":"10.00"}')


class FakeTime:
    """Monotonic time that advances by exactly what the store sleeps."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._on_sleep is not None:
            self._on_sleep(len(self.sleeps))


def _store(db: MemoryFirestore, time: FakeTime, wait_seconds: float) -> IdempotencyStore:
    settings = IdempotencySettings(wait_seconds=wait_seconds)
    return IdempotencyStore(cast(Any, db), settings, sleep=time.sleep, monotonic=time.monotonic)


def _held_key(db: MemoryFirestore, key: str) -> dict[str, Any]:
    """A first request holds ``key``: its in-progress record, as stored."""
    holder = IdempotencyStore(cast(Any, db), IdempotencySettings()).begin(SCOPE, key, FINGERPRINT)
    assert holder.acquired
    return db.documents[f"{IDEMPOTENCY_COLLECTION}/{record_id(SCOPE, key)}"]


def test_a_duplicate_polls_with_doubling_waits_capped_then_gets_a_409() -> None:
    db = MemoryFirestore()
    _held_key(db, "key-busy")
    time = FakeTime()
    reads_before = db.reads

    with pytest.raises(errors.ConflictError) as caught:
        _store(db, time, wait_seconds=2.0).begin(SCOPE, "key-busy", FINGERPRINT)

    # 50 ms doubling to the 500 ms cap; the last wait ends exactly at the deadline.
    assert time.sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.25])
    assert time.now == pytest.approx(102.0)
    assert db.reads - reads_before == len(time.sleeps) + 1  # one look per poll, then none
    assert caught.value.status == 409
    assert caught.value.code == "idempotency_key_in_progress"
    assert caught.value.headers["Retry-After"] == "1"


def test_no_wait_at_all_answers_409_after_one_look() -> None:
    db = MemoryFirestore()
    _held_key(db, "key-busy")
    time = FakeTime()

    with pytest.raises(errors.ConflictError) as caught:
        _store(db, time, wait_seconds=0.0).begin(SCOPE, "key-busy", FINGERPRINT)

    assert time.sleeps == []
    assert caught.value.code == "idempotency_key_in_progress"


def test_a_duplicate_replays_the_response_completed_while_it_waited() -> None:
    db = MemoryFirestore()
    record = _held_key(db, "key-done")

    def holder_finishes(sleeps: int) -> None:
        if sleeps == 2:
            record.update(
                status=STATUS_COMPLETED,
                response_status=201,
                response_body=b'{"data":{"id":"pay-1"}}',
                response_headers={"Content-Type": "application/json"},
            )

    time = FakeTime(on_sleep=holder_finishes)
    claim = _store(db, time, wait_seconds=5.0).begin(SCOPE, "key-done", FINGERPRINT)

    assert time.sleeps == pytest.approx([0.05, 0.1])
    assert claim.replay is not None
    assert (claim.replay.status, claim.replay.body) == (201, b'{"data":{"id":"pay-1"}}')


def test_a_key_released_while_waiting_is_acquired_by_the_waiter() -> None:
    db = MemoryFirestore()
    _held_key(db, "key-freed")
    path = f"{IDEMPOTENCY_COLLECTION}/{record_id(SCOPE, 'key-freed')}"

    def holder_fails(sleeps: int) -> None:
        if sleeps == 3:
            del db.documents[path]

    time = FakeTime(on_sleep=holder_fails)
    claim = _store(db, time, wait_seconds=5.0).begin(SCOPE, "key-freed", FINGERPRINT)

    assert claim.acquired
    assert time.sleeps == pytest.approx([0.05, 0.1, 0.2])
    assert db.documents[path]["owner"] == claim.owner


def test_a_different_request_with_a_held_key_is_refused_at_once_without_waiting() -> None:
    db = MemoryFirestore()
    record = _held_key(db, "key-other")
    time = FakeTime()
    other = request_fingerprint("POST", "/v1/payments", b'{"amount":"99.00"}')

    with pytest.raises(errors.BusinessRuleError) as caught:
        _store(db, time, wait_seconds=5.0).begin(SCOPE, "key-other", other)

    assert caught.value.code == "idempotency_key_reused"
    assert time.sleeps == []
    assert record["fingerprint"] == FINGERPRINT  # the holder's record is untouched
