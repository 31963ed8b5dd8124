"""Creating the manifest's topics and subscriptions in the real Pub/Sub emulator."""

from __future__ import annotations

from typing import Any

from emulator.pubsub_setup import PubSubRest, apply_plan, build_plan
from shared.topology import Manifest

RETRY = {
    "max_delivery_attempts": 6,
    "minimum_backoff_seconds": 1,
    "maximum_backoff_seconds": 3,
    "ack_deadline_seconds": 90,
}


def _manifest(topic: str) -> Manifest:
    return Manifest.model_validate(
        {
            "version": 1,
            "runtime": "python311",
            "topics": [{"name": topic, "description": "test"}],
            "functions": [
                {
                    "name": "consumer",
                    "kind": "event",
                    "description": "test",
                    "consumes": [{"topic": topic, "retry": RETRY}],
                }
            ],
        }
    )


def test_apply_creates_everything_and_is_idempotent(emulators: Any, unique_name: Any) -> None:
    topic = unique_name("setup")
    manifest = _manifest(topic)
    plan = build_plan(manifest, emulators.project_id, {"consumer": 18999}, "127.0.0.1")
    apply_plan(plan, emulators.pubsub_address, emulators.project_id)
    apply_plan(plan, emulators.pubsub_address, emulators.project_id)  # again: no error

    admin = PubSubRest(emulators.pubsub_address, emulators.project_id)
    assert {topic, f"{topic}-dlq"} <= set(admin.list_topics())
    push = admin.get_subscription(f"{topic}--consumer")
    assert push["pushConfig"]["pushEndpoint"] == (
        f"http://127.0.0.1:18999/projects/{emulators.project_id}/topics/{topic}"
    )
    assert push["ackDeadlineSeconds"] == 90
    assert push["retryPolicy"] == {"minimumBackoff": "1s", "maximumBackoff": "3s"}
    assert push["deadLetterPolicy"] == {
        "deadLetterTopic": f"projects/{emulators.project_id}/topics/{topic}-dlq",
        "maxDeliveryAttempts": 6,
    }
    dead_letters = admin.get_subscription(f"{topic}-dlq-sub")
    assert dead_letters["topic"].endswith(f"/topics/{topic}-dlq")
    assert not dead_letters.get("pushConfig")


def test_apply_updates_a_subscription_that_drifted(emulators: Any, unique_name: Any) -> None:
    topic = unique_name("drift")
    manifest = _manifest(topic)
    apply_plan(
        build_plan(manifest, emulators.project_id, {"consumer": 18001}, "127.0.0.1"),
        emulators.pubsub_address,
        emulators.project_id,
    )
    # The functions moved to other ports: the push endpoint must follow.
    apply_plan(
        build_plan(manifest, emulators.project_id, {"consumer": 18002}, "127.0.0.1"),
        emulators.pubsub_address,
        emulators.project_id,
    )
    admin = PubSubRest(emulators.pubsub_address, emulators.project_id)
    endpoint = admin.get_subscription(f"{topic}--consumer")["pushConfig"]["pushEndpoint"]
    assert endpoint.startswith("http://127.0.0.1:18002/")


def test_a_subscription_on_the_wrong_topic_is_recreated(emulators: Any, unique_name: Any) -> None:
    topic = unique_name("moved")
    admin = PubSubRest(emulators.pubsub_address, emulators.project_id)
    stray = unique_name("stray")
    admin.ensure_topic(stray)
    plan = build_plan(_manifest(topic), emulators.project_id, {"consumer": 18003}, "127.0.0.1")
    wrong = plan.subscription(f"{topic}--consumer")
    admin.ensure_topic(topic)
    admin.ensure_topic(f"{topic}-dlq")
    admin.ensure_subscription(
        type(wrong)(name=wrong.name, topic=stray, push_endpoint=None, ack_deadline_seconds=10)
    )
    apply_plan(plan, emulators.pubsub_address, emulators.project_id)
    assert admin.get_subscription(wrong.name)["topic"].endswith(f"/topics/{topic}")


def test_publish_and_pull_through_rest(emulators: Any, unique_name: Any) -> None:
    topic = unique_name("rest")
    manifest = Manifest.model_validate(
        {
            "version": 1,
            "runtime": "python311",
            "topics": [{"name": topic, "description": "test"}],
            "functions": [],
        }
    )
    apply_plan(
        build_plan(manifest, emulators.project_id, {}, "127.0.0.1"),
        emulators.pubsub_address,
        emulators.project_id,
    )
    admin = PubSubRest(emulators.pubsub_address, emulators.project_id)
    message_id = admin.publish(f"{topic}-dlq", b"\x00binary\xff", {"k": "v"})
    received = admin.pull(f"{topic}-dlq-sub")
    assert [(r["message"]["messageId"], r["message"]["data"]) for r in received] == [
        (message_id, b"\x00binary\xff")
    ]
    assert received[0]["message"]["attributes"] == {"k": "v"}
    assert admin.pull(f"{topic}-dlq-sub") == []  # acknowledged
