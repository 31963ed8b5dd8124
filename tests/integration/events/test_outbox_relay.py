"""The outbox relay: what a crash left unpublished is published once, even by racing relays."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from google.api_core.exceptions import PermissionDenied

from shared.clients import reset_clients
from shared.config import reset_settings
from shared.events.envelope import SCHEDULE_TICK_TYPE, EventEnvelope, new_event
from shared.events.outbox import OUTBOX_COLLECTION, add_to_outbox, relay_pending
from tests.integration.events.conftest import push_envelope
from tests.support.http import load_function


def _commit_without_publishing(db: Any, topic: str, count: int = 1) -> list[EventEnvelope]:
    """A use case whose process died right after its commit, before publishing."""
    envelopes = [
        new_event(
            "payment.requested",
            source="payments",
            subject=f"payments/p-{n}",
            tenant_id="tenant-a",
            data={"amount": "5.00", "currency": "EUR", "n": n},
        )
        for n in range(count)
    ]
    for start in range(0, count, 100):
        batch = db.batch()
        for envelope in envelopes[start : start + 100]:
            batch.set(db.collection("payments").document(envelope.subject.split("/")[1]), {})
            add_to_outbox(batch, db, topic, envelope)
        batch.commit()
    return envelopes


def _age(db: Any, envelopes: list[EventEnvelope], by: timedelta) -> None:
    for envelope in envelopes:
        db.collection(OUTBOX_COLLECTION).document(envelope.id).update(
            {"pending_since": datetime.now(UTC) - by}
        )


def test_the_relay_publishes_what_a_crash_left_pending_exactly_once(
    platform: Any, pull_topic: Any
) -> None:
    downstream = pull_topic()
    [envelope] = _commit_without_publishing(platform, downstream.topic)

    assert relay_pending(platform, older_than=timedelta(0)) == 1
    assert relay_pending(platform, older_than=timedelta(0)) == 0

    [message] = downstream.receive(expected=1)
    assert EventEnvelope.from_bytes(message.data) == envelope
    assert message.attributes["type"] == "payment.requested"
    assert message.attributes["correlation_id"] == envelope.correlation_id
    record = platform.collection(OUTBOX_COLLECTION).document(envelope.id).get().to_dict()
    assert record["status"] == "published"
    assert record["expires_at"] - record["published_at"] == timedelta(days=7)


def test_recent_records_are_left_to_the_publisher_that_staged_them(
    platform: Any, pull_topic: Any
) -> None:
    downstream = pull_topic()
    _commit_without_publishing(platform, downstream.topic)

    assert relay_pending(platform, older_than=timedelta(seconds=30)) == 0
    assert downstream.receive(expected=0, timeout=1, settle=1) == []


def test_concurrent_relays_publish_each_record_once(platform: Any, pull_topic: Any) -> None:
    downstream = pull_topic()
    envelopes = _commit_without_publishing(platform, downstream.topic, count=40)
    relays = 4
    barrier = threading.Barrier(relays)
    published: list[int] = []
    failures: list[BaseException] = []

    def relay() -> None:
        barrier.wait()
        try:
            published.append(relay_pending(platform, older_than=timedelta(0)))
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(relays)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # A relay that loses the race for a chunk (a lock wait that ran out on the emulator, an
    # abort in the cloud) leaves it and returns what it won; it never fails the tick.
    assert failures == []
    # What no relay won this time is the next tick's (the follow-up call).
    published.append(relay_pending(platform, older_than=timedelta(0)))
    assert sum(published) == 40
    received = downstream.receive(expected=40)
    ids = [orjson.loads(m.data)["id"] for m in received]
    assert sorted(ids) == sorted(e.id for e in envelopes)


def test_a_record_leased_by_a_live_relay_waits_for_the_lease_to_pass(
    platform: Any, pull_topic: Any
) -> None:
    downstream = pull_topic()
    [envelope] = _commit_without_publishing(platform, downstream.topic)
    ref = platform.collection(OUTBOX_COLLECTION).document(envelope.id)
    ref.update({"lease_until": datetime.now(UTC) + timedelta(minutes=1), "lease_owner": "other"})

    assert relay_pending(platform, older_than=timedelta(0)) == 0

    # That relay died before publishing: once its lease has passed, the record is relayed.
    ref.update({"lease_until": datetime.now(UTC) - timedelta(seconds=1)})
    assert relay_pending(platform, older_than=timedelta(0)) == 1
    assert len(downstream.receive(expected=1)) == 1


def test_the_outbox_relay_function_relays_on_each_tick(
    platform: Any, emulators: Any, pull_topic: Any, json_logs: Any
) -> None:
    downstream = pull_topic()
    pending = _commit_without_publishing(platform, downstream.topic, count=2)
    _age(platform, pending, by=timedelta(minutes=1))
    tick = new_event(
        SCHEDULE_TICK_TYPE,
        source="scheduler",
        subject="outbox-relay-schedule",
        tenant_id="*",
        data={"topic": "outbox-relay-schedule"},
    )
    handle = load_function("outbox_relay").handle

    handle(push_envelope(emulators.project_id, "outbox-relay-schedule", tick))

    assert len(downstream.receive(expected=2)) == 2
    [line] = [line for line in json_logs() if line["message"] == "outbox_relay.relayed"]
    assert line["published"] == 2
    assert line["correlation_id"] == tick.correlation_id


def test_the_outbox_relay_function_drops_a_stale_tick(
    platform: Any, emulators: Any, pull_topic: Any, json_logs: Any
) -> None:
    downstream = pull_topic()
    pending = _commit_without_publishing(platform, downstream.topic)
    _age(platform, pending, by=timedelta(minutes=1))
    stale = new_event(
        SCHEDULE_TICK_TYPE,
        source="scheduler",
        subject="outbox-relay-schedule",
        tenant_id="*",
        data={"topic": "outbox-relay-schedule"},
        time=datetime.now(UTC) - timedelta(minutes=30),
    )

    load_function("outbox_relay").handle(
        push_envelope(emulators.project_id, "outbox-relay-schedule", stale)
    )

    assert downstream.receive(expected=0, timeout=1, settle=1) == []
    assert [line["message"] for line in json_logs()] == ["event.dropped_stale"]


def _tick() -> EventEnvelope:
    return new_event(
        SCHEDULE_TICK_TYPE,
        source="scheduler",
        subject="outbox-relay-schedule",
        tenant_id="*",
        data={"topic": "outbox-relay-schedule"},
    )


def test_the_outbox_relay_function_relays_the_credentials_databases_outbox_too(
    platform: Any, credentials_client: Any, emulators: Any, pull_topic: Any, json_logs: Any
) -> None:
    # The identity use cases stage their events in the credentials database's outbox.
    downstream = pull_topic()
    [in_books] = _commit_without_publishing(platform, downstream.topic)
    [in_credentials] = _commit_without_publishing(credentials_client, downstream.topic)
    _age(platform, [in_books], by=timedelta(minutes=1))
    _age(credentials_client, [in_credentials], by=timedelta(minutes=1))
    handle = load_function("outbox_relay").handle

    handle(push_envelope(emulators.project_id, "outbox-relay-schedule", _tick()))

    received = downstream.receive(expected=2)
    assert sorted(orjson.loads(m.data)["id"] for m in received) == sorted(
        [in_books.id, in_credentials.id]
    )
    record = credentials_client.collection(OUTBOX_COLLECTION).document(in_credentials.id).get()
    assert record.get("status") == "published"
    [line] = [line for line in json_logs() if line["message"] == "outbox_relay.relayed"]
    assert (line["published"], line["by_database"]) == (
        2,
        [{"database": "main", "published": 1}, {"database": "credentials", "published": 1}],
    )
    # Published is published: the next tick relays nothing from either database.
    handle(push_envelope(emulators.project_id, "outbox-relay-schedule", _tick()))
    assert downstream.receive(expected=0, timeout=1, settle=1) == []


def test_one_databases_failure_does_not_hold_back_the_others_relay(
    platform: Any,
    credentials_client: Any,
    emulators: Any,
    pull_topic: Any,
    json_logs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    downstream = pull_topic()
    [in_books] = _commit_without_publishing(platform, downstream.topic)
    _age(platform, [in_books], by=timedelta(minutes=1))
    # The credentials database cannot be reached (here: refused, as IAM would).
    monkeypatch.setenv("TRIBUTUM_FIRESTORE__ACCESS", '{"main": "write", "credentials": "none"}')
    reset_settings()
    reset_clients()
    handle = load_function("outbox_relay").handle

    with pytest.raises(PermissionDenied):
        handle(push_envelope(emulators.project_id, "outbox-relay-schedule", _tick()))

    [received] = downstream.receive(expected=1)
    assert orjson.loads(received.data)["id"] == in_books.id
    [failed] = [line for line in json_logs() if line["message"] == "outbox_relay.failed"]
    assert (failed["database"], failed["error"]) == ("credentials", "PermissionDenied")
    [line] = [line for line in json_logs() if line["message"] == "outbox_relay.relayed"]
    assert (line["published"], line["by_database"]) == (1, [{"database": "main", "published": 1}])
