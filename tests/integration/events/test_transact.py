"""One commit path: a change and its events commit together; only what committed is published."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from google.api_core.exceptions import Aborted, FailedPrecondition

from shared.errors import ConflictError, ContentionError
from shared.events.envelope import new_event
from shared.events.outbox import OUTBOX_COLLECTION, STATUS_PENDING, StagedEvent, add_to_outbox
from shared.events.transact import commit_in_transaction, settle, transact
from shared.resilience import RetryPolicy

QUICK = RetryPolicy(max_attempts=3, base_delay_seconds=0.0, max_delay_seconds=0.0)


class Recorder:
    """A publisher that keeps what it was handed."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    def __call__(self, db: Any, staged: Sequence[StagedEvent]) -> None:
        self.batches.append([event.envelope.id for event in staged])
        if self.fail:
            raise RuntimeError("pubsub is down")


def _event(n: int) -> Any:
    return new_event(
        "thing.changed", source="tests", subject=f"things/{n}", tenant_id="t1", data={"n": n}
    )


def _outbox(db: Any) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() or {} for s in db.collection(OUTBOX_COLLECTION).stream()}


def test_only_the_committed_attempts_events_are_published(platform: Any) -> None:
    ref = platform.collection("things").document("a")
    recorder = Recorder()
    made: list[str] = []

    def decide(transaction: Any) -> int:
        ref.get(transaction=transaction)
        event = _event(len(made))
        made.append(event.id)
        add_to_outbox(transaction, platform, "things", event)
        transaction.set(ref, {"n": len(made)})
        if len(made) == 1:
            raise Aborted("lost the first attempt")
        return len(made)

    assert transact(platform, decide, name="things.change", publisher=recorder, retry=QUICK) == 2
    assert recorder.batches == [[made[1]]]
    assert set(_outbox(platform)) == {made[1]}
    assert ref.get().to_dict() == {"n": 2}


def test_contention_outlasting_the_retries_is_a_503_that_wrote_nothing(platform: Any) -> None:
    ref = platform.collection("things").document("b")
    recorder = Recorder()

    def decide(transaction: Any) -> None:
        add_to_outbox(transaction, platform, "things", _event(1))
        transaction.set(ref, {"n": 1})
        raise Aborted("always busy")

    with pytest.raises(ContentionError) as raised:
        transact(platform, decide, name="things.busy", publisher=recorder, retry=QUICK, busy="x")
    assert raised.value.status == 503
    assert raised.value.code == "contention"
    assert raised.value.headers == {"Retry-After": "1"}
    assert raised.value.detail == "x"
    assert recorder.batches == []
    assert not ref.get().exists
    assert _outbox(platform) == {}


def test_a_refusal_is_raised_as_it_is_and_writes_nothing(platform: Any) -> None:
    ref = platform.collection("things").document("c")
    calls: list[int] = []

    def decide(transaction: Any) -> None:
        calls.append(1)
        add_to_outbox(transaction, platform, "things", _event(1))
        transaction.set(ref, {"n": 1})
        raise ConflictError("no", code="thing_refused")

    with pytest.raises(ConflictError):
        transact(platform, decide, name="things.refused", publisher=Recorder(), retry=QUICK)
    assert calls == [1]
    assert not ref.get().exists
    assert _outbox(platform) == {}


def test_a_failed_publish_leaves_the_committed_events_to_the_relay(platform: Any) -> None:
    ref = platform.collection("things").document("d")
    event = _event(1)

    def decide(transaction: Any) -> str:
        add_to_outbox(transaction, platform, "things", event)
        transaction.set(ref, {"n": 1})
        return "done"

    assert transact(platform, decide, name="things.x", publisher=Recorder(fail=True)) == "done"
    assert _outbox(platform)[event.id]["status"] == STATUS_PENDING


def test_settle_decides_again_after_a_lost_round_and_publishes_the_winning_one(
    platform: Any,
) -> None:
    ref = platform.collection("things").document("e")
    ref.set({"n": 0})
    recorder = Recorder()
    rounds: list[str] = []

    def decide_and_commit() -> int:
        snapshot = ref.get()
        current = int((snapshot.to_dict() or {})["n"])
        if not rounds:
            # A concurrent writer commits between this round's read and its commit.
            ref.set({"n": current + 10})
        event = _event(current)
        rounds.append(event.id)
        batch = platform.batch()
        batch.update(
            ref,
            {"n": current + 1},
            option=platform.write_option(last_update_time=snapshot.update_time),
        )
        add_to_outbox(batch, platform, "things", event)
        batch.commit()
        return current + 1

    assert settle(platform, decide_and_commit, name="things.settle", publisher=recorder) == 11
    assert len(rounds) == 2
    assert recorder.batches == [[rounds[1]]]
    assert set(_outbox(platform)) == {rounds[1]}


def test_settle_gives_up_with_a_503_after_its_rounds(platform: Any) -> None:
    recorder = Recorder()

    def lost() -> None:
        raise FailedPrecondition("someone else won")

    with pytest.raises(ContentionError):
        settle(platform, lost, name="things.lost", rounds=3, publisher=recorder)
    assert recorder.batches == []


def test_a_transaction_inside_settle_hands_its_events_up_to_be_published_once(
    platform: Any,
) -> None:
    ref = platform.collection("things").document("f")
    recorder = Recorder()
    event = _event(1)

    def decide(transaction: Any) -> str:
        add_to_outbox(transaction, platform, "things", event)
        transaction.set(ref, {"n": 1})
        return "inner"

    def decide_and_commit() -> str:
        committed = commit_in_transaction(platform, decide, name="things.inner")
        assert [staged.envelope.id for staged in committed.staged] == [event.id]
        return committed.result

    assert settle(platform, decide_and_commit, name="things.outer", publisher=recorder) == "inner"
    assert recorder.batches == [[event.id]]
