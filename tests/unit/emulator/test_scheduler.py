"""The local scheduler: what a tick carries and when ticks are published."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import orjson
import pytest

from emulator.scheduler import ScheduleClock, ScheduledTopic, run, scheduled_topics, tick_message
from shared.events.envelope import EventEnvelope
from shared.topology import load_manifest
from tests.unit.emulator.support import make_manifest

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_only_topics_with_a_schedule_are_ticked() -> None:
    assert scheduled_topics(make_manifest()) == [ScheduledTopic("tick-schedule", "* * * * *")]


def test_a_tick_is_the_constant_envelope_the_cloud_scheduler_job_publishes() -> None:
    data, attributes = tick_message("expire-holds-schedule")
    envelope = EventEnvelope.from_bytes(data)
    assert (envelope.type, envelope.source) == ("schedule.tick", "cloud-scheduler")
    assert (envelope.id, envelope.correlation_id) == ("cloud-scheduler:expire-holds-schedule",) * 2
    assert envelope.subject == "expire-holds-schedule"
    assert (envelope.tenant_id, envelope.schema_version) == ("*", 1)
    assert envelope.data == {"topic": "expire-holds-schedule"}
    assert attributes == {
        "type": "schedule.tick",
        "correlation_id": "cloud-scheduler:expire-holds-schedule",
        "tenant_id": "*",
        "schema_version": "1",
    }
    # The job sends the same bytes every run; consumers take identity from the message.
    assert tick_message("expire-holds-schedule")[0] == data
    assert set(orjson.loads(data)) >= {"id", "time", "data"}


@pytest.mark.parametrize(
    ("cron", "zone", "after", "expected"),
    [
        ("*/5 * * * *", "Etc/UTC", "2026-01-02T03:04:05+00:00", "2026-01-02T03:05:00+00:00"),
        ("0 * * * *", "Etc/UTC", "2026-01-02T03:00:00+00:00", "2026-01-02T04:00:00+00:00"),
        # 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
        ("0 2 * * *", "Europe/Berlin", "2026-01-10T12:00:00+00:00", "2026-01-11T01:00:00+00:00"),
        ("0 2 * * *", "Europe/Berlin", "2026-07-10T12:00:00+00:00", "2026-07-11T00:00:00+00:00"),
    ],
)
def test_the_next_tick_follows_the_cron_in_its_time_zone(
    cron: str, zone: str, after: str, expected: str
) -> None:
    topic = ScheduledTopic("t", cron, zone)
    assert topic.next_after(datetime.fromisoformat(after)) == datetime.fromisoformat(expected)


def test_every_cron_of_the_manifest_is_one_the_scheduler_understands() -> None:
    for topic in scheduled_topics(load_manifest()):
        assert topic.next_after(START) > START


class FakeTime:
    """Monotonic seconds that only move when the scheduler waits."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class StopAfter(threading.Event):
    """An Event whose wait() advances the fake time and stops after enough publishes."""

    def __init__(self, time: FakeTime, publishes: list[tuple[float, str]], limit: int) -> None:
        super().__init__()
        self.time = time
        self.publishes = publishes
        self.limit = limit

    def wait(self, timeout: float | None = None) -> bool:
        if len(self.publishes) >= self.limit:
            return True
        self.time.seconds += timeout or 0.0
        return False


def _clock(time: FakeTime, speedup: float = 1.0) -> ScheduleClock:
    return ScheduleClock(speedup, wall=lambda: START, monotonic=time)


def test_topics_tick_at_their_cron_times() -> None:
    time = FakeTime()
    publishes: list[tuple[float, str]] = []
    stop = StopAfter(time, publishes, limit=5)

    def publish(topic: str, data: bytes, attributes: dict[str, str]) -> str:
        publishes.append((round(time.seconds, 6), topic))
        return str(len(publishes))

    topics = [ScheduledTopic("minutely", "* * * * *"), ScheduledTopic("five", "*/5 * * * *")]
    run(topics, publish, stop, _clock(time))
    # START is 03:04:05: the next minute is 55 s away, and 03:05 is also a five-minute mark.
    assert publishes == [
        (55.0, "minutely"),
        (55.0, "five"),
        (115.0, "minutely"),
        (175.0, "minutely"),
        (235.0, "minutely"),
    ]


def test_a_speedup_runs_the_schedule_faster() -> None:
    time = FakeTime()
    publishes: list[tuple[float, str]] = []
    stop = StopAfter(time, publishes, limit=3)

    def publish(topic: str, data: bytes, attributes: dict[str, str]) -> str:
        publishes.append((round(time.seconds, 6), topic))
        return "1"

    run([ScheduledTopic("hourly", "0 * * * *")], publish, stop, _clock(time, speedup=60))
    # 55:55 of schedule time to 04:00, then an hour each: a minute of real time each.
    assert publishes == [(55.916667, "hourly"), (115.916667, "hourly"), (175.916667, "hourly")]


def test_a_failed_publish_does_not_stop_the_schedule() -> None:
    time = FakeTime()
    attempts: list[tuple[float, str]] = []
    stop = StopAfter(time, attempts, limit=3)

    def publish(topic: str, data: bytes, attributes: dict[str, str]) -> str:
        attempts.append((round(time.seconds, 6), topic))
        if len(attempts) == 1:
            raise ConnectionError("emulator restarting")
        return "1"

    run([ScheduledTopic("t-one", "* * * * *")], publish, stop, _clock(time))
    assert attempts == [(55.0, "t-one"), (115.0, "t-one"), (175.0, "t-one")]


def test_a_speedup_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ScheduleClock(0)
