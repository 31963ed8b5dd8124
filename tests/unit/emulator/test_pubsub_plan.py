"""The topics and subscriptions the stack creates from a manifest."""

from __future__ import annotations

from emulator.pubsub_setup import build_plan, push_endpoint
from emulator.settings import function_ports
from shared.topology import load_manifest
from tests.unit.emulator.support import make_manifest

PROJECT = "demo-plan"


def test_every_topic_has_a_dead_letter_topic() -> None:
    plan = build_plan(make_manifest(), PROJECT, function_ports(make_manifest(), 8700), "127.0.0.1")
    assert plan.topics == (
        "ledger-events",
        "ledger-events-dlq",
        "user-events",
        "user-events-dlq",
        "tick-schedule",
        "tick-schedule-dlq",
    )


def test_without_a_dead_letter_consumer_dead_letters_wait_in_pull_subscriptions() -> None:
    manifest = make_manifest()
    plan = build_plan(manifest, PROJECT, function_ports(manifest, 8700), "127.0.0.1")
    dlq = plan.subscription("ledger-events-dlq-sub")
    assert dlq.topic == "ledger-events-dlq"
    assert dlq.push_endpoint is None
    assert dlq.dead_letter_topic is None
    resource = dlq.resource(PROJECT)
    assert resource["pushConfig"] == {}
    assert "deadLetterPolicy" not in resource


def test_a_dead_letter_consumer_gets_every_dead_letter_topic_pushed() -> None:
    manifest = make_manifest(dead_letter_consumer=True)
    plan = build_plan(manifest, PROJECT, function_ports(manifest, 8700), "127.0.0.1")
    for topic in ("ledger-events", "user-events", "tick-schedule"):
        dlq = plan.subscription(f"{topic}-dlq-sub")
        assert dlq.consumer == "dead_letters"
        assert dlq.push_endpoint == (f"http://127.0.0.1:8703/projects/{PROJECT}/topics/{topic}-dlq")
        assert dlq.dead_letter_topic is None  # a dead letter is never dead-lettered again


def test_each_consumed_topic_gets_a_push_subscription_with_the_manifest_policy() -> None:
    manifest = make_manifest()
    plan = build_plan(manifest, PROJECT, function_ports(manifest, 8700), "127.0.0.1")
    sub = plan.subscription("ledger-events--projector")
    assert sub.topic == "ledger-events"
    assert sub.push_endpoint == push_endpoint("127.0.0.1", 8702, PROJECT, "ledger-events")
    assert sub.push_endpoint == "http://127.0.0.1:8702/projects/demo-plan/topics/ledger-events"
    assert sub.resource(PROJECT) == {
        "topic": "projects/demo-plan/topics/ledger-events",
        "ackDeadlineSeconds": 90,
        "pushConfig": {"pushEndpoint": sub.push_endpoint},
        "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "4s"},
        "deadLetterPolicy": {
            "deadLetterTopic": "projects/demo-plan/topics/ledger-events-dlq",
            "maxDeliveryAttempts": 5,
        },
    }


def test_the_default_retry_policy_applies_when_the_manifest_sets_none() -> None:
    manifest = make_manifest()
    plan = build_plan(manifest, PROJECT, function_ports(manifest, 8700), "127.0.0.1")
    sub = plan.subscription("user-events--projector")
    assert (sub.minimum_backoff_seconds, sub.maximum_backoff_seconds) == (10, 600)
    assert (sub.ack_deadline_seconds, sub.max_delivery_attempts) == (90, 5)
    assert sub.dead_letter_topic == "user-events-dlq"


def test_subscription_names_follow_the_manifest_rules() -> None:
    manifest = make_manifest(dead_letter_consumer=True)
    plan = build_plan(manifest, PROJECT, function_ports(manifest, 8700), "127.0.0.1")
    assert {s.name for s in plan.subscriptions} == {
        "ledger-events-dlq-sub",
        "user-events-dlq-sub",
        "tick-schedule-dlq-sub",
        "ledger-events--projector",
        "user-events--projector",
    }


def test_the_real_manifest_plans_cleanly() -> None:
    manifest = load_manifest()
    ports = function_ports(manifest, 8700)
    plan = build_plan(manifest, "demo-tributum", ports, "127.0.0.1")
    assert len(plan.topics) == 2 * len(manifest.topics)
    consumer = manifest.dead_letter_consumer()
    for topic in manifest.topics:
        dlq = plan.subscription(topic.dead_letter_subscription)
        assert dlq.topic == topic.dead_letter_topic
        assert (dlq.consumer is None) == (consumer is None)
