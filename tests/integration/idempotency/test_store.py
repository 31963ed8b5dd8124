"""The idempotency store against the Firestore emulator: one execution per key, replays after."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import errors
from shared.config import IdempotencySettings
from shared.idempotency import (
    IDEMPOTENCY_COLLECTION,
    Claim,
    IdempotencyStore,
    record_id,
    request_fingerprint,
)

SCOPE = "tenant-a:POST /v1/payments"
BODY = b'{"amount":"10.00","currency":"EUR"}'
FINGERPRINT = request_fingerprint("POST", "/v1/payments", BODY)
CREATED = (201, b'{"data":{"id":"pay-1"}}', {"Content-Type": "application/json"})


def _store(
    db: Any, clock: Callable[[], datetime] | None = None, **settings: Any
) -> IdempotencyStore:
    values = {"ttl_seconds": 86_400, "in_progress_ttl_seconds": 60, "wait_seconds": 5.0}
    values.update(settings)
    if clock is None:
        return IdempotencyStore(db, IdempotencySettings(**values))
    return IdempotencyStore(db, IdempotencySettings(**values), clock=clock)


def _later(by: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + by


def _record(db: Any, key: str, scope: str = SCOPE) -> dict[str, Any]:
    snapshot = db.collection(IDEMPOTENCY_COLLECTION).document(record_id(scope, key)).get()
    return snapshot.to_dict() if snapshot.exists else {}


def test_a_completed_key_replays_the_first_status_body_and_headers(firestore_client: Any) -> None:
    store = _store(firestore_client)
    first = store.begin(SCOPE, "key-1", FINGERPRINT)
    assert first.acquired
    store.complete(first, *CREATED)

    again = store.begin(SCOPE, "key-1", FINGERPRINT)

    assert not again.acquired
    assert again.replay is not None
    assert again.replay.status == 201
    assert again.replay.body == b'{"data":{"id":"pay-1"}}'
    assert again.replay.headers == {"Content-Type": "application/json"}
    record = _record(firestore_client, "key-1")
    assert record["status"] == "completed"
    assert record["expires_at"] - record["completed_at"] == timedelta(seconds=86_400)


def test_a_4xx_outcome_is_replayed_too(firestore_client: Any) -> None:
    store = _store(firestore_client)
    store.complete(store.begin(SCOPE, "key-422", FINGERPRINT), 422, b'{"code":"x"}', {})
    replay = store.begin(SCOPE, "key-422", FINGERPRINT).replay
    assert replay is not None
    assert (replay.status, replay.body) == (422, b'{"code":"x"}')


def test_fifty_concurrent_requests_with_one_key_execute_once(firestore_client: Any) -> None:
    store = _store(firestore_client, wait_seconds=20.0)
    callers = 50
    barrier = threading.Barrier(callers)
    executions: list[Claim] = []
    replays: list[Claim] = []
    conflicts: list[errors.ConflictError] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def request() -> None:
        barrier.wait()
        try:
            claim = store.begin(SCOPE, "key-race", FINGERPRINT)
        except errors.ConflictError as exc:
            with lock:
                conflicts.append(exc)
            return
        except BaseException as exc:
            with lock:
                unexpected.append(exc)
            return
        if claim.acquired:
            with lock:
                executions.append(claim)
            time.sleep(0.5)  # the execution takes a while; the others wait for it
            store.complete(claim, *CREATED)
        else:
            with lock:
                replays.append(claim)

    threads = [threading.Thread(target=request) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert unexpected == []
    assert len(executions) == 1
    assert len(replays) + len(conflicts) == callers - 1
    for claim in replays:
        assert claim.replay is not None
        assert (claim.replay.status, claim.replay.body) == (CREATED[0], CREATED[1])
    for conflict in conflicts:
        assert conflict.code == "idempotency_key_in_progress"


def test_a_duplicate_that_cannot_wait_gets_a_409_with_retry_after(firestore_client: Any) -> None:
    store = _store(firestore_client, wait_seconds=0.2)
    holder = store.begin(SCOPE, "key-busy", FINGERPRINT)
    assert holder.acquired

    started = time.monotonic()
    with pytest.raises(errors.ConflictError) as caught:
        store.begin(SCOPE, "key-busy", FINGERPRINT)

    assert 0.2 <= time.monotonic() - started < 2.0
    assert caught.value.status == 409
    assert caught.value.code == "idempotency_key_in_progress"
    assert caught.value.headers["Retry-After"] == "1"


@pytest.mark.parametrize("completed", [False, True])
def test_the_same_key_with_another_request_is_a_422(firestore_client: Any, completed: bool) -> None:
    store = _store(firestore_client)
    claim = store.begin(SCOPE, "key-reused", FINGERPRINT)
    if completed:
        store.complete(claim, *CREATED)
    other = request_fingerprint("POST", "/v1/payments", b'{"amount":"99.00","currency":"EUR"}')

    with pytest.raises(errors.BusinessRuleError) as caught:
        store.begin(SCOPE, "key-reused", other)

    assert caught.value.status == 422
    assert caught.value.code == "idempotency_key_reused"


def test_keys_are_scoped_by_tenant_and_route(firestore_client: Any) -> None:
    store = _store(firestore_client)
    store.complete(store.begin(SCOPE, "key-shared", FINGERPRINT), *CREATED)
    other_tenant = store.begin("tenant-b:POST /v1/payments", "key-shared", FINGERPRINT)
    other_route = store.begin("tenant-a:POST /v1/refunds", "key-shared", FINGERPRINT)
    assert other_tenant.acquired
    assert other_route.acquired


@pytest.mark.parametrize("failure", ["exception", 500, 503, 409, 429])
def test_a_failed_execution_releases_the_key_and_a_retry_executes(
    firestore_client: Any, failure: str | int
) -> None:
    store = _store(firestore_client)
    claim = store.begin(SCOPE, "key-fail", FINGERPRINT)
    if failure == "exception":
        store.release(claim)
    else:
        store.complete(claim, int(failure), b"{}", {})
    assert _record(firestore_client, "key-fail") == {}

    retry = store.begin(SCOPE, "key-fail", FINGERPRINT)
    assert retry.acquired
    store.complete(retry, *CREATED)
    replay = store.begin(SCOPE, "key-fail", FINGERPRINT).replay
    assert replay is not None
    assert replay.status == 201


def test_an_in_progress_record_past_its_expiry_is_taken_over(firestore_client: Any) -> None:
    crashed = _store(firestore_client, in_progress_ttl_seconds=30)
    abandoned = crashed.begin(SCOPE, "key-crash", FINGERPRINT)
    # The same request, after the first holder's lock has expired.
    successor = _store(firestore_client, clock=_later(timedelta(seconds=31)))

    takeover = successor.begin(SCOPE, "key-crash", FINGERPRINT)

    assert takeover.acquired
    assert takeover.owner != abandoned.owner
    # The presumed-dead holder finishing late must not overwrite the new execution.
    crashed.complete(abandoned, 200, b"late", {})
    crashed.release(abandoned)
    assert _record(firestore_client, "key-crash")["owner"] == takeover.owner
    successor.complete(takeover, *CREATED)
    replay = successor.begin(SCOPE, "key-crash", FINGERPRINT).replay
    assert replay is not None
    assert replay.body == CREATED[1]


def test_an_in_progress_record_before_its_expiry_is_not_taken_over(firestore_client: Any) -> None:
    first = _store(firestore_client, in_progress_ttl_seconds=30)
    first.begin(SCOPE, "key-live", FINGERPRINT)
    soon = _store(firestore_client, clock=_later(timedelta(seconds=20)), wait_seconds=0.0)
    with pytest.raises(errors.ConflictError):
        soon.begin(SCOPE, "key-live", FINGERPRINT)


def test_a_key_whose_replay_window_closed_executes_again(firestore_client: Any) -> None:
    store = _store(firestore_client, ttl_seconds=3600)
    store.complete(store.begin(SCOPE, "key-old", FINGERPRINT), *CREATED)
    # TTL deletion is late in the cloud and absent on the emulator: expiry is read, not assumed.
    next_day = _store(firestore_client, clock=_later(timedelta(seconds=3601)))
    other_body = request_fingerprint("POST", "/v1/payments", b'{"amount":"1.00","currency":"EUR"}')

    claim = next_day.begin(SCOPE, "key-old", other_body)

    assert claim.acquired
    record = _record(firestore_client, "key-old")
    assert record["status"] == "in_progress"
    assert "response_body" not in record


def test_a_response_too_large_to_store_is_never_executed_twice(firestore_client: Any) -> None:
    store = _store(firestore_client)
    claim = store.begin(SCOPE, "key-big", FINGERPRINT)
    store.complete(claim, 200, b"x" * (1024 * 1024), {})

    with pytest.raises(errors.ConflictError) as caught:
        store.begin(SCOPE, "key-big", FINGERPRINT)
    assert caught.value.code == "idempotency_response_unavailable"


def test_an_invalid_key_is_rejected_before_touching_firestore(firestore_client: Any) -> None:
    store = _store(firestore_client)
    with pytest.raises(errors.ValidationError) as caught:
        store.begin(SCOPE, "k\u00e9y", FINGERPRINT)
    assert caught.value.errors[0].field == "Idempotency-Key"
    assert list(firestore_client.collection(IDEMPOTENCY_COLLECTION).stream()) == []


def test_a_replay_claim_cannot_be_completed(firestore_client: Any) -> None:
    store = _store(firestore_client)
    store.complete(store.begin(SCOPE, "key-done", FINGERPRINT), *CREATED)
    replay = store.begin(SCOPE, "key-done", FINGERPRINT)
    with pytest.raises(ValueError, match="acquired"):
        store.complete(replay, 200, b"", {})
