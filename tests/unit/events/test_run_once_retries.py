"""``run_once`` retries an aborted transaction through ``retry_call``, in memory."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core.exceptions import Aborted, AlreadyExists, DeadlineExceeded
from google.cloud import firestore

from shared import resilience
from shared.events.envelope import new_event
from shared.events.event_context import ABORTED_RETRY, EventContext
from shared.events.push import PushedMessage
from shared.events.screening import ConsumerSpec
from tests.unit import firestore_memory
from tests.unit.firestore_memory import MemoryFirestore

SPEC = ConsumerSpec(name="balance_projector", accepts={"ledger.entry_posted": frozenset({1})})


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


def _context(db: MemoryFirestore) -> EventContext:
    envelope = new_event(
        "ledger.entry_posted",
        source="ledger",
        subject="accounts/acc-1",
        tenant_id="tenant-a",
        data={"account_id": "acc-1", "amount": "10.00", "currency": "EUR"},
        correlation_id="corr-1",
    )
    message = PushedMessage(
        topic="ledger-events",
        message_id="m-1",
        data=envelope.to_bytes(),
        attributes={},
        publish_time=None,
    )
    return EventContext(SPEC, envelope, message, lambda: db)  # type: ignore[arg-type,return-value]


def _effect(runs: list[int]) -> Any:
    def effect(transaction: Any) -> str:
        runs.append(1)
        return "applied"

    return effect


def test_an_aborted_round_is_retried_and_the_effect_commits_once(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    db.fail_commits = [Aborted("lock wait timed out"), Aborted("lock wait timed out")]
    context, runs = _context(db), list[int]()

    assert context.run_once(_effect(runs)) == "applied"

    assert (context.processed, context.duplicate) == (True, False)
    assert len(runs) == db.commits == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.2 and 0 <= sleeps[1] <= 0.4
    assert [path.split("/")[0] for path in db.documents] == ["processed_events"]
    # Each round opens its own transaction with the consumer's attempt budget.
    assert db.transaction_options == [{"max_attempts": SPEC.transaction_attempts}] * 3


def test_aborted_rounds_are_bounded_and_the_last_abort_is_raised(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    last = Aborted("still locked")
    db.fail_commits = [Aborted("locked"), Aborted("locked"), last]
    context = _context(db)

    with pytest.raises(Aborted) as raised:
        context.run_once(_effect([]))

    assert raised.value is last
    assert db.commits == ABORTED_RETRY.max_attempts == 3
    assert len(sleeps) == 2
    assert db.documents == {}
    assert context.processed is False


def test_other_transient_errors_are_left_to_the_redelivery(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    db.fail_commits = [DeadlineExceeded("slow")]

    with pytest.raises(DeadlineExceeded):
        _context(db).run_once(_effect([]))

    assert db.commits == 1
    assert sleeps == []
    assert db.documents == {}


def test_a_record_committed_by_a_concurrent_delivery_makes_this_one_a_duplicate(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    context = _context(db)

    def other_delivery_commits() -> None:
        db.documents[context.processed_ref.path] = {
            "tenant_id": "tenant-a",
            "event_type": "ledger.entry_posted",
        }

    db.before_failing = other_delivery_commits
    db.fail_commits = [AlreadyExists("processed record exists")]

    assert context.run_once(_effect([])) is None

    assert (context.processed, context.duplicate) == (True, True)
    assert db.commits == 1
    assert sleeps == []


def test_an_already_exists_from_the_effect_itself_is_its_error(
    db: MemoryFirestore, sleeps: list[float]
) -> None:
    clash = AlreadyExists("the effect's own document exists")
    db.fail_commits = [clash]
    context = _context(db)

    with pytest.raises(AlreadyExists) as raised:
        context.run_once(_effect([]))

    assert raised.value is clash
    assert db.commits == 1
    assert sleeps == []
    assert db.documents == {}
