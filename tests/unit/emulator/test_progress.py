"""Progress lines of ``up``: elapsed time on every line, no long silence while waiting."""

from __future__ import annotations

from emulator.progress import HEARTBEAT_SECONDS, Progress, part_name


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_carry_the_seconds_since_up_began() -> None:
    clock, lines = FakeClock(), list[str]()
    progress = Progress(lines.append, clock=clock)
    clock.now += 2.5
    progress.starting(part_name("firestore", "emulator"), "on port 8681")
    clock.now += 10.25
    progress.ready(part_name("health", "function"))
    progress.ready(part_name("gateway", "gateway"))
    assert lines == [
        "[   2.5s] firestore emulator: starting on port 8681",
        "[  12.8s] function health: ready",
        "[  12.8s] gateway: ready",
    ]


def test_waiting_speaks_only_after_a_heartbeat_of_silence() -> None:
    clock, lines = FakeClock(), list[str]()
    progress = Progress(lines.append, clock=clock)
    progress.line("started")
    clock.now += HEARTBEAT_SECONDS - 0.1
    progress.waiting(["function a"])
    assert lines == ["[   0.0s] started"]
    clock.now += 0.2
    names = [f"function f{i}" for i in range(8)]
    progress.waiting(names)
    assert lines[-1].endswith(
        "still waiting for function f0, function f1, function f2, function f3, "
        "function f4, function f5 and 2 more"
    )
    progress.waiting(names)  # just spoke: silent again
    assert len(lines) == 2


def test_during_names_the_step_before_and_after() -> None:
    clock, lines = FakeClock(), list[str]()
    progress = Progress(lines.append, clock=clock)
    with progress.during("Pub/Sub topology", "applying"):
        clock.now += 1.0
    assert lines == ["[   0.0s] Pub/Sub topology: applying", "[   1.0s] Pub/Sub topology: ready"]
