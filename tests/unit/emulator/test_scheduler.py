"""The local scheduler: what a tick carries and when ticks are published."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import orjson

from emulator.scheduler import ScheduledTopic, run, scheduled_topics, tick_message
from shared.events.envelope import EventEnvelope
from tests.unit.emulator.support import make_manifest


def test_only_topics_with_a_schedule_are_ticked() -> None:
    assert scheduled_topics(make_manifest()) == [ScheduledTopic("tick-schedule", 7)]


def test_a_tick_is_an_event_envelope() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data, attributes = tick_message("expire-holds-schedule", now)
    raw = orjson.loads(data)
    assert set(raw) == {
        "id",
        "type",
        "source",
        "subject",
        "time",
        "tenant_id",
        "correlation_id",
        "schema_version",
        "data",
    }
    envelope = EventEnvelope.from_bytes(data)
    assert envelope.type == "schedule.tick"
    assert envelope.source == "emulator/scheduler"
    assert envelope.subject == "expire-holds-schedule"
    assert envelope.tenant_id == "*"
    assert envelope.schema_version == 1
    assert envelope.time == now
    assert envelope.data == {"topic": "expire-holds-schedule"}
    assert attributes["type"] == "schedule.tick"
    assert attributes["correlation_id"] == envelope.correlation_id


def test_each_tick_has_its_own_ids() -> None:
    first, _ = tick_message("t-one")
    second, _ = tick_message("t-one")
    assert orjson.loads(first)["id"] != orjson.loads(second)["id"]
    assert orjson.loads(first)["correlation_id"] != orjson.loads(second)["correlation_id"]


class FakeClock:
    """Time that only moves when the scheduler waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StopAfter(threading.Event):
    """An Event whose wait() advances the fake clock and stops after enough publishes."""

    def __init__(self, clock: FakeClock, publishes: list[tuple[float, str]], limit: int) -> None:
        super().__init__()
        self.clock = clock
        self.publishes = publishes
        self.limit = limit

    def wait(self, timeout: float | None = None) -> bool:
        if len(self.publishes) >= self.limit:
            return True
        self.clock.now += timeout or 0.0
        return False


def test_topics_tick_on_their_own_intervals_starting_one_interval_in() -> None:
    clock = FakeClock()
    publishes: list[tuple[float, str]] = []
    stop = StopAfter(clock, publishes, limit=7)

    def publish(topic: str, data: bytes, attributes: dict[str, str]) -> str:
        publishes.append((clock.now, topic))
        return str(len(publishes))

    run([ScheduledTopic("fast", 5), ScheduledTopic("slow", 12)], publish, stop, clock)
    assert publishes == [
        (5.0, "fast"),
        (10.0, "fast"),
        (12.0, "slow"),
        (15.0, "fast"),
        (20.0, "fast"),
        (24.0, "slow"),
        (25.0, "fast"),
    ]


def test_a_failed_publish_does_not_stop_the_schedule() -> None:
    clock = FakeClock()
    attempts: list[tuple[float, str]] = []
    stop = StopAfter(clock, attempts, limit=3)

    def publish(topic: str, data: bytes, attributes: dict[str, str]) -> str:
        attempts.append((clock.now, topic))
        if len(attempts) == 1:
            raise ConnectionError("emulator restarting")
        return "1"

    run([ScheduledTopic("t-one", 5)], publish, stop, clock)
    assert attempts == [(5.0, "t-one"), (10.0, "t-one"), (15.0, "t-one")]
