"""``retry_call`` on tenacity keeps its contract: log line, draws, errors as they are."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shared import resilience
from shared.resilience import RetryPolicy, retry_call


class RecordingClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


class Busy(Exception):
    pass


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recorder = RecordingLog()
    monkeypatch.setattr(resilience, "_log", recorder)
    return recorder


def _failing(times: int) -> Any:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise Busy(f"busy {len(calls)}")
        return "done"

    call.calls = calls  # type: ignore[attr-defined]
    return call


def test_each_retry_logs_the_call_attempt_wait_and_error(log: RecordingLog) -> None:
    clock = RecordingClock()
    policy = RetryPolicy(max_attempts=3, base_delay_seconds=0.5, max_delay_seconds=1.0)

    result = retry_call(
        _failing(2),
        policy=policy,
        is_retryable=lambda exc: isinstance(exc, Busy),
        clock=clock,
        rng=random.Random(5),
        name="ledger.post",
    )

    assert result == "done"
    assert log.lines == [
        (
            "resilience.retrying",
            {
                "call": "ledger.post",
                "attempt": attempt,
                "max_attempts": 3,
                "wait_seconds": round(wait, 3),
                "error": "Busy",
            },
        )
        for attempt, wait in enumerate(clock.sleeps, start=1)
    ]
    assert len(log.lines) == 2


def test_no_jitter_is_drawn_once_the_attempts_are_spent(log: RecordingLog) -> None:
    rng = random.Random(9)
    policy = RetryPolicy(max_attempts=4, base_delay_seconds=0.1, max_delay_seconds=1.0)

    with pytest.raises(Busy):
        retry_call(
            _failing(10),
            policy=policy,
            is_retryable=lambda exc: isinstance(exc, Busy),
            clock=RecordingClock(),
            rng=rng,
        )

    replay = random.Random(9)
    for retry_index in range(3):
        policy.delay(retry_index, replay)
    assert rng.random() == replay.random()


def test_the_error_raised_is_the_callers_own_object_not_a_wrapper(log: RecordingLog) -> None:
    call = _failing(10)
    with pytest.raises(Busy) as raised:
        retry_call(
            call,
            policy=RetryPolicy(max_attempts=2, base_delay_seconds=0.0, max_delay_seconds=0.0),
            is_retryable=lambda exc: isinstance(exc, Busy),
            clock=RecordingClock(),
        )
    assert type(raised.value) is Busy
    assert str(raised.value) == "busy 2"
    assert len(call.calls) == 2


def test_an_interrupt_is_never_retried_even_when_the_predicate_would(log: RecordingLog) -> None:
    clock = RecordingClock()
    calls: list[int] = []

    def interrupted() -> None:
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retry_call(
            interrupted,
            policy=RetryPolicy(max_attempts=5),
            is_retryable=lambda _exc: True,
            clock=clock,
        )
    assert calls == [1]
    assert clock.sleeps == []
    assert log.lines == []


def test_a_single_attempt_policy_calls_once_and_never_sleeps(log: RecordingLog) -> None:
    clock = RecordingClock()
    call = _failing(1)
    with pytest.raises(Busy):
        retry_call(
            call,
            policy=RetryPolicy(max_attempts=1),
            is_retryable=lambda exc: isinstance(exc, Busy),
            clock=clock,
        )
    assert len(call.calls) == 1
    assert clock.sleeps == []
