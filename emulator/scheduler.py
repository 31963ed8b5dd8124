"""Cloud Scheduler, locally: publish a tick to each scheduled topic on an interval.

The cron expression is not evaluated; each scheduled topic declares
``local_interval_seconds`` in the manifest. The first tick comes one interval
after start, as it would after a deploy. What a tick carries is decided by
:func:`tick_message` alone, so changing the payload touches one function.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.pubsub_setup import PubSubRest
from shared.events.envelope import new_event
from shared.topology import Manifest

SCHEDULER_SOURCE = "emulator/scheduler"
TICK_TYPE = "schedule.tick"
ALL_TENANTS = "*"
STARTED_EVENT = "scheduler.started"


@dataclass(frozen=True, slots=True)
class ScheduledTopic:
    topic: str
    interval_seconds: int


def scheduled_topics(manifest: Manifest) -> list[ScheduledTopic]:
    return [
        ScheduledTopic(t.name, t.schedule.local_interval_seconds)
        for t in manifest.topics
        if t.schedule is not None
    ]


def tick_message(topic: str, now: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """The data and attributes Cloud Scheduler publishes: one event envelope."""
    envelope = new_event(
        TICK_TYPE,
        source=SCHEDULER_SOURCE,
        subject=topic,
        tenant_id=ALL_TENANTS,
        data={"topic": topic},
        # Each tick starts its own chain of work: never inherit a caller's correlation id.
        correlation_id=str(uuid.uuid4()),
        time=now or datetime.now(UTC),
    )
    return envelope.to_bytes(), envelope.attributes()


def _log(event: str, **fields: object) -> None:
    line = {"time": datetime.now(UTC).isoformat(), "event": event, **fields}
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


def run(
    topics: list[ScheduledTopic],
    publish: Callable[[str, bytes, dict[str, str]], str],
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Publish each topic's ticks until ``stop`` is set; a failed publish waits for the next."""
    due = {t.topic: clock() + t.interval_seconds for t in topics}
    intervals = {t.topic: t.interval_seconds for t in topics}
    while due and not stop.is_set():
        topic = min(due, key=due.__getitem__)
        if stop.wait(max(0.0, due[topic] - clock())):
            return
        data, attributes = tick_message(topic)
        try:
            message_id = publish(topic, data, attributes)
        except Exception as exc:  # the emulator may be restarting: keep ticking
            _log("scheduler.publish_failed", topic=topic, error=str(exc))
        else:
            _log("scheduler.tick", topic=topic, message_id=message_id)
        due[topic] += intervals[topic]
        if due[topic] < clock():  # after a long stall, skip missed ticks instead of bursting
            due[topic] = clock() + intervals[topic]


def serve(manifest: Manifest, pubsub_address: str, project_id: str) -> None:
    topics = scheduled_topics(manifest)
    client = PubSubRest(pubsub_address, project_id)
    _log(STARTED_EVENT, topics={t.topic: t.interval_seconds for t in topics})
    run(topics, client.publish, threading.Event())
