"""The in-process per-aggregate lock: turns per key, independence across keys, no leak."""

from __future__ import annotations

import threading

import pytest

from shared.ledger.aggregate_locks import AggregateLocks


def test_holders_of_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    locks = AggregateLocks(wait_seconds=5.0)
    inside = 0
    most_inside = 0
    counter = threading.Lock()
    other_key_entered = threading.Event()
    release = threading.Event()

    def hold(key: str) -> None:
        nonlocal inside, most_inside
        with locks.held(key) as acquired:
            assert acquired
            if key == "other":
                other_key_entered.set()
                return
            with counter:
                inside += 1
                most_inside = max(most_inside, inside)
            release.wait(timeout=5)
            with counter:
                inside -= 1

    same = [threading.Thread(target=hold, args=("entry-1",)) for _ in range(4)]
    for thread in same:
        thread.start()
    other = threading.Thread(target=hold, args=("other",))
    other.start()

    assert other_key_entered.wait(timeout=5), "another key waited for entry-1's holder"
    release.set()
    for thread in [*same, other]:
        thread.join(timeout=10)
    assert most_inside == 1
    assert len(locks) == 0


def test_a_caller_that_waits_too_long_proceeds_without_the_lock() -> None:
    locks = AggregateLocks(wait_seconds=0.01)
    outcomes: list[bool] = []

    def wait() -> None:
        with locks.held("entry-1") as acquired:
            outcomes.append(acquired)

    with locks.held("entry-1") as first:
        waiter = threading.Thread(target=wait)
        waiter.start()
        waiter.join(timeout=5)
    assert first is True
    assert outcomes == [False]
    assert len(locks) == 0


def test_a_failing_block_releases_the_lock() -> None:
    locks = AggregateLocks()
    with pytest.raises(RuntimeError), locks.held("entry-1"):
        raise RuntimeError("the use case failed")
    with locks.held("entry-1") as acquired:
        assert acquired
    assert len(locks) == 0


def test_a_negative_wait_is_refused() -> None:
    with pytest.raises(ValueError):
        AggregateLocks(wait_seconds=-1)
