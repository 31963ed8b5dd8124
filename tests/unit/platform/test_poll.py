"""``poll``: doubling waits up to a cap, never past the deadline; errors are not retried."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.resilience import poll


class FakeTime:
    """Monotonic time that advances by exactly what is slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _answers(*values: str | None) -> tuple[list[int], Callable[[], str | None]]:
    calls: list[int] = []

    def call() -> str | None:
        calls.append(1)
        return values[len(calls) - 1]

    return calls, call


def test_the_first_answer_that_is_not_none_is_returned() -> None:
    clock = FakeTime()
    calls, call = _answers(None, None, None, "ready")

    result = poll(
        call,
        timeout_seconds=10.0,
        first_delay_seconds=0.1,
        max_delay_seconds=1.0,
        clock=clock,
    )

    assert result == "ready"
    assert len(calls) == 4
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])


def test_none_once_the_deadline_passed_with_the_last_wait_cut_to_it() -> None:
    clock = FakeTime()
    calls: list[int] = []

    def never() -> str | None:
        calls.append(1)
        return None

    result = poll(
        never, timeout_seconds=1.0, first_delay_seconds=0.25, max_delay_seconds=0.4, clock=clock
    )

    assert result is None
    assert clock.sleeps == pytest.approx([0.25, 0.4, 0.35])
    assert clock.now == pytest.approx(1.0)
    assert len(calls) == 4  # one call at the deadline itself


def test_an_error_is_raised_at_once_without_waiting() -> None:
    clock = FakeTime()

    def broken() -> str | None:
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        poll(
            broken, timeout_seconds=5.0, first_delay_seconds=0.1, max_delay_seconds=1.0, clock=clock
        )
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("timeout", "first", "cap"), [(-1.0, 0.1, 1.0), (1.0, -0.1, 1.0), (1.0, 2.0, 1.0)]
)
def test_impossible_schedules_are_refused(timeout: float, first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        poll(
            lambda: "x",
            timeout_seconds=timeout,
            first_delay_seconds=first,
            max_delay_seconds=cap,
            clock=FakeTime(),
        )
