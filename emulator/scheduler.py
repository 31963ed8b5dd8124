"""Cloud Scheduler, locally: a tick on each scheduled topic at the times its cron names.

Each topic with a ``schedule`` in the manifest gets ticks at the times its ``cron``
gives in its ``time_zone``, evaluated by croniter, as the Cloud Scheduler job that
Terraform makes from the same entry fires. A speed-up factor (``up --schedule-speedup``)
runs the scheduler's clock faster, so an hourly job can be watched in minutes;
``python -m emulator tick TOPIC`` fires one tick now.

A tick carries exactly the bytes and attributes the Cloud Scheduler job publishes
(:func:`tick_message`; a test compares it with ``infra/scheduler.tf``): a constant
envelope, because the job sends the same payload on every run. Consumers take the
Pub/Sub message id and publish time as each tick's identity and time.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from emulator.pubsub_setup import PubSubRest
from shared.topology import Manifest

TICK_TYPE = "schedule.tick"
TICK_SOURCE = "cloud-scheduler"
ALL_TENANTS = "*"
STARTED_EVENT = "scheduler.started"
# The job's payload never changes, so its envelope time is a constant too.
_TICK_TIME = "1970-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class ScheduledTopic:
    topic: str
    cron: str
    time_zone: str = "Etc/UTC"

    def next_after(self, moment: datetime) -> datetime:
        """The first time after ``moment`` this schedule fires, in UTC."""
        from croniter import croniter

        local = moment.astimezone(ZoneInfo(self.time_zone))
        following: datetime = croniter(self.cron, local).get_next(datetime)
        return following.astimezone(UTC)


def scheduled_topics(manifest: Manifest) -> list[ScheduledTopic]:
    return [
        ScheduledTopic(t.name, t.schedule.cron, t.schedule.time_zone)
        for t in manifest.topics
        if t.schedule is not None
    ]


def tick_message(topic: str) -> tuple[bytes, dict[str, str]]:
    """The data and attributes the Cloud Scheduler job of ``topic`` publishes."""
    correlation_id = f"{TICK_SOURCE}:{topic}"
    envelope = {
        "id": correlation_id,
        "type": TICK_TYPE,
        "source": TICK_SOURCE,
        "subject": topic,
        "time": _TICK_TIME,
        "tenant_id": ALL_TENANTS,
        "correlation_id": correlation_id,
        "schema_version": 1,
        "data": {"topic": topic},
    }
    attributes = {
        "type": TICK_TYPE,
        "correlation_id": correlation_id,
        "tenant_id": ALL_TENANTS,
        "schema_version": "1",
    }
    return json.dumps(envelope, separators=(",", ":")).encode(), attributes


def log(message: str, severity: str = "INFO", **fields: object) -> None:
    """One line in Cloud Logging's JSON shape, as the functions write theirs."""
    line = {
        "severity": severity,
        "message": message,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **fields,
        "logging.googleapis.com/labels": {"component": "scheduler"},
    }
    sys.stdout.write(json.dumps(line, default=_text) + "\n")
    sys.stdout.flush()


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class ScheduleClock:
    """Wall time that runs ``speedup`` times faster than real time from its start."""

    def __init__(
        self,
        speedup: float = 1.0,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speedup <= 0:
            raise ValueError("the schedule speed-up must be positive")
        self.speedup = speedup
        self._start_wall = wall()
        self._start = monotonic()
        self._monotonic = monotonic

    def now(self) -> datetime:
        elapsed = (self._monotonic() - self._start) * self.speedup
        return self._start_wall + timedelta(seconds=elapsed)

    def real_seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self.now()).total_seconds() / self.speedup)


def run(
    topics: list[ScheduledTopic],
    publish: Callable[[str, bytes, dict[str, str]], str],
    stop: threading.Event,
    clock: ScheduleClock,
) -> None:
    """Publish each topic's ticks until ``stop`` is set; a failed publish waits for the next."""
    due = {t.topic: t.next_after(clock.now()) for t in topics}
    schedules = {t.topic: t for t in topics}
    while due and not stop.is_set():
        topic = min(due, key=due.__getitem__)
        if stop.wait(clock.real_seconds_until(due[topic])):
            return
        data, attributes = tick_message(topic)
        try:
            message_id = publish(topic, data, attributes)
        except Exception as exc:  # the emulator may be restarting: keep ticking
            log("scheduler.publish_failed", "WARNING", topic=topic, error=str(exc))
        else:
            log("scheduler.tick", topic=topic, message_id=message_id, scheduled_for=due[topic])
        # From the time it was due, or from now after a stall: missed ticks are skipped
        # (Cloud Scheduler does not catch up either), never published in a burst.
        due[topic] = schedules[topic].next_after(max(due[topic], clock.now()))


def serve(manifest: Manifest, pubsub_address: str, project_id: str, speedup: float) -> None:
    topics = scheduled_topics(manifest)
    client = PubSubRest(pubsub_address, project_id)
    clock = ScheduleClock(speedup)
    log(
        STARTED_EVENT,
        speedup=speedup,
        topics={t.topic: {"cron": t.cron, "time_zone": t.time_zone} for t in topics},
        next_ticks={t.topic: t.next_after(clock.now()) for t in topics},
    )
    run(topics, client.publish, threading.Event(), clock)


def fire(manifest: Manifest, topic: str, pubsub_address: str, project_id: str) -> str:
    """Publish one tick to ``topic`` now (``python -m emulator tick``); its message id."""
    names = [t.topic for t in scheduled_topics(manifest)]
    if topic not in names:
        raise ValueError(f"{topic!r} has no schedule in the manifest; scheduled: {names}")
    data, attributes = tick_message(topic)
    return PubSubRest(pubsub_address, project_id).publish(topic, data, attributes)
