"""Seeding a tenant's catalog retries contention through ``retry_call``, in memory."""

from __future__ import annotations

import pytest
from google.api_core.exceptions import Aborted, PermissionDenied
from google.cloud import firestore

from shared import resilience
from shared.errors import ContentionError
from shared.tax import store
from tests.unit import firestore_memory
from tests.unit.firestore_memory import MemoryFirestore

TENANT = "tenant-a"


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> MemoryFirestore:
    monkeypatch.setattr(firestore, "transactional", firestore_memory.transactional)
    return MemoryFirestore()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(resilience.SystemClock, "sleep", lambda _self, s: taken.append(s))
    return taken


def _meta_path() -> str:
    return str(store.meta_reference(MemoryFirestore(), TENANT).path)


def _catalog_documents(db: MemoryFirestore) -> list[str]:
    prefix = store.catalog_collection(db, TENANT).path + "/"
    return [path for path in db.documents if path.startswith(prefix)]


def test_contention_is_retried_with_the_seed_backoff_and_then_seeds(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    db.fail_commits = [Aborted("lock wait timed out"), Aborted("lock wait timed out")]

    assert store.ensure_seeded(db, TENANT) is True

    assert db.commits == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2
    assert _meta_path() in db.documents
    assert len(_catalog_documents(db)) == len(store.seed_jurisdictions())


def test_contention_on_every_attempt_gives_up_after_four_with_nothing_written(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    # The client library wraps its last ABORTED in a ValueError when it gives up.
    exhausted = ValueError("transaction failed")
    exhausted.__cause__ = Aborted("too much contention")
    db.fail_commits = [Aborted("busy"), Aborted("busy"), Aborted("busy"), exhausted]

    with pytest.raises(ContentionError) as raised:
        store.ensure_seeded(db, TENANT)

    assert raised.value.__cause__ is exhausted
    assert db.commits == store.SEED_RETRY.max_attempts == 4
    assert len(sleeps) == 3
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(sleeps, [0.1, 0.2, 0.4], strict=True))
    assert db.documents == {}


def test_contention_while_another_instance_seeds_stops_without_a_retry(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    def other_instance_seeds() -> None:
        db.documents[_meta_path()] = {"version": 1}

    db.before_failing = other_instance_seeds
    db.fail_commits = [Aborted("lock wait timed out")]

    assert store.ensure_seeded(db, TENANT) is False

    assert db.commits == 1
    assert sleeps == []
    assert _catalog_documents(db) == []


def test_an_error_that_is_not_contention_is_raised_at_once(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    denied = PermissionDenied("no access")
    db.fail_commits = [denied]

    with pytest.raises(PermissionDenied) as raised:
        store.ensure_seeded(db, TENANT)

    assert raised.value is denied
    assert db.commits == 1
    assert sleeps == []
    assert db.documents == {}


def test_a_seeded_tenant_is_left_alone(db: MemoryFirestore, sleeps: list[float]) -> None:
    db.documents[_meta_path()] = {"version": 3}

    assert store.ensure_seeded(db, TENANT) is False

    assert db.commits == 0
    assert db.documents == {_meta_path(): {"version": 3}}
