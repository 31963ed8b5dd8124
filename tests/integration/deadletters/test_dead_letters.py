"""Dead letters: stored from a dead-letter push, listed per tenant, replayed, discarded."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from cloudevents.http import CloudEvent

from shared.events.envelope import new_event
from tests.integration.deadletters.conftest import dead_letter_event
from tests.support.http import RouterClient, load_function


def _store_one(emulators: Any, topic: str, message_id: str = "m-1") -> dict[str, Any]:
    envelope = new_event(
        "probe.happened", source="test", subject="s", tenant_id="tenant-a", data={"n": 1}
    )
    attributes = {
        **envelope.attributes(),
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": f"{topic}--consumer",
    }
    load_function("dead_letters").handle(
        dead_letter_event(emulators.project_id, topic, envelope.to_bytes(), message_id, attributes)
    )
    return {"envelope": envelope}


def test_a_dead_letter_is_stored_once_and_redelivery_counts_sightings(
    api: RouterClient, emulators: Any, firestore_client: Any
) -> None:
    stored = _store_one(emulators, "probe-topic")
    _store_one(emulators, "probe-topic")  # Pub/Sub redelivers the dead letter itself
    page = api.get("/v1/dead-letters", token="admin")
    assert page.status == 200
    [item] = page.data
    assert item["topic"] == "probe-topic"
    assert item["event_id"] == stored["envelope"].id
    assert item["delivery_count"] == 5
    assert item["seen_count"] == 2
    assert item["status"] == "stored"
    assert "CloudPubSubDeadLetterSourceDeliveryCount" not in item["attributes"]
    assert orjson.loads(item["data_text"])["id"] == stored["envelope"].id


def test_other_tenants_and_non_admins_see_nothing(api: RouterClient, emulators: Any) -> None:
    _store_one(emulators, "probe-topic")
    assert api.get("/v1/dead-letters", token="other").data == []
    item_id = api.get("/v1/dead-letters", token="admin").data[0]["id"]
    assert api.get(f"/v1/dead-letters/{item_id}", token="other").status == 404
    assert api.get("/v1/dead-letters", token="viewer").status == 403
    assert api.get("/v1/dead-letters").status == 401


def test_replay_publishes_to_the_original_topic(
    api: RouterClient,
    emulators: Any,
    pubsub_publisher: Any,
    pubsub_subscriber: Any,
    unique_name: Any,
) -> None:
    topic = unique_name("replay-topic")
    topic_path = pubsub_publisher.topic_path(emulators.project_id, topic)
    subscription = pubsub_subscriber.subscription_path(emulators.project_id, unique_name("rs"))
    pubsub_publisher.create_topic(name=topic_path)
    pubsub_subscriber.create_subscription(name=subscription, topic=topic_path)
    stored = _store_one(emulators, topic)
    item_id = api.get("/v1/dead-letters", token="admin").data[0]["id"]

    replayed = api.post(f"/v1/dead-letters/{item_id}/replay", token="admin")

    assert replayed.status == 200, replayed.json
    assert replayed.data["status"] == "replayed"
    assert replayed.data["replay_count"] == 1
    pulled = pubsub_subscriber.pull(subscription=subscription, max_messages=5, timeout=10)
    [message] = pulled.received_messages
    assert orjson.loads(message.message.data)["id"] == stored["envelope"].id
    assert message.message.attributes["replayed_from"] == item_id
    assert message.message.attributes["type"] == "probe.happened"


def test_discarded_dead_letters_cannot_be_replayed(api: RouterClient, emulators: Any) -> None:
    _store_one(emulators, "probe-topic")
    item_id = api.get("/v1/dead-letters", token="admin").data[0]["id"]
    discarded = api.post(
        f"/v1/dead-letters/{item_id}/discard",
        token="admin",
        json={"note": "duplicate of an order we refunded by hand"},
    )
    assert discarded.status == 200
    assert discarded.data["status"] == "discarded"
    refused = api.post(f"/v1/dead-letters/{item_id}/replay", token="admin")
    assert refused.status == 409
    assert refused.json["code"] == "dead_letter_discarded"


def test_bad_discard_body_is_rejected_and_changes_nothing(
    api: RouterClient, emulators: Any
) -> None:
    _store_one(emulators, "probe-topic")
    item_id = api.get("/v1/dead-letters", token="admin").data[0]["id"]
    answer = api.post(
        f"/v1/dead-letters/{item_id}/discard", token="admin", json={"note": "x", "force": True}
    )
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == "force"
    assert api.get(f"/v1/dead-letters/{item_id}", token="admin").data["status"] == "stored"


def test_pagination_walks_every_dead_letter_once(api: RouterClient, emulators: Any) -> None:
    for n in range(5):
        _store_one(emulators, "probe-topic", message_id=f"m-{n}")
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/dead-letters", token="admin", query=query)
        assert page.status == 200
        seen += [item["id"] for item in page.data]
        cursor = page.json["meta"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted({f"dlq-m-{n}" for n in range(5)})


def test_a_malformed_push_is_kept_and_acknowledged(
    api: RouterClient, firestore_client: Any
) -> None:
    load_function("dead_letters").handle(
        CloudEvent(
            {"type": "x", "source": "//pubsub.googleapis.com/projects/p/topics/t-dlq"},
            {"not": "a message"},
        )
    )
    [kept] = [d.to_dict() for d in firestore_client.collection("dead_letters").stream()]
    assert kept["reason"] == "malformed push: the CloudEvent carries no Pub/Sub message"
    assert kept["topic"] == "t-dlq"
    assert kept["consumer"] == "dead_letters"
    # It names no tenant, so no tenant's API lists it.
    assert api.get("/v1/dead-letters", token="admin").data == []


def test_a_dead_letter_too_large_to_keep_whole_is_truncated_and_not_replayed(
    api: RouterClient, emulators: Any, firestore_client: Any
) -> None:
    envelope = new_event(
        "probe.happened", source="test", subject="s", tenant_id="tenant-a",
        data={"blob": "x" * 1_500_000},
    )  # fmt: skip
    data = envelope.to_bytes()
    load_function("dead_letters").handle(
        dead_letter_event(emulators.project_id, "probe-topic", data, "m-big", envelope.attributes())
    )

    [letter] = api.get("/v1/dead-letters", token="admin").data
    assert (letter["data_size"], letter["data_truncated"]) == (len(data), True)
    assert len(base64.b64decode(letter["data_base64"])) == 256 * 1024
    before = [s.to_dict() for s in firestore_client.collection("dead_letters").stream()]
    refused = api.post(f"/v1/dead-letters/{letter['id']}/replay", token="admin")
    assert refused.status == 409
    assert refused.json["code"] == "dead_letter_truncated"
    assert [s.to_dict() for s in firestore_client.collection("dead_letters").stream()] == before


def test_a_malformed_push_keeps_no_credential_and_no_claimed_tenant(
    firestore_client: Any,
) -> None:
    load_function("dead_letters").handle(
        CloudEvent(
            {"type": "x", "source": "//pubsub.googleapis.com/projects/p/topics/t-dlq"},
            {
                "message": {
                    "data": "%%% not base64",
                    "attributes": {"producer_key": "trb_pk_secret", "tenant_id": "tenant-a"},
                }
            },
        )
    )

    [kept] = [d.to_dict() for d in firestore_client.collection("dead_letters").stream()]
    assert kept["reason"].startswith("malformed push: ")
    assert "trb_pk_secret" not in str(kept)
    assert kept["tenant_id"] is None


def test_an_emailed_token_in_a_dead_letter_is_redacted_and_not_replayed(
    api: RouterClient, emulators: Any, firestore_client: Any
) -> None:
    # An email that could not be sent: its reset token must not reach the tenant's admins.
    token = "rst_" + "q" * 40
    envelope = new_event(
        "user.password_reset_requested", source="test", subject="users/u1",
        tenant_id="tenant-a",
        data={"email": "ada@example.com", "reset": {"token": token, "expires_in": 1800}},
    )  # fmt: skip
    load_function("dead_letters").handle(
        dead_letter_event(
            emulators.project_id, "mail-requests", envelope.to_bytes(), "m-mail",
            envelope.attributes(),
        )
    )  # fmt: skip

    [letter] = api.get("/v1/dead-letters", token="admin").data
    assert letter["data_redacted"] is True
    stored = [s.to_dict() for s in firestore_client.collection("dead_letters").stream()]
    assert token not in str(stored)
    kept = orjson.loads(base64.b64decode(letter["data_base64"]))
    assert kept["data"]["reset"] == {"token": "[redacted]", "expires_in": 1800}
    assert kept["data"]["email"] == "ada@example.com"
    refused = api.post(f"/v1/dead-letters/{letter['id']}/replay", token="admin")
    assert (refused.status, refused.json["code"]) == (409, "dead_letter_redacted")
    assert [s.to_dict() for s in firestore_client.collection("dead_letters").stream()] == stored


def test_ids_that_cannot_exist_are_missing_and_change_nothing(
    api: RouterClient, emulators: Any, firestore_client: Any
) -> None:
    _store_one(emulators, "probe-topic")
    before = api.get("/v1/dead-letters", token="admin").data
    # "__x__" is an id Firestore refuses outright; "." and ".." are not ids at all.
    for dead_letter_id in ("__x__", "dlq-__", "..", "unknown", "rej-" + "f" * 40):
        assert api.get(f"/v1/dead-letters/{dead_letter_id}", token="admin").status == 404
        replay = api.post(f"/v1/dead-letters/{dead_letter_id}/replay", token="admin")
        discard = api.post(f"/v1/dead-letters/{dead_letter_id}/discard", token="admin", json={})
        assert (replay.status, discard.status) == (404, 404), (dead_letter_id, replay, discard)
    assert api.get("/v1/dead-letters", token="admin").data == before
