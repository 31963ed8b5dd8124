"""The event consumer against the Firestore and Pub/Sub emulators: one effect per event."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from shared.events.consumer import (
    EventContext,
    PermanentEventError,
    SignatureTypeError,
    event_consumer,
)
from shared.events.envelope import EventEnvelope, new_event
from shared.events.event_context import PROCESSED_COLLECTION, processed_document_id
from shared.events.outbox import OUTBOX_COLLECTION, add_to_outbox, relay_pending
from shared.logger import bind_request_context, clear_request_context, get_logger
from tests.integration.events.conftest import push_envelope, push_event

TOPIC = "ledger-events"
CONSUMER = "balance_projector"


def _posted(account: str = "acc-1", tenant: str = "tenant-a", **overrides: Any) -> EventEnvelope:
    return new_event(
        "ledger.entry_posted",
        source="ledger",
        subject=f"accounts/{account}",
        tenant_id=tenant,
        data={"account_id": account, "amount": "10.00", "currency": "EUR"},
        **overrides,
    )


def _add_to_balance(db: Any, envelope: EventEnvelope) -> Any:
    """An effect with a read-modify-write, the kind a second run would visibly repeat."""
    ref = db.collection("balances").document(envelope.data["account_id"])

    def effect(transaction: Any) -> int:
        snapshot = ref.get(transaction=transaction)
        applied = (snapshot.get("applied") if snapshot.exists else 0) + 1
        transaction.set(ref, {"applied": applied, "last_event": envelope.id})
        return int(applied)

    return effect


def _applied(db: Any, account: str = "acc-1") -> int:
    snapshot = db.collection("balances").document(account).get()
    return int(snapshot.get("applied")) if snapshot.exists else 0


@event_consumer(CONSUMER, accepts={"ledger.entry_posted": [1]})
def project_balance(envelope: EventEnvelope, context: EventContext) -> None:
    context.run_once(_add_to_balance(context.db, envelope))


def _dead_letters(db: Any) -> list[dict[str, Any]]:
    return [d.to_dict() or {} for d in db.collection("dead_letters").stream()]


def test_a_redelivered_event_has_one_effect(platform: Any, emulators: Any) -> None:
    envelope = _posted()
    # Pub/Sub redelivers the same message; a second publish of the event is a new message.
    first = push_envelope(emulators.project_id, TOPIC, envelope)
    republished = push_envelope(emulators.project_id, TOPIC, envelope)

    for cloud_event in (first, first, republished):
        project_balance(cloud_event)

    assert _applied(platform) == 1
    record = (
        platform.collection(PROCESSED_COLLECTION)
        .document(processed_document_id(CONSUMER, envelope.id))
        .get()
        .to_dict()
    )
    assert record is not None
    assert record["event_type"] == "ledger.entry_posted"
    assert record["tenant_id"] == "tenant-a"
    ttl = record["expires_at"] - record["processed_at"]
    assert ttl == timedelta(days=30)


@event_consumer(
    "balance_projector_lean", accepts={"ledger.entry_posted": [1]}, check_duplicate_first=False
)
def project_balance_lean(envelope: EventEnvelope, context: EventContext) -> None:
    context.run_once(_add_to_balance(context.db, envelope))


def test_without_the_first_check_run_once_alone_still_deduplicates(
    platform: Any, emulators: Any, json_logs: Any
) -> None:
    envelope = _posted()
    cloud_event = push_envelope(emulators.project_id, TOPIC, envelope)

    for _ in range(3):
        project_balance_lean(cloud_event)

    assert _applied(platform) == 1
    outcomes = [line["message"] for line in json_logs() if line["message"].startswith("event.")]
    assert outcomes == ["event.processed", "event.duplicate", "event.duplicate"]


@event_consumer(
    "balance_projector_strict", accepts={"ledger.entry_posted": [1]}, check_duplicate_first=False
)
def project_balance_strict(envelope: EventEnvelope, context: EventContext) -> None:
    ref = context.db.collection("balances").document(envelope.data["account_id"])

    def effect(transaction: Any) -> None:
        snapshot = ref.get(transaction=transaction)
        if snapshot.exists and snapshot.get("last_event") == envelope.id:
            # The state the first delivery left refuses the event a second time.
            raise PermanentEventError(f"event {envelope.id} is applied already")
        transaction.set(ref, {"applied": 1, "last_event": envelope.id})

    context.run_once(effect)


def test_a_duplicate_the_effect_refuses_is_still_a_duplicate(
    platform: Any, emulators: Any, json_logs: Any
) -> None:
    envelope = _posted()
    cloud_event = push_envelope(emulators.project_id, TOPIC, envelope)

    project_balance_strict(cloud_event)
    project_balance_strict(cloud_event)

    assert _applied(platform) == 1
    assert _dead_letters(platform) == []
    outcomes = [line["message"] for line in json_logs() if line["message"].startswith("event.")]
    assert outcomes == ["event.processed", "event.duplicate_refused_by_effect", "event.duplicate"]


def test_a_failing_effect_of_a_new_event_commits_nothing_and_is_not_a_duplicate(
    platform: Any, emulators: Any
) -> None:
    envelope = _posted(account="acc-2")
    ref = platform.collection("balances").document("acc-2")
    # A state that refuses the event although it was never processed.
    ref.set({"applied": 7, "last_event": envelope.id})

    project_balance_strict(push_envelope(emulators.project_id, TOPIC, envelope))

    [dead_letter] = _dead_letters(platform)
    assert "applied already" in dead_letter["reason"]
    assert ref.get().to_dict() == {"applied": 7, "last_event": envelope.id}
    processed = platform.collection(PROCESSED_COLLECTION).document(
        processed_document_id("balance_projector_strict", envelope.id)
    )
    assert not processed.get().exists


def test_concurrent_duplicate_deliveries_have_one_effect(platform: Any, emulators: Any) -> None:
    envelope = _posted()
    cloud_event = push_envelope(emulators.project_id, TOPIC, envelope)
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def deliver() -> None:
        barrier.wait()
        try:
            project_balance(cloud_event)
        except Exception as exc:  # a 500: Pub/Sub would redeliver
            failures.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert _applied(platform) == 1
    # Whatever failed under contention is redelivered later, and is then a no-op.
    for _ in failures:
        project_balance(cloud_event)
    assert _applied(platform) == 1


def test_a_consumer_killed_after_its_commit_is_a_no_op_on_redelivery(
    platform: Any, emulators: Any
) -> None:
    deliveries: list[str] = []

    @event_consumer("crashing_projector", accepts={"ledger.entry_posted": [1]})
    def crash_after_commit(envelope: EventEnvelope, context: EventContext) -> None:
        deliveries.append(envelope.id)
        context.run_once(_add_to_balance(context.db, envelope))
        raise RuntimeError("instance killed before the acknowledgement")

    cloud_event = push_envelope(emulators.project_id, TOPIC, _posted())
    with pytest.raises(RuntimeError):
        crash_after_commit(cloud_event)
    assert _applied(platform) == 1

    crash_after_commit(cloud_event)  # the redelivery: acknowledged without running the handler

    assert _applied(platform) == 1
    assert len(deliveries) == 1


def test_a_retryable_failure_commits_nothing_and_the_retry_applies_once(
    platform: Any, emulators: Any
) -> None:
    attempts: list[int] = []

    @event_consumer("flaky_projector", accepts={"ledger.entry_posted": [1]})
    def flaky(envelope: EventEnvelope, context: EventContext) -> None:
        attempts.append(1)

        def effect(transaction: Any) -> None:
            _add_to_balance(context.db, envelope)(transaction)
            if len(attempts) == 1:
                raise ConnectionError("downstream unavailable")

        context.run_once(effect)

    cloud_event = push_envelope(emulators.project_id, TOPIC, _posted())
    with pytest.raises(ConnectionError):
        flaky(cloud_event)
    assert _applied(platform) == 0
    assert list(platform.collection(PROCESSED_COLLECTION).stream()) == []

    flaky(cloud_event)
    flaky(cloud_event)

    assert _applied(platform) == 1
    assert len(attempts) == 2


def test_staged_events_are_published_after_the_commit(
    platform: Any, emulators: Any, pull_topic: Any
) -> None:
    downstream = pull_topic()

    @event_consumer("fee_charger", accepts={"ledger.entry_posted": [1]})
    def charge_fee(envelope: EventEnvelope, context: EventContext) -> None:
        def effect(transaction: Any) -> None:
            _add_to_balance(context.db, envelope)(transaction)
            fee = new_event(
                "payment.requested",
                source="fees",
                subject=envelope.subject,
                tenant_id=envelope.tenant_id,
                data={"amount": "0.10", "currency": "EUR"},
                event_id=f"fee-{envelope.id}",
            )
            add_to_outbox(transaction, context.db, downstream.topic, fee)

        context.run_once(effect)

    source = _posted()
    cloud_event = push_envelope(emulators.project_id, TOPIC, source)
    charge_fee(cloud_event)
    charge_fee(cloud_event)

    [message] = downstream.receive(expected=1)
    published = EventEnvelope.from_bytes(message.data)
    assert published.id == f"fee-{source.id}"
    # The follow-up event carries the correlation id of the event that caused it.
    assert published.correlation_id == source.correlation_id
    assert message.attributes["correlation_id"] == source.correlation_id
    record = platform.collection(OUTBOX_COLLECTION).document(published.id).get().to_dict()
    assert record["status"] == "published"
    assert "pending_since" not in record
    assert _applied(platform) == 1


def test_a_failed_publish_after_the_commit_is_left_to_the_relay(
    platform: Any, emulators: Any, pubsub_publisher: Any, pubsub_subscriber: Any, unique_name: Any
) -> None:
    missing_topic = unique_name("not-yet")

    @event_consumer("notifier", accepts={"ledger.entry_posted": [1]})
    def notify(envelope: EventEnvelope, context: EventContext) -> None:
        def effect(transaction: Any) -> None:
            notice = new_event(
                "ledger.notice_sent",
                source="notifier",
                subject=envelope.subject,
                tenant_id=envelope.tenant_id,
                data={},
            )
            add_to_outbox(transaction, context.db, missing_topic, notice)

        context.run_once(effect)

    notify(push_envelope(emulators.project_id, TOPIC, _posted()))  # acknowledged: committed

    [pending] = list(platform.collection(OUTBOX_COLLECTION).stream())
    assert pending.get("status") == "pending"

    topic_path = pubsub_publisher.topic_path(emulators.project_id, missing_topic)
    pubsub_publisher.create_topic(name=topic_path)
    subscription = pubsub_subscriber.subscription_path(emulators.project_id, unique_name("s"))
    pubsub_subscriber.create_subscription(name=subscription, topic=topic_path)
    assert relay_pending(platform, older_than=timedelta(0)) == 1
    response = pubsub_subscriber.pull(subscription=subscription, max_messages=5, timeout=10)
    assert [orjson.loads(m.message.data)["id"] for m in response.received_messages] == [pending.id]


def test_a_poison_message_is_recorded_and_acknowledged(platform: Any, emulators: Any) -> None:
    cloud_event = push_event(
        emulators.project_id, TOPIC, b"{not json", {"correlation_id": "corr-poison"}
    )

    project_balance(cloud_event)  # returns: acknowledged, not redelivered
    project_balance(cloud_event)  # a redelivery before the ack is counted, not duplicated

    [dead] = _dead_letters(platform)
    assert dead["reason"].startswith("malformed envelope")
    assert dead["consumer"] == CONSUMER
    assert dead["topic"] == TOPIC
    assert dead["status"] == "stored"
    assert dead["data_text"] == "{not json"
    assert dead["attributes"] == {"correlation_id": "corr-poison"}
    assert dead["seen_count"] == 2
    assert dead["first_seen"] <= dead["last_seen"]
    assert _applied(platform) == 0


def test_an_envelope_missing_fields_names_them_in_the_reason(platform: Any, emulators: Any) -> None:
    data = orjson.loads(_posted().to_bytes())
    del data["tenant_id"]
    project_balance(push_event(emulators.project_id, TOPIC, orjson.dumps(data)))

    [dead] = _dead_letters(platform)
    assert "tenant_id" in dead["reason"]
    assert dead["event_id"] == data["id"]


@pytest.mark.parametrize(
    ("envelope_changes", "reason"),
    [
        ({"schema_version": 2}, "unsupported schema_version 2 of ledger.entry_posted"),
        ({"type": "ledger.entry_voided"}, "unknown event type ledger.entry_voided"),
    ],
)
def test_unsupported_types_and_schema_versions_are_permanent(
    platform: Any, emulators: Any, envelope_changes: dict[str, Any], reason: str
) -> None:
    envelope = _posted().model_copy(update=envelope_changes)

    project_balance(push_envelope(emulators.project_id, TOPIC, envelope))

    [dead] = _dead_letters(platform)
    assert dead["reason"].startswith(reason)
    assert dead["event_id"] == envelope.id
    assert _applied(platform) == 0
    assert list(platform.collection(PROCESSED_COLLECTION).stream()) == []


def test_a_permanent_error_from_the_handler_is_recorded_with_its_reason(
    platform: Any, emulators: Any
) -> None:
    @event_consumer("strict_projector", accepts={"ledger.entry_posted": [1]})
    def refuse(envelope: EventEnvelope, context: EventContext) -> None:
        def effect(transaction: Any) -> None:
            _add_to_balance(context.db, envelope)(transaction)
            raise PermanentEventError(f"account {envelope.data['account_id']} is closed")

        context.run_once(effect)

    refuse(push_envelope(emulators.project_id, TOPIC, _posted()))

    [dead] = _dead_letters(platform)
    assert dead["reason"] == "account acc-1 is closed"
    assert dead["consumer"] == "strict_projector"
    assert _applied(platform) == 0  # the effect rolled back with the transaction


def test_data_of_the_wrong_shape_is_permanent(platform: Any, emulators: Any) -> None:
    from pydantic import BaseModel, ConfigDict

    class Posted(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        account_id: str
        amount: str
        currency: str

    @event_consumer("typed_projector", accepts={"ledger.entry_posted": [1]})
    def typed(envelope: EventEnvelope, context: EventContext) -> None:
        context.parse_data(Posted)

    bad = _posted().model_copy(update={"data": {"account_id": "acc-1", "amount": 10}})
    typed(push_envelope(emulators.project_id, TOPIC, bad))

    [dead] = _dead_letters(platform)
    assert dead["reason"].startswith("data of ledger.entry_posted is invalid")
    assert "amount" in dead["reason"]
    assert "currency" in dead["reason"]


def test_an_event_id_reused_by_another_event_is_not_silently_skipped(
    platform: Any, emulators: Any
) -> None:
    original = _posted(tenant="tenant-a")
    impostor = _posted(tenant="tenant-b", event_id=original.id)

    project_balance(push_envelope(emulators.project_id, TOPIC, original))
    project_balance(push_envelope(emulators.project_id, TOPIC, impostor))

    [dead] = _dead_letters(platform)
    assert dead["tenant_id"] == "tenant-b"
    assert "already processed for another event" in dead["reason"]
    assert _applied(platform) == 1


def test_an_event_older_than_the_consumers_max_age_is_dropped(
    platform: Any, emulators: Any, json_logs: Any
) -> None:
    handled: list[str] = []

    @event_consumer("fresh_only", accepts={"ledger.entry_posted": [1]}, max_age=timedelta(hours=1))
    def fresh_only(envelope: EventEnvelope, context: EventContext) -> None:
        handled.append(envelope.id)

    old = _posted(time=datetime.now(UTC) - timedelta(hours=2))
    fresh_only(push_envelope(emulators.project_id, TOPIC, old))
    fresh_only(push_envelope(emulators.project_id, TOPIC, _posted()))

    assert len(handled) == 1
    assert _dead_letters(platform) == []
    [dropped] = [line for line in json_logs() if line["message"] == "event.dropped_stale"]
    assert dropped["severity"] == "WARNING"
    assert dropped["event_id"] == old.id
    assert "7200 s old" in dropped["reason"]


def test_other_types_can_be_ignored_instead_of_dead_lettered(platform: Any, emulators: Any) -> None:
    @event_consumer("posted_only", accepts={"ledger.entry_posted": [1]}, ignore_other_types=True)
    def posted_only(envelope: EventEnvelope, context: EventContext) -> None:
        context.run_once(_add_to_balance(context.db, envelope))

    voided = _posted().model_copy(update={"type": "ledger.entry_voided"})
    posted_only(push_envelope(emulators.project_id, TOPIC, voided))
    posted_only(push_envelope(emulators.project_id, TOPIC, _posted()))

    assert _dead_letters(platform) == []
    assert _applied(platform) == 1


def test_a_handler_without_firestore_effects_is_deduplicated_too(
    platform: Any, emulators: Any
) -> None:
    calls: list[str] = []

    @event_consumer("mailer", accepts={"ledger.entry_posted": [1]})
    def send_mail(envelope: EventEnvelope, context: EventContext) -> None:
        if context.already_processed():
            return
        calls.append(envelope.id)

    cloud_event = push_envelope(emulators.project_id, TOPIC, _posted())
    send_mail(cloud_event)
    send_mail(cloud_event)

    assert len(calls) == 1


def test_the_correlation_id_is_in_every_log_line_of_a_delivery(
    platform: Any, emulators: Any, json_logs: Any
) -> None:
    @event_consumer("logging_projector", accepts={"ledger.entry_posted": [1]})
    def logged(envelope: EventEnvelope, context: EventContext) -> None:
        get_logger("projector").info("projector.applying", account=envelope.data["account_id"])
        context.run_once(_add_to_balance(context.db, envelope))

    envelope = _posted(correlation_id="corr-1234")
    logged(push_envelope(emulators.project_id, TOPIC, envelope))

    lines = json_logs()
    messages = [line["message"] for line in lines]
    assert "projector.applying" in messages
    assert "event.processed" in messages
    for line in lines:
        assert line["correlation_id"] == "corr-1234"
        assert line["event_id"] == envelope.id
        assert line["event_type"] == "ledger.entry_posted"
        assert line["tenant_id"] == "tenant-a"
        assert line["consumer"] == "logging_projector"


def test_a_rejection_is_logged_as_an_error_with_its_reason(
    platform: Any, emulators: Any, json_logs: Any
) -> None:
    envelope = _posted(correlation_id="corr-bad").model_copy(update={"schema_version": 9})
    project_balance(push_envelope(emulators.project_id, TOPIC, envelope))

    [line] = [line for line in json_logs() if line["message"] == "event.rejected"]
    assert line["severity"] == "ERROR"
    assert line["correlation_id"] == "corr-bad"
    assert line["reason"].startswith("unsupported schema_version 9")
    assert line["dead_letter_id"].startswith("rej-")


def test_a_push_that_is_not_a_pubsub_message_is_kept_and_acknowledged(
    platform: Any, json_logs: Any
) -> None:
    from cloudevents.http import CloudEvent

    cloud_event = CloudEvent(
        {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//x", "id": "1"},
        {"unexpected": True},
    )

    project_balance(cloud_event)  # returns: acknowledged

    [line] = [line for line in json_logs() if line["message"] == "event.malformed_push"]
    assert line["severity"] == "ERROR"
    [kept] = _dead_letters(platform)
    assert kept["reason"] == "malformed push: the CloudEvent carries no Pub/Sub message"
    assert kept["consumer"] == "balance_projector"
    assert orjson.loads(kept["data_text"]) == {"unexpected": True}
    assert line["dead_letter_id"].startswith("rej-")


def test_an_http_request_is_refused_loudly_not_filed(platform: Any) -> None:
    """Served with the wrong signature type, a consumer must not dead-letter every push."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    request = Request(EnvironBuilder(method="POST", data=b"{}").get_environ())
    with pytest.raises(SignatureTypeError, match="CloudEvent function"):
        project_balance(request)
    assert _dead_letters(platform) == []


def test_run_once_is_refused_twice_in_one_delivery(platform: Any, emulators: Any) -> None:
    @event_consumer("greedy", accepts={"ledger.entry_posted": [1]})
    def greedy(envelope: EventEnvelope, context: EventContext) -> None:
        context.run_once(_add_to_balance(context.db, envelope))
        context.run_once(_add_to_balance(context.db, envelope))

    with pytest.raises(RuntimeError, match="once per delivery"):
        greedy(push_envelope(emulators.project_id, TOPIC, _posted()))
    assert _applied(platform) == 1


def test_processed_records_use_the_consumers_ttl(platform: Any, emulators: Any) -> None:
    @event_consumer(
        "short_memory", accepts={"ledger.entry_posted": [1]}, processed_ttl=timedelta(hours=6)
    )
    def short_memory(envelope: EventEnvelope, context: EventContext) -> None:
        context.run_once(_add_to_balance(context.db, envelope))

    envelope = _posted(event_id="evt/with/slashes")
    short_memory(push_envelope(emulators.project_id, TOPIC, envelope))

    [record] = [d.to_dict() for d in platform.collection(PROCESSED_COLLECTION).stream()]
    assert record["event_id"] == "evt/with/slashes"
    assert record["expires_at"] - record["processed_at"] == timedelta(hours=6)


def test_the_trace_of_the_causing_request_follows_its_events(
    platform: Any, emulators: Any, pull_topic: Any, json_logs: Any
) -> None:
    downstream = pull_topic()
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    @event_consumer("trace_follower", accepts={"ledger.entry_posted": [1]})
    def follow(envelope: EventEnvelope, context: EventContext) -> None:
        get_logger("trace_follower").info("trace_follower.handled")

        def effect(transaction: Any) -> None:
            follow_up = new_event(
                "payment.requested",
                source="fees",
                subject=envelope.subject,
                tenant_id=envelope.tenant_id,
                data={},
                event_id=f"follow-{envelope.id}",
            )
            add_to_outbox(transaction, context.db, downstream.topic, follow_up)

        context.run_once(effect)

    # An HTTP request carrying a trace stages the event: its message names the trace.
    bind_request_context(correlation_id="c-trace", trace_id=trace_id, span_id=span_id)
    source = _posted()
    clear_request_context()
    assert source.attributes()["traceparent"] == f"00-{trace_id}-{span_id}-01"

    follow(push_envelope(emulators.project_id, TOPIC, source))

    handled = [line for line in json_logs() if line["message"] == "trace_follower.handled"]
    assert [line["logging.googleapis.com/trace"] for line in handled] == [
        f"projects/{emulators.project_id}/traces/{trace_id}"
    ]
    # ... and what the consumer publishes in turn stays in the same trace.
    [message] = downstream.receive(expected=1)
    assert message.attributes["traceparent"].split("-")[1] == trace_id


def test_an_event_without_a_trace_carries_none(platform: Any, emulators: Any) -> None:
    clear_request_context()
    assert "traceparent" not in _posted().attributes()
